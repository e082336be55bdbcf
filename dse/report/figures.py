"""Plotly rendering of a ParetoInfo; plotly is imported inside the functions so `import dse.report` stays light."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dse.artifacts import write_atomic
from dse.report.pareto import ParetoInfo, pareto_info
from dse.text import plural

if TYPE_CHECKING:
    import plotly.graph_objects

logger = logging.getLogger(__name__)

# Marker style per group, in ParetoInfo.groups order (pareto, dominated, then one per reason a design is out).
_STYLES: tuple[dict[str, Any], ...] = (
    {"size": 11, "color": "#1f77b4", "line": {"width": 1, "color": "#0b3d66"}},
    {"size": 6, "color": "#b0b0b0"},
)
_OUT_COLORS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")


def _style(g: int) -> dict[str, Any]:
    if g < len(_STYLES):
        return _STYLES[g]
    return {"size": 8, "color": _OUT_COLORS[(g - len(_STYLES)) % len(_OUT_COLORS)], "symbol": "x"}


def pareto_figure(info: ParetoInfo, *, title: str = "Pareto front") -> plotly.graph_objects.Figure:
    """Three panels (accuracy vs LUT, accuracy vs fps, fps vs LUT) with one legend entry per group."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=len(info.panels), horizontal_spacing=0.07,
        subplot_titles=[f"{p.y_title.split(' (')[0]} vs {p.x_title.split(' (')[0]}" for p in info.panels],
    )
    # The front last so it sits on top of the grey cloud and the red crosses.
    for g in (*range(1, len(info.groups)), 0):
        group, style = info.groups[g], _style(g)
        for col, (x, y) in enumerate(group.xy, start=1):
            fig.add_trace(
                go.Scatter(
                    x=list(x), y=list(y), mode="markers", name=group.label, marker=style,
                    legendgroup=group.label, legendrank=g + 1, showlegend=col == 1,
                    text=list(group.hover), hovertemplate="%{text}<extra>" + group.label + "</extra>",
                ),
                row=1, col=col,
            )
    for col, p in enumerate(info.panels, start=1):
        fig.update_xaxes(title_text=p.x_title, type="log" if p.x_log else "linear", row=1, col=col)
        fig.update_yaxes(title_text=p.y_title, type="log" if p.y_log else "linear", row=1, col=col)
    complete = f" ({info.n_complete} complete)" if info.n_complete != info.n_trials else ""
    fig.update_layout(
        title=f"{title} — {plural(info.n_trials, 'trial')}{complete}, {info.n_pareto} on the Pareto front",
        template="plotly_white", height=540, hovermode="closest", margin={"b": 120},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.25, "x": 0},
    )
    return fig


def write_pareto_html(df: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Write a self-contained (offline) HTML report; atomic, so a crash never leaves half a file."""
    path = Path(path)
    html = pareto_figure(pareto_info(df), title=title).to_html(include_plotlyjs=True, full_html=True)
    write_atomic(path, html)
    logger.debug("wrote Pareto report %s", path)
    return path
