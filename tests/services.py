"""Real services for the tests (pytest plugin): a PostgreSQL server and a single-node Slurm cluster.

Both are started by the project's own scripts (scripts/services/*.sh, also `make services`):
idempotent, so a session whose services are already up pays well under a second. They need root
(Debian packages, daemons); a failure to start fails the tests that need them, with the script's
message. FINN_DSE_TEST_POSTGRES_URL points the tests at a PostgreSQL server of your own instead
(its role needs CREATEDB: every test gets a database of its own).
"""
from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "scripts" / "services"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "service: needs a real PostgreSQL server or Slurm cluster (scripts/services/)")


def _start(script: str) -> str:
    """Run a service script; its last stdout line is the status."""
    proc = subprocess.run(["bash", str(SERVICES / script)], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        pytest.fail(f"scripts/services/{script} could not start its service:\n{proc.stderr.strip()}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL database whose role may create databases (see `postgres_db`)."""
    url = os.environ.get("FINN_DSE_TEST_POSTGRES_URL")
    if url:
        return url
    match = re.search(r"postgresql://\S+", _start("postgres.sh"))
    assert match, "postgres.sh printed no URL"
    return match.group(0)


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database for one test (dropped afterwards): studies never meet old ones."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(postgres_url, f"CREATE DATABASE {name}")
    base, _, _ = postgres_url.rpartition("/")
    yield f"{base}/{name}"
    _admin(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pgpass_env(url: str, folder: Path) -> dict[str, str]:
    """The environment of a user whose password is in a libpq password file (PGPASSFILE), not
    in the URL nor in PGPASSWORD: what study.json and job files rely on."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = folder / "pgpass"
    path.write_text(f"{parsed.host}:{parsed.port or 5432}:*:{parsed.username}:{parsed.password}\n")
    path.chmod(0o600)  # libpq ignores a password file others can read
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    return {**env, "PGPASSFILE": str(path)}


def assert_no_password(url: str, *texts_or_folders: str | Path) -> None:
    """Neither the URL's password in URL form (user:password@) nor as a setting appears in the
    given texts or in any file under the given folders."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    secrets = [f":{parsed.password}@", f"PASSWORD={parsed.password}", f"password={parsed.password}"]
    for item in texts_or_folders:
        if isinstance(item, Path):
            for f in [item] if item.is_file() else [p for p in item.rglob("*") if p.is_file()]:
                data = f.read_bytes()
                assert not [s for s in secrets if s.encode() in data], f"password in {f}"
        else:
            assert not [s for s in secrets if s in item], f"password in {item!r}"


@dataclass(frozen=True)
class SlurmCluster:
    """The single-node cluster of scripts/services/slurm.sh, with the polling a test needs."""

    status: str

    def states(self, job_id: str) -> dict[str, str]:
        """Array task id -> state, from accounting (sacct); empty until slurmdbd has the job."""
        proc = subprocess.run(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State"], capture_output=True,
                              text=True, timeout=30)
        rows = (line.split("|") for line in proc.stdout.splitlines() if "|" in line)
        # "CANCELLED by 0" -> "CANCELLED"; a pending array shows as one row "12_[0-1]".
        return {job: state.split()[0] for job, state in rows}

    def wait(self, job_id: str, tasks: int, timeout_s: float) -> dict[str, str]:
        """Wait until ``tasks`` array tasks of ``job_id`` have ended; their states."""
        deadline = time.monotonic() + timeout_s
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.states(job_id)
            done = {j: s for j, s in states.items() if "[" not in j and s in TERMINAL}
            if len(done) >= tasks:
                return done
            time.sleep(2)
        raise AssertionError(f"job {job_id} not done after {timeout_s:.0f} s: {states}")

    def cancel(self, job_id: str) -> None:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    return SlurmCluster(status=_start("slurm.sh"))
