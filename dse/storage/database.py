"""Opening a study's database: Optuna's RDB storage with heartbeats, its tables, and study.json.

study.json (dse.artifacts.StudyLayout.meta) names the study and its storage URL without a
password; `read_meta` is the one reader of it and `load_study` the one way later commands open a
study from a work directory.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import StudyLayout
from dse.errors import ConfigError, EnvironmentFailure
from dse.storage.urls import SERVER_SCHEMES, password_hint, redact

if TYPE_CHECKING:
    import optuna

HEARTBEAT_S = 20
GRACE_S = 90


def database_full(err: BaseException, url: str) -> OSError | None:
    """SQLite's "database or disk is full" (inside SQLAlchemy's OperationalError, inside Optuna's
    StorageInternalError) as the OSError it is, naming the database file; None for any other error."""
    import errno
    import os
    import sqlite3

    from sqlalchemy.engine import make_url

    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, sqlite3.OperationalError) and getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), make_url(url).database)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def make_storage(url: str, *, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> optuna.storages.BaseStorage:
    """RDB storage with heartbeats, so trials of dead workers are failed and retried.

    A trial whose heartbeat is older than ``grace_s`` is failed (and re-enqueued) the next time
    any worker starts a trial.
    """
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are stable enough
            return RDBStorage(url, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                              **kwargs)
    except (ImportError, ModuleNotFoundError) as err:
        raise EnvironmentFailure(f"storage {redact(url)!r} needs a database driver that is not installed: {err}") from None
    except Exception as err:  # SQLAlchemy/Optuna: malformed URL or unreachable server
        detail = str(getattr(err, "orig", None) or err).strip().splitlines()
        first = detail[0] if detail else type(err).__name__
        raise ConfigError(f"cannot open storage {redact(url)!r}: {first}{password_hint(url, first)}") from None


SCHEMA_LOCK = 0x46494E4E  # PostgreSQL advisory lock key ("FINN") held while Optuna creates its tables


def prepare_storage(url: str, *, timeout_s: int = 15) -> None:
    """Connect once and create Optuna's tables, one process at a time.

    A wrong URL or an unreachable server fails here in one line, without the password. Workers
    that start together on an empty PostgreSQL database would otherwise race to create the same
    tables and types, and all but one fail.
    """
    import sqlalchemy

    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    args = {"connect_timeout": timeout_s} if scheme in SERVER_SCHEMES else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=args)
    except ImportError as err:
        raise EnvironmentFailure(f"storage {redact(url)} needs a database driver that is not installed: {err}") from None
    except Exception as err:  # SQLAlchemy: not a URL it knows
        raise ConfigError(f"not a usable storage URL {redact(url)!r}: {err}") from None
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK})")
                try:
                    _create_tables(url)
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK})")
    except ConfigError:
        raise
    except Exception as err:
        detail = str(getattr(err, "orig", None) or err).strip().splitlines()
        first = detail[0] if detail else type(err).__name__
        raise ConfigError(f"cannot reach the study database {redact(url)}: {first}{password_hint(url, first)}"
                          ) from None
    finally:
        engine.dispose()


def _create_tables(url: str) -> None:
    import optuna

    try:
        optuna.storages.RDBStorage(url).remove_session()
    except Exception as err:  # e.g. tables of another Optuna version
        detail = str(err).strip().splitlines()
        raise ConfigError(f"cannot open storage {redact(url)}: {detail[0] if detail else type(err).__name__}") from None


def read_meta(workdir: Path) -> dict[str, Any]:
    """study.json of ``workdir``: the study's name and its storage URL as kept (no password)."""
    layout = StudyLayout(Path(workdir))
    if not layout.meta.exists():
        raise ConfigError(f"no FINN-DSE study in {workdir} (no study.json); run `finn-dse run STUDY.yaml "
                          f"--workdir {workdir}` first")
    try:
        meta = json.loads(layout.meta.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("study_name"), str) or "storage" not in meta:
            raise ValueError("no study_name and storage")
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{layout.meta} is not a FINN-DSE study.json ({err}); run `finn-dse run` again "
                          "or restore the file") from None
    return meta


def study_url(workdir: Path, override: str | None = None) -> str:
    """The URL to open for the study in ``workdir`` (``override``, e.g. --storage, wins over study.json's)."""
    return override or StudyLayout(Path(workdir)).storage_from_meta(read_meta(workdir)["storage"])


def load_study(workdir: Path, storage_url: str | None = None) -> optuna.Study:
    """Open the study a `finn-dse run` left in ``workdir`` (its study.json names study and storage)."""
    import optuna

    name = read_meta(workdir)["study_name"]
    url = study_url(workdir, storage_url)
    try:
        return optuna.load_study(study_name=name, storage=make_storage(url))
    except KeyError:
        raise ConfigError(f"study {name!r} not found in {redact(url)}") from None


# Objective (trial attribute) -> the name optuna-dashboard shows instead of "Objective 0".
METRIC_NAMES = {"val_accuracy": "validation accuracy", "fps": "throughput (frames/s)", "lut": "LUTs",
                "latency_us": "latency (µs)", "bram18": "BRAM18", "uram": "URAM", "dsp": "DSP",
                "energy_uj": "energy (µJ/inference)"}


def name_objectives(study: optuna.Study, objective_attrs: list[str] | None = None) -> list[str] | None:
    """Give the study's objectives their names (Optuna's ``study.set_metric_names``, which
    optuna-dashboard shows); ``objective_attrs`` defaults to the study's stored ``objectives``.
    Writes only when they change. Returns the names (None for a study that does not say)."""
    import optuna

    attrs = objective_attrs if objective_attrs is not None else study.user_attrs.get("objectives")
    if not attrs or len(attrs) != len(study.directions):
        return None
    names = [METRIC_NAMES.get(a, a) for a in attrs]
    if study.metric_names != names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # public since 3.2
            study.set_metric_names(names)
    return names
