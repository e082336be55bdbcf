"""Trials a stopped process left behind: failed through Optuna's public calls and run again.

A `finn-dse run` holds its work directory's lock (`workdir_lock`) for as long as it lives, and tags
every trial it runs with ``runner`` (host:work dir), so a later run of the same work directory
knows which RUNNING trials are its dead predecessor's, even on a shared database.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dse.artifacts import StudyLayout
from dse.errors import EnvironmentFailure

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

RUNNER_ATTR = "runner"  # user attr: which `finn-dse run` (host:work dir) runs the trial; see recover_orphans


def recover_orphans(study: optuna.Study, *, fail_running: bool, owner: str | None = None) -> list[int]:
    """Re-enqueue, with the same parameters, every trial a stopped process could not finish.

    Trials left RUNNING are failed first when nobody else can be running them: all of them with
    ``fail_running`` (the caller holds the work-dir lock on a private SQLite database), those
    tagged ``runner == owner`` with ``owner`` (a `finn-dse run` on shared storage: the work-dir
    lock proves that no earlier run of this work directory is alive). Other processes' trials
    are left to their heartbeats. Failed trials without a recorded ``fail_reason`` (kill, Ctrl-C,
    stale heartbeat) that nobody has retried yet are enqueued again.
    """
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if fail_running or (owner is not None and t.user_attrs.get(RUNNER_ATTR) == owner):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials} | {t.system_attrs.get("failed_trial") for t in trials}
    again = []
    for t in trials:
        if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs and t.number not in retried and t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            again.append(t.number)
    if again:
        logger.warning("trials %s were interrupted; retrying them with the same parameters", again)
    return again


@contextlib.contextmanager
def workdir_lock(layout: StudyLayout) -> Iterator[None]:
    """One `finn-dse run` per work directory at a time (the lock dies with the process)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = Path(layout.lock).read_text().strip() or "?"
            raise EnvironmentFailure(f"{layout.root} is in use by another finn-dse run (pid {owner}); "
                              "wait for it to finish or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)
