"""Killing `finn-dse run` loses no trial: the next run retries the interrupted one and finishes."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, ctrl_c_default, finn_dse

pytestmark = [pytest.mark.slow, pytest.mark.finn]


def _states(db: Path) -> dict[int, str]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return dict(con.execute("SELECT number, state FROM trials").fetchall())
    except sqlite3.OperationalError:  # tables not created yet
        return {}


def _start(workdir: Path, n: int) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("finn-dse")
    return subprocess.Popen([str(exe), "run", "studies/smoke.yaml", "--workdir", str(workdir), "--n-trials", str(n)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_default)


def _wait_mid_trial(db: Path, proc: subprocess.Popen[str]) -> int:
    """Block until one trial is complete and a later one is running; return the running one."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        states = _states(db)
        running = [n for n, s in states.items() if s == "RUNNING"]
        if running and "COMPLETE" in states.values():
            time.sleep(0.3)  # inside the trial (training/export/FINN), not at its edge
            if _states(db).get(running[0]) == "RUNNING":
                return running[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no trial started in time")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_run_resumes_with_no_trial_lost(tmp_path: Path, mnist_root: Path, sig: signal.Signals) -> None:
    from dse.storage.database import load_study

    workdir = tmp_path / "w"
    proc = _start(workdir, 3)
    victim = _wait_mid_trial(workdir / "study.db", proc)
    if sig == signal.SIGKILL:
        # Meanwhile a second run on the same work directory is refused, with one line.
        second = finn_dse("run", "studies/smoke.yaml", "--workdir", str(workdir), check=False)
        assert second.returncode == 1 and "in use by another finn-dse run" in second.stderr
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "run the same command again to resume" in err
        assert "Traceback" not in err
    else:
        assert _states(workdir / "study.db")[victim] == "RUNNING"  # what a dead process leaves

    resumed = finn_dse("run", "studies/smoke.yaml", "--workdir", str(workdir), "--n-trials", "3")
    assert f"trials [{victim}] were interrupted" in resumed.stderr
    trials = load_study(workdir).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3
    assert trials[victim].state.name == "FAIL"
    retry = [t for t in complete if t.user_attrs.get("retry_of") == victim]
    assert len(retry) == 1 and retry[0].params == trials[victim].params
    assert len({t.number for t in trials}) == len(trials)
