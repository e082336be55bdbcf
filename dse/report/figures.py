"""Plotly rendering of a ParetoInfo; plotly is imported inside the functions so `import dse.report` stays light."""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
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


def pareto_figure(info: ParetoInfo, *, title: str = "Pareto front", panels: Sequence[int] | None = None,
                  height: int = 540) -> plotly.graph_objects.Figure:
    """Three panels (accuracy vs LUT, accuracy vs fps, fps vs LUT) with one legend entry per group;
    ``panels`` picks some of them (by index), e.g. one per figure where space is narrow."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shown = [info.panels[k] for k in (panels if panels is not None else range(len(info.panels)))]
    names = [f"{p.y_title.split(' (')[0]} vs {p.x_title.split(' (')[0]}" for p in shown]
    fig = make_subplots(rows=1, cols=len(shown), horizontal_spacing=0.07,
                        subplot_titles=names if len(shown) > 1 else None)
    index = {p: k for k, p in enumerate(info.panels)}
    # The front last so it sits on top of the grey cloud and the red crosses.
    for g in (*range(1, len(info.groups)), 0):
        group, style = info.groups[g], _style(g)
        # Its legend entry goes with the first panel that draws it: a design stopped before training
        # has no accuracy, so a panel of accuracy alone would list a group it does not show.
        drawn = [any(math.isfinite(a) and math.isfinite(b) for a, b in zip(*group.xy[index[p]])) for p in shown]
        legend_col = drawn.index(True) + 1 if any(drawn) else 1
        for col, panel in enumerate(shown, start=1):
            x, y = group.xy[index[panel]]
            fig.add_trace(
                go.Scatter(
                    x=list(x), y=list(y), mode="markers", name=group.label, marker=style,
                    legendgroup=group.label, legendrank=g + 1, showlegend=col == legend_col and drawn[col - 1],
                    text=list(group.hover), hovertemplate="%{text}<extra>" + group.label + "</extra>",
                ),
                row=1, col=col,
            )
    for col, p in enumerate(shown, start=1):
        # Log axes label 1, 2 and 5 of each decade: all of 2..9 ran into the decade's own label.
        fig.update_xaxes(title_text=p.x_title, type="log" if p.x_log else "linear", row=1, col=col,
                         **({"dtick": "D2"} if p.x_log else {}))
        fig.update_yaxes(title_text=p.y_title, type="log" if p.y_log else "linear", row=1, col=col,
                         **({"dtick": "D2"} if p.y_log else {}))
    complete = f" ({info.n_complete} complete)" if info.n_complete != info.n_trials else ""
    counts = f"{plural(info.n_trials, 'trial')}{complete}, {info.n_pareto} on the Pareto front"
    # One panel: its name heads the figure, the counts below it (no subplot title to collide with).
    text = f"{title}: {names[0]}<br><sup>{counts}</sup>" if len(shown) == 1 else f"{title} — {counts}"
    fig.update_layout(
        title=text, template="plotly_white", height=height, hovermode="closest", margin={"b": 120},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0},
    )
    return fig


def write_pareto_html(df: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Write a self-contained (offline) HTML report; atomic, so a crash never leaves half a file."""
    path = Path(path)
    html = pareto_figure(pareto_info(df), title=title).to_html(include_plotlyjs=True, full_html=True)
    write_atomic(path, html)
    logger.debug("wrote Pareto report %s", path)
    return path
