"""A disk that fills up during a trial (issue 13 item 4), on a real full file system (a small
tmpfs): the run stops with one line naming the file and the disk, exit 1; the trial is FAIL (not
RUNNING), nothing cut short is left under an artifact's name, and once space is freed the next
run re-runs that trial with the same parameters."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import finn_dse

pytestmark = [pytest.mark.slow, pytest.mark.finn]

# One architecture only: every trial writes the same artifact sizes, so the free space left
# below decides which write of the second trial fails.
STUDY = """name: full
dataset: mnist
space:
  family: tfc
  weight_bits: [2]
  act_bits: [2]
  hidden_width: [64]
  hidden_layers: [1]
  target_fps: {low: 50000, high: 1000000, log: true}
training: {epochs: 1, batch_size: 128, train_subset: 500, val_size: 100}
evaluation: {hardware: per_trial}
sampler: random
n_trials: 2
seed: 0
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for the test (needs root, or CAP_SYS_ADMIN)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _states(db: Path) -> dict[int, str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return dict(con.execute("SELECT number, state FROM trials").fetchall())


def _params(db: Path, number: int) -> dict[str, float]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return dict(con.execute("SELECT param_name, param_value FROM trial_params JOIN trials USING (trial_id) "
                                "WHERE number = ?", (number,)).fetchall())


def _check_whole(trial_dir: Path) -> None:
    """Every file under an artifact's name is complete; no temp file is left behind."""
    import onnx
    import torch

    for path in trial_dir.rglob("*"):
        if path.is_dir() or path.name == "build.log":
            continue
        assert not path.name.startswith("."), f"temp file left behind: {path}"
        if path.suffix == ".onnx":
            onnx.load(str(path))
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        elif path.suffix == ".json":
            json.loads(path.read_text())


def test_full_disk_fails_the_trial_and_the_next_run_retries_it(small_disk: Path, tmp_path: Path,
                                                              mnist_root: Path) -> None:
    study = tmp_path / "full.yaml"
    study.write_text(STUDY)
    workdir = small_disk / "w"
    args = ("run", str(study), "--workdir", str(workdir), "--data-root", str(mnist_root))
    finn_dse(*args, "--n-trials", "1")
    first = workdir / "trials" / "00000"
    weights, model = (first / "weights.pt").stat().st_size, (first / "model.onnx").stat().st_size

    # Room for the second trial's weights but only for part of its model.onnx (plus the few kB
    # its logs and the database need): the disk fills up while model.onnx is written.
    filler = small_disk / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - weights - int(0.7 * model)))
    proc = finn_dse(*args, "--n-trials", "2", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("INFO", " "))]  # progress lines
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: no space left on device writing {workdir}/"), proc.stderr
    assert f"(file system {small_disk}: " in lines[0], proc.stderr
    assert _states(workdir / "study.db") == {0: "COMPLETE", 1: "FAIL"}
    second = workdir / "trials" / "00001"
    _check_whole(second)
    assert not (second / "model.onnx").exists()  # cut short: never under its name

    filler.unlink()
    again = finn_dse(*args, "--n-trials", "2")
    assert "trials [1] were interrupted; retrying them with the same parameters" in again.stderr
    assert _states(workdir / "study.db") == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE"}
    assert _params(workdir / "study.db", 2) == _params(workdir / "study.db", 1)
    _check_whole(workdir / "trials" / "00002")
    assert (workdir / "trials" / "00002" / "model.onnx").exists()


def test_full_database_is_one_line_and_the_next_run_recovers(small_disk: Path, tmp_path: Path,
                                                            mnist_root: Path) -> None:
    """No room even for the database's next write: SQLite's "database or disk is full" is the
    same one line, naming study.db, and a later run finishes the study with nothing left RUNNING."""
    study = tmp_path / "full.yaml"
    study.write_text(STUDY)
    workdir = small_disk / "w"
    args = ("run", str(study), "--workdir", str(workdir), "--data-root", str(mnist_root))
    finn_dse(*args, "--n-trials", "1")
    filler = small_disk / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 4096))  # room for study.json only
    proc = finn_dse(*args, "--n-trials", "2", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("INFO", " "))]
    assert len(lines) == 1 and lines[0].startswith(f"error: no space left on device writing {workdir}/study.db "), \
        proc.stderr
    assert f"(file system {small_disk}: " in lines[0], proc.stderr

    filler.unlink()
    finn_dse(*args, "--n-trials", "2")
    states = _states(workdir / "study.db")
    assert "RUNNING" not in states.values() and list(states.values()).count("COMPLETE") == 2, states
