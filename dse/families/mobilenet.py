"""MobileNet-v1 style networks (dse/models/mobilenet.py); prunable widths: the first conv's and each
block's pointwise conv's (its ``channels``). A depthwise conv has no width of its own: it follows
its input channels, so pruning the layer before it prunes the depthwise conv (weights, BatchNorm,
groups) along with the next pointwise conv's inputs."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dse.families._base import PIXELS, ModelIO, PruneUnit, act_bits, bits, check_image_fits, weight_layers_with_bn
from search_spaces import DesignPoint, MobileNetSpace

if TYPE_CHECKING:
    from dse.models.mobilenet import MobileNetConfig
    from estimators.graph import DataflowGraph


def _strides(point: DesignPoint) -> tuple[int, ...]:
    return tuple(dict(point.extra)["strides"])


class MobileNet:
    name = "mobilenet"
    space = MobileNetSpace
    image = True
    shapes_data = False
    prunable = "first conv + block pointwise convs"
    config_type = "dse.models.mobilenet.MobileNetConfig"

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *,
               io: ModelIO = PIXELS) -> MobileNetConfig:
        from dse.models.mobilenet import MobileNetConfig

        return MobileNetConfig(channels=point.widths if widths is None else widths, strides=_strides(point),
                               weight_bits=bits(point.weight_bits), act_bits=act_bits(point),
                               num_classes=io.num_classes)

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> DataflowGraph:
        from estimators.families import mobilenet_graph

        return mobilenet_graph(widths, _strides(point), bits(point.weight_bits), act_bits(point),
                               num_classes=io.num_classes, part=part)

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        return (1, 3, 32, 32)

    def build(self, config: Any) -> Any:
        from dse.models.mobilenet import build_mobilenet

        return build_mobilenet(config)

    def widths(self, config: Any) -> tuple[int, ...]:
        return tuple(config.channels)

    def with_widths(self, config: Any, widths: tuple[int, ...]) -> Any:
        return replace(config, channels=tuple(widths))

    def prune_units(self, model: Any) -> list[PruneUnit]:
        pairs = weight_layers_with_bn([model.features])  # conv, then (depthwise, pointwise) per block
        if len(pairs) % 2 != 1:
            raise ValueError(f"a MobileNet has an odd number of convs (first + 2 per block), found {len(pairs)}")
        prunable = pairs[0::2]
        follows: list[tuple[Any, ...]] = [(dw, bn) for dw, bn in pairs[1::2]] + [()]
        nexts = [layer for layer, _ in prunable[1:]] + [model.classifier]
        return [PruneUnit(layer, bn, f, nxt) for (layer, bn), f, nxt in zip(prunable, follows, nexts)]

    def check_model(self, spec: Any) -> tuple[int, ...] | None:
        return None

    def check_fits(self, spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
        check_image_fits(self.name, spec, sample_shape)
