"""TFC: quantized MLPs (dse/models/tfc.py); the prunable widths are the hidden layers'."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dse.families._base import PIXELS, ModelIO, PruneUnit, act_bits, bits, chain_units, weight_layers_with_bn
from search_spaces import DesignPoint, TFCSpace

if TYPE_CHECKING:
    from dse.models.tfc import TFCConfig
    from estimators.graph import DataflowGraph


class TFC:
    name = "tfc"
    space = TFCSpace
    image = False
    shapes_data = False
    prunable = "hidden layers"
    config_type = "dse.models.tfc.TFCConfig"

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *, io: ModelIO = PIXELS) -> TFCConfig:
        from dse.models.tfc import TFCConfig

        return TFCConfig(hidden=point.widths if widths is None else widths, weight_bits=bits(point.weight_bits),
                         act_bits=act_bits(point), in_features=io.in_features, num_classes=io.num_classes,
                         input_scale=io.input_scale)

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> DataflowGraph:
        from estimators.families import tfc_graph

        return tfc_graph(widths, bits(point.weight_bits), act_bits(point), in_features=io.in_features,
                         num_classes=io.num_classes, part=part, input_datatype=io.input_datatype)

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        return (1, io.in_features)

    def build(self, config: Any) -> Any:
        from dse.models.tfc import build_tfc

        return build_tfc(config)

    def widths(self, config: Any) -> tuple[int, ...]:
        return tuple(config.hidden)

    def with_widths(self, config: Any, widths: tuple[int, ...]) -> Any:
        return replace(config, hidden=tuple(widths))

    def prune_units(self, model: Any) -> list[PruneUnit]:
        return chain_units(model, weight_layers_with_bn([model.features]))

    def check_model(self, spec: Any) -> tuple[int, ...] | None:
        return None

    def check_fits(self, spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
        from dse.errors import ConfigError

        # Any number of integer features: the MLP's first layer takes them all.
        if spec.input_datatype == "FLOAT32":
            raise ConfigError(f"dataset {spec.dataset_label}: the tfc family takes integer inputs (it has no input "
                              "quantizer); for FLOAT32 use space.family: user with a model that quantizes them "
                              "(docs/user-models.md)")
