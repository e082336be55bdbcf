"""A user's own Brevitas network (docs/user-models.md, dse/models/user.py) at one bit width.

Its graph comes from FINN's conversion of the untrained model (once per bit width and part,
cached): the structure does not depend on the weights. It has no prunable widths.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dse.families._base import PIXELS, ModelIO, PruneUnit
from search_spaces import DesignPoint, UserSpace

if TYPE_CHECKING:
    from estimators.graph import DataflowGraph


@dataclass(frozen=True, slots=True)
class UserConfig:
    """A user model (docs/user-models.md) at one bit width."""

    model: str
    weight_bits: int
    act_bits: int
    num_classes: int = 10
    input_datatype: str = "UINT8"


class User:
    name = "user"
    space = UserSpace
    image = False  # images are shaped to the model's input_shape instead
    shapes_data = True
    prunable = "none (user models are not pruned)"
    config_type = "dse.families.user.UserConfig"

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *, io: ModelIO = PIXELS) -> UserConfig:
        return UserConfig(str(dict(point.extra)["model"]), point.weight_bits[0], point.act_bits[0], io.num_classes,
                          io.input_datatype)

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> DataflowGraph:
        return _user_graph(self.config(point, io=io), part)

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        return (1, *_user_input_shape(str(dict(point.extra)["model"])))

    def build(self, config: Any) -> Any:
        from dse.models.user import load_user_model

        return load_user_model(config.model, weight_bits=config.weight_bits, act_bits=config.act_bits,
                               num_classes=config.num_classes, input_datatype=config.input_datatype)

    def widths(self, config: Any) -> tuple[int, ...]:
        return ()

    def with_widths(self, config: Any, widths: tuple[int, ...]) -> Any:
        if widths:
            raise ValueError(f"a user model has no prunable widths, got {widths}")
        return config

    def prune_units(self, model: Any) -> list[PruneUnit]:
        raise ValueError("user models are not pruned (their layer structure is the user's)")

    def check_model(self, spec: Any) -> tuple[int, ...] | None:
        from dse.models.user import load_user_model

        model = load_user_model(spec.space.model, weight_bits=min(spec.space.weight_bits),
                                act_bits=min(spec.space.act_bits), num_classes=spec.num_classes,
                                input_datatype=spec.input_datatype)
        return tuple(getattr(model, "input_shape"))

    def check_fits(self, spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
        from dse.errors import ConfigError

        if model_shape is None:
            return
        same_size = math.prod(sample_shape) == math.prod(model_shape)
        padded = tuple(model_shape) == (3, 32, 32) and tuple(sample_shape) in ((28, 28), (1, 28, 28))
        if not (same_size or padded):
            raise ConfigError(f"dataset {spec.dataset_label}: samples of shape {tuple(sample_shape)} do not fit the "
                              f"user model's input_shape {tuple(model_shape)} (expected the same number of values, "
                              "or 28x28 images for 3x32x32)")


@functools.lru_cache(maxsize=32)
def _user_graph(config: UserConfig, part: str) -> DataflowGraph:
    """FINN's unfolded graph of the user model (converted by FINN once per bit width, untrained:
    the structure does not depend on the weights, only the accumulator widths may be wider)."""
    import tempfile
    from pathlib import Path

    from dse.models.user import estimate_user_model
    from estimators.devices import BOARDS

    board = next((b for b in BOARDS.values() if b.part == part), None)
    model = User().build(config)
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
