"""Job records: one row per build or measurement job, in the study's own database.

Storage choice: an extra table ``finn_dse_jobs`` next to Optuna's tables, in the same database
URL (the work directory's SQLite file or the shared PostgreSQL server). Not Optuna attributes,
because
- submitting must be atomic across controllers: a unique ``active_key`` (study, trial, kind, mode,
  configuration) lets exactly one insert win, so the same candidate is never built twice, even
  by two controllers at once; Optuna's attributes have no compare-and-set;
- jobs change state many times after their trial has finished, and Optuna's API refuses any
  change to a finished trial;
- a restarted controller (or another machine) finds every job, its Slurm id and its files in
  the table: nothing lives only in a process.
``active_key`` is cleared when a job ends FAILED or CANCELLED, so it can be submitted again; a
COMPLETED job keeps it (never rebuilt unless asked for with another configuration).

Results live in a second table of ours, ``finn_dse_trial_results`` (study, trial, key -> JSON
value, and the job that gave it), written in the same transaction that marks the job ingested:
ingestion happens once, or not at all. Optuna's tables are never written behind its back (a
finished trial is immutable through its API); readers join the results to a trial's user
attributes at read time (`job_results`, dse.results.trial_attrs).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dse.errors import ConfigError

logger = logging.getLogger(__name__)

STATES = ("SUBMITTING", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
KINDS = ("build", "measure")

_META = sa.MetaData()
JOBS = sa.Table(
    "finn_dse_jobs", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token", sa.String(32), nullable=False, unique=True),  # names the Slurm job / job folder
    sa.Column("study", sa.String(512), nullable=False, index=True),
    sa.Column("trial", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # build | measure
    sa.Column("mode", sa.String(32), nullable=False),  # build: full | estimate-only; measure: throughput
    sa.Column("backend", sa.String(16), nullable=False),  # local | slurm | manual
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("active_key", sa.String(700), unique=True, nullable=True),
    sa.Column("backend_id", sa.String(128), nullable=True),  # Slurm job id, or host:pid
    sa.Column("created_time", sa.Float, nullable=False),
    sa.Column("submit_time", sa.Float, nullable=True),
    sa.Column("start_time", sa.Float, nullable=True),
    sa.Column("end_time", sa.Float, nullable=True),
    sa.Column("job_dir", sa.Text, nullable=False),
    sa.Column("log_path", sa.Text, nullable=False),
    sa.Column("output_dir", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("options", sa.Text, nullable=False, default="{}"),  # JSON: build options, profile, ...
    sa.Column("result", sa.Text, nullable=True),  # JSON: what the job reported
    sa.Column("ingested", sa.Boolean, nullable=False, default=False),
)


RESULTS = sa.Table(
    "finn_dse_trial_results", _META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("trial", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value_json", sa.Text, nullable=False),
    sa.Column("job", sa.Integer, nullable=False),  # the job whose results these are
)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    token: str
    study: str
    trial: int
    kind: str
    mode: str
    backend: str
    state: str
    backend_id: str | None
    created_time: float
    submit_time: float | None
    start_time: float | None
    end_time: float | None
    job_dir: str
    log_path: str
    output_dir: str
    reason: str | None
    options: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    ingested: bool = False
    active_key: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def name(self) -> str:
        """The Slurm job name (unique: it carries the random token)."""
        return f"fdse-{self.kind}-{self.token}"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _record(row: Mapping[Any, Any]) -> JobRecord:
    data = dict(row)
    data["options"] = json.loads(data.get("options") or "{}")
    data["result"] = json.loads(data["result"]) if data.get("result") else None
    data["ingested"] = bool(data.get("ingested"))
    return JobRecord(**data)


def _engine(url: str) -> sa.Engine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    return sa.create_engine(url, **kwargs)


class JobStore:
    """The job table of one study database (created on first use)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        for attempt in range(3):
            try:
                _META.create_all(self.engine, checkfirst=True)
                break
            except sa.exc.DBAPIError:  # another process created it at the same moment
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        self.engine.dispose()

    # --- create / read ------------------------------------------------------------------------
    def create(self, *, token: str, study: str, trial: int, kind: str, mode: str, backend: str, active_key: str | None,
               job_dir: str, log_path: str, output_dir: str, options: Mapping[str, Any],
               state: str = "SUBMITTING") -> tuple[JobRecord, bool]:
        """Insert a job; if an active job with the same key exists, return it instead (created=False)."""
        if kind not in KINDS:
            raise ConfigError(f"job kind must be one of {KINDS}, got {kind!r}")
        row = {"token": token, "study": study, "trial": trial, "kind": kind, "mode": mode, "backend": backend,
               "state": state, "active_key": active_key, "created_time": time.time(), "job_dir": job_dir,
               "log_path": log_path, "output_dir": output_dir, "options": json.dumps(dict(options), sort_keys=True),
               "ingested": False}
        try:
            with self.engine.begin() as conn:
                inserted = conn.execute(JOBS.insert().values(**row)).inserted_primary_key
                new_id = inserted[0] if inserted is not None else None
        except sa.exc.IntegrityError:
            existing = self.by_active_key(active_key) if active_key else None
            if existing is None:  # it ended in between: try once more
                return self.create(token=token, study=study, trial=trial, kind=kind, mode=mode, backend=backend,
                                   active_key=active_key, job_dir=job_dir, log_path=log_path,
                                   output_dir=output_dir, options=options, state=state)
            return existing, False
        if new_id is None:
            raise RuntimeError(f"the database returned no id for the new job ({_redact(self.url)})")
        return self.get(int(new_id)), True

    def get(self, job_id: int) -> JobRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        if row is None:
            raise ConfigError(f"no job {job_id} in {_redact(self.url)}")
        return _record(row)

    def by_active_key(self, key: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(JOBS).where(JOBS.c.active_key == key)).mappings().first()
        return None if row is None else _record(row)

    def list(self, *, study: str | None = None, trial: int | None = None, kind: str | None = None,
             states: Iterable[str] | None = None) -> list[JobRecord]:
        query = sa.select(JOBS).order_by(JOBS.c.id)
        if study is not None:
            query = query.where(JOBS.c.study == study)
        if trial is not None:
            query = query.where(JOBS.c.trial == trial)
        if kind is not None:
            query = query.where(JOBS.c.kind == kind)
        if states is not None:
            query = query.where(JOBS.c.state.in_(list(states)))
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    # --- update -------------------------------------------------------------------------------
    def update(self, job_id: int, *, only_if_active: bool = True, **changes: Any) -> bool:
        """Change fields; a job that ended keeps its end (returns False then). Ending FAILED or
        CANCELLED frees the job's key, so the same candidate can be submitted again."""
        values = dict(changes)
        for key in ("options", "result"):
            if key in values and values[key] is not None and not isinstance(values[key], str):
                values[key] = json.dumps(values[key], sort_keys=True, default=str)
        if values.get("state") in ("FAILED", "CANCELLED"):
            values["active_key"] = None
        if "state" in values and values["state"] not in STATES:
            raise ValueError(f"unknown job state {values['state']!r}")
        stmt = JOBS.update().where(JOBS.c.id == job_id)
        if only_if_active:
            stmt = stmt.where(JOBS.c.state.notin_(list(TERMINAL)))
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(**values)).rowcount == 1

    def ingest(self, job_id: int, trial_attrs: Mapping[str, Any], *, study: str, trial: int) -> bool:
        """Record ``trial_attrs`` as the trial's job results and mark the job ingested, in one
        transaction (a later job's value for the same key replaces an earlier one).

        Returns False (and changes nothing) if the job was already ingested, e.g. by another
        controller at the same moment.
        """
        with self.engine.begin() as conn:
            claimed = conn.execute(JOBS.update().where(JOBS.c.id == job_id).where(JOBS.c.ingested.is_(False))
                                   .values(ingested=True)).rowcount
            if claimed != 1:
                return False
            for key, value in trial_attrs.items():
                conn.execute(RESULTS.delete().where(RESULTS.c.study == study).where(RESULTS.c.trial == trial)
                             .where(RESULTS.c.key == key))
                conn.execute(RESULTS.insert().values(study=study, trial=trial, key=key, job=job_id,
                                                     value_json=json.dumps(value)))
        return True

    def results(self, study: str) -> dict[int, dict[str, Any]]:
        """Every ingested job result of ``study``: trial number -> {attribute: value}."""
        return _read_results(self.engine, study)


def job_results(url: str, study: str) -> dict[int, dict[str, Any]]:
    """The study's ingested job results, read without creating any table (none yet: {})."""
    engine = _engine(url)
    try:
        if not sa.inspect(engine).has_table(RESULTS.name):
            return {}
        return _read_results(engine, study)
    finally:
        engine.dispose()


def _read_results(engine: sa.Engine, study: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    query = sa.select(RESULTS.c.trial, RESULTS.c.key, RESULTS.c.value_json).where(RESULTS.c.study == study)
    with engine.connect() as conn:
        for trial, key, value in conn.execute(query.order_by(RESULTS.c.trial, RESULTS.c.key)):
            out.setdefault(int(trial), {})[str(key)] = json.loads(value)
    return out


def _redact(url: str) -> str:
    from dse.storage.urls import redact

    return redact(url)
