"""--workdir is optional wherever one study is meant (issue 19): the only study under runs/, or
runs/<name> for --study NAME|FILE; none or several is one line and exit 2. Real `finn-dse run`s
(every design stopped by the estimators: no training, seconds) from a fresh directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("finn-dse")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def _study(cwd: Path, name: str) -> Path:
    text = (ROOT / "studies" / "smoke.yaml").read_text()
    path = cwd / f"{name}.yaml"
    path.write_text(text.replace("name: smoke", f"name: {name}").replace("n_trials: 4", "n_trials: 1")
                    + "limits:\n  min_fps: 1.0e+12\n")
    return path


def _one_line_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_workdir_defaults(tmp_path: Path, mnist_root: Path) -> None:
    # none under runs/
    for command in (["trials"], ["report"], ["export", "--trial", "0", "--out", "b"], ["jobs"], ["calibration"]):
        line = _one_line_exit_2(_cli(tmp_path, *command))
        assert line == ("error: no study under runs/ (none run from this directory yet); pass --workdir DIR, "
                        "or run one first: finn-dse run STUDY.yaml"), (command, line)

    # one: found without --workdir
    a = _study(tmp_path, "alpha")
    run = _cli(tmp_path, "run", str(a))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "runs" / "alpha" / "study.json").is_file()
    proc = _cli(tmp_path, "trials")
    assert proc.returncode == 0 and "number" in proc.stdout and "state" in proc.stdout, proc.stderr
    proc = _cli(tmp_path, "report")
    assert proc.returncode == 0 and (tmp_path / "runs" / "alpha" / "report.html").is_file(), proc.stderr
    proc = _cli(tmp_path, "jobs")
    assert proc.returncode == 0 and "no jobs yet" in proc.stdout, proc.stderr

    # two: one line naming both, exit 2; --study NAME or the study file picks one
    run = _cli(tmp_path, "run", str(_study(tmp_path, "beta")))
    assert run.returncode == 0, run.stderr
    for command in (["trials"], ["pareto"], ["jobs"], ["jobs", "wait"], ["export", "--trial", "0", "--out", "b"]):
        line = _one_line_exit_2(_cli(tmp_path, *command))
        assert line == ("error: 2 studies under runs/ (runs/alpha, runs/beta); pass --workdir DIR or --study NAME"), \
            (command, line)
    proc = _cli(tmp_path, "pareto", "--study", "beta")
    assert proc.returncode == 0 and "Pareto front of beta" in proc.stdout, proc.stderr
    proc = _cli(tmp_path, "pareto", "--study", str(a))
    assert proc.returncode == 0 and "Pareto front of alpha" in proc.stdout, proc.stderr
    proc = _cli(tmp_path, "pareto", "--workdir", "runs/beta")
    assert proc.returncode == 0 and "Pareto front of beta" in proc.stdout, proc.stderr


@pytest.mark.parametrize("ref", ["gamma", "gamma.yaml"])
def test_study_name_without_its_run_names_the_directory(tmp_path: Path, ref: str) -> None:
    _study(tmp_path, "gamma")
    proc = _cli(tmp_path, "trials", "--study", ref)
    assert proc.returncode != 0 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "runs/gamma" in proc.stderr and "Traceback" not in proc.stderr
