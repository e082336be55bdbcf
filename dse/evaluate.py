"""One trial, staged (see shared/DESIGN.md):

1. screen: the estimators judge the sampled design (fast graph path, no training); a design
   that breaks a hard hardware limit stops here, recorded with its estimates and the reason;
2. train: QAT from scratch, or, for a pruned design, prune the study's trained parent
   (trained once, reused by every trial and worker) and fine-tune it; stops early when the
   minimum accuracy is out of reach;
3. export QONNX, and (optionally) confirm the estimate with FINN's own estimate flow, applying
   the same folding.

Heavy imports (torch, brevitas, FINN) happen inside these functions, never at `import dse`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dse.artifacts import TrialFiles, save_torch, write_atomic, write_json
from dse.families import ModelIO, family_of
from dse.screen import Screening, hardware_violations, screen

if TYPE_CHECKING:
    from dse.data import Dataset, Split
    from dse.parents import ParentStore
    from dse.spec import StudySpec
    from search_spaces import DesignPoint

logger = logging.getLogger(__name__)

# stage name ("screen", "parent", "train", "finetune", "export", "finn"), steps done, steps total
StageFn = Callable[[str, int, int], None]
NOT_TRAINED_ACCURACY = 0.0  # objective value of a design stopped before training (infeasible anyway)


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    """Everything a trial records: its objective values, constraint values and flat figures."""

    values: tuple[float, ...]
    constraints: dict[str, float]
    attrs: dict[str, Any]
    stopped_by: str | None = None  # "estimator", "accuracy" or None (fully evaluated)
    reason: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())


def _subset(split: Split, n: int | None) -> Split:
    from dse.data import Split

    if n is None or n >= len(split):
        return split
    return Split(split.images[:n], split.labels[:n])


def _design_record(point: DesignPoint, screening: Screening) -> dict[str, Any]:
    return {"point": dataclasses.asdict(point), "widths_after_pruning": list(screening.widths),
            "weight_bits": list(point.weight_bits), "act_bits": list(point.act_bits),
            "folding": {layer["name"]: {k: layer[k] for k in ("pe", "simd") if layer[k] is not None}
                        for layer in screening.layers()}}


def _hardware_estimate_dict(screening: Screening, board: str, clock_ns: float) -> dict[str, Any]:
    """The fast path's figures in estimate.json's shape (same as FINN's HardwareEstimate.to_dict)."""
    e, fit = screening.estimate, screening.fit
    return {"board": board, "clock_ns": clock_ns, "layers": screening.layers(), "lut": e.lut, "bram18": e.bram18,
            "uram": e.uram, "dsp": e.dsp, "max_cycles": e.max_cycles, "bottleneck": e.bottleneck,
            "critical_path_cycles": e.critical_path_cycles, "fps": e.fps, "latency_ns": e.latency_ns,
            "fits": fit.fits, "limiting_resource": fit.limiting, "utilization": dict(fit.utilization),
            "source": "estimators"}


def evaluate(point: DesignPoint, spec: StudySpec, files: TrialFiles, *, seed: int,
             data: Callable[[], Dataset], parents: ParentStore | None = None,
             progress: StageFn | None = None) -> TrialOutcome:
    """Run the staged pipeline for one design point; artifacts go to ``files.root``.

    ``data`` loads the dataset on first use (screened-out trials never need it).
    """
    files.root.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    limits, ev = spec.limits, spec.evaluation

    def stage(name: str, done: int = 0, total: int = 1) -> None:
        if progress is not None:
            progress(name, done, total)

    # 1. screen ------------------------------------------------------------------------------
    stage("screen")
    t0 = time.perf_counter()
    screening = screen(point, spec.hardware, limits, multiple=spec.space.pruning.multiple, io=ModelIO.of(spec))
    seconds["screen"] = time.perf_counter() - t0
    estimates = screening.figures()
    attrs: dict[str, Any] = {f"est_{k}": v for k, v in estimates.items() if k in ("fps", "lut", "bram18", "uram",
                                                                                    "dsp", "latency_us")}
    attrs.update(design=point.label(), widths=list(screening.widths), target_met=screening.target_met,
                 screen_s=seconds["screen"])
    write_json(files.design, _design_record(point, screening))
    estimate_json = _hardware_estimate_dict(screening, spec.hardware.board, point.clock_ns)
    from estimators import folding_config

    folding = folding_config(screening.graph)
    write_json(files.folding, folding)

    if ev.estimator_first and screening.reason is not None:
        write_json(files.estimate, estimate_json)
        attrs.update(estimates, estimate_source="estimators", stopped_by="estimator", reason=screening.reason)
        constraints = {**screening.violations}
        if limits.min_accuracy is not None:
            constraints["min_accuracy"] = limits.min_accuracy  # never trained: accuracy counts as 0
        outcome = TrialOutcome(values=_values(spec, {**estimates, "val_accuracy": NOT_TRAINED_ACCURACY}),
                               constraints=constraints, attrs=attrs, stopped_by="estimator",
                               reason=screening.reason, seconds=seconds)
        write_json(files.metrics, {**attrs, "seconds": seconds})
        return outcome

    # 2. train -------------------------------------------------------------------------------
    trained = train_point(point, spec, files, seed=seed, data=data, parents=parents, stage=stage)
    model, result, train_split, family = trained.model, trained.result, trained.train_split, trained.family
    seconds.update(trained.seconds)
    attrs.update(trained.attrs)
    save_torch(files.weights, model.state_dict())
    attrs.update(val_accuracy=result.val_accuracy, val_history=list(result.val_history), epochs=result.epochs,
                 train_images=len(train_split))
    tr_label = spec.training.metric_label
    if result.stopped_early:
        write_json(files.estimate, estimate_json)
        assert limits.min_accuracy is not None
        reason: str | None = (f"stopped after {result.epochs} epoch(s): validation {tr_label} {result.val_accuracy:.2%} "
                  f"cannot reach the minimum {limits.min_accuracy:.2%}")
        attrs.update(estimates, estimate_source="estimators", stopped_by="accuracy", reason=reason)
        attrs.update({f"{key}_s": secs for key, secs in seconds.items()})  # what the stopped training cost
        constraints = {**screening.violations, "min_accuracy": limits.min_accuracy - result.val_accuracy}
        write_json(files.metrics, {**attrs, "seconds": seconds})
        return TrialOutcome(values=_values(spec, {**estimates, "val_accuracy": result.val_accuracy}),
                            constraints=constraints, attrs=attrs, stopped_by="accuracy", reason=reason,
                            seconds=seconds)
    attrs["test_accuracy"] = result.test_accuracy

    # 3. export + FINN -----------------------------------------------------------------------
    from dse.finn.flow import estimate as finn_estimate
    from dse.finn.qonnx_export import export_qonnx

    if ev.export_model or ev.finn_confirm:
        stage("export")
        t0 = time.perf_counter()
        export_qonnx(model, files.model, input_shape=family.input_shape(point, ModelIO.of(spec)),
                     log_path=files.log,
                     input_datatype=spec.input_datatype)
        seconds["export"] = time.perf_counter() - t0
    figures = dict(estimates)
    attrs["estimate_source"] = "estimators"
    if ev.finn_confirm:
        stage("finn")
        t0 = time.perf_counter()
        hw = spec.hardware
        finn = finn_estimate(files.model, board=hw.board, clock_ns=point.clock_ns, folding=folding,
                             mvau_wwidth_max=hw.mvau_wwidth_max, log_path=files.log,
                             reports_dir=files.finn_reports)
        seconds["finn"] = time.perf_counter() - t0
        f = finn.estimate
        from estimators import check_fit, energy_per_inference_uj, get_board
        from estimators.devices import Resources

        fit = check_fit(Resources(lut=f.lut, bram18=f.bram18, uram=f.uram, dsp=f.dsp), get_board(hw.board),
                        safety_margin=limits.fit_margin, names=[la.name for la in f.layers],
                        layers=[Resources(lut=la.lut, bram18=la.bram18, uram=la.uram, dsp=la.dsp) for la in f.layers])
        figures = {"fps": f.fps, "latency_us": f.latency_ns / 1000.0, "lut": f.lut, "bram18": f.bram18,
                   "uram": f.uram, "dsp": f.dsp, "max_cycles": f.max_cycles, "bottleneck": f.bottleneck,
                   "fits": fit.fits, "limiting_resource": fit.limiting, "utilization": dict(fit.utilization),
                   "energy_uj": energy_per_inference_uj(fps=f.fps, lut=f.lut, bram18=f.bram18, uram=f.uram,
                                                        dsp=f.dsp, clock_ns=point.clock_ns)}
        violations = hardware_violations(f.fps, f.latency_ns / 1000.0, fit.margin, limits)
        write_json(files.estimate, {**f.to_dict(), "source": "finn"})
        attrs["estimate_source"] = "finn"
    else:
        violations = dict(screening.violations)
        write_json(files.estimate, estimate_json)
    attrs.update(figures)
    reason = None
    if any(v > 0 for v in violations.values()):
        # Without estimator-first screening (or when FINN disagrees with the fast path).
        reason = "; ".join(f"{k} limit broken" for k, v in violations.items() if v > 0)
        attrs["reason"] = reason
    constraints = dict(violations)
    if limits.min_accuracy is not None:
        constraints["min_accuracy"] = limits.min_accuracy - result.val_accuracy
        if constraints["min_accuracy"] > 0:
            reason = f"validation {tr_label} {result.val_accuracy:.2%} below the minimum {limits.min_accuracy:.2%}"
            attrs["reason"] = reason
    for key, secs in seconds.items():
        attrs[f"{key}_s"] = secs
    write_json(files.metrics, {**attrs, "seconds": seconds})
    return TrialOutcome(values=_values(spec, figures | {"val_accuracy": result.val_accuracy}), constraints=constraints,
                        attrs=attrs, reason=reason, seconds=seconds)


@dataclass(frozen=True, slots=True)
class Trained:
    """A trained (or pruned and fine-tuned) network and what its training cost."""

    model: Any
    result: Any  # dse.training.TrainResult
    train_split: Any
    family: Any
    seconds: dict[str, float]
    attrs: dict[str, Any]


def train_point(point: DesignPoint, spec: StudySpec, files: TrialFiles, *, seed: int, data: Callable[[], Dataset],
                parents: ParentStore | None = None, stage: Callable[..., None] = lambda *a: None) -> Trained:
    """Stage 2: QAT from scratch, or prune the study's trained parent and fine-tune it."""
    seconds: dict[str, float] = {}
    attrs: dict[str, Any] = {}
    limits, ev = spec.limits, spec.evaluation
    from dse._quiet import captured

    with captured(files.log):  # torch/brevitas print on first import
        import torch

        import dse.models.cnv
        import dse.models.mobilenet
        import dse.models.tfc  # noqa: F401  (Brevitas prints on first import)
        from dse.training import resolve_device, set_threads, train
        from dse.user_metric import study_metric

    dataset = data()
    tr = spec.training
    set_threads(tr.threads)
    family = family_of(point)
    if family.shapes_data:
        dataset = _shaped(dataset, family.input_shape(point)[1:])
    train_split = _subset(dataset.train, tr.train_subset)

    def bar(name: str) -> Callable[[int, int, int, float | None], None]:
        return lambda done, total, _epoch, _acc: stage(name, done, total)

    train_kwargs: dict[str, Any] = dict(batch_size=tr.batch_size, lr=tr.lr, seed=seed,
                                        min_val_accuracy=limits.min_accuracy, headroom=ev.early_stop_headroom,
                                        checks_per_epoch=ev.checks_per_epoch, device=resolve_device(tr.device),
                                        augment=tr.augment, metric=study_metric(tr))
    if tr.metric is not None:
        attrs["metric"] = tr.metric_label  # what val_accuracy and test_accuracy hold
    if point.pruned:
        assert parents is not None, "pruned designs need a parent store"
        t0 = time.perf_counter()
        parent = parents.get(point, train_split, dataset.val, progress=bar("parent"))
        seconds["parent_train"] = parents.trained_here_s
        seconds["parent_wait"] = time.perf_counter() - t0 - parents.trained_here_s
        from dse.pruning import plan_for, prune

        t0 = time.perf_counter()
        plan = plan_for(point, multiple=spec.space.pruning.multiple)
        model = parent
        sample = torch.from_numpy(train_split.images[:64].copy()).float()
        pdata = (sample, torch.from_numpy(train_split.labels[:64].copy()).long())
        with captured(files.log):
            pruned = prune(model, plan, example_input=sample[:1], importance=spec.space.pruning.importance,
                           data=pdata if spec.space.pruning.importance == "taylor" else None)
        write_atomic(files.pruning, pruned.to_json())
        model = pruned.model
        attrs["parent_val_accuracy"] = parents.last_val_accuracy
        epochs = spec.space.pruning.finetune_epochs
        if epochs > 0:
            result = train(model, train_split, dataset.val, dataset.test, epochs=epochs,
                           progress=bar("finetune"), **train_kwargs)
        else:
            from dse.training import TrainResult, accuracy

            val = accuracy(model, dataset.val, metric=train_kwargs["metric"])
            result = TrainResult(val_accuracy=val, test_accuracy=accuracy(model, dataset.test,
                                                                          metric=train_kwargs["metric"]), epochs=0,
                                 seconds=0.0, val_history=(val,))
        seconds["train"] = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        model = family.build(family.config(point, io=ModelIO.of(spec)))
        result = train(model, train_split, dataset.val, dataset.test, epochs=tr.epochs, progress=bar("train"),
                       **train_kwargs)
        seconds["train"] = time.perf_counter() - t0
        if parents is not None and not result.stopped_early:
            parents.offer(point, model, result.val_accuracy)  # later pruned trials start from it
    return Trained(model=model, result=result, train_split=train_split, family=family, seconds=seconds, attrs=attrs)

_SHAPED: dict[tuple[int, tuple[int, ...]], Any] = {}


def _shaped(dataset: Dataset, shape: tuple[int, ...]) -> Dataset:
    """The dataset with images shaped as a user model's input (cached: done once per process)."""
    from dse.data import Dataset
    from dse.user_data import shape_split

    key = (id(dataset), tuple(shape))
    if key not in _SHAPED:
        _SHAPED.clear()
        _SHAPED[key] = Dataset(train=shape_split(dataset.train, shape), val=shape_split(dataset.val, shape),
                               test=shape_split(dataset.test, shape))
    return _SHAPED[key]  # type: ignore[no-any-return]


def _values(spec: StudySpec, figures: dict[str, Any]) -> tuple[float, ...]:
    return tuple(float(figures[attr]) for attr in spec.objective_attrs)
