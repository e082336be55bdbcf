"""Structured pruning, planned in numbers, applied with torch-pruning; generic over the families.

Plan before acting (STYLE.md, torch-pruning): `plan_pruning` is pure arithmetic on a config (or
`plan_for` on a design point) and says how many output channels/neurons each prunable layer
keeps; `pruned_config` turns a plan into the config with those widths (what the estimators' fast
path takes); `prune` applies a plan to a (trained) Brevitas model and records what it kept, so
that `rebuild` can replay the result from the unpruned weights.

What is prunable is the family's (dse/families/): its prunable widths in order
(``ModelFamily.widths``), how a config takes new ones (``with_widths``) and the prune units of a
built model (``prune_units``: each layer with its BatchNorm, the channel-wise layers that follow
it, such as a MobileNet depthwise conv, and the next layer, whose inputs shrink). The
classifier's outputs and the network input are never pruned. Kept counts are multiples of
``multiple`` (FINN folds PE/SIMD by divisors of the widths) and never below ``multiple``.

How torch-pruning meets Brevitas: QuantLinear/QuantConv2d subclass nn.Linear/nn.Conv2d, so
torch-pruning's DependencyGraph traces the model and groups each layer's output channels with
its BatchNorm, any depthwise conv (+ BatchNorm) in between, and the next layer's input channels
(checked by `prune`, which refuses a group that touches anything else than the family's unit).
The trace also walks into Brevitas's quantizer internals, but those nodes are element-wise ops
whose pruners do nothing, and the quantizers' learned parameters are scalars (per-tensor
scales), which torch-pruning leaves alone. Weight scales are recomputed from the (pruned)
weights on every forward, so a pruned model equals a freshly built one of the pruned config with
the same weights loaded.

torch and torch_pruning are imported inside the functions that need them: the plan half of this
module stays importable without them.
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from dse.families import family_names, family_of_config, get_family
from search_spaces import DesignPoint

if TYPE_CHECKING:
    from torch import Tensor, nn

Importance = Literal["magnitude", "taylor"]
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class PruningPlan:
    """How many output channels/neurons each prunable layer keeps, in layer order.

    ``original`` holds the widths before pruning, ``keep`` the widths after, in the family's
    order of prunable layers (``ModelFamily.widths``: for a CNV the six convs, then the FCs).
    """

    family: str
    original: tuple[int, ...]
    keep: tuple[int, ...]
    multiple: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "original", tuple(int(w) for w in self.original))
        object.__setattr__(self, "keep", tuple(int(k) for k in self.keep))
        if self.family not in family_names():
            raise ValueError(f"family must be one of {family_names()}, got {self.family!r}")
        if self.multiple < 1:
            raise ValueError(f"multiple must be >= 1, got {self.multiple}")
        if not self.original or len(self.keep) != len(self.original):
            raise ValueError(f"keep has {len(self.keep)} entries for {len(self.original)} prunable layers")
        for i, (orig, k) in enumerate(zip(self.original, self.keep)):
            if not 1 <= k <= orig:
                raise ValueError(f"layer {i}: keep must be in [1, {orig}], got {k}")
            if k != orig and (k % self.multiple or k < self.multiple):
                raise ValueError(f"layer {i}: a pruned width must be a multiple of {self.multiple} "
                                 f"(>= {self.multiple}), got {k}")

    @property
    def pruned(self) -> tuple[int, ...]:
        """Channels removed per layer."""
        return tuple(o - k for o, k in zip(self.original, self.keep))

    def to_json(self) -> str:
        return json.dumps({"family": self.family, "original": list(self.original), "keep": list(self.keep),
                           "multiple": self.multiple})

    @classmethod
    def from_json(cls, text: str) -> PruningPlan:
        data = json.loads(text)
        return cls(family=data["family"], original=tuple(data["original"]), keep=tuple(data["keep"]),
                   multiple=int(data.get("multiple", 4)))


def _check_ratio(value: Any, name: str) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}") from None
    if not (math.isfinite(r) and 0.0 <= r < 1.0):
        raise ValueError(f"{name} must be in [0, 1) (the fraction of channels removed), got {value!r}")
    return r


def _keep(width: int, ratio: float, multiple: int) -> int:
    if ratio == 0.0 or width <= multiple:
        return width  # unchanged; too narrow to prune to a multiple
    target = width * (1.0 - ratio)
    k = int(math.floor(target / multiple + 0.5)) * multiple  # nearest multiple, halves round up
    return max(multiple, min(k, (width // multiple) * multiple))


def plan_widths(family: str, widths: Sequence[int], *, ratio: float | None = None,
                ratios: Sequence[float] | None = None, multiple: int = 4) -> PruningPlan:
    """Kept widths for the prunable ``widths`` of a ``family`` network: one global ``ratio`` or one
    ratio per prunable layer.

    A ratio is the fraction of a layer's channels removed, in [0, 1). The kept count is rounded
    to the nearest multiple of ``multiple``, at least ``multiple`` and at most the layer's
    width; ratio 0 (or a layer no wider than ``multiple``) leaves the layer unchanged.
    """
    widths = tuple(int(w) for w in widths)
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive int, got {multiple!r}")
    if (ratio is None) == (ratios is None):
        raise ValueError("give exactly one of ratio and ratios")
    if ratios is None:
        per_layer = [_check_ratio(ratio, "ratio")] * len(widths)
    else:
        if isinstance(ratios, (str, bytes)) or len(ratios) != len(widths):
            n = len(ratios) if not isinstance(ratios, (str, bytes)) else "?"
            raise ValueError(f"ratios needs one entry per prunable layer ({len(widths)}: "
                             f"{get_family(family).prunable}), got {n}")
        per_layer = [_check_ratio(r, f"ratios[{i}]") for i, r in enumerate(ratios)]
    keep = tuple(_keep(w, r, multiple) for w, r in zip(widths, per_layer))
    return PruningPlan(family=family, original=widths, keep=keep, multiple=multiple)


def plan_pruning(config: Any, *, ratio: float | None = None,
                 ratios: Sequence[float] | None = None, multiple: int = 4) -> PruningPlan:
    """Kept widths for a model ``config`` of a registered family (see :func:`plan_widths`)."""
    family = family_of_config(config)
    return plan_widths(family.name, family.widths(config), ratio=ratio, ratios=ratios, multiple=multiple)


def plan_for(point: DesignPoint, *, multiple: int) -> PruningPlan:
    """The plan of a sampled design: its widths (the parent's) pruned by its per-layer ratios.
    Pure arithmetic on the point, so screening never builds a config or imports torch."""
    return plan_widths(point.family, point.widths, ratios=point.prune_ratios, multiple=multiple)


def kept_widths(point: DesignPoint, *, multiple: int) -> tuple[int, ...]:
    """The point's prunable widths after pruning (its widths when it is not pruned)."""
    return plan_for(point, multiple=multiple).keep if point.pruned else point.widths


def _check_plan(config: Any, plan: PruningPlan) -> None:
    family = family_of_config(config)
    if family.name != plan.family or family.widths(config) != plan.original:
        raise ValueError(f"plan is for a {plan.family} with widths {plan.original}, "
                         f"config is a {family.name} with widths {family.widths(config)}")


def pruned_config(config: C, plan: PruningPlan) -> C:
    """``config`` with the widths after pruning (what the estimators' fast path takes)."""
    _check_plan(config, plan)
    return family_of_config(config).with_widths(config, plan.keep)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PrunedModel:
    """The pruned model (pruned in place) and what it takes to rebuild it.

    ``kept_indices[i]`` lists the original output channels that layer i kept (ascending);
    ``history`` is torch-pruning's pruning_history() of the DependencyGraph that pruned it
    (replayable with DependencyGraph.load_pruning_history on an unpruned model).
    """

    model: nn.Module
    config: Any
    plan: PruningPlan
    kept_indices: tuple[tuple[int, ...], ...]
    history: list[tuple[str, bool, list[int]]] = field(default_factory=list)

    def to_json(self) -> str:
        """Plan, kept indices and history as JSON (store it next to the trial's weights)."""
        return json.dumps({"plan": json.loads(self.plan.to_json()),
                           "kept_indices": [list(k) for k in self.kept_indices],
                           "history": [[n, o, list(i)] for n, o, i in self.history]})


def _out_fn(layer: Any) -> Any:
    import torch_pruning as tp
    from torch import nn

    return tp.prune_conv_out_channels if isinstance(layer, nn.Conv2d) else tp.prune_linear_out_channels


def _in_fn(layer: Any) -> Any:
    import torch_pruning as tp
    from torch import nn

    return tp.prune_conv_in_channels if isinstance(layer, nn.Conv2d) else tp.prune_linear_in_channels


def _width(layer: Any) -> int:
    return int(layer.weight.shape[0])


def prune(model: nn.Module, plan: PruningPlan, *, example_input: Tensor,
          importance: Importance = "magnitude", data: tuple[Tensor, Tensor] | None = None) -> PrunedModel:
    """Prune a Brevitas model of a registered family in place to the widths of ``plan``.

    ``importance``: "magnitude" scores each output channel by the L2 norm of its weights;
    "taylor" by |weight x gradient| summed over the channel, with gradients of the
    cross-entropy on ``data`` = (inputs, labels). All scores are computed before anything is
    pruned. Channels are removed with torch-pruning's DependencyGraph groups (layer outputs,
    its BatchNorm, a following depthwise conv and its BatchNorm, the next layer's inputs). The
    model keeps its train/eval mode; its ``config`` attribute is set to the pruned config.
    """
    import torch
    import torch_pruning as tp
    from torch import nn

    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"expected a model built by a registered family, got {type(model).__name__}")
    _check_plan(config, plan)
    units = get_family(plan.family).prune_units(model)
    layers = [u.layer for u in units]
    if tuple(_width(m) for m in layers) != plan.original:
        raise ValueError(f"model widths {tuple(_width(m) for m in layers)} do not match the plan's "
                         f"{plan.original} (already pruned?)")
    if importance not in ("magnitude", "taylor"):
        raise ValueError(f"importance must be 'magnitude' or 'taylor', got {importance!r}")
    if importance == "taylor" and data is None:
        raise ValueError("taylor importance needs data=(inputs, labels)")

    was_training = model.training
    model.eval()  # tracing must not update BatchNorm or Brevitas runtime statistics
    try:
        if importance == "taylor":
            assert data is not None
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                loss = nn.functional.cross_entropy(model(data[0]), data[1])
                loss.backward()
            scorer: tp.importance.Importance = tp.importance.TaylorImportance(
                group_reduction="first", normalizer=None, target_types=[nn.Conv2d, nn.Linear])
        else:
            scorer = tp.importance.MagnitudeImportance(
                p=2, group_reduction="first", normalizer=None, target_types=[nn.Conv2d, nn.Linear])

        with warnings.catch_warnings(), torch.enable_grad():
            # Brevitas's per-tensor scales and the output scale are scalar parameters outside
            # any Linear/Conv; torch-pruning reports them and (correctly) never prunes them.
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            warnings.filterwarnings("ignore", message="Named tensors")
            graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_input, verbose=False)

        # Plan: score every layer's output channels on the unpruned model, pick what to keep.
        kept: list[tuple[int, ...]] = []
        for layer, k in zip(layers, plan.keep):
            n = _width(layer)
            group = graph.get_pruning_group(layer, _out_fn(layer), idxs=list(range(n)))
            scores = scorer(group)
            if scores is None or scores.numel() != n:
                raise RuntimeError(f"torch-pruning returned no importance for {type(layer).__name__}")
            order = torch.argsort(scores.float(), descending=True, stable=True)
            kept.append(tuple(sorted(int(i) for i in order[:k])))
        model.zero_grad(set_to_none=True)

        # Act: prune each layer's group; refuse groups that reach beyond the unit
        # (BN, a following depthwise conv + BN, the next layer's inputs).
        for unit, keep in zip(units, kept):
            layer = unit.layer
            drop = sorted(set(range(_width(layer))) - set(keep))
            if not drop:
                continue
            group = graph.get_pruning_group(layer, _out_fn(layer), idxs=drop)
            if not graph.check_pruning_group(group):
                raise RuntimeError(f"torch-pruning refused to prune {type(layer).__name__} to {len(keep)}")
            touched = {id(dep.target.module) for dep, _ in group
                       if isinstance(dep.target.module, (nn.Linear, nn.Conv2d, nn.modules.batchnorm._BatchNorm))}
            expected = {id(m) for m in (layer, unit.bn, *unit.follow, unit.next)}
            if touched != expected:
                raise RuntimeError("torch-pruning grouped unexpected layers with "
                                   f"{type(layer).__name__}: {len(touched)} layers instead of {len(expected)}")
            group.prune()
    finally:
        model.train(was_training)

    widths = tuple(_width(m) for m in layers)
    if widths != plan.keep:
        raise RuntimeError(f"pruned widths {widths} differ from the plan's {plan.keep}")
    new_config = pruned_config(config, plan)
    model.config = new_config
    history = [(str(n), bool(o), [int(i) for i in idxs]) for n, o, idxs in graph.pruning_history()]
    return PrunedModel(model=model, config=new_config, plan=plan, kept_indices=tuple(kept), history=history)


def rebuild(config: Any, plan: PruningPlan, kept_indices: Sequence[Sequence[int]],
            state_dict: dict[str, Any]) -> nn.Module:
    """The pruned model, rebuilt from the *unpruned* weights and the kept indices.

    ``config`` and ``state_dict`` describe the model before pruning (as trained); the result is
    a fresh ``family.build(pruned_config(config, plan))`` holding the kept weights, in eval mode.
    Uses torch-pruning's functional pruners, so no tracing is needed.
    """
    import torch_pruning as tp
    from torch import nn

    _check_plan(config, plan)
    if len(kept_indices) != len(plan.keep):
        raise ValueError(f"kept_indices has {len(kept_indices)} entries for {len(plan.keep)} layers")
    for i, (idx, k, orig) in enumerate(zip(kept_indices, plan.keep, plan.original)):
        if len(idx) != k or len(set(idx)) != k or any(not 0 <= int(j) < orig for j in idx):
            raise ValueError(f"kept_indices[{i}] must be {k} distinct indices in [0, {orig})")

    family = get_family(plan.family)
    original = family.build(config)
    original.load_state_dict(state_dict)
    for unit, keep in zip(family.prune_units(original), kept_indices):
        drop = sorted(set(range(_width(unit.layer))) - {int(j) for j in keep})
        if not drop:
            continue
        n = unit.next_inputs_per_channel  # channel c feeds the next layer's inputs c*n .. c*n + n - 1
        in_drop = [c * n + j for c in drop for j in range(n)]
        _out_fn(unit.layer)(unit.layer, drop)
        tp.prune_batchnorm_out_channels(unit.bn, drop)
        for m in unit.follow:  # a depthwise conv (in = out = groups) and its BatchNorm
            if isinstance(m, nn.Conv2d):
                tp.prune_depthwise_conv_out_channels(m, drop)
            else:
                tp.prune_batchnorm_out_channels(m, drop)
        _in_fn(unit.next)(unit.next, in_drop)
    model = family.build(pruned_config(config, plan))
    model.load_state_dict(original.state_dict())
    return model.eval()


__all__ = ["PrunedModel", "PruningPlan", "kept_widths", "plan_for", "plan_pruning", "plan_widths", "prune",
           "pruned_config", "rebuild"]
