"""Estimator-first screening: the fast path judges sampled designs before any training."""
from __future__ import annotations

import optuna
import pytest

from dse.pruning import plan_for
from dse.screen import screen
from dse.spec import parse_spec
from estimators.families import cnv_graph


def _spec(**over: object):
    return parse_spec({"name": "s", "evaluation": {"hardware": "per_trial"}, **over})  # one folding per design


def _point(spec, seed: int = 0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return spec.space.suggest(study.ask(), clock_ns=spec.hardware.clock_ns)


def test_a_design_below_the_minimum_throughput_is_stopped_with_a_reason() -> None:
    spec = _spec(space={"family": "tfc", "folding": {"target_fps": {"low": 1000, "high": 2000}}},
                 limits={"min_fps": 1e6})
    s = screen(_point(spec), spec.hardware, spec.limits)
    assert s.violations["min_fps"] > 0 and "below the minimum 1,000,000 fps" in s.reason
    assert s.estimate.fps < 1e6 and s.seconds < 5


def test_fit_margin_and_latency_limits() -> None:
    spec = _spec(space={"family": "tfc", "hidden_width": [256], "weight_bits": [4], "act_bits": [4],
                        "folding": {"target_fps": {"low": 5e6, "high": 5e6}}},
                 hardware={"mvau_wwidth_max": 8191}, limits={"fit_margin": 0.95, "max_latency_us": 0.001})
    s = screen(_point(spec), spec.hardware, spec.limits)
    assert not s.fit.fits and s.violations["fit"] > 0 and "does not fit" in s.reason
    assert s.violations["max_latency_us"] > 0 and "latency" in s.reason


def test_feasible_design_has_no_reason_and_energy() -> None:
    spec = _spec(space={"family": "tfc", "hidden_width": [64]})
    s = screen(_point(spec), spec.hardware, spec.limits)
    assert s.reason is None and s.fit.fits and s.energy_uj > 0
    assert [layer["name"] for layer in s.layers()] == list(s.estimate.names)


def test_budget_mode_fits_inside_its_share_of_the_device() -> None:
    spec = _spec(space={"family": "tfc", "hidden_width": [256], "folding": {"objective": "budget",
                                                                             "budget": {"low": 0.05, "high": 0.05}}},
                 hardware={"mvau_wwidth_max": 8191})
    s = screen(_point(spec), spec.hardware, spec.limits)
    assert max(s.fit.utilization.values()) <= 0.05 + 1e-9


def test_pruned_widths_reach_the_fast_path_as_planned() -> None:
    spec = _spec(space={"family": "cnv", "weight_bits": [2], "act_bits": [2], "pruning": {"ratio": [0.5]}},
                 hardware={"mvau_wwidth_max": 1024})
    point = _point(spec)
    s = screen(point, spec.hardware, spec.limits)
    plan = plan_for(point, multiple=4)
    assert s.widths == plan.keep == (32, 32, 64, 64, 128, 128, 256, 256)
    unfolded = cnv_graph(s.widths[:6], s.widths[6:], 2, 2)
    assert [type(x).__name__ for x in unfolded.layers] == [type(x).__name__ for x in s.graph.layers]
    assert [getattr(x, "mh", None) for x in unfolded.layers] == [getattr(x, "mh", None) for x in s.graph.layers]


@pytest.mark.parametrize("family", ["tfc", "cnv"])
def test_sampled_folding_screens(family: str) -> None:
    spec = _spec(space={"family": family, "folding": {"mode": "sampled"}})
    s = screen(_point(spec, seed=3), spec.hardware, spec.limits)
    assert s.estimate.fps > 0
