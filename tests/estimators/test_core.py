from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

import estimators as est
from estimators.core import NodeCost, register


def test_unknown_layer_is_an_error_naming_known_ones() -> None:
    @dataclass(frozen=True)
    class Softmax:
        op_type: ClassVar[str] = "Softmax"
        name: str = "sm"

    with pytest.raises(est.UnknownLayerError, match="No cost model for 'Softmax'; known: .*MVAU"):
        est.node_cost(Softmax(), "xcu280-fsvh2892-2L-e")


def test_register_refuses_duplicates() -> None:
    from estimators.mvau import MVAU

    with pytest.raises(ValueError, match="already registered"):
        register(MVAU)(lambda layer, part: NodeCost(cycles=1))


def test_every_node_type_finn_emits_has_a_model() -> None:
    names = {t.op_type for t in est.known_layer_types()}
    assert names >= {"MVAU", "VVAU", "ConvolutionInputGenerator", "Thresholding", "Pool", "LabelSelect",
                     "FMPadding", "Reshape", "StreamingDataWidthConverter", "StreamingFIFO"}


def test_node_cost_rejects_negative() -> None:
    with pytest.raises(ValueError):
        NodeCost(cycles=-1)
