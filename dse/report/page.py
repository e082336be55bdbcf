"""The study report page: one offline HTML file (plotly.js inlined, the data as one JSON blob, a small JS).

`report_data` is pure data (JSON-serialisable, tested without plotly or a browser); `write_report`
pours it into templates/report.html, whose script draws every figure with Plotly.newPlot.

Hypervolume: objectives are normalised so all are minimised and lie in [0, 1]:
``(1 - val_accuracy, 1 - fps / f_clk, lut / usable LUT)`` with the fixed reference point (1, 1, 1),
i.e. accuracy 0, fps 0 and LUT = the board's usable LUT budget. f_clk = 1e9 / clock_ns is the
fps of a fully unfolded design (one frame per cycle), so no feasible design lies past the box and
the value is the dominated share of it (0..1), comparable across studies on the same board and clock.
"""
from __future__ import annotations

import html
import json
import logging
import math
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import StudyLayout, TrialFiles, write_atomic
from dse.report.pareto import hover_text, is_missing, out_label
from dse.results import METRICS, param_columns, trial_attrs, trials_frame
from dse.storage.database import study_url
from estimators.devices import RESOURCE_KINDS, Board, Resources, get_board, place_in_slrs

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

# (metric, axis title, display scale, log axis): what the 2D Pareto plot's selects offer.
AXES = (
    ("val_accuracy", "validation accuracy (%)", 100.0, False),
    ("test_accuracy", "test accuracy (%)", 100.0, False),
    ("fps", "throughput (frames/s)", 1.0, True),
    ("latency_us", "latency (µs)", 1.0, True),
    ("lut", "LUTs", 1.0, True),
    ("bram18", "BRAM18", 1.0, False),
    ("dsp", "DSP", 1.0, False),
)
ESTIMATED_KINDS = ("lut", "bram18", "uram", "dsp")  # FINN's estimate has no FF figure
# (quantity, FINN-estimate metric, trial user attr holding the synthesised / measured value)
SYNTH_FIELDS = (
    ("LUT", "lut", "synth_lut"), ("BRAM18", "bram18", "synth_bram18"), ("URAM", "uram", "synth_uram"),
    ("DSP", "dsp", "synth_dsp"), ("fps", "fps", "measured_fps"), ("latency (µs)", "latency_us", "measured_latency_us"),
)
HV_REFERENCE = "accuracy 0, fps 0, LUT = the board's usable LUT budget (normalised: (1, 1, 1))"
TEMPLATE = "report.html"


def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()  # numpy scalar
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return None if is_missing(v) else v


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        logger.warning("cannot read %s: %s", path, err)
        return None
    return data if isinstance(data, dict) else None


def folding_rows(folding: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """folding_config.json as table columns and one row per node ("Defaults" is not a node)."""
    rows = [{"node": name, **attrs} for name, attrs in folding.items() if name != "Defaults" and isinstance(attrs, dict)]
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    return columns, rows


def utilization(totals: dict[str, float], board: Board) -> list[dict[str, Any]]:
    """Per estimated resource: used, usable budget (capacity x limit - shell), capacity, used/usable."""
    usable, capacity = board.usable(), board.total
    out = []
    for k in ESTIMATED_KINDS:
        used, budget = float(totals.get(k) or 0.0), getattr(usable, k)
        out.append({"kind": k, "used": used, "usable": budget, "capacity": getattr(capacity, k),
                    "limit": board.limits[k], "utilization": used / budget if budget > 0 else None})
    return out


def slr_placement(layers: list[dict[str, Any]], board: Board, *, fit_margin: float = 0.0) -> dict[str, Any]:
    """The dataflow chain cut into SLRs (estimators.devices.place_in_slrs, the study's fit margin
    applied to each SLR) with its message."""
    res = [Resources(**{k: max(0.0, float(layer.get(k) or 0.0)) for k in ESTIMATED_KINDS}) for layer in layers]
    p = place_in_slrs(res, board, safety_margin=fit_margin, names=[str(layer.get("name")) for layer in layers])
    slrs = [{"slr": i, "used": p.used[i].as_dict(), "utilization": dict(p.utilization[i]),
             "avg_utilization": p.avg_utilization[i], "peak": p.peak(i)} for i in range(len(p.used))]
    return {"fits": p.fits, "message": p.describe(), "slr_of": list(p.slr_of), "slrs": slrs}


def trial_design(files: TrialFiles, board: Board, *, fit_margin: float = 0.0) -> dict[str, Any] | None:
    """Per-layer estimate, folding table, utilization and SLR placement of one trial (None if no estimate)."""
    est = _read_json(files.estimate)
    if est is None:
        return None
    layers = [{k: layer.get(k) for k in ("name", "op_type", "cycles", *ESTIMATED_KINDS, "pe", "simd")}
              for layer in est.get("layers", [])]
    columns, rows = folding_rows(_read_json(files.folding) or {})
    order = {layer["name"]: i for i, layer in enumerate(layers)}
    rows.sort(key=lambda r: order.get(r["node"], len(order)))  # dataflow order, not the file's sorted keys
    return {
        "layers": layers, "bottleneck": est.get("bottleneck"), "max_cycles": est.get("max_cycles"),
        "critical_path_cycles": est.get("critical_path_cycles"), "folding_columns": columns, "folding": rows,
        "utilization": utilization(est, board), "placement": slr_placement(layers, board, fit_margin=fit_margin),
    }


def synthesis_entry(number: int, metrics: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any] | None:
    """Estimate vs synthesis / board measurement for one trial, or None when it has no such attrs."""
    rows = []
    for label, metric, attr in SYNTH_FIELDS:
        measured = attrs.get(attr)
        if measured is None:
            continue
        est = metrics.get(metric)
        ratio = float(measured) / float(est) if est not in (None, 0) else None
        rows.append({"quantity": label, "estimate": est, "measured": float(measured), "ratio": ratio, "attr": attr})
    return {"number": number, "source": attrs.get("synth_source", "synthesis / board"), "rows": rows} if rows else None


def hypervolume_history(trials: list[dict[str, Any]], *, fps_max: float, lut_budget: float) -> list[dict[str, Any]]:
    """Hypervolume of the feasible COMPLETE trials numbered <= n, for each trial n (see module doc)."""
    from dse.hypervolume import hypervolume

    points: list[tuple[float, float, float]] = []
    hv, out = 0.0, []
    for t in sorted(trials, key=lambda t: t["number"]):
        m = t["metrics"]
        if t["state"] == "COMPLETE" and t["feasible"] and None not in (m["val_accuracy"], m["fps"], m["lut"]):
            # Clipped into the box: a point past the reference adds nothing instead of raising.
            points.append((min(1.0, max(0.0, 1.0 - m["val_accuracy"])), min(1.0, max(0.0, 1.0 - m["fps"] / fps_max)),
                           min(1.0, max(0.0, m["lut"] / lut_budget))))
            hv = hypervolume(points, (1.0, 1.0, 1.0))
        out.append({"number": t["number"], "hypervolume": hv, "n_feasible": len(points)})
    return out


def _hardware(study: optuna.Study) -> tuple[Board, float]:
    hw = (study.user_attrs.get("spec") or {}).get("hardware") or {}
    return get_board(hw.get("board", "U280")), float(hw.get("clock_ns", 5.0))


def selection_order(trials: list[dict[str, Any]]) -> list[int]:
    """Completed trials for the selector: the Pareto front by accuracy, then the rest by number."""
    done = [t for t in trials if t["state"] == "COMPLETE"]
    front = sorted((t for t in done if t["pareto"]), key=lambda t: -(t["metrics"]["val_accuracy"] or 0.0))
    return [t["number"] for t in front] + [t["number"] for t in done if not t["pareto"]]


def report_data(study: optuna.Study, workdir: Path, *, storage: str | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-serialisable data (``storage``: the study's URL
    when it is not the one study.json names)."""
    workdir = Path(workdir)
    attrs = trial_attrs(study, study_url(workdir, storage))
    board, clock_ns = _hardware(study)
    fit_margin = float(((study.user_attrs.get("spec") or {}).get("limits") or {}).get("fit_margin") or 0.0)
    frame = trials_frame(study).set_index("number", drop=False)
    params = param_columns(frame)
    trials, synthesis = [], []
    for t in study.get_trials(deepcopy=False):
        row = frame.loc[t.number]
        entry: dict[str, Any] = {
            "number": t.number, "state": t.state.name, "feasible": bool(row["feasible"]), "pareto": bool(row["pareto"]),
            "params": _clean({p: row[p] for p in params}), "metrics": _clean({m: row[m] for m in METRICS}),
            "reason": _clean(row["reason"]), "hover": hover_text(row), "design": None,
            "out": out_label(t.state.name, bool(row["feasible"]), row["stopped_by"], row["reason"]),
        }
        if t.state.name == "COMPLETE":
            rel = t.user_attrs.get("artifact_dir")
            files = TrialFiles(workdir / rel if rel else StudyLayout(workdir).trial_dir(t.number))
            entry["design"] = _clean(trial_design(files, board, fit_margin=fit_margin))
            synth = synthesis_entry(t.number, entry["metrics"], attrs[t.number])
            if synth is not None:
                synthesis.append(_clean(synth))
        trials.append(entry)
    fps_max, lut_budget = 1e9 / clock_ns, board.usable().lut
    return {
        "study_name": study.study_name, "board": board.name, "part": board.part, "clock_ns": clock_ns,
        "axes": [{"key": k, "title": title, "scale": s, "log": log} for k, title, s, log in AXES],
        "trials": trials, "selection_order": selection_order(trials), "synthesis": synthesis,
        "hypervolume": {"reference": HV_REFERENCE, "fps_max": fps_max, "lut_budget": lut_budget,
                        "history": hypervolume_history(trials, fps_max=fps_max, lut_budget=lut_budget)},
        "counts": {"trials": len(trials), "complete": sum(t["state"] == "COMPLETE" for t in trials),
                   "feasible": sum(t["feasible"] for t in trials), "pareto": sum(t["pareto"] for t in trials)},
    }


def render_html(data: dict[str, Any]) -> str:
    """Fill the template: plotly.js once, the data as one JSON blob; no external URL."""
    from plotly.offline import get_plotlyjs

    template = resources.files("dse.report").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    # "<" escaped so no string in the data can close the <script> tag that holds it.
    blob = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    values = {"TITLE": html.escape(f"FINN-DSE report: {data['study_name']}"), "DATA_JSON": blob, "PLOTLY_JS": get_plotlyjs()}
    # One pass, so a placeholder-like string inside the data or plotly.js is never substituted.
    return re.sub(r"\{\{(TITLE|DATA_JSON|PLOTLY_JS)\}\}", lambda m: values[m.group(1)], template)


def write_report(study: optuna.Study, workdir: Path, out: Path | None = None, *, storage: str | None = None) -> Path:
    """Write the report page (default workdir/report.html) atomically; returns its path."""
    workdir = Path(workdir)
    out = Path(out) if out is not None else workdir / "report.html"
    write_atomic(out, render_html(report_data(study, workdir, storage=storage)))
    logger.debug("wrote study report %s", out)
    return out
