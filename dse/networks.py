"""Network-level trials (``evaluation.hardware: front``): one training buys a whole hardware front.

The sampler proposes a network (family, widths, pruning, bits). Before any training the
estimators compute its exact hardware front over the hardware dimensions the study file declares
(every reachable folding level in the folding range x memory styles x resType x clocks), under
the study's hard limits. Then:

- empty front: never trained, recorded with the reason (as a screened-out per-trial design);
- deferred: every design is dominated by the study's current front even at an optimistic
  accuracy (README "Network-level studies"): recorded (PRUNED), not trained;
- otherwise trained once (file-locked store under ``<workdir>/networks/``: shared by workers and
  restarts; a repeated proposal reuses the weights and records and is PRUNED as a repeat), and
  every design of its front becomes a trial: the sampler's own trial is the front's fastest
  design, the others are added with ``study.add_trial`` (``role: design``), idempotently by
  (network id, design id), so a killed run that is resumed neither loses nor duplicates one.
  FINN's estimate flow confirms the network's designs that are on the study's front when they
  are added; a disagreement is recorded (``finn_disagreement``) and logged, never hidden.

One job (why it is over 400 lines): a network-level trial, from the proposal to its recorded designs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import estimators as est
from estimators.folding import OptionTable
from estimators.front import HardwareDesign, design_id, hardware_front
from dse.artifacts import StudyLayout, TrialFiles, write_json
from dse.families import ModelIO, family_of
from dse.pruning import kept_widths
from dse.evaluate import NOT_TRAINED_ACCURACY, _design_record, _hardware_estimate_dict, train_point
from dse.parents import _locked
from dse.screen import Screening, hardware_violations, screen
from dse.text import plural
from search_spaces import DesignPoint
from search_spaces.base import FoldingPoint

if TYPE_CHECKING:
    import optuna

    from dse.data import Dataset
    from dse.parents import ParentStore
    from dse.spec import StudySpec

logger = logging.getLogger(__name__)

HARDWARE_ATTRS = ("fps", "latency_us", "lut", "bram18", "uram", "dsp", "energy_uj")
FINN_TOLERANCE = 1e-6  # relative: our estimate and FINN's agree exactly on every node we check


@dataclass(frozen=True, slots=True)
class NetworkOutcome:
    """What the sampler's trial records. ``pruned``: no values (deferred, or a repeat)."""

    values: tuple[float, ...] | None
    constraints: dict[str, float]
    attrs: dict[str, Any]
    stopped_by: str | None = None  # estimator, accuracy, deferred, repeat, or None (trained, designs added)
    reason: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    designs_added: int = 0

    @property
    def pruned(self) -> bool:
        return self.values is None


def network_key(point: DesignPoint, spec: StudySpec) -> str:
    """Identity of a trained network: what it is and how it is trained (never its hardware)."""
    ident = {"family": point.family, "widths": point.widths, "prune": point.prune_ratios,
             "weight_bits": point.weight_bits, "act_bits": point.act_bits,
             "extra": [list(map(str, e)) for e in point.extra], "dataset": spec.dataset,
             "training": spec.training.identity(), "seed": spec.seed,
             "pruning": spec.space.pruning.model_dump(mode="json") if point.pruned else None}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{point.family}-{digest}"


class NetworkStore:
    """Trained networks of a study: ``<root>/<key>/`` (weights.pt, model.onnx, record.json)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def dir(self, key: str) -> Path:
        return self.root / key

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        with _locked(self.root / f"{key}.lock"):
            yield

    def record(self, key: str) -> dict[str, Any] | None:
        path = self.dir(key) / "record.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save_record(self, key: str, record: dict[str, Any]) -> None:
        write_json(self.dir(key) / "record.json", record)  # atomic: whole or absent


# --- the network's hardware front -------------------------------------------------------------

def _clocks(spec: StudySpec) -> tuple[float, ...]:
    return tuple(spec.space.clock_ns) if spec.space.clock_ns is not None else (spec.hardware.clock_ns,)


def _screening(design: HardwareDesign, widths: tuple[int, ...], spec: StudySpec,
               placed: est.Partition | None = None) -> Screening:
    board = est.get_board(spec.hardware.board)
    estimate = est.estimate_graph(design.graph, board.part, clock_ns=design.clock_ns)
    return Screening(widths=widths, graph=design.graph, estimate=estimate, fit=design.fit, energy_uj=design.energy_uj,
                     target_met=True, partition=placed,
                     violations=hardware_violations(estimate.fps, (estimate.latency_ns if placed is None else placed.latency_ns) / 1e3,
                                                    design.fit.margin, spec.limits))


def multi_card_designs(graph: est.DataflowGraph, spec: StudySpec,
                       tables: Sequence[OptionTable]) -> list[tuple[HardwareDesign, est.Partition]]:
    """Per card count K > 1 of ``hardware.fpgas``, clock and memory restriction: the fastest folding
    that partitions over K cards (``estimators.multi_fpga.fastest_on_cards``), kept only where it
    needs all K (a design that fits fewer cards is already among the fewer-card designs, and the
    feasibility along the levels flips once, so it is faster than every one of them).

    As a HardwareDesign: totals over the cards, ``fit`` the fullest card's (fitting is per card),
    latency with a link hop per cut, energy with every card's static power. The id is the
    one-card id of the folding and clock plus the card count."""
    board = est.get_board(spec.hardware.board)
    f, limits = spec.space.folding, spec.limits
    out: dict[str, tuple[HardwareDesign, est.Partition]] = {}
    for k in (k for k in spec.hardware.fpgas if k > 1):
        for ram_style in dict.fromkeys(f.ram_style):
            for res_type in dict.fromkeys(f.res_type):
                tabs = est.restrict_styles(graph, tables, ram_style=ram_style, res_type=res_type)
                for clk in dict.fromkeys(float(c) for c in _clocks(spec)):
                    m = est.fastest_on_cards(graph, board, cards=k, clock_ns=clk, tables=tabs,
                                             limits=est.FoldingLimits(wwidth_max=spec.hardware.mvau_wwidth_max),
                                             max_utilization=1.0 - limits.fit_margin)
                    p = m.partition
                    if not m.met or p.n_cards != k or p.energy_uj is None:
                        continue
                    lat_us = p.latency_ns / 1e3
                    if ((limits.min_fps is not None and p.fps < limits.min_fps)
                            or (limits.max_latency_us is not None and lat_us > limits.max_latency_us)):
                        continue
                    e = est.estimate_graph(m.graph, board.part, clock_ns=clk)
                    ident = f"{design_id(m.graph, clk)}-{k}fpga"
                    fullest = max(p.cards, key=lambda c: c.fit.margin).fit
                    out.setdefault(ident, (HardwareDesign(
                        id=ident, graph=m.graph, clock_ns=clk, ram_style=ram_style, res_type=res_type, fps=p.fps,
                        latency_us=lat_us, lut=e.lut, bram18=e.bram18, uram=e.uram, dsp=e.dsp,
                        energy_uj=p.energy_uj, max_cycles=p.max_cycles, fit=fullest), p))
    return list(out.values())


def _hardware_objectives(spec: StudySpec) -> list[tuple[str, float]]:
    """(attr, sign) of the study's hardware objectives, as losses (sign -1: maximised)."""
    return [(a, -1.0 if d == "maximize" else 1.0) for a, d in zip(spec.objective_attrs, spec.directions)
            if a in HARDWARE_ATTRS]


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def network_front(point: DesignPoint, spec: StudySpec,
                  sweep: dict[str, Any] | None = None) -> tuple[list[Screening], list[str], float]:
    """The network's designs (screened, fastest first), their stable ids, and the seconds it took.

    ``sweep``, if given, receives what the sweep covered (levels, candidates, feasible, its own
    seconds and the hardware front's size before the study's folding range and objectives).

    hardware_front gives the non-dominated designs over every hardware figure; those inside the
    study file's folding range and non-dominated in the study's own hardware objectives are the
    study's designs of this network (the others could never be on the study's front).
    """
    t0 = time.perf_counter()
    family = family_of(point)
    board = est.get_board(spec.hardware.board)
    widths = kept_widths(point, multiple=spec.space.pruning.multiple)
    graph = family.graph(point, widths, board.part, io=ModelIO.of(spec))
    f, limits = spec.space.folding, spec.limits
    flimits = est.FoldingLimits(wwidth_max=spec.hardware.mvau_wwidth_max)
    tables = est.option_tables(graph, board.part, flimits)
    front = hardware_front(graph, board, clock_ns=_clocks(spec), ram_styles=f.ram_style, res_types=f.res_type,
                           limits=flimits, tables=tables,
                           fit_margin=limits.fit_margin, min_fps=limits.min_fps, max_latency_us=limits.max_latency_us)
    if sweep is not None:
        sweep.update({k: v for k, v in front.record().items() if k not in ("designs", "settings")})
    multi = multi_card_designs(graph, spec, tables) if max(spec.hardware.fpgas) > 1 else []
    placed = {d.id: p for d, p in multi}
    designs = list(front.designs) + [d for d, _ in multi]
    if f.objective == "target_fps":
        designs = [d for d in designs if f.target_fps.low <= d.fps <= f.target_fps.high]
    else:  # budget: the share of the usable device a design may take
        designs = [d for d in designs if max(d.fit.utilization.values()) <= f.budget.high]
    objs = _hardware_objectives(spec)
    if objs:
        pts = [tuple(s * getattr(d, a) for a, s in objs) for d in designs]
        keep = [i for i, p in enumerate(pts) if not any(_dominates(q, p) for q in pts)]
        seen: set[tuple[float, ...]] = set()
        kept = []
        for i in keep:  # equal in every study objective: one design (the first, i.e. the fastest) is enough
            if pts[i] not in seen:
                seen.add(pts[i])
                kept.append(designs[i])
        designs = kept
    designs.sort(key=lambda d: (-d.fps, d.lut, d.id))
    return ([_screening(d, widths, spec, placed.get(d.id)) for d in designs], [d.id for d in designs],
            time.perf_counter() - t0)


# --- deferral ---------------------------------------------------------------------------------

def _network_shape(point: DesignPoint, spec: StudySpec) -> dict[str, Any]:
    widths = kept_widths(point, multiple=spec.space.pruning.multiple)
    return {"family": point.family, "widths": list(widths), "weight_bits": list(point.weight_bits),
            "act_bits": list(point.act_bits), "extra": [list(map(str, e)) for e in point.extra]}


def _contains(big: dict[str, Any], small: dict[str, Any]) -> bool:
    """``big`` has at least the capacity of ``small``: same family and depth, every width and bit width >=."""
    same = all(big[k] == small[k] for k in ("family", "extra")) and all(
        len(big[k]) == len(small[k]) for k in ("widths", "weight_bits", "act_bits"))
    return same and all(b >= s for k in ("widths", "weight_bits", "act_bits") for b, s in zip(big[k], small[k]))


def optimistic_accuracy(shape: dict[str, Any], trials: Sequence[optuna.trial.FrozenTrial],
                        spec: StudySpec) -> float | None:
    """The best accuracy this network can be expected to reach: the lowest bound set by the trained
    networks that have at least its capacity (None: no such network yet).

    A fully trained network bounds it at its accuracy plus ``defer_headroom`` (a smaller network
    can come out a little ahead by chance). One stopped early by the accuracy check bounds it at
    what that check let it still reach: its accuracy when stopped + ``early_stop_headroom`` x
    (share of training left), the margin the check already gave it. Its accuracy when stopped alone
    would bound too tightly: with short training a wider network can learn more slowly (tried: it
    deferred most of the space).
    """
    ev = spec.evaluation
    bounds = []
    for t in trials:
        a = t.user_attrs
        if (a.get("role") != "network" or t.state.name != "COMPLETE" or "val_accuracy" not in a
                or "network" not in a or not _contains(a["network"], shape)):
            continue
        if a.get("stopped_by") is None:
            bounds.append(float(a["val_accuracy"]) + ev.defer_headroom)
        elif a.get("stopped_by") == "accuracy" and "train_progress" in a:
            bounds.append(float(a["val_accuracy"]) + ev.early_stop_headroom * (1.0 - float(a["train_progress"])))
    return min(1.0, min(bounds)) if bounds else None


def _losses(spec: StudySpec, figures: dict[str, Any]) -> tuple[float, ...]:
    return tuple((-1.0 if d == "maximize" else 1.0) * float(figures[a])
                 for a, d in zip(spec.objective_attrs, spec.directions))


def study_front_losses(study: optuna.Study, spec: StudySpec) -> list[tuple[float, ...]]:
    """The feasible COMPLETE trials' objective values as losses."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.values is not None and all(v <= 0 for v in t.constraints.values()):
            out.append(tuple((-1.0 if d == "maximize" else 1.0) * v for v, d in zip(t.values, spec.directions)))
    return out


def deferral(spec: StudySpec, designs: Sequence[Screening], shape: dict[str, Any],
             study: optuna.Study) -> str | None:
    """Why the network cannot add hypervolume to the study's front (None: it can, or we cannot tell).

    A design adds hypervolume exactly when no design of the front dominates it; at the optimistic
    accuracy, if every design is dominated (or the optimistic accuracy is below the minimum
    accuracy) no accuracy the network can reach would add any.
    """
    trials = study.get_trials(deepcopy=False)
    opt = optimistic_accuracy(shape, trials, spec)
    if opt is None:
        return None
    if spec.limits.min_accuracy is not None and opt < spec.limits.min_accuracy:
        return (f"deferred: a network at least as big reached (or, stopped early, could still reach) only "
                f"{opt:.2%} with headroom, below the minimum accuracy {spec.limits.min_accuracy:.2%}")
    front = study_front_losses(study, spec)
    for s in designs:
        p = _losses(spec, {**s.figures(), "val_accuracy": opt})
        if not any(_dominates(q, p) for q in front):
            return None
    return (f"deferred: even at an optimistic {opt:.2%} accuracy (bounded by a network at least as big) each of "
            f"its {plural(len(designs), 'design')} is dominated by the study's front")


def _deferred_before(study: optuna.Study, key: str, number: int) -> bool:
    return any(t.user_attrs.get("network_id") == key and t.user_attrs.get("stopped_by") == "deferred"
               for t in study.get_trials(deepcopy=False) if t.number != number)


# --- the network trial ----------------------------------------------------------------------

def _figures_with_finn(model: Path, s: Screening, spec: StudySpec, files: TrialFiles,
                       folding: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[float]]]:
    """FINN's estimate flow on one design: (figures, estimate.json content, disagreements)."""
    from dse.finn.flow import estimate as finn_estimate

    hw = spec.hardware
    finn = finn_estimate(model, board=hw.board, clock_ns=s.estimate.clock_ns, folding=folding,
                         mvau_wwidth_max=hw.mvau_wwidth_max, log_path=files.log, reports_dir=files.finn_reports)
    f = finn.estimate
    fit = est.check_fit(est.Resources(lut=f.lut, bram18=f.bram18, uram=f.uram, dsp=f.dsp), est.get_board(hw.board),
                        safety_margin=spec.limits.fit_margin, names=[la.name for la in f.layers],
                        layers=[est.Resources(lut=la.lut, bram18=la.bram18, uram=la.uram, dsp=la.dsp)
                                for la in f.layers])
    figures: dict[str, Any] = {"fps": f.fps, "latency_us": f.latency_ns / 1000.0, "lut": f.lut, "bram18": f.bram18,
               "uram": f.uram,
               "dsp": f.dsp, "max_cycles": f.max_cycles, "bottleneck": f.bottleneck, "fits": fit.fits,
               "limiting_resource": fit.limiting, "utilization": dict(fit.utilization),
               "energy_uj": est.energy_per_inference_uj(fps=f.fps, lut=f.lut, bram18=f.bram18, uram=f.uram,
                                                        dsp=f.dsp, clock_ns=s.estimate.clock_ns)}
    ours = s.figures()
    diff = {k: [float(ours[k]), float(figures[k])] for k in ("fps", "latency_us", "lut", "bram18", "uram", "dsp")
            if abs(float(ours[k]) - float(figures[k])) > FINN_TOLERANCE * max(1.0, abs(float(figures[k])))}
    return figures, {**f.to_dict(), "source": "finn"}, diff


def _design_files(layout: StudyLayout, key: str, design_id: str) -> TrialFiles:
    return TrialFiles(layout.root / "designs" / key / design_id)


def _link(src: Path, dst: Path) -> None:
    """The network's model in a design's folder (hard link: one copy on disk), replaced atomically."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}")
    try:
        os.link(src, tmp)
    except OSError:
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def run_network(trial: optuna.Trial, point: DesignPoint, spec: StudySpec, layout: StudyLayout, store: NetworkStore, *,
                seed: int, data: Callable[[], Dataset], parents: ParentStore | None,
                progress: Callable[[str, int, int], None] | None = None) -> NetworkOutcome:
    """Evaluate the sampler's network proposal (see the module doc); adds the design trials."""
    study = trial.study
    seconds: dict[str, float] = {}
    limits, ev = spec.limits, spec.evaluation

    def stage(name: str, done: int = 0, total: int = 1) -> None:
        if progress is not None:
            progress(name, done, total)

    key = network_key(point, spec)
    shape = _network_shape(point, spec)
    attrs: dict[str, Any] = {"role": "network", "network_id": key, "network": shape, "design": point.label(),
                             "widths": shape["widths"]}
    stage("front")
    sweep: dict[str, Any] = {}
    designs, ids, seconds["front"] = network_front(point, spec, sweep)
    attrs.update(n_designs=len(designs), front_s=seconds["front"], front_levels=sweep["levels"],
                 front_candidates=sweep["candidates"], hardware_front_size=sweep["n_designs"])
    files = TrialFiles(layout.trial_dir(trial.number))
    if not designs:
        return _screened_out(point, spec, files, attrs, seconds)

    ndir = store.dir(key)
    nfiles = TrialFiles(ndir)
    with store.locked(key):
        record = store.record(key)
        if record is not None and record.get("designs_added"):
            owner: Any = record.get("owner")
            states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
            if owner != trial.number and owner is not None and states.get(int(owner), "") in ("COMPLETE", "RUNNING"):
                attrs.update({k: record[k] for k in ("val_accuracy", "test_accuracy") if k in record},
                             repeat_of=owner, stopped_by="repeat",
                             reason=f"network already trained by trial {owner}: its weights, records and "
                                    f"{plural(record.get('n_designs', 0), 'design')} are reused")
                return NetworkOutcome(values=None, constraints={}, attrs=attrs, stopped_by="repeat",
                                      reason=attrs["reason"], seconds=seconds)
        if record is None:
            # Deferred before and proposed again: the sampler had no untried network left, train it.
            if ev.defer and not _deferred_before(study, key, trial.number):
                why = deferral(spec, designs, shape, study)
                if why is not None:
                    attrs.update(stopped_by="deferred", reason=why)
                    return NetworkOutcome(values=None, constraints={}, attrs=attrs, stopped_by="deferred", reason=why,
                                          seconds=seconds)
            record = _train(point, spec, nfiles, seed=seed, data=data, parents=parents, stage=stage)
            record["trained_by"] = trial.number
            attrs["trained_here"] = True
            seconds.update(record["seconds"])
        record.update(owner=trial.number, n_designs=len(designs))
        store.save_record(key, record)
        attrs.update({k: record[k] for k in ("val_accuracy", "test_accuracy", "val_history", "epochs",
                                             "train_images", "parent_val_accuracy", "train_progress") if k in record})
        attrs.update({f"{k}_s": v for k, v in record["seconds"].items()} if attrs.get("trained_here") else {})
        outcome = _add_designs(trial, point, spec, layout, key, designs, ids, record, attrs, seconds, nfiles)
        record["designs_added"] = True
        store.save_record(key, record)
    return outcome


def _screened_out(point: DesignPoint, spec: StudySpec, files: TrialFiles, attrs: dict[str, Any],
                  seconds: dict[str, float]) -> NetworkOutcome:
    """No design of the network meets the hard limits: record its fastest folding and why (never trained)."""
    f = spec.space.folding
    fastest = dataclasses.replace(point, folding=FoldingPoint(
        mode="solved", target_fps=f.target_fps.high if f.objective == "target_fps" else None,
        budget=f.budget.high if f.objective == "budget" else None))
    s = screen(fastest, spec.hardware, spec.limits, multiple=spec.space.pruning.multiple, io=ModelIO.of(spec))
    violations = dict(s.violations)
    reason = s.reason
    if reason is None:
        violations["front"] = 1.0
        reason = "no design in the study's folding range meets the hard limits"
    if spec.limits.min_accuracy is not None:
        violations["min_accuracy"] = spec.limits.min_accuracy  # never trained: accuracy counts as 0
    files.root.mkdir(parents=True, exist_ok=True)
    write_json(files.design, _design_record(fastest, s))
    write_json(files.folding, est.folding_config(s.graph))
    write_json(files.estimate, _hardware_estimate_dict(s, spec.hardware.board, s.estimate.clock_ns))
    figures = s.figures()
    attrs.update(figures, estimate_source="estimators", stopped_by="estimator", reason=reason,
                 artifact_dir=str(files.root.relative_to(files.root.parents[1])))
    write_json(files.metrics, {**attrs, "seconds": seconds})
    values = _values(spec, {**figures, "val_accuracy": NOT_TRAINED_ACCURACY})
    return NetworkOutcome(values=values, constraints=violations, attrs=attrs, stopped_by="estimator", reason=reason,
                          seconds=seconds)


def _train(point: DesignPoint, spec: StudySpec, nfiles: TrialFiles, *, seed: int, data: Callable[[], Dataset],
           parents: ParentStore | None, stage: Callable[..., None]) -> dict[str, Any]:
    """Train the network once; weights (and QONNX) land in its store folder before its record does."""
    import torch

    nfiles.root.mkdir(parents=True, exist_ok=True)
    trained = train_point(point, spec, nfiles, seed=seed, data=data, parents=parents, stage=stage)
    tmp = nfiles.weights.with_name(f".weights.pt.{os.getpid()}")
    torch.save(trained.model.state_dict(), tmp)
    os.replace(tmp, nfiles.weights)
    r = trained.result
    seconds = dict(trained.seconds)
    record: dict[str, Any] = {"val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
                              "val_history": list(r.val_history), "epochs": r.epochs,
                              "train_images": len(trained.train_split), "seconds": seconds, **trained.attrs}
    if r.stopped_early:
        record["stopped_early"] = True
        record["train_progress"] = r.progress  # bounds smaller networks' accuracy (optimistic_accuracy)
        record["reason"] = (f"stopped after {r.epochs} epoch(s): validation {spec.training.metric_label} "
                            f"{r.val_accuracy:.2%} cannot "
                            f"reach the minimum {spec.limits.min_accuracy:.2%}")
        return record
    ev = spec.evaluation
    if ev.export_model or ev.finn_confirm:
        from dse.finn.qonnx_export import export_qonnx

        stage("export")
        t0 = time.perf_counter()
        tmp_model = nfiles.model.with_name(f".model.{os.getpid()}.onnx")
        export_qonnx(trained.model, tmp_model, input_shape=trained.family.input_shape(point, ModelIO.of(spec)),
                     log_path=nfiles.log, input_datatype=spec.input_datatype)
        os.replace(tmp_model, nfiles.model)
        seconds["export"] = time.perf_counter() - t0
    return record


def _values(spec: StudySpec, figures: dict[str, Any]) -> tuple[float, ...]:
    return tuple(float(figures[attr]) for attr in spec.objective_attrs)


def _add_designs(trial: optuna.Trial, point: DesignPoint, spec: StudySpec, layout: StudyLayout, key: str,
                 designs: Sequence[Screening], ids: Sequence[str], record: dict[str, Any], attrs: dict[str, Any],
                 seconds: dict[str, float], nfiles: TrialFiles) -> NetworkOutcome:
    """Every design of the trained network as a trial; the sampler's trial is the fastest one."""
    import optuna

    study = trial.study
    limits = spec.limits
    acc = float(record["val_accuracy"])
    acc_violation = {"min_accuracy": limits.min_accuracy - acc} if limits.min_accuracy is not None else {}
    if record.get("stopped_early"):  # below the minimum accuracy: one infeasible record, no designs
        s = designs[0]
        files = _design_files(layout, key, ids[0])
        _write_design(files, point, s, spec, None)
        attrs.update(s.figures(), estimate_source="estimators", stopped_by="accuracy", reason=record["reason"],
                     hardware_design_id=ids[0], artifact_dir=str(files.root.relative_to(layout.root)))
        return NetworkOutcome(values=_values(spec, {**s.figures(), "val_accuracy": acc}),
                              constraints={**s.violations, **acc_violation}, attrs=attrs, stopped_by="accuracy",
                              reason=record["reason"], seconds=seconds)
    # Which designs are on the study's front once this network's are added: FINN confirms those.
    existing = study_front_losses(study, spec)
    mine = [_losses(spec, {**s.figures(), "val_accuracy": acc}) for s in designs]
    feasible = [all(v <= 0 for v in {**s.violations, **acc_violation}.values()) for s in designs]
    pool = existing + [p for p, ok in zip(mine, feasible) if ok]
    on_front = [ok and not any(_dominates(q, p) for q in pool) for p, ok in zip(mine, feasible)]
    present = {t.user_attrs.get("design_key") for t in study.get_trials(deepcopy=False)
               if t.user_attrs.get("role") == "design"}
    model = nfiles.model if nfiles.model.exists() else None
    rep: tuple[tuple[float, ...], dict[str, float], dict[str, Any]] | None = None
    added = 0
    for i, (s, ident) in enumerate(zip(designs, ids)):
        design_key = f"{key}/{ident}"
        if i > 0 and design_key in present:
            continue  # added before this process was killed: never twice
        files = _design_files(layout, key, ident)
        figures, source = s.figures(), "estimators"
        extra: dict[str, Any] = {}
        folding = est.folding_config(s.graph)
        if model is not None:
            files.root.mkdir(parents=True, exist_ok=True)
            _link(model, files.model)
        violations = dict(s.violations)
        # FINN's estimate flow judges one card: a multi-card design keeps the estimators' figures.
        if spec.evaluation.finn_confirm and on_front[i] and model is not None and s.partition is None:
            t0 = time.perf_counter()
            figures, finn_estimate, diff = _figures_with_finn(files.model, s, spec, files, folding)
            extra["finn_s"] = time.perf_counter() - t0
            seconds["finn"] = seconds.get("finn", 0.0) + extra["finn_s"]
            source = "finn"
            violations = hardware_violations(figures["fps"], figures["latency_us"],
                                             figures["utilization"][figures["limiting_resource"]] - 1.0, limits)
            if diff:
                extra["finn_disagreement"] = diff
                logger.warning("design %s of %s: FINN's estimate differs from the estimators': %s", ident,
                               point.label(), ", ".join(f"{k} ours {a:,.1f} FINN {b:,.1f}" for k, (a, b) in diff.items()))
            _write_design(files, point, s, spec, finn_estimate)
        else:
            _write_design(files, point, s, spec, None)
        constraints = {**violations, **acc_violation}
        dattrs: dict[str, Any] = {"role": "design", "network_id": key, "network_trial": trial.number, "hardware_design_id": ident,
                  "design_key": design_key, "design": f"{point.label()} @ {figures['fps']:,.0f} fps",
                  "widths": attrs["widths"], "network": attrs["network"], "clock_ns": s.estimate.clock_ns,
                  "ram_style_restriction": _restriction(s), "on_front_when_added": on_front[i],
                  "folding": folding, "estimate_source": source, "fpgas": s.fpgas, "artifact_dir": str(files.root.relative_to(layout.root)),
                  **{k: record[k] for k in ("val_accuracy", "test_accuracy") if k in record},
                  **{f"est_{k}": v for k, v in s.figures().items() if k in HARDWARE_ATTRS},
                  **figures, **extra}
        reasons = [f"{k} limit broken" for k, v in violations.items() if v > 0]
        if acc_violation and acc_violation["min_accuracy"] > 0:
            reasons.append(f"validation {spec.training.metric_label} {acc:.2%} below the minimum "
                           f"{limits.min_accuracy:.2%}")
        if reasons:
            dattrs["reason"] = "; ".join(reasons)
        write_json(files.metrics, dattrs)
        values = _values(spec, {**figures, "val_accuracy": acc})
        if i == 0:
            rep = (values, constraints, dattrs)
            continue
        study.add_trial(optuna.trial.create_trial(
            params=dict(trial.params), distributions=dict(trial.distributions), values=list(values),
            constraints={k: float(v) for k, v in constraints.items()}, user_attrs=dattrs))
        added += 1
    assert rep is not None
    values, constraints, dattrs = rep
    attrs.update({k: v for k, v in dattrs.items() if k not in ("role", "network_trial")})
    attrs["designs_added"] = added
    return NetworkOutcome(values=values, constraints=constraints, attrs=attrs, reason=dattrs.get("reason"),
                          seconds=seconds, designs_added=added)


def _restriction(s: Screening) -> str:
    styles = sorted({str(getattr(layer, "ram_style")) for layer in s.graph.layers
                     if type(layer).op_type in ("MVAU", "VVAU") and hasattr(layer, "ram_style")})
    return ",".join(styles)


def _write_design(files: TrialFiles, point: DesignPoint, s: Screening, spec: StudySpec,
                  finn_estimate: dict[str, Any] | None) -> None:
    files.root.mkdir(parents=True, exist_ok=True)
    write_json(files.design, _design_record(point, s))
    write_json(files.folding, est.folding_config(s.graph))
    estimate = finn_estimate or _hardware_estimate_dict(s, spec.hardware.board, s.estimate.clock_ns)
    if s.partition is not None:  # the cards, cuts and links, as finn-dse estimate --fpgas K writes them
        from dse.estimate import multi_fpga_record

        estimate["multi_fpga"] = multi_fpga_record(s.partition, fpgas=s.fpgas, exact=False)
    write_json(files.estimate, estimate)
