"""Build and measurement jobs on the real single-node Slurm of scripts/services/slurm.sh (no mocks).

Promoted candidates are built in Slurm jobs whose payload is FINN's real estimate flow; they run,
finish and are ingested as estimate-only. A job is cancelled; jobs whose tools are missing (no
Vivado/Vitis/XRT, no U280 here) end FAILED with the reason; a controller killed mid-run loses no
job and duplicates none. Every test cancels what it left in Slurm.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dse.jobs import cancel_job, list_jobs, measure, promote, wait_jobs
from dse.jobs.backends import SlurmBackend, job_script
from dse.jobs.controller import open_jobs
from dse.launch import ClusterProfile, JobProfile, load_profile
from tests.conftest import ROOT
from tests.dse.test_promote import copy_study, trial_attrs
from tests.services import SlurmCluster

pytestmark = [pytest.mark.service, pytest.mark.finn]
PROFILE = ROOT / "studies" / "clusters" / "local.yaml"


def _cleanup(workdir: Path, slurm: SlurmCluster) -> None:
    for job in list_jobs(workdir, refresh=False):
        if job.backend == "slurm" and job.backend_id and not job.terminal:
            slurm.cancel(job.backend_id)


def _lines(cmd: list[str]) -> list[str]:
    return [line.strip() for line in subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.split()
            if line.strip()]


def _slurm_jobs_named(name: str, known: str) -> list[str]:
    """Every Slurm job named ``name``: those slurmctld still knows (also just ended) and those in
    accounting. Accounting is written behind and out of order (a just-ended job can be listed as
    "allocation", slurmdbd's placeholder name): wait until it has the known job under its name."""
    deadline = time.monotonic() + 300
    while _lines(["sacct", "-n", "-X", "-P", "-j", known, "-o", "JobName"]) != [name]:
        assert time.monotonic() < deadline, f"accounting never recorded job {known} as {name}"
        time.sleep(1)
    ctld = _lines(["squeue", "-h", "-t", "all", "-n", name, "-o", "%i"])
    acct = _lines(["sacct", "-n", "-X", "-P", "--name", name, "-S", "now-1days", "-o", "JobID"])
    return sorted(set(ctld) | set(acct))


CONTROLLER = """
import sys
from dse import jobs
work, profile = sys.argv[1], sys.argv[2]
p = jobs.promote(work, top=2, backend="slurm", mode="estimate-only", profile=profile)
print("SUBMITTED", *[c.job.id for c in p.selected], flush=True)
jobs.wait_jobs(work, timeout_s=900, poll_s=1)
print("DONE", flush=True)
"""


def test_controller_restart_loses_no_job_and_duplicates_none(slurm_cluster: SlurmCluster, smoke_workdir: Path,
                                                             tmp_path: Path) -> None:
    work = copy_study(smoke_workdir, tmp_path / "run")
    controller = subprocess.Popen([sys.executable, "-c", CONTROLLER, str(work), str(PROFILE)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert controller.stdout is not None
        line = ""
        deadline = time.monotonic() + 300
        while not line.startswith("SUBMITTED"):
            assert time.monotonic() < deadline and controller.poll() is None, line
            line = controller.stdout.readline().strip()
        ids = [int(x) for x in line.split()[1:]]
        # Kill the controller while its jobs are still queued or running in Slurm.
        in_flight = [j for j in list_jobs(work, refresh=False) if not (Path(j.job_dir) / "result.json").exists()]
        os.kill(controller.pid, signal.SIGKILL)
        controller.wait(timeout=30)
        assert in_flight, "the jobs finished before the controller was killed: nothing was tested"
        # A new controller: promoting the same candidates submits nothing, waiting picks the jobs up.
        again = promote(work, top=2, backend="slurm", mode="estimate-only", profile=PROFILE)
        assert sorted(c.job.id for c in again.selected if c.job) == sorted(ids)
        assert not any(c.submitted for c in again.selected)
        jobs = wait_jobs(work, timeout_s=900, poll_s=2)
        assert [(j.id, j.state, j.ingested) for j in jobs] == [(i, "COMPLETED", True) for i in sorted(ids)], \
            [j.reason for j in jobs]
        for job in jobs:
            assert _slurm_jobs_named(job.name, str(job.backend_id)) == [job.backend_id]  # one per candidate, ever
            build = trial_attrs(work)[job.trial]["estimate_only_build"]
            assert isinstance(build, dict) and build["synthesized"] is False and build["matches_trial"] is True
            assert "Slurm" not in (job.reason or "") and Path(job.log_path).read_text().count("COMPLETED") == 1
        assert not any(k.startswith("synth_") for a in trial_attrs(work).values() for k in a)
    finally:
        if controller.poll() is None:
            os.killpg(controller.pid, signal.SIGKILL)
        _cleanup(work, slurm_cluster)


def test_cancel_a_slurm_job(slurm_cluster: SlurmCluster, smoke_workdir: Path, tmp_path: Path) -> None:
    work = copy_study(smoke_workdir, tmp_path / "run")
    # Held in the queue (sbatch --hold), so it is still there when it is cancelled.
    held = ClusterProfile(partition="debug", build=JobProfile(time_min=5, sbatch={"hold": True}))
    try:
        job = promote(work, top=1, backend="slurm", mode="estimate-only", profile=held).selected[0].job
        assert job is not None and job.backend_id
        assert "#SBATCH --hold" in (Path(job.job_dir) / "job.sh").read_text()
        cancelled = cancel_job(work, job.id)
        assert cancelled.state == "CANCELLED"
        assert slurm_cluster.wait(job.backend_id, tasks=1, timeout_s=120) == {job.backend_id: "CANCELLED"}
        (after,) = list_jobs(work)
        assert after.state == "CANCELLED" and after.reason == "cancelled by the user" and not after.ingested
        # Its key is free again: the candidate can be submitted anew.
        new = promote(work, top=1, backend="slurm", mode="estimate-only", profile=held).selected[0]
        assert new.submitted and new.job is not None and new.job.id != job.id
        cancel_job(work, new.job.id)
    finally:
        _cleanup(work, slurm_cluster)


def test_jobs_whose_tools_are_missing_fail_with_the_reason(slurm_cluster: SlurmCluster, smoke_workdir: Path,
                                                           tmp_path: Path) -> None:
    work = copy_study(smoke_workdir, tmp_path / "run")
    try:
        build = promote(work, top=1, backend="slurm", mode="full", profile=PROFILE).selected[0]
        assert build.job is not None
        meas = measure(work, build.trial, backend="slurm", profile=PROFILE, batch_size=1000)
        jobs = {j.kind: j for j in wait_jobs(work, timeout_s=600, poll_s=2)}
        b, m = jobs["build"], jobs["measure"]
        assert b.state == "FAILED" and b.reason is not None and b.reason.startswith("cannot synthesize here: ")
        assert "Vivado: `vivado` not on PATH and XILINX_VIVADO not set" in b.reason
        assert m.id == meas.id and m.state == "FAILED" and m.reason is not None
        assert m.reason.startswith("XRT/U280 not available: XRT: `xbutil` not on PATH and XILINX_XRT not set")
        assert "finn-plus-driver: Python package not installed" in m.reason
        assert f"trial {build.trial} has no completed synthesized build with a bitfile" in m.reason
        for job in (b, m):
            assert slurm_cluster.wait(str(job.backend_id), tasks=1, timeout_s=120) == {job.backend_id: "FAILED"}
            assert (job.reason or "")[:40] in Path(job.log_path).read_text()
            assert not job.ingested
        attrs = trial_attrs(work)[build.trial]
        assert not any(k.startswith(("synth_", "measured_")) for k in attrs)
    finally:
        _cleanup(work, slurm_cluster)


def test_interrupted_submission_is_adopted(slurm_cluster: SlurmCluster, smoke_workdir: Path, tmp_path: Path) -> None:
    """A controller that died between sbatch and recording the Slurm id: the next one finds the job."""
    work = copy_study(smoke_workdir, tmp_path / "run")
    ctx = open_jobs(work)
    try:
        job_dir = work / "jobs" / "manual-test"
        rec, created = ctx.store.create(token="adopt0test", study=ctx.study_name, trial=0, kind="build", mode="full",
                                        backend="slurm", active_key="adopt-test", job_dir=str(job_dir),
                                        log_path=str(job_dir / "log.txt"), output_dir=str(job_dir / "out"), options={})
        assert created and rec.state == "SUBMITTING"
        job_dir.mkdir(parents=True)
        import json

        (job_dir / "job.json").write_text(json.dumps({"id": rec.id, "kind": "build", "mode": "full", "study": rec.study,
                                                      "trial": 0, "bundle": str(work), "output_dir": rec.output_dir}))
        script = job_dir / "job.sh"
        script.write_text(job_script(rec, load_profile(PROFILE).job_profile("build")))
        slurm_id = SlurmBackend().submit(rec, script)  # ... and the controller dies here
        (adopted,) = wait_jobs(work, timeout_s=300, poll_s=2)
        assert adopted.backend_id == slurm_id and adopted.state == "FAILED"
        assert (adopted.reason or "").startswith("cannot synthesize here")
    finally:
        ctx.close()
        _cleanup(work, slurm_cluster)


def test_just_ended_jobs_are_found_before_accounting_has_them(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """A job that ended a moment ago is found by name (an interrupted submission is adopted, not
    failed) and polled as COMPLETED, though accounting still lags (missing, RUNNING or named
    "allocation" in sacct for a few seconds: it was so for most such jobs on this cluster)."""
    from dse.jobs.store import JobRecord

    backend = SlurmBackend()
    for i in range(5):
        rec = JobRecord(id=i, token=f"{os.getpid()}x{i}{time.time_ns() % 10**6}", study="s", trial=0, kind="build",
                        mode="full", backend="slurm", state="SUBMITTING", backend_id=None, created_time=time.time(),
                        submit_time=None, start_time=None, end_time=None, job_dir=str(tmp_path),
                        log_path=str(tmp_path / f"{i}.log"), output_dir=str(tmp_path), reason=None)
        script = tmp_path / f"{i}.sh"
        script.write_text(f"#!/bin/bash\n#SBATCH --job-name={rec.name}\n#SBATCH --output={rec.log_path}\ntrue\n")
        slurm_id = backend.submit(rec, script)
        deadline = time.monotonic() + 300
        while "JobState=COMPLETED" not in _lines(["scontrol", "show", "job", slurm_id, "-o"]):  # slurmctld's view
            assert time.monotonic() < deadline, _lines(["scontrol", "show", "job", slurm_id, "-o"])
            time.sleep(0.05)
        assert backend.find(rec) == slurm_id, _lines(["sacct", "-n", "-X", "-P", "-j", slurm_id, "-o", "JobName,State"])
        state = backend.poll(JobRecord(**{**rec.to_dict(), "backend_id": slurm_id}))
        assert state.state == "COMPLETED", state


def test_job_table_on_postgresql(postgres_db: str) -> None:
    """The job table and the ingestion into a finished trial also work on a PostgreSQL study."""
    import optuna

    from dse.jobs.store import JobStore
    from dse.results import trial_attrs as trial_results_of

    study = optuna.create_study(study_name="pg", storage=postgres_db, directions=["maximize"])
    trial = study.ask()
    study.tell(trial, 1.0)
    store = JobStore(postgres_db)
    try:
        fields = dict(study="pg", trial=0, kind="build", mode="full", backend="slurm", active_key="pg/0/build/full/x",
                      job_dir="/tmp/j", log_path="/tmp/j/log.txt", output_dir="/tmp/j/out", options={"a": 1})
        first, created = store.create(token="t1", **fields)
        again, created_again = store.create(token="t2", **fields)
        assert created and not created_again and again.id == first.id
        assert store.update(first.id, state="COMPLETED", result={"state": "COMPLETED"})
        assert not store.update(first.id, state="FAILED")  # an ended job keeps its end
        assert store.ingest(first.id, {"synth_lut": 123.0, "synth_source": "test"}, study="pg", trial=0)
        assert not store.ingest(first.id, {"synth_lut": 456.0}, study="pg", trial=0)  # once only
        # Results live in our own table, joined at read time: Optuna's finished trial is untouched.
        loaded = optuna.load_study(study_name="pg", storage=postgres_db)
        assert loaded.trials[0].user_attrs == {}
        assert trial_results_of(loaded, postgres_db)[0] == {"synth_lut": 123.0, "synth_source": "test"}
        other = JobStore(postgres_db)  # what another controller sees
        assert other.get(first.id).ingested and other.get(first.id).active_key == "pg/0/build/full/x"
        other.close()
    finally:
        store.close()
