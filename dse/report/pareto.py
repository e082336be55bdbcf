"""Pareto-front data (marker groups, per-panel x/y, hover text); pure pandas, figures.py renders it."""
from __future__ import annotations

import html
import logging
import math
from typing import Any, NamedTuple

import pandas as pd

logger = logging.getLogger(__name__)

PARAM_COLUMNS = ("weight_bits", "act_bits", "hidden_width", "hidden_layers", "target_fps")
METRIC_COLUMNS = ("val_accuracy", "test_accuracy", "fps", "latency_us", "lut", "bram18", "uram", "dsp",
                  "max_cycles", "bottleneck", "fits", "limiting_resource", "train_s", "export_s", "finn_s", "stopped_by",
                  "reason")
_PERCENT = frozenset({"val_accuracy", "test_accuracy"})


class Panel(NamedTuple):
    x: str
    y: str
    x_title: str
    y_title: str
    x_log: bool
    y_log: bool


PANELS = (
    Panel("lut", "val_accuracy", "LUTs", "validation accuracy (%)", True, False),
    Panel("fps", "val_accuracy", "throughput (frames/s)", "validation accuracy (%)", True, False),
    Panel("lut", "fps", "LUTs", "throughput (frames/s)", True, True),
)


class ParetoGroup(NamedTuple):
    label: str
    numbers: tuple[int, ...]
    xy: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]  # one (x, y) per panel; NaN = gap
    hover: tuple[str, ...]


class ParetoInfo(NamedTuple):
    pareto: ParetoGroup
    dominated: ParetoGroup
    out: tuple[ParetoGroup, ...]  # infeasible COMPLETE trials, one group per reason (out_label)
    n_trials: int
    n_complete: int
    panels: tuple[Panel, ...] = PANELS

    @property
    def groups(self) -> tuple[ParetoGroup, ...]:
        return (self.pareto, self.dominated, *self.out)

    @property
    def infeasible(self) -> ParetoGroup:
        """All infeasible COMPLETE trials in one group, by trial number."""
        rows = sorted((n, i, g) for g in self.out for i, n in enumerate(g.numbers))
        return ParetoGroup("infeasible", tuple(n for n, _, _ in rows),
                           tuple((tuple(g.xy[k][0][i] for _, i, g in rows), tuple(g.xy[k][1][i] for _, i, g in rows))
                                 for k in range(len(self.panels))),
                           tuple(g.hover[i] for _, i, g in rows))

    @property
    def n_pareto(self) -> int:
        return len(self.pareto.numbers)


def is_missing(v: Any) -> bool:
    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def fmt_pct(v: Any) -> str:
    return "—" if is_missing(v) else f"{float(v) * 100:.2f}%"


def fmt_si(v: Any) -> str:
    """1234567 -> '1.2M', 111600 -> '111.6k'; rounding first so 999,960 reads '1.0M', not '1000.0k'."""
    if is_missing(v):
        return "—"
    v = float(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if round(abs(v) / div, 1) >= 1:
            return f"{v / div:.1f}{suffix}"
    return f"{v:.4g}"


def fmt_float(v: Any) -> str:
    return "—" if is_missing(v) else f"{float(v):,.1f}"


def fmt_count(v: Any) -> str:
    """Thousands separators; resource estimates are floats but usually whole."""
    return "—" if is_missing(v) else f"{float(v):,.0f}" if float(v).is_integer() else f"{float(v):,.1f}"


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(math.nan, index=df.index, dtype=float)
    s = pd.to_numeric(df[col], errors="coerce").astype(float)
    return s * 100 if col in _PERCENT else s


def _masks(df: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    complete = df["state"].astype(str).str.upper().str.removeprefix("TRIALSTATE.") == "COMPLETE"
    feasible = df["feasible"].eq(True)  # eq, not astype(bool): None/NaN must count as False
    # Defensive: a wrongly set pareto flag on an infeasible or unfinished trial never makes the front.
    front = complete & feasible & df["pareto"].eq(True)
    return front, complete & feasible & ~front, complete & ~feasible


# Why a design is out, from the words its reason is written in (dse/screen.py, dse/evaluate.py),
# in the order a legend lists them.
_WHY = (("too big", ("does not fit", "fit limit")),
        ("too slow", ("throughput", "min_fps", "latency", "max_latency_us")),
        ("too inaccurate", ("validation accuracy",)))


def out_label(state: Any, feasible: Any, stopped_by: Any, reason: Any) -> str | None:
    """Legend label for a design that is out (None for a feasible COMPLETE one).

    From the trial's recorded reason, not assumed: 'stopped early (accuracy)' when training was
    cut short, 'too big' / 'too slow' / 'too inaccurate' for the limits it broke, 'failed' for
    a trial whose evaluation failed."""
    state = str(state).upper().removeprefix("TRIALSTATE.")
    if state == "FAIL":
        return "failed"
    if state != "COMPLETE" or feasible is True:
        return None
    if stopped_by == "accuracy":
        return "stopped early (accuracy too low to go on)"
    text = "" if is_missing(reason) else str(reason)
    why = [label for label, words in _WHY if any(w in text for w in words)]
    if not why:
        return "infeasible"
    return ("stopped before training: " if stopped_by == "estimator" else "") + " and ".join(why)


def pareto_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The trials on the feasible Pareto front (pareto & feasible & COMPLETE)."""
    return df[_masks(df)[0]]


def _present(row: pd.Series, specs: tuple[tuple[str, str, Any], ...]) -> list[str]:
    """'label value' for each (label, column, formatter) whose column this study has."""
    return [f"{lab} {'—' if is_missing(row[c]) else fmt(row[c])}" for lab, c, fmt in specs if c in row.index]


def hover_text(row: pd.Series) -> str:
    """HTML hover for one trial, naming only the columns this study has."""
    parts = [
        _present(row, (("W", "weight_bits", fmt_count), ("A", "act_bits", fmt_count),
                       ("layers", "hidden_layers", fmt_count), ("width", "hidden_width", fmt_count),
                       ("target fps", "target_fps", fmt_si))),
        _present(row, (("val", "val_accuracy", fmt_pct), ("test", "test_accuracy", fmt_pct))),
        _present(row, (("fps", "fps", fmt_si), ("latency µs", "latency_us", fmt_float))),
        _present(row, (("LUT", "lut", fmt_count), ("BRAM18", "bram18", fmt_count), ("DSP", "dsp", fmt_count))),
        _present(row, (("bottleneck", "bottleneck", str),)),
    ]
    if "reason" in row.index and not is_missing(row["reason"]):
        parts.append([f"reason: {row['reason']}"])
    # Escape: node names and failure reasons are free text that must not break the hover HTML.
    lines = [html.escape(" · ".join(p), quote=False) for p in parts if p]
    return "<br>".join([f"<b>trial {int(row['number'])}</b>", *lines])


def _group(label: str, df: pd.DataFrame) -> ParetoGroup:
    df = df.sort_values("number", kind="stable")
    xy = tuple((tuple(_num(df, p.x)), tuple(_num(df, p.y))) for p in PANELS)
    hover = tuple(hover_text(r) for _, r in df.iterrows())
    return ParetoGroup(label, tuple(int(n) for n in df["number"]), xy, hover)


def pareto_info(df: pd.DataFrame) -> ParetoInfo:
    """Split the trials into the three marker groups; only COMPLETE trials are drawn."""
    front, dominated, infeasible = _masks(df)
    out = df[infeasible]
    col = lambda c: out[c] if c in out.columns else pd.Series(None, index=out.index, dtype=object)  # noqa: E731
    labels = pd.Series([out_label("COMPLETE", False, by, why) for by, why in zip(col("stopped_by"), col("reason"))],
                       index=out.index, dtype=object)
    info = ParetoInfo(
        pareto=_group("Pareto front", df[front]),
        dominated=_group("dominated", df[dominated]),
        out=tuple(_group(label, out[labels == label]) for label in sorted(set(labels))),
        n_trials=len(df),
        n_complete=int((front | dominated | infeasible).sum()),
    )
    logger.debug("pareto_info: %d trials, %d complete, %d on the front", info.n_trials, info.n_complete, info.n_pareto)
    return info
