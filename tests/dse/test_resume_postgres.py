"""Killing `finn-dse run --storage postgresql://...` loses no trial (real PostgreSQL, no mocks).

The same promise as for the private SQLite database (test_resume.py): started again, the run
re-runs the interrupted trial with the same parameters, right away or after its heartbeat went
stale, and ends with the asked number of trials, none RUNNING or WAITING.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, finn_dse

pytestmark = [pytest.mark.slow, pytest.mark.service]

STUDY = ROOT / "studies" / "smoke_workers.yaml"
TIMING = ("--heartbeat", "1", "--grace", "3")


def _run_argv(storage: str, workdir: Path, data_root: Path, n: int) -> list[str]:
    return ["run", str(STUDY), "--storage", storage, "--workdir", str(workdir), "--data-root", str(data_root),
            "--n-trials", str(n), *TIMING]


def _states(storage: str) -> dict[int, str]:
    import optuna

    try:
        study = optuna.load_study(study_name="smoke_workers", storage=storage)
    except Exception:  # the study (or its tables) is not created yet
        return {}
    return {t.number: t.state.name for t in study.get_trials(deepcopy=False)}


def _kill_mid_trial(storage: str, proc: subprocess.Popen[str]) -> int:
    """Once a trial is complete and a later one runs, kill -9 the run; the running trial's number."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        states = _states(storage)
        running = [n for n, s in states.items() if s == "RUNNING"]
        if running and "COMPLETE" in states.values():
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            assert _states(storage)[running[0]] == "RUNNING"  # what a dead process leaves
            return running[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no second trial started in time")


def _heartbeat_age_s(storage: str, number: int) -> float:
    """Seconds since the trial's last heartbeat, by the database's clock (what Optuna compares)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(storage)
    try:
        with engine.connect() as conn:
            age = conn.exec_driver_sql(
                "SELECT EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - h.heartbeat)) FROM trial_heartbeats h "
                f"JOIN trials t ON t.trial_id = h.trial_id WHERE t.number = {int(number)}").scalar()
    finally:
        engine.dispose()
    return float(age) if age is not None else 0.0


@pytest.mark.parametrize("after_grace", [False, True], ids=["at-once", "after-grace"])
def test_killed_run_on_postgres_reruns_the_trial(postgres_db: str, mnist_root: Path, tmp_path: Path,
                                                 after_grace: bool) -> None:
    from optuna.trial import TrialState

    workdir = tmp_path / "w"
    exe = Path(sys.executable).with_name("finn-dse")
    proc = subprocess.Popen([str(exe), *_run_argv(postgres_db, workdir, mnist_root, 3)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = _kill_mid_trial(postgres_db, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if after_grace:
        deadline = time.monotonic() + 120
        while _heartbeat_age_s(postgres_db, victim) <= 3 + 1:
            assert time.monotonic() < deadline, "the heartbeat never went stale"
            time.sleep(0.5)

    resumed = finn_dse(*_run_argv(postgres_db, workdir, mnist_root, 3), timeout=900)
    assert f"trials [{victim}] were interrupted" in resumed.stderr, resumed.stderr
    import optuna

    trials = optuna.load_study(study_name="smoke_workers", storage=postgres_db).get_trials()
    states = [(t.number, t.state.name) for t in trials]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)], states
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3, states
    assert trials[victim].state == TrialState.FAIL and "fail_reason" not in trials[victim].user_attrs
    retry = [t for t in complete if victim in (t.user_attrs.get("retry_of"), t.system_attrs.get("failed_trial"))]
    assert len(retry) == 1 and retry[0].params == trials[victim].params, states
    assert len(trials) == 4, states  # three finished and the interrupted one: nothing sampled twice
    # Later commands find the study through study.json.
    listed = finn_dse("trials", "--workdir", str(workdir), "--storage", postgres_db)
    assert "COMPLETE" in listed.stdout
