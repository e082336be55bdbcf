"""The sampler of a network-level study learns from networks, one observation each.

In a study with ``evaluation.hardware: front`` every trained network adds all the designs of its
hardware front as trials (dse.networks). Those trials share the network's parameters, so a
sampler reading the study directly would see one network twenty times over: TPE's startup phase
would end after the first training, and its "good" group would be that network's designs, so it
keeps proposing the networks it has already trained (repeats cost no training, but buy nothing).

`NetworkSampler` wraps the study file's sampler and, for every proposal, shows it only the
network trials (role ``network``: trained, screened out by the estimators, stopped by the
accuracy check, deferred), in a throw-away in-memory study built from the shared storage (so
workers and restarts see the same history). It draws without replacement: a proposal equal to a
network already proposed is drawn again (up to ``tries`` times, then up to 8 x ``tries`` times
uniformly among the rest), so each proposal is a new network while one is left. Once every
network has been proposed it proposes a deferred one (never trained; dse.networks trains a
deferred network proposed again), the longest deferred first, instead of a repeat that buys nothing.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

logger = logging.getLogger(__name__)


def _identity(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


class NetworkSampler(optuna.samplers.BaseSampler):
    """Propose networks with ``inner`` (TPE, GP, random) trained on network trials only.

    ``suggest`` asks a trial for one network's parameters (the study space's suggest with
    ``hardware=False``): it is run on the in-memory view, and the main trial then receives the
    same values parameter by parameter.
    """

    def __init__(self, inner: optuna.samplers.BaseSampler, suggest: Callable[[optuna.Trial], object],
                 directions: Sequence[str], *, tries: int = 32) -> None:
        self._inner = inner
        self._suggest = suggest
        self._directions = [optuna.study.StudyDirection[d.upper()] for d in directions]
        self._tries = tries
        self._proposals: dict[int, tuple[dict[str, Any], dict[str, BaseDistribution]]] = {}

    @property
    def inner(self) -> optuna.samplers.BaseSampler:
        return self._inner

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # the view's own study/trial messages are noise
        try:
            view, taken = self._view(study, trial.number, self._inner)
            vt = self._draw(view, taken)
            if vt is None:  # the sampler keeps to networks it has seen: a uniform draw among the others
                view, taken = self._view(study, trial.number, optuna.samplers.RandomSampler(seed=trial.number))
                vt = self._draw(view, taken, tries=8 * self._tries)  # before a deferred one: miss no new network
            proposal = (dict(vt.params), dict(vt.distributions)) if vt is not None else _deferred(study, trial.number)
        except ValueError as err:  # trials asked with other distributions than the space's (e.g. by hand)
            logger.debug("network view unusable (%s): the study's own sampler proposes", err)
            proposal = None
        finally:
            optuna.logging.set_verbosity(verbosity)
        if proposal is not None:  # else every network was proposed and none waits: the inner sampler's choice
            self._proposals[trial.number] = proposal

    def _draw(self, view: optuna.Study, taken: set[str], tries: int | None = None) -> optuna.Trial | None:
        for _ in range(tries or self._tries):
            vt = view.ask()
            self._suggest(vt)
            if _identity(vt.params) not in taken:
                return vt
            view.tell(vt, state=TrialState.FAIL)  # proposed before: draw again (the view is thrown away)
        return None

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        params, distributions = self._proposals.get(trial.number, ({}, {}))
        if param_name in params and distributions.get(param_name) == param_distribution:
            return params[param_name]
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._proposals.pop(trial.number, None)

    def _view(self, study: optuna.Study, number: int,
              sampler: optuna.samplers.BaseSampler) -> tuple[optuna.Study, set[str]]:
        """An in-memory study of the network trials, and the parameter sets already proposed."""
        view = optuna.create_study(directions=self._directions, sampler=sampler)
        taken: set[str] = set()
        for t in study.get_trials(deepcopy=False):
            if t.number == number or t.user_attrs.get("role") == "design" or t.state == TrialState.FAIL:
                continue
            if t.state in (TrialState.RUNNING, TrialState.WAITING) or t.user_attrs.get("stopped_by") == "repeat":
                taken.add(_identity(t.params))  # another worker's, or a reused one: not news to the sampler
                continue
            if t.state == TrialState.COMPLETE and t.values is not None:
                view.add_trial(optuna.trial.create_trial(params=dict(t.params), distributions=dict(t.distributions),
                                                         values=list(t.values), constraints=dict(t.constraints)))
            elif t.state == TrialState.PRUNED:  # deferred: the sampler should look elsewhere
                view.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, params=dict(t.params),
                                                         distributions=dict(t.distributions)))
            else:
                continue
            taken.add(_identity(t.params))
        return view, taken


def _deferred(study: optuna.Study, number: int) -> tuple[dict[str, Any], dict[str, BaseDistribution]] | None:
    """The earliest deferred network that no other trial has proposed since (None: none waits)."""
    waiting: dict[str, FrozenTrial] = {}
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.number == number or t.user_attrs.get("role") == "design" or t.state == TrialState.FAIL:
            continue
        ident = _identity(t.params)
        if t.user_attrs.get("stopped_by") == "deferred" and t.state == TrialState.PRUNED:
            waiting.setdefault(ident, t)
        else:  # trained, screened out, or taken by another worker right now
            waiting.pop(ident, None)
    if not waiting:
        return None
    first = min(waiting.values(), key=lambda t: t.number)
    return dict(first.params), dict(first.distributions)
