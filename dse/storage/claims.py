"""Workers claim trials one at a time, so a shared study never finishes more trials than its budget.

Deciding "the study needs one more trial" and creating that trial must be one step: two workers
that both see 7 of 8 trials finished and none running would otherwise both start one. A worker
decides while holding a lock in the study's own database (a PostgreSQL advisory lock; a file
lock beside a SQLite database) and keeps it until its new trial is RUNNING in the database, where
every other worker counts it. The lock dies with the process (its connection or file descriptor).
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)


def _lock_key(study_name: str) -> int:
    """A signed 64-bit advisory-lock key of its own per study (PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"finn-dse claim {study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ClaimLock:
    """A blocking lock shared by every process on the study's storage; re-entrant release."""

    def __init__(self, url: str, study_name: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self._dialect = parsed.get_backend_name()
        self._key = _lock_key(study_name)
        self._url = url
        self._engine: Any = None
        self._conn: Any = None
        self._fd: int | None = None
        self._file: Path | None = None
        if self._dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            self._file = Path(parsed.database).with_name(f".{Path(parsed.database).name}.claim.lock")
        elif self._dialect not in ("postgresql", "sqlite"):
            logger.debug("no claim lock for %s storage: workers may finish one trial too many", self._dialect)

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def acquire(self) -> None:
        if self.held:
            return
        if self._dialect == "postgresql":
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            if self._engine is None:  # one real connection per hold: closing it frees the lock too
                self._engine = sqlalchemy.create_engine(self._url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            conn = self._engine.connect()
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        elif self._file is not None:
            fd = os.open(self._file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd

    def release(self) -> None:
        if self._conn is not None:
            import sqlalchemy

            conn, self._conn = self._conn, None
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            finally:
                conn.close()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # frees the flock

    def close(self) -> None:
        self.release()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> ClaimLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards the budget: done, or failed for a reason other than a dead worker."""
    return _finished(study.get_trials(deepcopy=False))


def _finished(trials: Sequence[optuna.trial.FrozenTrial]) -> int:
    from optuna.trial import TrialState

    # Trials failed because their process died carry no fail_reason: they are retried, not counted.
    # Design trials added for a trained network (evaluation.hardware: front) are not proposals.
    return sum(1 for t in trials if t.user_attrs.get("role") != "design" and (
               t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and "fail_reason" in t.user_attrs)))


def wait_for_work(study: optuna.Study, target: int, poll_s: float, claim: ClaimLock) -> bool:
    """Worker mode: claim one more trial (True), or False once the study has ``target`` finished.

    True is returned holding ``claim``: the caller releases it once its trial is RUNNING in the
    database (see :func:`optimize_claimed`), so no other worker can count the study short by
    that trial. While finished and running trials reach the target, wait (polling every
    ``poll_s``) instead of starting one too many: when a worker dies, its trial's heartbeat goes
    stale, the trial is failed and re-enqueued with the same parameters, and a waiting worker
    takes it (Optuna starts a WAITING trial before sampling a new one).
    """
    import optuna

    while True:
        claim.acquire()
        optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)  # one snapshot for both counts
        finished = _finished(trials)
        if finished >= target:
            claim.release()
            return False
        if finished + sum(t.state.name == "RUNNING" for t in trials) < target:
            return True
        claim.release()
        time.sleep(poll_s)


def optimize_claimed(study: optuna.Study, objective: Callable[[optuna.Trial], Any], *, target: int, poll_s: float,
                     claim: ClaimLock, timeout_s: float | None = None, catch: tuple[type[Exception], ...] = (),
                     callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = ()) -> None:
    """Run trials beside other processes until the study has ``target`` finished ones, never more.

    Each trial is claimed (:func:`wait_for_work`) before Optuna creates it, and the claim is
    released when the trial starts running.
    """
    def claimed(trial: optuna.Trial) -> Any:
        claim.release()
        return objective(trial)

    def next_claim(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        if not wait_for_work(study, target, poll_s, claim):
            study.stop()

    try:
        if wait_for_work(study, target, poll_s, claim):
            study.optimize(claimed, n_trials=None, timeout=timeout_s, catch=catch, callbacks=[*callbacks, next_claim])
    finally:
        claim.release()
