"""`finn-dse launch --slurm`: cluster profiles, and workers as a real Slurm job array (no mocks)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dse.errors import ConfigError
from dse.launch import load_profile, parse_profile
from dse.storage.urls import redact, require_server_storage
from tests.conftest import ROOT, finn_dse
from tests.dse.test_workers_postgres import STUDY, check_study
from tests.services import SlurmCluster, assert_no_password, pgpass_env

PROFILES = ROOT / "studies" / "clusters"


@pytest.mark.parametrize("name", ["local", "noctua2", "noctua2_gpu"])
def test_ready_profiles_validate(name: str) -> None:
    profile = load_profile(PROFILES / f"{name}.yaml")
    assert profile.time_min >= 1 and profile.cpus >= 1


def test_profile_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"partiton: unknown key"):
        parse_profile({"partiton": "normal"})
    with pytest.raises(ConfigError, match=r"time_min: Input should be greater than or equal to 1 \(got 0\)"):
        parse_profile({"time_min": 0})
    bad = tmp_path / "p.yaml"
    bad.write_text("cpus: [1\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="cluster profile not found"):
        load_profile(tmp_path / "missing.yaml")


def test_gpus_per_worker() -> None:
    assert load_profile(PROFILES / "noctua2_gpu.yaml").gpus_per_worker == 1
    assert load_profile(PROFILES / "noctua2.yaml", {"gpus_per_worker": 2}).gpus_per_worker == 2
    assert load_profile(None).gpus_per_worker == 0
    with pytest.raises(ConfigError, match="gpus_per_worker or as sbatch: {gres: ...}, not both"):
        parse_profile({"gpus_per_worker": 1, "sbatch": {"gres": "gpu:a100:1"}})
    with pytest.raises(ConfigError, match="gpus_per_worker: Input should be greater than or equal to 0"):
        parse_profile({"gpus_per_worker": -1})


def test_command_line_overrides_profile() -> None:
    profile = load_profile(PROFILES / "noctua2.yaml", {"account": "hpc-prf-x", "time_min": 5, "cpus": None,
                                                      "modules": ["a", "b"]})
    assert (profile.partition, profile.account, profile.time_min, profile.cpus) == ("normal", "hpc-prf-x", 5, 8)
    assert profile.modules == ("a", "b")
    with pytest.raises(ConfigError, match="with command-line options: mem_gb"):
        load_profile(PROFILES / "local.yaml", {"mem_gb": -1})


def test_launch_needs_a_database_server() -> None:
    with pytest.raises(ConfigError, match="SQLite file"):
        require_server_storage(None)
    with pytest.raises(ConfigError, match="needs a database server URL"):
        require_server_storage("sqlite:///runs/x/study.db")
    assert require_server_storage("postgresql://u:p@db:5432/x")
    assert redact("postgresql://u:secret@db:5432/x") == "postgresql://u:***@db:5432/x"


def test_launch_errors_are_one_line(tmp_path: Path) -> None:
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "2", check=False, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: launch needs --storage postgresql://") and "SQLite" in proc.stderr
    proc = finn_dse("launch", str(STUDY), "--workers", "2", "--storage", "postgresql://u:p@h/d", check=False)
    assert proc.returncode == 2 and "launch needs --slurm" in proc.stderr
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "2", "--storage", "postgresql://u:p@h/d",
                    "--profile", str(tmp_path / "nope.yaml"), check=False)
    assert proc.returncode == 2 and "cluster profile not found" in proc.stderr


def test_placeholder_account_is_refused(tmp_path: Path) -> None:
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "1", "--storage", "postgresql://u:p@nohost/d",
                    "--profile", str(PROFILES / "noctua2.yaml"), "--workdir", str(tmp_path / "w"), check=False)
    assert proc.returncode == 2 and "'CHANGE-ME' in the cluster profile is a placeholder" in proc.stderr


@pytest.mark.service
def test_sbatch_refusal_is_one_line(slurm_cluster: SlurmCluster, postgres_db: str, tmp_path: Path) -> None:
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "2", "--storage", postgres_db,
                    "--partition", "no-such-partition", "--workdir", str(tmp_path / "w"), check=False)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr == "error: sbatch refused the job array: invalid partition specified: no-such-partition\n"


@pytest.mark.service
def test_gpus_reach_sbatch_as_gres(slurm_cluster: SlurmCluster, postgres_db: str, tmp_path: Path) -> None:
    # The test cluster's node has no GPUs: sbatch itself refuses the gres, so the request got there.
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "1", "--storage", postgres_db,
                    "--profile", str(PROFILES / "local.yaml"), "--gpus", "1", "--workdir", str(tmp_path / "w"),
                    check=False)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr == "error: sbatch refused the job array: Invalid generic resource (gres) specification\n"


@pytest.mark.service
@pytest.mark.slow
def test_launch_runs_workers_as_slurm_array(slurm_cluster: SlurmCluster, postgres_db: str, mnist_root: Path,
                                            tmp_path: Path) -> None:
    n = 3
    workdir = tmp_path / "run"  # fresh per test: its slurm/ folder holds submitit's files
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "2", "--storage", postgres_db,
                    "--profile", str(PROFILES / "local.yaml"), "--time", "20", "--workdir", str(workdir),
                    "--data-root", str(mnist_root), "--n-trials", str(n), timeout=120)
    match = re.search(r"Slurm job array (\d+)", proc.stdout)
    assert match, proc.stdout
    job = match.group(1)
    try:
        assert f"squeue -j {job}" in proc.stdout and f"sacct -j {job}" in proc.stdout
        assert f"finn-dse trials --workdir {workdir}" in proc.stdout
        assert "finn_dse:***@" in proc.stdout  # no password in what it prints
        states = slurm_cluster.wait(job, tasks=2, timeout_s=900)
    finally:
        slurm_cluster.cancel(job)
    logs = "\n".join(p.read_text() for p in sorted((workdir / "slurm").glob("*_log.*")))
    assert states == {f"{job}_0": "COMPLETED", f"{job}_1": "COMPLETED"}, logs
    check_study(postgres_db, n)
    # The workers got the password from the environment Slurm hands them: no file has it, not
    # study.json, not submitit's pickles, not the logs.
    assert_no_password(postgres_db, proc.stdout, proc.stderr, workdir)
    # The study's progress as the printed command shows it (the password from a password file).
    table = finn_dse("trials", "--workdir", str(workdir), env=pgpass_env(postgres_db, tmp_path)).stdout
    assert table.count("COMPLETE") == n
