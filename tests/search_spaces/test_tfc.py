from __future__ import annotations

import optuna
import pytest
from pydantic import ValidationError

from search_spaces import FloatRange, TFCSpace


def test_distributions_cover_every_parameter() -> None:
    dists = TFCSpace().to_distributions()
    assert set(dists) == {"weight_bits", "act_bits", "hidden_width", "hidden_layers", "target_fps"}
    assert isinstance(dists["target_fps"], optuna.distributions.FloatDistribution)
    assert dists["target_fps"].log
    assert dists["weight_bits"].choices == (1, 2, 4)


def test_suggest_returns_a_point_inside_the_space() -> None:
    space = TFCSpace(weight_bits=(2,), hidden_width=(64, 128), target_fps=FloatRange(low=1e4, high=1e5))
    study = optuna.create_study(directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        point = space.suggest(trial)
        assert point.weight_bits == 2 and point.hidden_width in (64, 128)
        assert 1e4 <= point.target_fps <= 1e5
        assert point.hidden == (point.hidden_width,) * point.hidden_layers
        study.tell(trial, 0.0)


@pytest.mark.parametrize("bad", [
    {"weight_bits": [3]},
    {"weight_bits": []},
    {"hidden_width": [0]},
    {"target_fps": {"low": 10, "high": 1}},
    {"target_fps": {"low": 10, "high": 100, "logg": True}},
    {"family": "cnv"},
])
def test_invalid_spaces_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        TFCSpace.model_validate(bad)


def test_space_is_frozen() -> None:
    with pytest.raises(ValidationError):
        TFCSpace().weight_bits = (1,)  # type: ignore[misc]
