"""Many `finn-dse worker` processes on one study in a real PostgreSQL database (no mocks).

The study is studies/smoke_workers.yaml: real training and FINN estimates on a few hundred MNIST
images, a few seconds of work per trial.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, finn_dse

STUDY = ROOT / "studies" / "smoke_workers.yaml"


def start_worker(storage: str, workdir: Path, data_root: Path, n_trials: int, *extra: str,
                 command: str = "worker") -> subprocess.Popen[bytes]:
    """A real `finn-dse worker` (or `run --storage`) process; its output goes to worker-<n>.log
    beside the work directory."""
    exe = Path(sys.executable).with_name("finn-dse")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one torch thread each: the workers share the cores
    workdir.parent.mkdir(parents=True, exist_ok=True)
    log = workdir.parent / f"worker-{len(list(workdir.parent.glob('worker-*.log')))}.log"
    with log.open("wb") as f:
        return subprocess.Popen([str(exe), command, str(STUDY), "--storage", storage, "--workdir", str(workdir),
                                 "--data-root", str(data_root), "--n-trials", str(n_trials), *extra],
                                cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)


def finish(procs: list[subprocess.Popen[bytes]], logdir: Path, timeout_s: float) -> None:
    """Wait for the workers (killing any left at the deadline); all but killed ones must exit 0."""
    deadline = time.monotonic() + timeout_s
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    logs = "\n".join(f"== {log.name}\n{log.read_text()}" for log in sorted(logdir.glob("worker-*.log")))
    assert all(p.returncode in (0, -signal.SIGKILL) for p in procs), logs


def load(storage: str):  # type: ignore[no-untyped-def]
    import optuna

    return optuna.load_study(study_name="smoke_workers", storage=storage)


def check_study(storage: str, n_trials: int) -> list:  # type: ignore[type-arg]
    """Exactly ``n_trials`` finished, none left running, every retry with its original's parameters."""
    from optuna.trial import TrialState

    from dse.storage.claims import finished_trials

    study = load(storage)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == len(trials)
    assert sorted(numbers) == list(range(len(trials)))
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert finished_trials(study) == n_trials, [(t.number, t.state.name) for t in trials]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == n_trials
    by_number = {t.number: t for t in trials}
    for t in trials:
        original = t.system_attrs.get("failed_trial", t.user_attrs.get("retry_of"))
        if original is not None:
            assert t.params == by_number[original].params, (t.number, original)
    return trials


@pytest.mark.service
@pytest.mark.slow
def test_four_workers_share_one_study(postgres_db: str, mnist_root: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    n = 8
    procs = [start_worker(postgres_db, workdir, mnist_root, n) for _ in range(4)]
    finish(procs, tmp_path, timeout_s=900)
    trials = check_study(postgres_db, n)
    # The workers propose designs of their own (not one seeded sequence four times over).
    assert len({tuple(sorted(t.params.items())) for t in trials}) == n
    # Every trial wrote its files into the shared work directory.
    assert len(list((workdir / "trials").iterdir())) == n
    assert (workdir / "pareto.html").exists()


@pytest.mark.service
@pytest.mark.slow
def test_run_beside_workers_keeps_the_budget(postgres_db: str, mnist_root: Path, tmp_path: Path) -> None:
    """A plain `run --storage` started together with workers on an empty database neither races
    them to create the tables nor runs past the shared budget."""
    workdir = tmp_path / "run"
    n = 6
    procs = [start_worker(postgres_db, workdir, mnist_root, n) for _ in range(2)]
    procs.append(start_worker(postgres_db, workdir, mnist_root, n, command="run"))
    finish(procs, tmp_path, timeout_s=900)
    check_study(postgres_db, n)


@pytest.mark.service
def test_killed_worker_trial_is_retried(postgres_db: str, mnist_root: Path, tmp_path: Path) -> None:
    from optuna.trial import TrialState

    workdir = tmp_path / "run"
    n = 3
    timing = ("--heartbeat", "1", "--grace", "5")
    victim, survivor = (start_worker(postgres_db, workdir, mnist_root, n, *timing) for _ in range(2))
    try:
        # Kill the victim while both workers are inside a trial.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                running = load(postgres_db).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except Exception:  # the study is not created yet
                running = []
            if len(running) == 2:
                break
            assert victim.poll() is None and survivor.poll() is None, "a worker ended early"
            time.sleep(0.5)
        else:
            raise AssertionError("the two workers never ran trials at the same time")
        time.sleep(1)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        finish([victim, survivor], tmp_path, timeout_s=600)
    finally:
        for p in (victim, survivor):
            if p.poll() is None:
                p.kill()
    trials = check_study(postgres_db, n)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1, [(t.number, t.state.name) for t in trials]
    assert "fail_reason" not in failed[0].user_attrs
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == failed[0].params


@pytest.mark.service
def test_claims_never_exceed_the_budget(postgres_db: str) -> None:
    """Many processes finishing trials as fast as they can end with exactly the budget: the trial
    a worker decides to start is claimed in the database, not checked and then started."""
    import threading

    import optuna

    from dse.storage.claims import ClaimLock
    from dse.storage.database import prepare_storage
    from dse.storage.claims import finished_trials, optimize_claimed
    from dse.storage.database import make_storage

    prepare_storage(postgres_db)
    optuna.create_study(study_name="budget", storage=postgres_db)
    target, errors = 40, []

    def worker() -> None:
        # A process of its own in all but name: own storage, own connections, own claim lock.
        study = optuna.load_study(study_name="budget", storage=make_storage(postgres_db, heartbeat_s=1, grace_s=60))
        claim = ClaimLock(postgres_db, "budget")
        try:
            optimize_claimed(study, lambda trial: trial.suggest_float("x", 0, 1), target=target, poll_s=0.01,
                             claim=claim)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)
        finally:
            claim.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and not any(t.is_alive() for t in threads), errors
    study = optuna.load_study(study_name="budget", storage=postgres_db)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    assert finished_trials(study) == target and states == ["COMPLETE"] * target, states


def test_worker_errors_are_one_line(tmp_path: Path) -> None:
    proc = finn_dse("worker", str(STUDY), "--storage", "postgresql://nobody:x@127.0.0.1:1/none",
                    "--workdir", str(tmp_path / "w"), check=False, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot reach the study database postgresql://nobody:***@127.0.0.1:1/none: "
                                  "connection failed"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and ":x@" not in proc.stderr
    proc = finn_dse("worker", str(STUDY), "--storage", "postgresql://x@127.0.0.1:1/none", "--heartbeat", "5",
                    "--grace", "5", check=False, timeout=120)
    assert proc.returncode == 2 and "--grace (5 s) must be longer than --heartbeat (5 s)" in proc.stderr
