from __future__ import annotations

from typing import Any

import optuna
import pytest
from pydantic import TypeAdapter, ValidationError

from search_spaces import CNVSpace, FloatRange, MobileNetSpace, Space, TFCSpace, UserSpace


def _points(space: Any, n: int = 20, seed: int = 1) -> list[tuple[dict[str, Any], Any]]:
    study = optuna.create_study(directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        point = space.suggest(trial, clock_ns=5.0)
        out.append((dict(trial.params), point))
        study.tell(trial, 0.0)
    return out


def test_tfc_distributions_cover_the_global_parameters() -> None:
    dists = TFCSpace().to_distributions()
    assert set(dists) == {"weight_bits", "act_bits", "hidden_width", "hidden_layers", "target_fps"}
    assert isinstance(dists["target_fps"], optuna.distributions.FloatDistribution)
    assert dists["target_fps"].log
    assert dists["weight_bits"].choices == (1, 2, 4)


def test_suggest_returns_a_point_inside_the_space() -> None:
    space = TFCSpace(weight_bits=(2,), hidden_width=(64, 128), folding={"target_fps": FloatRange(low=1e4, high=1e5)})
    for params, point in _points(space):
        assert point.weight_bits == (2,) * (len(point.widths) + 1)
        assert len(point.act_bits) == len(point.widths)
        assert point.widths == (params["hidden_width"],) * params["hidden_layers"]
        assert 1e4 <= point.folding.target_fps <= 1e5
        assert point.folding.mode == "solved" and point.clock_ns == 5.0
        assert not point.pruned


def test_legacy_top_level_target_fps_moves_into_folding() -> None:
    space = TFCSpace.model_validate({"target_fps": {"low": 100, "high": 1000}})
    assert space.folding.target_fps == FloatRange(low=100, high=1000)
    with pytest.raises(ValidationError, match="twice"):
        TFCSpace.model_validate({"target_fps": {"low": 1, "high": 2}, "folding": {"target_fps": {"low": 1, "high": 2}}})


def test_per_layer_bits_and_pruning_get_one_parameter_per_layer() -> None:
    space = CNVSpace(weight_bits=(1, 2), act_bits=(2,), per_layer_bits=True,
                     pruning={"ratio": (0.0, 0.5), "per_layer": True})
    for params, point in _points(space, n=5):
        assert len(point.widths) == 8 and len(point.weight_bits) == 9 and len(point.act_bits) == 8
        assert [params[f"weight_bits_{i}"] for i in range(9)] == list(point.weight_bits)
        assert [params[f"prune_ratio_{i}"] for i in range(8)] == list(point.prune_ratios)
        assert "weight_bits" not in params and "prune_ratio" not in params


def test_global_pruning_ratio_range_and_budget_folding() -> None:
    space = TFCSpace(pruning={"ratio": {"low": 0.1, "high": 0.6}}, folding={"objective": "budget"})
    for params, point in _points(space, n=10):
        assert 0.1 <= params["prune_ratio"] <= 0.6
        assert set(point.prune_ratios) == {params["prune_ratio"]}
        assert point.folding.budget == params["budget"] and point.folding.target_fps is None


def test_sampled_folding_proposes_pe_and_simd_per_weight_layer() -> None:
    space = MobileNetSpace(folding={"mode": "sampled", "ram_style": ("block", "distributed"), "res_type": ("lut",)})
    params, point = _points(space, n=1)[0]
    n = 2 * len(space.channels)
    assert len(point.folding.pe) == len(point.folding.simd) == n == len(point.weight_bits)
    assert all(0 <= params[f"pe_{i}"] <= 1 for i in range(n))
    assert point.folding.ram_style == params["ram_style"] and point.folding.res_type == "lut"
    assert dict(point.extra)["strides"] == space.strides


def test_clock_choices() -> None:
    params, point = _points(TFCSpace(clock_ns=(3.0, 4.0)), n=1)[0]
    assert point.clock_ns == params["clock_ns"] in (3.0, 4.0)
    assert _points(TFCSpace(clock_ns=(4.0,)), n=1)[0][1].clock_ns == 4.0


def test_the_family_key_selects_the_schema() -> None:
    adapter = TypeAdapter(Space)
    assert isinstance(adapter.validate_python({"family": "cnv"}), CNVSpace)
    assert isinstance(adapter.validate_python({"family": "mobilenet"}), MobileNetSpace)
    with pytest.raises(ValidationError, match="hidden_width"):
        adapter.validate_python({"family": "cnv", "hidden_width": [64]})


@pytest.mark.parametrize("bad", [
    {"weight_bits": [3]},
    {"weight_bits": []},
    {"hidden_width": [0]},
    {"folding": {"target_fps": {"low": 10, "high": 1}}},
    {"folding": {"target_fps": {"low": 10, "high": 100, "logg": True}}},
    {"folding": {"mode": "guessed"}},
    {"folding": {"ram_style": ["bram"]}},
    {"pruning": {"ratio": [1.0]}},
    {"pruning": {"ratio": {"low": 0.2, "high": 1.0}}},
    {"pruning": {"importance": "random"}},
    {"clock_ns": [0.1]},
    {"family": "cnv"},
])
def test_invalid_tfc_spaces_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        TFCSpace.model_validate(bad)


@pytest.mark.parametrize("cls, bad", [
    (CNVSpace, {"channels": [64, 64]}),
    (MobileNetSpace, {"act_bits": [1]}),
    (MobileNetSpace, {"channels": [16, 32], "strides": [2]}),
])
def test_invalid_family_spaces_are_rejected(cls: Any, bad: dict) -> None:
    with pytest.raises(ValidationError):
        cls.model_validate(bad)


def test_space_is_frozen() -> None:
    with pytest.raises(ValidationError):
        TFCSpace().weight_bits = (1,)  # type: ignore[misc]


@pytest.mark.parametrize("bad, match", [
    ({"model": "no_colon"}, "package.module:function"),
    ({"model": "m:f", "pruning": {"ratio": [0.5]}}, "pruning"),
    ({"model": "m:f", "folding": {"mode": "sampled"}}, "sampled"),
    ({"model": "m:f", "per_layer_bits": True}, "per_layer_bits"),
])
def test_user_spaces_allow_only_what_the_contract_can_vary(bad: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        UserSpace.model_validate(bad)
