"""Structured pruning of the TFC/CNV/MobileNet families, planned in numbers, applied with torch-pruning.

Plan before acting (STYLE.md, torch-pruning): `plan_pruning` is pure arithmetic on a config and
says how many output channels/neurons each prunable layer keeps; `pruned_config` turns a plan
into the widths the estimators' fast path (`estimators.families.tfc_graph`/`cnv_graph`) takes;
`prune` applies a plan to a (trained) Brevitas model and records what it kept, so that
`rebuild` can replay the result from the unpruned weights.

Prunable layers, in order: every hidden Linear of a TFC; the six convs and the FC Linears of a
CNV; the first conv and each block's pointwise conv of a MobileNet (its ``channels``). A MobileNet
depthwise conv has no width of its own: it follows its input channels, so pruning the layer
before it prunes the depthwise conv (weights, BatchNorm, groups) along with the next pointwise
conv's inputs. The classifier's outputs and the network input are never pruned. Kept counts are
multiples of ``multiple`` (FINN folds PE/SIMD by divisors of the widths) and never below
``multiple``.

How torch-pruning meets Brevitas: QuantLinear/QuantConv2d subclass nn.Linear/nn.Conv2d, so
torch-pruning's DependencyGraph traces the model and groups each layer's output channels with
its BatchNorm, any depthwise conv (+ BatchNorm) in between, and the next layer's input channels
(checked by `prune`, which refuses a group that touches anything else). The trace also walks
into Brevitas's quantizer internals, but those nodes are element-wise ops whose pruners do
nothing, and the quantizers' learned parameters are scalars (per-tensor scales), which
torch-pruning leaves alone. Weight scales are recomputed from
the (pruned) weights on every forward, so a pruned model equals a freshly built one of the
pruned config with the same weights loaded.

torch and torch_pruning are imported inside the functions that need them: the plan half of this
module stays importable without them.
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from torch import Tensor, nn

    from dse.models.cnv import CNVConfig
    from dse.models.mobilenet import MobileNetConfig
    from dse.models.tfc import TFCConfig

    AnyConfig = TFCConfig | CNVConfig | MobileNetConfig

Family = Literal["tfc", "cnv", "mobilenet"]
FAMILIES: tuple[Family, ...] = ("tfc", "cnv", "mobilenet")
Importance = Literal["magnitude", "taylor"]


@dataclass(frozen=True, slots=True)
class PruningPlan:
    """How many output channels/neurons each prunable layer keeps, in layer order.

    ``original`` holds the widths before pruning, ``keep`` the widths after. For a CNV the first
    six entries are the convs and the rest the FC layers; for a MobileNet they are its
    ``channels`` (first conv, then each block's pointwise conv).
    """

    family: Family
    original: tuple[int, ...]
    keep: tuple[int, ...]
    multiple: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "original", tuple(int(w) for w in self.original))
        object.__setattr__(self, "keep", tuple(int(k) for k in self.keep))
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
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


def _family(config: Any) -> Family:
    # Duck-typed so that planning never imports torch/Brevitas (dse.models import them).
    if hasattr(config, "channels") and hasattr(config, "fc"):
        return "cnv"
    if hasattr(config, "channels") and hasattr(config, "strides"):
        return "mobilenet"
    if hasattr(config, "hidden"):
        return "tfc"
    raise TypeError(f"expected a TFCConfig, CNVConfig or MobileNetConfig, got {type(config).__name__}")


def _widths(config: Any) -> tuple[int, ...]:
    family = _family(config)
    if family == "cnv":
        return (*config.channels, *config.fc)
    if family == "mobilenet":
        return tuple(config.channels)
    return tuple(config.hidden)


_LAYERS_DESC = {"tfc": "hidden layers", "cnv": "6 convs + FCs", "mobilenet": "first conv + block pointwise convs"}


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


def plan_pruning(config: AnyConfig, *, ratio: float | None = None,
                 ratios: Sequence[float] | None = None, multiple: int = 4) -> PruningPlan:
    """Kept widths for ``config``: one global ``ratio`` or one ratio per prunable layer.

    A ratio is the fraction of a layer's channels removed, in [0, 1). The kept count is rounded
    to the nearest multiple of ``multiple``, at least ``multiple`` and at most the layer's
    width; ratio 0 (or a layer no wider than ``multiple``) leaves the layer unchanged.
    """
    family = _family(config)
    widths = _widths(config)
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
                             f"{_LAYERS_DESC[family]}), got {n}")
        per_layer = [_check_ratio(r, f"ratios[{i}]") for i, r in enumerate(ratios)]
    keep = tuple(_keep(w, r, multiple) for w, r in zip(widths, per_layer))
    return PruningPlan(family=family, original=widths, keep=keep, multiple=multiple)


def _check_plan(config: Any, plan: PruningPlan) -> None:
    if _family(config) != plan.family or _widths(config) != plan.original:
        raise ValueError(f"plan is for a {plan.family} with widths {plan.original}, "
                         f"config is a {_family(config)} with widths {_widths(config)}")


@overload
def pruned_config(config: TFCConfig, plan: PruningPlan) -> TFCConfig: ...
@overload
def pruned_config(config: CNVConfig, plan: PruningPlan) -> CNVConfig: ...
@overload
def pruned_config(config: MobileNetConfig, plan: PruningPlan) -> MobileNetConfig: ...
def pruned_config(config: AnyConfig, plan: PruningPlan) -> AnyConfig:
    """``config`` with the widths after pruning (what the estimators' fast path takes)."""
    _check_plan(config, plan)
    cfg: Any = config  # dataclasses.replace cannot be typed over the union
    if plan.family == "cnv":
        return replace(cfg, channels=plan.keep[:6], fc=plan.keep[6:])
    if plan.family == "mobilenet":
        return replace(cfg, channels=plan.keep)
    return replace(cfg, hidden=plan.keep)


@dataclass(frozen=True)
class PrunedModel:
    """The pruned model (pruned in place) and what it takes to rebuild it.

    ``kept_indices[i]`` lists the original output channels that layer i kept (ascending);
    ``history`` is torch-pruning's pruning_history() of the DependencyGraph that pruned it
    (replayable with DependencyGraph.load_pruning_history on an unpruned model).
    """

    model: nn.Module
    config: AnyConfig
    plan: PruningPlan
    kept_indices: tuple[tuple[int, ...], ...]
    history: list[tuple[str, bool, list[int]]] = field(default_factory=list)

    def to_json(self) -> str:
        """Plan, kept indices and history as JSON (store it next to the trial's weights)."""
        return json.dumps({"plan": json.loads(self.plan.to_json()),
                           "kept_indices": [list(k) for k in self.kept_indices],
                           "history": [[n, o, list(i)] for n, o, i in self.history]})


@dataclass(frozen=True, slots=True)
class _Unit:
    """One prunable layer and everything its output channels reach: its BatchNorm, the channel-wise
    layers that follow it (a MobileNet depthwise conv and its BatchNorm), and the next layer,
    whose inputs shrink."""

    layer: Any
    bn: Any
    follow: tuple[Any, ...]
    next: Any


def _structure(model: Any, family: Family) -> list[_Unit]:
    """The prunable units of a TFC, CNV or MobileNet, in plan order."""
    from torch import nn

    seqs = [model.features] + ([model.fcs] if hasattr(model, "fcs") else [])
    pairs: list[tuple[Any, Any]] = []  # every weight layer with the BatchNorm after it
    for seq in seqs:
        mods = list(seq)
        for i, m in enumerate(mods):
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                if i + 1 >= len(mods) or not isinstance(mods[i + 1], nn.modules.batchnorm._BatchNorm):
                    raise ValueError(f"{type(m).__name__} at position {i} is not followed by a BatchNorm")
                pairs.append((m, mods[i + 1]))
    if family == "mobilenet":  # conv, then (depthwise, pointwise) per block
        if len(pairs) % 2 != 1:
            raise ValueError(f"a MobileNet has an odd number of convs (first + 2 per block), found {len(pairs)}")
        prunable, follows = pairs[0::2], [(dw, bn) for dw, bn in pairs[1::2]] + [()]
    else:
        prunable, follows = pairs, [()] * len(pairs)
    nexts = [layer for layer, _ in prunable[1:]] + [model.classifier]
    return [_Unit(layer, bn, tuple(f), nxt) for (layer, bn), f, nxt in zip(prunable, follows, nexts)]


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
    """Prune a Brevitas TFC/CNV/MobileNet in place to the widths of ``plan``.

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
        raise TypeError(f"expected a dse.models TFC, CNV or MobileNet, got {type(model).__name__}")
    _check_plan(config, plan)
    units = _structure(model, plan.family)
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


def _build(config: Any) -> Any:
    family = _family(config)
    if family == "cnv":
        from dse.models.cnv import build_cnv

        return build_cnv(config)
    if family == "mobilenet":
        from dse.models.mobilenet import build_mobilenet

        return build_mobilenet(config)
    from dse.models.tfc import build_tfc

    return build_tfc(config)


def rebuild(config: AnyConfig, plan: PruningPlan, kept_indices: Sequence[Sequence[int]],
            state_dict: dict[str, Any]) -> nn.Module:
    """The pruned model, rebuilt from the *unpruned* weights and the kept indices.

    ``config`` and ``state_dict`` describe the model before pruning (as trained); the result is
    a fresh ``build_*(pruned_config(config, plan))`` holding the kept weights, in eval mode.
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

    original = _build(config)
    original.load_state_dict(state_dict)
    units = _structure(original, plan.family)
    for i, (unit, keep) in enumerate(zip(units, kept_indices)):
        drop = sorted(set(range(_width(unit.layer))) - {int(j) for j in keep})
        if not drop:
            continue
        in_drop = drop
        if plan.family == "cnv" and i == 5:
            # conv -> flatten (NCHW view) -> Linear: channel c is inputs c*s*s .. c*s*s + s*s - 1
            s2 = config.final_size ** 2  # type: ignore[union-attr]
            in_drop = [c * s2 + j for c in drop for j in range(s2)]
        _out_fn(unit.layer)(unit.layer, drop)
        tp.prune_batchnorm_out_channels(unit.bn, drop)
        for m in unit.follow:  # a depthwise conv (in = out = groups) and its BatchNorm
            if isinstance(m, nn.Conv2d):
                tp.prune_depthwise_conv_out_channels(m, drop)
            else:
                tp.prune_batchnorm_out_channels(m, drop)
        _in_fn(unit.next)(unit.next, in_drop)
    model = _build(pruned_config(config, plan))
    model.load_state_dict(original.state_dict())
    return model.eval()


__all__ = ["PrunedModel", "PruningPlan", "plan_pruning", "prune", "pruned_config", "rebuild"]
