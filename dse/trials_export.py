"""Every trial of a study as one flat table (CSV or Parquet) for pandas, spreadsheets or notebooks."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from dse.artifacts import replacing
from dse.errors import ConfigError
from dse.results import trials_frame

if TYPE_CHECKING:
    import optuna
    import pandas as pd

logger = logging.getLogger(__name__)

Format = Literal["csv", "parquet"]
_FORMATS: tuple[str, ...] = get_args(Format)


def export_frame(study: optuna.Study) -> pd.DataFrame:
    """`trials_frame` plus the columns a flat file needs; one row per trial, ordered by number.

    Columns, in order:

    - ``number``, ``state`` (COMPLETE, FAIL, PRUNED, RUNNING, WAITING), ``feasible`` (complete and
      every constraint <= 0), ``pareto`` (on Optuna's feasible Pareto front);
    - parameters: ``weight_bits``, ``act_bits``, ``hidden_width``, ``hidden_layers``, ``target_fps``;
    - estimates and metrics: ``val_accuracy``, ``test_accuracy``, ``fps``, ``latency_us``, ``lut``,
      ``bram18``, ``uram``, ``dsp``, ``max_cycles``, ``bottleneck``, ``fits``, ``limiting_resource``;
    - stage durations: ``train_s``, ``export_s``, ``finn_s``;
    - ``reason`` (why a trial was infeasible or failed), ``retry_of``, ``artifact_dir`` (relative to
      the work directory), ``duration_s`` (wall time of the whole trial);
    - ``datetime_start``, ``datetime_complete`` (timestamps; empty while unset);
    - ``utilization_<resource>`` (fraction of the board, e.g. ``utilization_lut``, ``utilization_bram18``),
      flattened from the ``utilization`` dict;
    - ``constraint_<name>`` (Optuna constraint value; <= 0 means satisfied, e.g. ``constraint_fits_U280``);
    - ``val_history``: validation accuracy per epoch, as a JSON list string.

    Cells a trial never reached are empty (NaN/None).
    """
    import pandas as pd

    df = trials_frame(study)
    extra: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": t.number, "datetime_start": t.datetime_start,
                               "datetime_complete": t.datetime_complete}
        for k, v in (t.user_attrs.get("utilization") or {}).items():
            row[f"utilization_{k}"] = v
        row.update({f"constraint_{k}": v for k, v in t.constraints.items()})
        history = t.user_attrs.get("val_history")
        # JSON text, not a list: CSV has no list type, and both formats must read back the same.
        row["val_history"] = None if history is None else json.dumps(history)
        extra.append(row)
    fixed = ["number", "datetime_start", "datetime_complete"]
    extras = pd.DataFrame(extra, columns=None if extra else [*fixed, "val_history"])
    extras = extras[[*fixed, *(c for c in extras.columns if c not in {*fixed, "val_history"}), "val_history"]]
    df = df.merge(extras, on="number", how="left", validate="one_to_one")
    for col in fixed[1:]:
        df[col] = pd.to_datetime(df[col])
    return df.sort_values("number", kind="stable").reset_index(drop=True)


def _format(path: Path, fmt: Format | None) -> Format:
    chosen = fmt or path.suffix.lower().removeprefix(".")
    if chosen not in _FORMATS:
        got = f"format {fmt!r}" if fmt else f"suffix {path.suffix!r}" if path.suffix else "file type (no suffix)"
        raise ConfigError(f"cannot write trials to {path}: unknown {got} (allowed: .csv, .parquet)")
    return cast(Format, chosen)  # checked against _FORMATS just above


def write_trials(study: optuna.Study, path: Path, *, fmt: Format | None = None) -> Path:
    """Write every trial of ``study`` to ``path`` (columns: see `export_frame`); returns ``path``.

    The format is ``fmt`` or else the suffix (.csv, .parquet). The file is written to a temporary
    name and renamed, so a reader never sees half a table.
    """
    path = Path(path)
    kind = _format(path, fmt)
    df = export_frame(study)
    with replacing(path) as tmp:
        if kind == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    logger.debug("wrote %d trials to %s", len(df), path)
    return path
