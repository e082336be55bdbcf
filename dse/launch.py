"""Run one study on many machines: `finn-dse worker` processes submitted as one Slurm job array.

Every worker joins the same study on a database server (``run_study(..., worker=True)``) and
runs trials until the study has its target of finished trials; trials of a worker that dies are
found through their heartbeats and retried with the same parameters by the others.

A cluster profile (YAML, e.g. ``studies/clusters/noctua2.yaml``) holds the Slurm settings; the
command line overrides any of them. The jobs run ``python -m dse.cli worker`` with the Python that
submitted them, so the virtual environment must be on a filesystem the compute nodes see.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from dse.errors import ConfigError, EnvironmentFailure
from dse.storage.urls import redact, without_password
from search_spaces.schema import Strict

logger = logging.getLogger(__name__)

PLACEHOLDER_ACCOUNT = "CHANGE-ME"


class ContainerSpec(Strict):
    """Run a build or measurement job inside a container image (Apptainer/Singularity)."""

    image: str  # e.g. /scratch/finn-plus.sif
    runtime: Literal["apptainer", "singularity"] = "apptainer"
    binds: tuple[str, ...] = ()  # --bind SRC[:DST], e.g. the work directory and the Xilinx tools
    options: tuple[str, ...] = ()  # more `exec` options, e.g. --nv or --cleanenv

    def prefix(self) -> list[str]:
        """The command line that runs a program in the container: `apptainer exec ... IMAGE`."""
        argv = [self.runtime, "exec"]
        for bind in self.binds:
            argv += ["--bind", bind]
        return [*argv, *self.options, self.image]


class FpgaCards(Strict):
    """How jobs on several linked FPGA cards (a bundle of ``finn-dse export --fpgas K``) get them.

    A K-card job asks for ``ceil(K / cards_per_node)`` nodes (one task each) and, where the cards
    are a generic resource, ``gres`` for up to ``cards_per_node`` cards per node. The chain that the
    bundle's partition runs on (card c's link port to card c + 1's) is written in the job as
    ``link_command`` with ``{links}`` replaced by its ``nXX:aclY:chZ-nXX:aclY:chZ`` endpoint pairs
    (Noctua 2's ``--fpgalink`` notation: node of the allocation, card in the node, port of the card).
    Documented for Noctua 2 (PC2 wiki): 3 U280s per node, 2 QSFP28 ports each, nodes exclusive, the
    notation, the changeFPGALinks tool. Assumed: which port carries a chain's outgoing and incoming
    link (``out_port``/``in_port``), and that changeFPGALinks takes the ``--fpgalink`` list as given.
    """

    cards_per_node: int = Field(default=1, ge=1, le=64)  # cards one node holds (Noctua 2: 3 x U280)
    gres: str | None = None  # generic resource name of a card (--gres=NAME:N); None: whole nodes by constraint
    ports_per_card: int = Field(default=2, ge=1, le=16)  # link ports (QSFP) per card; a chain needs 2 inside
    out_port: int = Field(default=1, ge=0, le=15)  # port to the next card of the chain (assumed: ch1)
    in_port: int = Field(default=0, ge=0, le=15)  # port from the previous card (assumed: ch0)
    topology: Literal["chain"] = "chain"  # what the exported bundles use (finn-plus's chain topology)
    link_command: str | None = None  # e.g. "changeFPGAlinks {links}"; None: the links are cabled already

    @model_validator(mode="after")
    def _ports(self) -> FpgaCards:
        if max(self.in_port, self.out_port) >= self.ports_per_card:
            raise ValueError(f"in_port and out_port must be below ports_per_card ({self.ports_per_card})")
        if self.in_port == self.out_port and self.ports_per_card > 1:
            raise ValueError("in_port and out_port must differ: a card inside the chain uses both")
        if self.link_command is not None and "{links}" not in self.link_command:
            raise ValueError("link_command must contain {links} (where the card-to-card links go)")
        return self

    def nodes(self, cards: int) -> int:
        return -(-cards // self.cards_per_node)

    def links(self, cards: int) -> list[str]:
        """The chain's links, card c's out_port to card c + 1's in_port, in ``--fpgalink`` notation."""
        def port(card: int, ch: int) -> str:
            return f"n{card // self.cards_per_node:02d}:acl{card % self.cards_per_node}:ch{ch}"
        return [f"{port(c, self.out_port)}-{port(c + 1, self.in_port)}" for c in range(cards - 1)]


class JobProfile(Strict):
    """Slurm settings of build jobs (`build:`) or measurement jobs (`measure:`) in a cluster profile.

    A key left out takes the cluster-level value of the same name (partition, account, qos,
    time_min, cpus, mem_gb, modules, setup, sbatch); ``container`` exists only here.
    """

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int = Field(default=60, ge=1, le=60 * 24 * 30)
    cpus: int = Field(default=1, ge=1, le=1024)
    mem_gb: float | None = Field(default=None, gt=0, le=16384)
    modules: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    container: ContainerSpec | None = None
    python: str | None = None  # the Python that runs the job (default: the one that submits it)
    sbatch: dict[str, bool | int | str] = Field(default_factory=dict)  # e.g. {constraint: ..., gres: ...}
    fpga: FpgaCards | None = None  # multi-card jobs (measure section); None: one card per job only

    def multi_card_sbatch(self, cards: int) -> dict[str, bool | int | str]:
        """The sbatch options that give a job ``cards`` linked cards (on top of the profile's own)."""
        if cards < 1:
            raise ConfigError(f"a job needs at least one card (got {cards})")
        if cards == 1:
            return {}
        if self.fpga is None:
            raise ConfigError(f"a {cards}-card job needs `fpga: {{cards_per_node: ...}}` in the cluster profile's "
                              "measure section")
        if cards > 2 and self.fpga.ports_per_card < 2:
            raise ConfigError(f"a chain of {cards} cards needs 2 link ports per card (ports_per_card is 1)")
        nodes = self.fpga.nodes(cards)
        opts: dict[str, bool | int | str] = {"nodes": nodes, "ntasks": nodes, "ntasks-per-node": 1}
        if self.fpga.gres is not None:
            opts["gres"] = f"{self.fpga.gres}:{min(cards, self.fpga.cards_per_node)}"
        return opts


class ClusterProfile(Strict):
    """Slurm settings for the workers of a study (one array task per worker), and optionally for
    the build and measurement jobs of promoted designs (``build:`` and ``measure:`` sections)."""

    partition: str | None = None  # None: the cluster's default partition
    account: str | None = None  # compute-time project (sbatch --account)
    qos: str | None = None
    time_min: int = Field(default=60, ge=1, le=60 * 24 * 30)  # wall time per worker
    cpus: int = Field(default=1, ge=1, le=1024)  # CPUs per worker (torch threads)
    # GPUs per worker (sbatch --gres=gpu:N); workers train on them with the study's training.device: auto.
    gpus_per_worker: int = Field(default=0, ge=0, le=64)
    mem_gb: float | None = Field(default=None, gt=0, le=16384)  # None: the partition's default
    max_parallel: int | None = Field(default=None, ge=1)  # array tasks running at once
    modules: tuple[str, ...] = ()  # `module load` before the worker starts
    setup: tuple[str, ...] = ()  # more shell lines before the worker starts
    data_root: str | None = None  # dataset directory as the nodes see it
    sbatch: dict[str, bool | int | str] = Field(default_factory=dict)  # any other sbatch option, e.g. constraint
    build: JobProfile | None = None  # build jobs of promoted designs (`finn-dse promote --backend slurm`)
    measure: JobProfile | None = None  # board measurement jobs (the FPGA partition)

    @model_validator(mode="after")
    def _one_gres(self) -> ClusterProfile:
        if self.gpus_per_worker and "gres" in self.sbatch:
            raise ValueError("give GPUs either as gpus_per_worker or as sbatch: {gres: ...}, not both")
        for name, section in (("build", self.build), ("measure", self.measure)):
            if section is not None and section.fpga is not None and section.fpga.gres and "gres" in section.sbatch:
                raise ValueError(f"{name}: give cards either as fpga: {{gres: ...}} or as sbatch: {{gres: ...}}, "
                                 "not both")
        return self

    def job_profile(self, kind: Literal["build", "measure"]) -> JobProfile:
        """The settings of a ``kind`` job: its section's keys over the cluster-level ones."""
        inherited = {k: getattr(self, k) for k in ("partition", "account", "qos", "time_min", "cpus", "mem_gb",
                                                   "modules", "setup", "sbatch")}
        section = self.build if kind == "build" else self.measure
        if section is not None:
            inherited.update({k: getattr(section, k) for k in section.model_fields_set})
        return JobProfile.model_validate(inherited)


def _format_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        got = "" if e["type"] in ("extra_forbidden", "missing") else f" (got {e.get('input')!r})"
        parts.append(f"{where}: {msg}{got}")
    return "; ".join(parts)


def parse_profile(data: object, *, source: str = "cluster profile") -> ClusterProfile:
    """Validate a profile; errors name the key, what is allowed and what was given."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return ClusterProfile.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(f"{source}: {_format_error(err)}") from None


def load_profile(path: Path | None, overrides: Mapping[str, Any] | None = None) -> ClusterProfile:
    """The profile in ``path`` (or the defaults) with ``overrides`` (None values ignored) applied."""
    data: dict[str, Any] = {}
    source = "cluster settings"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"cluster profile not found: {path}") from None
        except OSError as err:
            raise ConfigError(f"cannot read cluster profile {path}: {err.strerror}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {getattr(err, 'problem', err)}") from None
        data = dict(parse_profile(loaded, source=source).model_dump(exclude_unset=True))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return parse_profile(data, source=source + (" with command-line options" if overrides else ""))


def worker_argv(study_file: Path, *, storage: str, workdir: Path, data_root: Path, n_trials: int | None,
                heartbeat_s: int | None = None, grace_s: int | None = None) -> list[str]:
    """`finn-dse worker ...` as run by each array task, with absolute paths."""
    argv = ["worker", str(Path(study_file).resolve()), "--storage", without_password(storage), "--workdir",
            str(Path(workdir).resolve()),
            "--data-root", str(Path(data_root).resolve())]
    if n_trials is not None:
        argv += ["--n-trials", str(n_trials)]
    if heartbeat_s is not None:
        argv += ["--heartbeat", str(heartbeat_s)]
    if grace_s is not None:
        argv += ["--grace", str(grace_s)]
    return argv


def run_worker(argv: list[str], index: int) -> str:
    """What one array task runs (pickled by submitit): the worker CLI, with the submitting Python."""
    cmd = [sys.executable, "-m", "dse.cli", *argv]
    env = dict(os.environ)
    # torch would start a thread per core of the node; a worker gets the CPUs of its task.
    env.setdefault("OMP_NUM_THREADS", env.get("SLURM_CPUS_PER_TASK", "1"))
    print(f"worker {index} on {env.get('SLURMD_NODENAME', '?')}: {shlex.join(redact_argv(cmd))}", flush=True)
    proc = subprocess.run(cmd, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {index} exited with code {proc.returncode} (its output is above)")
    return f"worker {index} done"


def redact_argv(argv: list[str]) -> list[str]:
    return [redact(a) if "://" in a else a for a in argv]


@dataclass(frozen=True, slots=True)
class Submission:
    array_id: str
    task_ids: tuple[str, ...]
    folder: Path
    profile: ClusterProfile


def check_can_submit(profile: ClusterProfile) -> None:
    """Fail before anything else happens when the job array could not be submitted."""
    if profile.account == PLACEHOLDER_ACCOUNT:
        raise ConfigError(f"account {PLACEHOLDER_ACCOUNT!r} in the cluster profile is a placeholder: give --account "
                          "(your compute-time project; `sacctmgr show assoc user=$USER` lists them) or edit the profile")
    if shutil.which("sbatch") is None:
        raise EnvironmentFailure("sbatch is not on PATH: run launch on a Slurm login node "
                          "(or start a single-node test cluster: scripts/services/slurm.sh)")


def submit_workers(argv: list[str], *, workers: int, profile: ClusterProfile, folder: Path,
                   job_name: str) -> Submission:
    """Submit ``workers`` array tasks that each run ``finn-dse worker`` with ``argv``."""
    check_can_submit(profile)
    import submitit

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=0)
    setup = [f"module load {shlex.join(profile.modules)}"] if profile.modules else []
    extra: dict[str, Any] = dict(profile.sbatch)
    if profile.account:
        extra["account"] = profile.account
    params: dict[str, Any] = {"job_name": job_name, "time": profile.time_min, "cpus_per_task": profile.cpus,
                              "ntasks_per_node": 1, "setup": setup + list(profile.setup),
                              "array_parallelism": profile.max_parallel or workers,
                              "additional_parameters": extra}
    if profile.partition:
        params["partition"] = profile.partition
    if profile.qos:
        params["qos"] = profile.qos
    if profile.gpus_per_worker:
        params["gres"] = f"gpu:{profile.gpus_per_worker}"
    if profile.mem_gb is not None:
        params["mem"] = f"{int(profile.mem_gb * 1024)}MB"
    executor.update_parameters(**params)
    captured = io.StringIO()  # submitit prints sbatch's complaints itself: keep them for our one line
    try:
        with contextlib.redirect_stderr(captured):
            jobs = executor.map_array(run_worker, [argv] * workers, list(range(workers)))
    except Exception as err:  # submitit wraps a failed sbatch in its FailedJobError
        lines = [line.removeprefix("sbatch: error: ") for line in f"{captured.getvalue()}\n{err}".splitlines()
                 if line.strip()]
        raise ConfigError(f"sbatch refused the job array: {lines[0] if lines else type(err).__name__}") from None
    task_ids = tuple(str(j.job_id) for j in jobs)
    array_id = task_ids[0].split("_", 1)[0]
    return Submission(array_id=array_id, task_ids=task_ids, folder=folder, profile=profile)
