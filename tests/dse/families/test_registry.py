"""The family registry: one lookup by name, duplicates refused, and a family registered from
outside (here: a tiny one in this test) is usable by pruning and screening with no edit elsewhere."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from dse.errors import ConfigError
from dse.families import PIXELS, ModelIO, PruneUnit, family_of_config, get_family, register, unregister
from dse.families.tfc import TFC
from dse.pruning import PruningPlan, kept_widths, plan_pruning
from dse.screen import screen
from dse.spec import parse_spec
from search_spaces import DesignPoint, FoldingPoint, TFCSpace


def test_a_second_family_of_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'tfc' is already registered"):
        register(TFC())
    assert isinstance(get_family("tfc"), TFC)


def test_an_unknown_family_is_one_config_error_naming_the_known() -> None:
    with pytest.raises(ConfigError, match="unknown model family 'resnet'; known: tfc, cnv, mobilenet, user"):
        get_family("resnet")


def test_a_config_of_no_family_is_refused() -> None:
    with pytest.raises(TypeError, match="no registered family's model configuration"):
        family_of_config(object())
    with pytest.raises(ValueError, match="family must be one of"):
        PruningPlan(family="resnet", original=(8,), keep=(8,))


@dataclass(frozen=True, slots=True)
class TinyConfig:
    width: int
    bits: int
    num_classes: int = 10


class Tiny:
    """One hidden layer of ``width`` on 784 pixels: the least a family needs."""

    name = "tiny"
    space = TFCSpace  # a registered family still needs its space in search_spaces.Space for study files
    image = False
    shapes_data = False
    prunable = "the hidden layer"
    config_type = f"{__name__}.TinyConfig"

    def config(self, point: DesignPoint, widths: tuple[int, ...] | None = None, *, io: ModelIO = PIXELS) -> Any:
        return TinyConfig((widths or point.widths)[0], point.weight_bits[0], io.num_classes)

    def graph(self, point: DesignPoint, widths: tuple[int, ...], part: str, *, io: ModelIO = PIXELS) -> Any:
        from estimators.families import tfc_graph

        return tfc_graph(widths, point.weight_bits[0], point.weight_bits[0], num_classes=io.num_classes, part=part)

    def input_shape(self, point: DesignPoint, io: ModelIO = PIXELS) -> tuple[int, ...]:
        return (1, 784)

    def build(self, config: Any) -> Any:
        raise NotImplementedError

    def widths(self, config: Any) -> tuple[int, ...]:
        return (config.width,)

    def with_widths(self, config: Any, widths: tuple[int, ...]) -> Any:
        return replace(config, width=widths[0])

    def prune_units(self, model: Any) -> list[PruneUnit]:
        raise NotImplementedError

    def check_model(self, spec: Any) -> tuple[int, ...] | None:
        return None

    def check_fits(self, spec: Any, sample_shape: tuple[int, ...], model_shape: tuple[int, ...] | None) -> None:
        return None


@pytest.fixture
def tiny() -> Iterator[Tiny]:
    family = register(Tiny())
    yield family  # type: ignore[misc]
    unregister("tiny")


def test_a_family_registered_elsewhere_is_planned_and_screened(tiny: Tiny) -> None:
    spec = parse_spec({"name": "t", "evaluation": {"hardware": "per_trial"}})
    point = DesignPoint(family="tiny", widths=(64,), weight_bits=(2, 2), act_bits=(2,), prune_ratios=(0.5,),
                        folding=FoldingPoint(mode="solved", target_fps=1e5), clock_ns=5.0)
    assert kept_widths(point, multiple=4) == (32,)
    assert plan_pruning(tiny.config(point), ratio=0.25).keep == (48,)
    s = screen(point, spec.hardware, spec.limits)
    assert s.widths == (32,) and s.fit.fits and s.estimate.fps >= 1e5
    assert [getattr(layer, "mh", None) for layer in s.graph.layers if type(layer).__name__ == "MVAU"][0] == 32
