"""CNV: six 3x3 convs and FC layers (dse/models/cnv.py); prunable widths: the convs', then the FCs'."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dse.families._base import (
    PIXELS,
    ModelIO,
    PruneUnit,
    act_bits,
    bits,
    chain_units,
    check_image_fits,
    weight_layers_with_bn,
)
from search_spaces import CNVSpace, DesignPoint

if TYPE_CHECKING:
    from dse.models.cnv import CNVConfig
    from estimators.graph import DataflowGraph

CONVS = 6


class CNV:
    name = "cnv"
    space = CNVSpace
    image = True
    shapes_data = False
    prunable = "6 convs + FCs"
    config_type = "dse.models.cnv.CNVConfig"

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *, io: ModelIO = PIXELS) -> CNVConfig:
        from dse.models.cnv import CNVConfig

        w = point.widths if widths is None else widths
        return CNVConfig(channels=w[:CONVS], fc=w[CONVS:], weight_bits=bits(point.weight_bits),
                         act_bits=act_bits(point), num_classes=io.num_classes)

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> DataflowGraph:
        from estimators.families import cnv_graph

        return cnv_graph(widths[:CONVS], widths[CONVS:], bits(point.weight_bits), act_bits(point),
                         num_classes=io.num_classes, part=part)

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        return (1, 3, 32, 32)

    def build(self, config: Any) -> Any:
        from dse.models.cnv import build_cnv

        return build_cnv(config)

    def widths(self, config: Any) -> tuple[int, ...]:
        return (*config.channels, *config.fc)

    def with_widths(self, config: Any, widths: tuple[int, ...]) -> Any:
        return replace(config, channels=tuple(widths[:CONVS]), fc=tuple(widths[CONVS:]))

    def prune_units(self, model: Any) -> list[PruneUnit]:
        pairs = weight_layers_with_bn([model.features, model.fcs])
        # The last conv feeds a flatten (NCHW view): its channel c is the next layer's inputs
        # c*s*s .. c*s*s + s*s - 1.
        return chain_units(model, pairs, inputs_per_channel={CONVS - 1: model.config.final_size ** 2})

    def check_model(self, spec: Any) -> tuple[int, ...] | None:
        return None

    def check_fits(self, spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
        check_image_fits(self.name, spec, sample_shape)
