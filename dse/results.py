"""Read-only access to a finished or running study: trials as a DataFrame, the Pareto front."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    import optuna
    import pandas as pd

# Global parameters first, in this order; per-layer ones (weight_bits_0, pe_3, ...) follow sorted.
PARAMS = ("weight_bits", "act_bits", "hidden_width", "hidden_layers", "prune_ratio", "target_fps", "budget",
          "ram_style", "res_type", "clock_ns")
METRICS = ("design", "val_accuracy", "test_accuracy", "fps", "latency_us", "lut", "bram18", "uram", "dsp",
           "energy_uj", "max_cycles", "bottleneck", "fits", "limiting_resource", "stopped_by", "estimate_source",
           "est_fps", "est_lut", "screen_s", "parent_train_s", "train_s", "export_s", "finn_s",
           # network-level studies (evaluation.hardware: front): which network, which of its designs
           "role", "network_id", "hardware_design_id", "finn_disagreement")


def trial_attrs(study: optuna.Study, storage_url: str) -> dict[int, dict[str, Any]]:
    """Each trial's user attributes with its ingested build/measurement results joined in
    (synth_*, measured_*; they live in FINN-DSE's own table, dse.jobs.store)."""
    from dse.jobs.store import job_results

    results = job_results(storage_url, study.study_name)
    return {t.number: {**t.user_attrs, **results.get(t.number, {})} for t in study.get_trials(deepcopy=False)}


def pareto_numbers(study: optuna.Study) -> set[int]:
    """Trial numbers on the feasible Pareto front (Optuna's own front; constraints respected)."""
    return {t.number for t in study.best_trials}


def param_columns(frame: pd.DataFrame) -> list[str]:
    """The parameter columns of a trials frame (global ones, then per-layer ones)."""
    fixed = {"number", "state", "feasible", "pareto", *METRICS, "reason", "retry_of", "artifact_dir", "duration_s"}
    return [c for c in frame.columns if c not in fixed]


def _natural(name: str) -> tuple[str, int]:
    stem, _, index = name.rpartition("_")
    return (stem, int(index)) if index.isdigit() else (name, -1)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: parameters, figures, state, feasibility, Pareto membership."""
    import pandas as pd

    front = pareto_numbers(study)
    trials = study.get_trials(deepcopy=False)
    names = {p for t in trials for p in t.params}
    params = list(PARAMS) + sorted(names - set(PARAMS), key=_natural)
    rows: list[dict[str, Any]] = []
    for t in trials:
        complete = t.state.name == "COMPLETE"
        feasible = complete and all(v <= 0 for v in t.constraints.values())
        row: dict[str, Any] = {"number": t.number, "state": t.state.name, "feasible": feasible,
                               "pareto": t.number in front}
        row.update({p: t.params.get(p) for p in params})
        row.update({m: t.user_attrs.get(m) for m in METRICS})
        row["reason"] = t.user_attrs.get("reason") or t.user_attrs.get("fail_reason")
        row["retry_of"] = t.user_attrs.get("retry_of")
        row["artifact_dir"] = t.user_attrs.get("artifact_dir")
        row["duration_s"] = t.duration.total_seconds() if t.duration is not None else math.nan
        rows.append(row)
    columns = ["number", "state", "feasible", "pareto", *params, *METRICS, "reason", "retry_of",
               "artifact_dir", "duration_s"]
    return pd.DataFrame(rows, columns=columns)
