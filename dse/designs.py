"""From a sampled :class:`DesignPoint` to the things each stage needs: the pruning plan, the
model configuration (after pruning), and the estimators' fast-path graph.

One entry per model family. Nothing here imports torch: the model configurations are plain
dataclasses, imported lazily from dse.models only when a stage asks for them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from search_spaces import DesignPoint

if TYPE_CHECKING:
    from estimators.graph import DataflowGraph
    from dse.pruning import AnyConfig


def _bits(values: tuple[int, ...]) -> int | tuple[int, ...]:
    # Uniform bits stay an int: the plain (and most tested) form of every model config.
    return values[0] if len(set(values)) == 1 else values


def _act(point: DesignPoint) -> int | tuple[int, ...]:
    return _bits(point.act_bits) if point.act_bits else point.weight_bits[0]


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
        import math

        return 784 if self.input_shape is None else math.prod(self.input_shape)


PIXELS = ModelIO()


@dataclass(frozen=True, slots=True)
class UserConfig:
    """A user model (docs/user-models.md) at one bit width."""

    model: str
    weight_bits: int
    act_bits: int
    num_classes: int = 10
    input_datatype: str = "UINT8"


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    image: bool  # needs 3 x 32 x 32 inputs (28 x 28 datasets are padded and channel-replicated)

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *, io: ModelIO = PIXELS) -> Any:
        """The model configuration with ``widths`` (default: the parent's, unpruned)."""
        w = point.widths if widths is None else widths
        extra = dict(point.extra)
        num_classes = io.num_classes
        if self.name == "user":
            return UserConfig(str(extra["model"]), point.weight_bits[0], point.act_bits[0], num_classes,
                              io.input_datatype)
        if self.name == "tfc":
            from dse.models.tfc import TFCConfig

            return TFCConfig(hidden=w, weight_bits=_bits(point.weight_bits), act_bits=_act(point),
                             in_features=io.in_features, num_classes=num_classes, input_scale=io.input_scale)
        if self.name == "cnv":
            from dse.models.cnv import CNVConfig

            return CNVConfig(channels=w[:6], fc=w[6:], weight_bits=_bits(point.weight_bits),
                             act_bits=_act(point), num_classes=num_classes)
        from dse.models.mobilenet import MobileNetConfig

        return MobileNetConfig(channels=w, strides=tuple(extra["strides"]), weight_bits=_bits(point.weight_bits),
                               act_bits=_act(point), num_classes=num_classes)

    def build(self, config: Any) -> Any:
        """The Brevitas model for ``config`` (imports torch)."""
        if self.name == "user":
            from dse.models.user import load_user_model

            return load_user_model(config.model, weight_bits=config.weight_bits, act_bits=config.act_bits,
                                   num_classes=config.num_classes, input_datatype=config.input_datatype)
        if self.name == "tfc":
            from dse.models.tfc import build_tfc

            return build_tfc(config)
        if self.name == "cnv":
            from dse.models.cnv import build_cnv

            return build_cnv(config)
        from dse.models.mobilenet import build_mobilenet

        return build_mobilenet(config)

    def kept_widths(self, point: DesignPoint, *, multiple: int) -> tuple[int, ...]:
        """Widths after pruning, as dse.pruning's plan rounds them."""
        return self.plan(point, multiple=multiple).keep if point.pruned else point.widths

    def plan(self, point: DesignPoint, *, multiple: int) -> Any:
        from types import SimpleNamespace

        from dse.pruning import plan_pruning

        # dse.pruning plans from the widths alone (duck-typed), so screening never imports torch.
        w = point.widths
        shapes: dict[str, dict[str, Any]] = {"tfc": {"hidden": w}, "cnv": {"channels": w[:6], "fc": w[6:]},
                                             "mobilenet": {"channels": w, "strides": dict(point.extra).get("strides")}}
        config = cast("AnyConfig", SimpleNamespace(**shapes[self.name]))
        return plan_pruning(config, ratios=point.prune_ratios, multiple=multiple)

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> DataflowGraph:
        """The estimators' fast path: FINN's unfolded dataflow graph, built without FINN."""
        from estimators import families

        num_classes = io.num_classes
        if self.name == "user":
            return _user_graph(self.config(point, io=io), part)
        wb, ab = _bits(point.weight_bits), _act(point)
        if self.name == "tfc":
            return families.tfc_graph(widths, wb, ab, in_features=io.in_features, num_classes=num_classes, part=part,
                                      input_datatype=io.input_datatype)
        if self.name == "cnv":
            return families.cnv_graph(widths[:6], widths[6:], wb, ab, num_classes=num_classes, part=part)
        return families.mobilenet_graph(widths, tuple(dict(point.extra)["strides"]), wb, ab,
                                        num_classes=num_classes, part=part)

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        if self.name == "user":
            return (1, *_user_input_shape(str(dict(point.extra)["model"])))
        return (1, io.in_features) if self.name == "tfc" else (1, 3, 32, 32)


FAMILIES: dict[str, Family] = {
    "tfc": Family("tfc", image=False),
    "cnv": Family("cnv", image=True),
    "mobilenet": Family("mobilenet", image=True),
    "user": Family("user", image=False),  # images are shaped to the model's input_shape
}


@functools.lru_cache(maxsize=32)
def _user_graph(config: UserConfig, part: str) -> DataflowGraph:
    """FINN's unfolded graph of the user model (converted by FINN once per bit width, untrained:
    the structure does not depend on the weights, only the accumulator widths may be wider)."""
    import tempfile
    from pathlib import Path

    from dse.models.user import estimate_user_model
    from estimators.devices import BOARDS

    board = next((b for b in BOARDS.values() if b.part == part), None)
    model = Family("user", image=False).build(config)
    with tempfile.TemporaryDirectory(prefix="finn-dse-user-") as tmp:
        result = estimate_user_model(model, Path(tmp), ref=config.model,
                                     board=board.name if board is not None else "U280",
                                     input_datatype=config.input_datatype)
    _INPUT_SHAPES[config.model] = tuple(model.input_shape)
    return result.graph


_INPUT_SHAPES: dict[str, tuple[int, ...]] = {}


def _user_input_shape(ref: str) -> tuple[int, ...]:
    if ref not in _INPUT_SHAPES:
        from dse.models.user import resolve_user_model

        fn = resolve_user_model(ref)
        _INPUT_SHAPES[ref] = tuple(fn(weight_bits=2, act_bits=2, num_classes=10).input_shape)
    return _INPUT_SHAPES[ref]


def shape_split(split: Any, input_shape: tuple[int, ...]) -> Any:
    """``split`` with its images shaped as a model's input (without batch): flat, 28x28 or 3x32x32."""
    import numpy as np

    from dse.data import Split, as_rgb32
    from dse.errors import ConfigError

    images = split.images
    if tuple(images.shape[1:]) == tuple(input_shape):
        return split
    if tuple(input_shape) == (3, 32, 32):
        return as_rgb32(split)
    if int(np.prod(images.shape[1:])) == int(np.prod(input_shape)):
        return Split(images.reshape(len(images), *input_shape), split.labels)
    raise ConfigError(f"the model takes inputs of shape {tuple(input_shape)}; the dataset's images are "
                      f"{tuple(images.shape[1:])} (supported: the same size, or 3x32x32 for 28x28 images)")


def family_of(point: DesignPoint) -> Family:
    return FAMILIES[point.family]


def check_fits(spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
    """A ConfigError unless the samples of the study's own dataset (``sample_shape``, without the
    batch) fit its networks: a user model's ``input_shape`` (``model_shape``) as shape_split shapes
    them; a built-in family's UINT8 pixels (TFC: 784 of them, CNV/MobileNet: 3x32x32 or 28x28)."""
    import math

    from dse.errors import ConfigError

    where = f"dataset {spec.dataset_label}"
    family = spec.space.family
    if model_shape is not None:
        same_size = math.prod(sample_shape) == math.prod(model_shape)
        padded = tuple(model_shape) == (3, 32, 32) and tuple(sample_shape) in ((28, 28), (1, 28, 28))
        if not (same_size or padded):
            raise ConfigError(f"{where}: samples of shape {tuple(sample_shape)} do not fit the user model's input_shape "
                              f"{tuple(model_shape)} (expected the same number of values, or 28x28 images for "
                              "3x32x32)")
        return
    if family == "tfc":  # any number of integer features: the MLP's first layer takes them all
        if spec.input_datatype == "FLOAT32":
            raise ConfigError(f"{where}: the tfc family takes integer inputs (it has no input quantizer); "
                              "for FLOAT32 use space.family: user with a model that quantizes them (docs/user-models.md)")
        return
    fits = tuple(sample_shape) in ((3, 32, 32), (28, 28), (1, 28, 28))
    takes = "UINT8 images of 3x32x32 or 28x28"
    if spec.input_datatype != "UINT8" or not fits:
        raise ConfigError(f"{where}: the {family} family takes {takes}, these samples are {tuple(sample_shape)} "
                          f"{spec.input_datatype}; use space.family: user with a model for them (docs/user-models.md)")
