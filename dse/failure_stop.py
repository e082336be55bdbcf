"""When to give up on a study: its trials all fail the same way (a user model FINN cannot map, a
broken dataset loader). Going on would burn the whole budget to record the same reason again and
end with exit 0; stopping names the reason once and exits non-zero (issue 18 item 2)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

SAME_FAILURES = 3  # this many failed trials in a row, with one reason and nothing finished well, end the run

_LOG = re.compile(r" \(log: [^)]*\)$")
_NUMBER = re.compile(r"\d+")


def _same_way(reason: str) -> str:
    # Reasons differ by trial paths and numbers (trial_0003, its log) while saying the same thing.
    return _NUMBER.sub("#", _LOG.sub("", reason))


def same_failure(study: optuna.Study, target: int) -> str | None:
    """The reason every trial of ``study`` has failed with, once ``min(SAME_FAILURES, target)`` of
    them did and no trial completed or was pruned; else None. Trials failed without a reason of
    their own (orphans of a killed process) break the streak: they say nothing about the design."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    if any(t.state != TrialState.FAIL for t in trials):
        return None
    window = min(SAME_FAILURES, target)
    last = sorted(trials, key=lambda t: t.number)[-window:]
    reasons = [t.user_attrs.get("fail_reason") for t in last]
    if len(last) < window or not all(isinstance(r, str) for r in reasons):
        return None
    if len({_same_way(str(r)) for r in reasons}) != 1:
        return None
    return str(reasons[-1])
