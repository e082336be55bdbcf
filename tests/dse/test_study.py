"""Study bookkeeping on a real SQLite storage: resume, orphan recovery, budget counting."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse.artifacts import StudyLayout
from dse.errors import ConfigError, EnvironmentFailure
from dse.spec import parse_spec
from dse.study import open_study
from dse.storage.claims import finished_trials
from dse.storage.orphans import recover_orphans, workdir_lock

SPEC = parse_spec({"name": "unit", "n_trials": 5})


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def test_open_study_creates_then_loads(tmp_path: Path) -> None:
    study = open_study(SPEC, _url(tmp_path))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE", "MINIMIZE"]
    assert study.user_attrs["spec"]["name"] == "unit"
    again = open_study(SPEC, _url(tmp_path))
    assert again._study_id == study._study_id


def test_orphans_are_failed_and_retried_once(tmp_path: Path) -> None:
    study = open_study(SPEC, _url(tmp_path))
    done = study.ask({"weight_bits": optuna.distributions.CategoricalDistribution((1, 2))})
    study.tell(done, (0.9, 1e5, 1000.0))
    orphan = study.ask({"weight_bits": optuna.distributions.CategoricalDistribution((1, 2))})
    assert finished_trials(study) == 1
    assert recover_orphans(study, fail_running=True) == [orphan.number]
    trials = study.get_trials()
    assert trials[orphan.number].state.name == "FAIL"
    waiting = [t for t in trials if t.state.name == "WAITING"]
    assert len(waiting) == 1 and waiting[0].system_attrs["fixed_params"] == trials[orphan.number].params
    assert waiting[0].user_attrs["retry_of"] == orphan.number
    assert recover_orphans(study, fail_running=True) == []  # never enqueued twice
    assert finished_trials(study) == 1  # a killed trial does not use up the budget


def test_failures_with_a_reason_count_and_are_not_retried(tmp_path: Path) -> None:
    study = open_study(SPEC, _url(tmp_path))
    t = study.ask()
    t.set_user_attr("fail_reason", "FINN failed")
    study.tell(t, state=optuna.trial.TrialState.FAIL)
    assert recover_orphans(study, fail_running=True) == []
    assert finished_trials(study) == 1


def test_workdir_lock_refuses_a_second_run(tmp_path: Path) -> None:
    layout = StudyLayout(tmp_path / "w")
    with workdir_lock(layout):
        with pytest.raises(EnvironmentFailure, match="in use by another finn-dse run"):
            with workdir_lock(layout):
                pass
    with workdir_lock(layout):  # released again
        pass
