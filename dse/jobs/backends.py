"""Where jobs run: here (``local``) or on a Slurm cluster (``slurm``, plain sbatch).

A backend starts ``JOB_DIR/job.sh`` and later says what became of it; what the job did is in
its result file (dse.jobs.runner). Both backends run the same script: for Slurm its ``#SBATCH``
lines matter, locally they are comments.
"""
from __future__ import annotations

import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dse.errors import ConfigError, EnvironmentFailure

if TYPE_CHECKING:
    from dse.jobs.store import JobRecord
    from dse.launch import JobProfile

logger = logging.getLogger(__name__)

BACKEND_NAMES = ("local", "slurm")


@dataclass(frozen=True, slots=True)
class BackendState:
    """PENDING, RUNNING, ENDED (without detail), COMPLETED, FAILED, CANCELLED, or UNKNOWN (cannot tell yet)."""

    state: str
    detail: str = ""


class Backend(Protocol):
    name: str

    def submit(self, job: JobRecord, script: Path) -> str: ...  # the backend's id of the job
    def poll(self, job: JobRecord) -> BackendState: ...
    def cancel(self, job: JobRecord) -> None: ...
    def find(self, job: JobRecord) -> str | None: ...  # a job whose submission was interrupted


def job_script(job: JobRecord, profile: JobProfile | None, *, python: str | None = None, cards: int = 1) -> str:
    """The job's shell script: #SBATCH settings, modules, set-up lines, the runner.

    ``cards`` > 1: a multi-card bundle's job, on the nodes and links the profile's ``fpga`` says.
    """
    lines = ["#!/bin/bash"]
    if profile is not None:
        opts: dict[str, object] = {"job-name": job.name, "output": job.log_path, "open-mode": "append",
                                   "time": profile.time_min, "cpus-per-task": profile.cpus, "ntasks": 1}
        opts.update(profile.multi_card_sbatch(cards))
        if profile.partition:
            opts["partition"] = profile.partition
        if profile.account:
            opts["account"] = profile.account
        if profile.qos:
            opts["qos"] = profile.qos
        if profile.mem_gb is not None:
            opts["mem"] = f"{int(profile.mem_gb * 1024)}M"
        for key, value in profile.sbatch.items():
            opts[key.replace("_", "-")] = value
        for key, setting in opts.items():
            if setting is True:
                lines.append(f"#SBATCH --{key}")
            elif setting is not False:
                lines.append(f"#SBATCH --{key}={setting}")
    lines += [f"# FINN-DSE {job.kind} job {job.id} ({job.mode}): study {job.study}, trial {job.trial}",
              "set -u", f"cd {shlex.quote(job.job_dir)}"]
    if profile is not None and profile.modules:
        lines.append(f"module load {shlex.join(profile.modules)}")
    if profile is not None:
        lines += list(profile.setup)
    if profile is not None and cards > 1 and profile.fpga is not None and profile.fpga.link_command:
        links = " ".join(f"--fpgalink={link}" for link in profile.fpga.links(cards))
        lines.append(profile.fpga.link_command.replace("{links}", links))
    exe = python or (profile.python if profile is not None and profile.python else None) or sys.executable
    prefix = profile.container.prefix() if profile is not None and profile.container is not None else []
    lines.append("exec " + shlex.join([*prefix, exe, "-m", "dse.jobs.runner", job.job_dir]))
    return "\n".join(lines) + "\n"


# --- local ----------------------------------------------------------------------------------------
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _proc_alive(pid: int, marker: str) -> bool:
    """Is ``pid`` alive (not a zombie) and still the process we started (its command line names ``marker``)?"""
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return state not in ("Z", "X") and marker in cmdline


class LocalBackend:
    """Runs the job script as a detached process group on this machine (it outlives the controller)."""

    name = "local"

    def submit(self, job: JobRecord, script: Path) -> str:
        with open(job.log_path, "ab") as log:
            proc = subprocess.Popen(["bash", str(script)], cwd=job.job_dir, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        _CHILDREN[proc.pid] = proc
        return f"{socket.gethostname()}:{proc.pid}"

    @staticmethod
    def _pid(job: JobRecord) -> tuple[str, int] | None:
        if not job.backend_id or ":" not in job.backend_id:
            return None
        host, _, pid = job.backend_id.rpartition(":")
        return host, int(pid)

    def poll(self, job: JobRecord) -> BackendState:
        where = self._pid(job)
        if where is None:
            return BackendState("UNKNOWN", "no process id recorded")
        host, pid = where
        if host != socket.gethostname():
            return BackendState("UNKNOWN", f"started on {host}; its result file will tell")
        child = _CHILDREN.get(pid)
        if child is not None:
            # Started by this process: its exit code is ours to read. Checked again once it is no
            # longer alive, since it may end between the two looks (a zombie until reaped).
            if child.poll() is None and _proc_alive(pid, job.job_dir):
                return BackendState("RUNNING")
            code = child.poll()
            if code is None:  # alive under another command line (the job exec'd): still running
                return BackendState("RUNNING")
            _CHILDREN.pop(pid, None)
            return BackendState("ENDED", f"exit code {code}")
        if _proc_alive(pid, job.job_dir):
            return BackendState("RUNNING")
        return BackendState("ENDED", "process gone")

    def cancel(self, job: JobRecord) -> None:
        where = self._pid(job)
        if where is None or where[0] != socket.gethostname():
            raise ConfigError(f"job {job.id} runs on {where[0] if where else '?'}: cancel it there")
        pid = where[1]
        if _proc_alive(pid, job.job_dir):
            os.killpg(pid, signal.SIGTERM)  # its own process group (start_new_session): the job and its children
        child = _CHILDREN.pop(pid, None)
        if child is not None:  # started by this process: reap it
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
                child.wait(timeout=30)

    def find(self, job: JobRecord) -> str | None:
        import json

        status = Path(job.job_dir) / "status.json"
        if status.exists():
            data = json.loads(status.read_text())
            return f"{data.get('host')}:{data.get('pid')}"
        return None


# --- Slurm ----------------------------------------------------------------------------------------
_SLURM_STATES = {
    "PENDING": "PENDING", "CONFIGURING": "PENDING", "REQUEUED": "PENDING", "REQUEUE_HOLD": "PENDING",
    "REQUEUE_FED": "PENDING", "RESIZING": "PENDING", "SUSPENDED": "PENDING", "STOPPED": "PENDING",
    "RUNNING": "RUNNING", "COMPLETING": "RUNNING", "SIGNALING": "RUNNING", "STAGE_OUT": "RUNNING",
    "COMPLETED": "COMPLETED", "CANCELLED": "CANCELLED",
    "FAILED": "FAILED", "TIMEOUT": "FAILED", "OUT_OF_MEMORY": "FAILED", "NODE_FAIL": "FAILED", "BOOT_FAIL": "FAILED",
    "DEADLINE": "FAILED", "PREEMPTED": "FAILED", "SPECIAL_EXIT": "FAILED", "REVOKED": "FAILED",
}


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise EnvironmentFailure(f"`{cmd[0]}` is not on PATH: run this on a Slurm login node") from None


class SlurmBackend:
    """sbatch / squeue / sacct / scancel.

    slurmctld is asked first, for every state (``squeue -t all``): it knows a job from its
    submission until MinJobAge (300 s by default) after its end. Accounting (sacct) is written
    behind, by slurmctld to slurmdbd, and out of order: a job that just ended can still be
    missing, still RUNNING, or named "allocation" (slurmdbd's placeholder until the job's start
    record arrives) there, so sacct is only for jobs slurmctld has forgotten.
    """

    name = "slurm"

    def submit(self, job: JobRecord, script: Path) -> str:
        proc = _run(["sbatch", "--parsable", str(script)])
        if proc.returncode != 0:
            lines = [ln.removeprefix("sbatch: error: ") for ln in proc.stderr.splitlines() if ln.strip()]
            raise ConfigError(f"sbatch refused job {job.id}: {lines[0] if lines else proc.returncode}")
        return proc.stdout.strip().split(";", 1)[0]

    def poll(self, job: JobRecord) -> BackendState:
        if not job.backend_id:
            return BackendState("UNKNOWN", "no Slurm job id recorded")
        q = _run(["squeue", "-h", "-t", "all", "-j", job.backend_id, "-o", "%T"])
        state = q.stdout.strip().split()[0] if q.returncode == 0 and q.stdout.strip() else ""
        if state:
            return BackendState(_SLURM_STATES.get(state, "UNKNOWN"), state)
        a = _run(["sacct", "-j", job.backend_id, "-X", "-n", "-P", "-o", "State,ExitCode"])
        rows = [r.split("|") for r in a.stdout.splitlines() if "|" in r]
        if not rows:
            return BackendState("UNKNOWN", "not in squeue, not yet in sacct")
        raw, exit_code = rows[0][0].split()[0], rows[0][1]
        return BackendState(_SLURM_STATES.get(raw, "UNKNOWN"), f"{raw} (exit code {exit_code})")

    def cancel(self, job: JobRecord) -> None:
        if job.backend_id:
            proc = _run(["scancel", job.backend_id])
            if proc.returncode != 0:
                raise EnvironmentFailure(f"scancel {job.backend_id} failed: {proc.stderr.strip()}")

    def find(self, job: JobRecord) -> str | None:
        q = _run(["squeue", "-h", "-t", "all", "-n", job.name, "-o", "%i"])
        if q.returncode == 0 and q.stdout.strip():
            return q.stdout.split()[0]
        import datetime

        since = datetime.datetime.fromtimestamp(job.created_time - 60).strftime("%Y-%m-%dT%H:%M:%S")
        a = _run(["sacct", "-n", "-X", "-P", "--name", job.name, "-S", since, "-o", "JobID"])
        ids = [line.strip() for line in a.stdout.splitlines() if line.strip()]
        return ids[0] if ids else None


def make_backend(name: str) -> Backend:
    if name == "local":
        return LocalBackend()
    if name == "slurm":
        return SlurmBackend()
    raise ConfigError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
