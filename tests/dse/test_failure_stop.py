"""The rule that ends a run whose trials all fail the same way (dse.failure_stop), on real Optuna
studies: which streaks stop, which do not."""
from __future__ import annotations

import optuna
import pytest

from dse.failure_stop import SAME_FAILURES, same_failure

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(*outcomes: str | None) -> optuna.Study:
    """A study whose trials end as given: a string fails the trial with that reason, None
    completes it, "" fails it without a reason (an orphan of a killed process)."""
    study = optuna.create_study()
    for outcome in outcomes:
        trial = study.ask()
        if outcome is None:
            study.tell(trial, 1.0)
            continue
        if outcome:
            trial.set_user_attr("fail_reason", outcome)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return study


def test_three_failures_with_one_reason_stop() -> None:
    assert SAME_FAILURES == 3
    reason = "FINN: MVAU_hls out of range (log: runs/x/trials/trial_0002/build.log)"
    assert same_failure(_study("FINN: MVAU_hls out of range (log: runs/x/trials/trial_0000/build.log)",
                               "FINN: MVAU_hls out of range (log: runs/x/trials/trial_0001/build.log)",
                               reason), target=20) == reason


@pytest.mark.parametrize("outcomes", [
    ("boom", "boom"),  # not yet three
    ("boom", None, "boom", "boom", "boom"),  # one trial completed: the study can work
    ("boom", "bang", "boom"),  # different reasons
    ("boom", "", "boom"),  # an orphan says nothing about the design
])
def test_no_stop(outcomes: tuple[str | None, ...]) -> None:
    assert same_failure(_study(*outcomes), target=20) is None


def test_a_budget_below_three_stops_when_all_of_it_failed() -> None:
    assert same_failure(_study("boom"), target=1) == "boom"
    assert same_failure(_study("boom"), target=2) is None
