"""The contract every job backend keeps (issue 14 item 6), run on each of dse.jobs.backends'
BACKEND_NAMES: a real process here, a real sbatch job on the project's Slurm. A job that ends
well, one that fails, and one cancelled while it runs; every wait is on the condition itself."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from dse.jobs.backends import BACKEND_NAMES, Backend, BackendState, make_backend
from dse.jobs.store import JobRecord

ENDED_WELL = {"local": {"ENDED"}, "slurm": {"COMPLETED"}}  # local cannot tell an exit code once reaped
TERMINAL = {"ENDED", "COMPLETED", "FAILED", "CANCELLED"}


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> Backend:
    name = str(request.param)
    if name == "slurm":
        request.applymarker(pytest.mark.service)
        request.getfixturevalue("slurm_cluster")  # started (and waited for) by the project's script
    return make_backend(name)


def _job(tmp_path: Path, backend: Backend, body: str, tag: str) -> tuple[JobRecord, Path]:
    job_dir = tmp_path / tag
    job_dir.mkdir()
    rec = JobRecord(id=1, token=f"{tag}{os.getpid()}{time.time_ns() % 10**9}", study="s", trial=0, kind="build",
                    mode="full", backend=backend.name, state="SUBMITTING", backend_id=None, created_time=time.time(),
                    submit_time=None, start_time=None, end_time=None, job_dir=str(job_dir),
                    log_path=str(job_dir / "log.txt"), output_dir=str(job_dir / "out"), reason=None)
    script = job_dir / "job.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --job-name={rec.name}\n#SBATCH --output={rec.log_path}\n"
                      f"cd {job_dir}\n{body}\n")
    return rec, script


def _submitted(backend: Backend, rec: JobRecord, script: Path) -> JobRecord:
    backend_id = backend.submit(rec, script)
    assert backend_id
    return JobRecord(**{**rec.to_dict(), "backend_id": backend_id, "state": "SUBMITTED"})


def _until(backend: Backend, rec: JobRecord, done: Any, what: str, timeout_s: float = 300) -> BackendState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = backend.poll(rec)
        if done(state):
            return state
        assert time.monotonic() < deadline, f"{backend.name}: no {what} within {timeout_s:.0f} s (last: {state})"
        time.sleep(0.2)


def test_a_job_that_ends_well(backend: Backend, tmp_path: Path) -> None:
    rec, script = _job(tmp_path, backend, "echo done > marker.txt", "ok")
    rec = _submitted(backend, rec, script)
    state = _until(backend, rec, lambda s: s.state in TERMINAL, "end")
    assert state.state in ENDED_WELL[backend.name], state
    assert (Path(rec.job_dir) / "marker.txt").read_text() == "done\n"
    if backend.name == "slurm":  # (locally an interrupted submission is found by the runner's status.json)
        assert backend.find(rec) == rec.backend_id


def test_a_job_that_fails(backend: Backend, tmp_path: Path) -> None:
    rec, script = _job(tmp_path, backend, "exit 3", "bad")
    rec = _submitted(backend, rec, script)
    state = _until(backend, rec, lambda s: s.state in TERMINAL, "end")
    # Locally the process that started it knows the exit code; Slurm calls it FAILED.
    assert (state.state == "ENDED" and "exit code 3" in state.detail) or state.state == "FAILED", state


def test_a_running_job_is_cancelled(backend: Backend, tmp_path: Path) -> None:
    rec, script = _job(tmp_path, backend, "echo $$ > pid.txt\nsleep 600 &\necho $! > child.txt\nwait", "cancel")
    rec = _submitted(backend, rec, script)
    child_file = Path(rec.job_dir) / "child.txt"
    _until(backend, rec, lambda s: child_file.exists() and child_file.read_text().strip() != "", "start")
    assert backend.poll(rec).state == "RUNNING"
    backend.cancel(rec)
    state = _until(backend, rec, lambda s: s.state in TERMINAL, "end after cancel")
    assert state.state in {"ENDED", "CANCELLED"}, state
    child = int(child_file.read_text())
    deadline = time.monotonic() + 120
    while _alive(child):  # the job's own children go with it
        assert time.monotonic() < deadline, f"{backend.name}: the job's child {child} outlived its cancel"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
