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
from pathlib import Path
from types import TracebackType
from typing import Any

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
