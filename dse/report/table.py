"""Rich table of the Pareto front; builds it only, the CLI decides where to print."""
from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from rich.table import Table

from dse.report.pareto import fmt_count, fmt_float, fmt_pct, fmt_si, is_missing, pareto_rows

logger = logging.getLogger(__name__)

COLUMNS = (
    "Trial", "Design", "Val acc", "Test acc", "fps", "Latency (µs)", "LUT", "BRAM18", "DSP", "µJ/inference",
    "Bottleneck",
)


def _get(row: pd.Series, col: str) -> Any:
    return row[col] if col in row.index else None  # older studies may lack the column


def _design(row: pd.Series) -> str:
    """The design label the study recorded ("tfc 64-64-64 w2a2 pruned 50%"), or one made from
    the parameters of studies recorded before labels existed."""
    label = _get(row, "design")
    if not is_missing(label):
        return str(label)
    layers, width = _get(row, "hidden_layers"), _get(row, "hidden_width")
    hidden = "" if is_missing(layers) or is_missing(width) else f"{int(layers)}x{int(width)} "
    return f"{hidden}w{fmt_count(_get(row, 'weight_bits'))}a{fmt_count(_get(row, 'act_bits'))}"


def _cells(row: pd.Series) -> list[str]:
    bottleneck = _get(row, "bottleneck")
    energy = _get(row, "energy_uj")
    return [
        str(int(row["number"])),
        _design(row),
        fmt_pct(_get(row, "val_accuracy")),
        fmt_pct(_get(row, "test_accuracy")),
        fmt_si(_get(row, "fps")),
        fmt_float(_get(row, "latency_us")),
        fmt_count(_get(row, "lut")),
        fmt_count(_get(row, "bram18")),
        fmt_count(_get(row, "dsp")),
        "—" if is_missing(energy) else f"{float(energy):,.1f}",
        "—" if is_missing(bottleneck) else str(bottleneck),
    ]


def pareto_table(df: pd.DataFrame, *, title: str = "Pareto front") -> Table:
    """Pareto trials (pareto & feasible & COMPLETE), best validation accuracy first."""
    rows = pareto_rows(df).sort_values("number", kind="stable")
    if "val_accuracy" in rows.columns:
        acc = pd.to_numeric(rows["val_accuracy"], errors="coerce")
        rows = rows.loc[acc.sort_values(ascending=False, na_position="last", kind="stable").index]
    table = Table(title=title)
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("Design", "Bottleneck") else "right")
    for _, row in rows.iterrows():
        table.add_row(*_cells(row))
    if rows.empty:
        table.caption = "no feasible completed trial yet"
    return table
