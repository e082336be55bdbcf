"""The network-level sampler learns from network trials only and proposes each network once."""
from __future__ import annotations

import optuna
import pytest

from dse.network_sampler import NetworkSampler

CHOICES = list(range(12))


def _suggest(trial: optuna.Trial) -> None:
    trial.suggest_categorical("width", CHOICES)
    trial.suggest_categorical("bits", [1, 2])


def _run(sampler: optuna.samplers.BaseSampler, n: int) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        _suggest(trial)
        w, b = trial.params["width"], trial.params["bits"]
        trial.set_user_attr("role", "network")
        # Like dse.networks: the network's front, twenty designs sharing its parameters.
        for k in range(20):
            study.add_trial(optuna.trial.create_trial(
                params=dict(trial.params), distributions=dict(trial.distributions),
                values=[w * b / 24, w * b * (k + 1)], user_attrs={"role": "design"}))
        return w * b / 24, float(w * b)

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study.optimize(objective, n_trials=n)
    return study


def _proposals(study: optuna.Study) -> list[tuple[int, int]]:
    return [(t.params["width"], t.params["bits"]) for t in study.trials if t.user_attrs.get("role") == "network"]


@pytest.mark.parametrize("inner", ["tpe", "random"])
def test_each_network_is_proposed_once_while_one_is_left(inner: str) -> None:
    base = (optuna.samplers.TPESampler(seed=3, multivariate=True, n_startup_trials=5) if inner == "tpe"
            else optuna.samplers.RandomSampler(seed=3))
    study = _run(NetworkSampler(base, _suggest, ["maximize", "minimize"]), 20)
    got = _proposals(study)
    assert len(got) == 20 and len(set(got)) == 20


def test_plain_tpe_on_the_same_study_repeats_networks() -> None:
    # Why the wrapper exists: read directly, the design trials end TPE's startup after one network
    # and fill its "good" group with the networks already trained.
    study = _run(optuna.samplers.TPESampler(seed=3, multivariate=True, n_startup_trials=5), 20)
    got = _proposals(study)
    assert len(set(got)) < len(got)


def test_the_sampler_sees_network_trials_only() -> None:
    seen: list[int] = []

    class Counting(optuna.samplers.RandomSampler):
        def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            seen.append(len(study.get_trials(deepcopy=False)))

    _run(NetworkSampler(Counting(seed=0), _suggest, ["maximize", "minimize"]), 6)
    # Each proposal's view holds the earlier networks (and that proposal's redraws), never their 20 designs.
    assert seen[0] == 1 and max(seen) < 20


def test_trials_with_other_distributions_fall_back_to_the_inner_sampler() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=NetworkSampler(optuna.samplers.RandomSampler(seed=0), _suggest,
                                                       ["maximize", "minimize"]))
    done = study.ask({"width": optuna.distributions.CategoricalDistribution((1, 2))})
    study.tell(done, (0.5, 1.0))
    again = study.ask({"width": optuna.distributions.CategoricalDistribution((1, 2))})
    assert again.params["width"] in (1, 2)


def test_once_every_network_was_proposed_the_deferred_ones_come_back_first() -> None:
    deferred = {(3, 1), (7, 2)}  # e.g. dominated at an optimistic accuracy when first proposed
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=NetworkSampler(optuna.samplers.TPESampler(seed=1, n_startup_trials=5),
                                                       _suggest, ["maximize", "minimize"]))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        _suggest(trial)
        net = (trial.params["width"], trial.params["bits"])
        trial.set_user_attr("role", "network")
        if net in deferred and net not in seen:
            seen.add(net)
            trial.set_user_attr("stopped_by", "deferred")
            raise optuna.TrialPruned()
        return net[0] * net[1] / 24, float(net[0] * net[1])

    seen: set[tuple[int, int]] = set()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study.optimize(objective, n_trials=len(CHOICES) * 2 + 2)
    got = _proposals(study)
    assert len(set(got[:24])) == 24  # each network once, the deferred ones included
    first = [n for n in got[:24] if n in deferred]
    assert got[24:] == first  # then the deferred ones again, in the order they were deferred
