"""The ModelFamily protocol: everything a stage needs to know about one kind of network.

A family turns a sampled :class:`DesignPoint` into a frozen model configuration (pure, no torch),
the estimators' fast-path graph (no torch, no FINN), the input shape, and, with torch imported
inside, the Brevitas model and the units structured pruning removes channels from. Stages never
compare a family's name with a string: they ask ``dse.families.family_of(point)`` and call these.
Shared helpers for the built-in families sit here too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from search_spaces import DesignPoint

if TYPE_CHECKING:
    from estimators.graph import DataflowGraph
    from search_spaces import SpaceBase


@dataclass(frozen=True, slots=True)
class ModelIO:
    """What a study's dataset fixes for every network: the classes it tells apart and the FINN
    datatype of its input (UINT8 pixels for the built-in datasets)."""

    num_classes: int = 10
    input_datatype: str = "UINT8"
    input_shape: tuple[int, ...] | None = None  # one sample of the user's dataset; None: the family's own

    @classmethod
    def of(cls, spec: Any) -> ModelIO:
        shape = None if isinstance(spec.dataset, str) else spec.dataset.input_shape
        return cls(num_classes=spec.num_classes, input_datatype=spec.input_datatype, input_shape=shape)

    @property
    def input_scale(self) -> float:
        """1 / the largest magnitude the input datatype holds (1 / 255 for pixels, 1 / 8 for INT4)."""
        from dse.spec import datatype_range

        rng = datatype_range(self.input_datatype)
        return 1.0 if rng is None else 1.0 / max(abs(rng[0]), abs(rng[1]), 1)

    @property
    def in_features(self) -> int:
        """Values per sample for an MLP: 784 (28 x 28 pixels) unless the user's data says otherwise."""
        return 784 if self.input_shape is None else math.prod(self.input_shape)


PIXELS = ModelIO()


@dataclass(frozen=True, slots=True)
class PruneUnit:
    """One prunable layer and everything its output channels reach: its BatchNorm, the channel-wise
    layers that follow it (a MobileNet depthwise conv and its BatchNorm), and the next layer, whose
    inputs shrink by ``next_inputs_per_channel`` per removed channel (a conv -> flatten -> Linear
    has one input per pixel of the final feature map)."""

    layer: Any
    bn: Any
    follow: tuple[Any, ...]
    next: Any
    next_inputs_per_channel: int = 1


class ModelFamily(Protocol):
    """One kind of network. ``point.widths`` are always the prunable widths, in pruning order."""

    # Read-only facts (plain class attributes in a family satisfy these).
    @property
    def name(self) -> str: ...
    @property
    def space(self) -> type[SpaceBase]:
        """Its search space (search_spaces/, pure pydantic; a member of search_spaces.Space)."""
        ...
    @property
    def image(self) -> bool:
        """Trains on 3 x 32 x 32 images (28 x 28 datasets are padded and channel-replicated)."""
        ...
    @property
    def shapes_data(self) -> bool:
        """The dataset's samples are reshaped to the model's input_shape before training."""
        ...
    @property
    def prunable(self) -> str:
        """The prunable layers in words, for errors ("hidden layers")."""
        ...
    @property
    def config_type(self) -> str:
        """module.qualname of its config class (tells a config's family without importing torch)."""
        ...

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *, io: ModelIO = PIXELS) -> Any:
        """The frozen model configuration with ``widths`` (default: the point's, unpruned); pure."""
        ...

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> DataflowGraph:
        """The estimators' fast path: FINN's unfolded dataflow graph, built without FINN."""
        ...

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        """The model's input with the batch dimension (1, ...)."""
        ...

    def build(self, config: Any) -> Any:
        """The Brevitas model (an ``nn.Module`` with a ``config`` attribute); imports torch."""
        ...

    def widths(self, config: Any) -> tuple[int, ...]:
        """The prunable widths of ``config``, in pruning order."""
        ...

    def with_widths(self, config: Any, widths: tuple[int, ...]) -> Any:
        """``config`` with other prunable widths (after pruning)."""
        ...

    def prune_units(self, model: Any) -> list[PruneUnit]:
        """The prunable units of a model built by :meth:`build`, in pruning order."""
        ...

    def check_model(self, spec: Any) -> tuple[int, ...] | None:
        """Before a study starts: raise a ConfigError for a model that cannot be built; return its
        input shape without the batch when the model fixes it (None: the dataset's decides)."""
        ...

    def check_fits(self, spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
        """A ConfigError unless samples of ``sample_shape`` (the study's own dataset) fit the networks."""
        ...


def bits(values: tuple[int, ...]) -> int | tuple[int, ...]:
    """Uniform bits stay an int: the plain (and most tested) form of every model config."""
    return values[0] if len(set(values)) == 1 else values


def act_bits(point: DesignPoint) -> int | tuple[int, ...]:
    """The point's activation bits (a point without any takes its first weight bits)."""
    return bits(point.act_bits) if point.act_bits else point.weight_bits[0]


IMAGE_SHAPES = ((3, 32, 32), (28, 28), (1, 28, 28))


def check_image_fits(family: str, spec: Any, sample_shape: tuple[int, ...]) -> None:
    """A CNV-style family takes UINT8 images of 3x32x32 or 28x28 (padded and replicated)."""
    from dse.errors import ConfigError

    if spec.input_datatype != "UINT8" or tuple(sample_shape) not in IMAGE_SHAPES:
        raise ConfigError(f"dataset {spec.dataset_label}: the {family} family takes UINT8 images of 3x32x32 or "
                          f"28x28, these samples are {tuple(sample_shape)} {spec.input_datatype}; use space.family: "
                          "user with a model for them (docs/user-models.md)")


def weight_layers_with_bn(seqs: list[Any]) -> list[tuple[Any, Any]]:
    """Every Linear/Conv2d in ``seqs`` (nn.Sequential) with the BatchNorm right after it."""
    from torch import nn

    pairs: list[tuple[Any, Any]] = []
    for seq in seqs:
        mods = list(seq)
        for i, m in enumerate(mods):
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                if i + 1 >= len(mods) or not isinstance(mods[i + 1], nn.modules.batchnorm._BatchNorm):
                    raise ValueError(f"{type(m).__name__} at position {i} is not followed by a BatchNorm")
                pairs.append((m, mods[i + 1]))
    return pairs


def chain_units(model: Any, pairs: list[tuple[Any, Any]], *, inputs_per_channel: dict[int, int] | None = None
                ) -> list[PruneUnit]:
    """Each (layer, BatchNorm) pair feeding the next pair's layer, the last one the classifier."""
    nexts = [layer for layer, _ in pairs[1:]] + [model.classifier]
    per = inputs_per_channel or {}
    return [PruneUnit(layer, bn, (), nxt, per.get(i, 1)) for i, ((layer, bn), nxt) in enumerate(zip(pairs, nexts))]
