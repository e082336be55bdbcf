"""`finn-dse run` with its output in a file: progress lines while trials run, and Ctrl-C ends the
run with one line (no Optuna 'failed with value None', no traceback)."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, ctrl_c_default

STUDY = """name: {name}
dataset: mnist
space: {{family: tfc, weight_bits: [2], act_bits: [2], hidden_width: [32], hidden_layers: [2]}}
training: {{epochs: {epochs}, train_subset: {subset}, val_size: 500, batch_size: 100}}
evaluation: {{hardware: per_trial, finn_confirm: false, export_model: false}}
sampler: random
n_trials: {n}
seed: 3
"""


def _start(tmp_path: Path, log: Path, **study: object) -> tuple[subprocess.Popen[bytes], Path]:
    spec, workdir = tmp_path / "study.yaml", tmp_path / "run"
    spec.write_text(STUDY.format(**study))
    exe = Path(sys.executable).with_name("finn-dse")
    with log.open("wb") as out:  # a file, as `finn-dse run ... > run.log 2>&1` makes it
        proc = subprocess.Popen([str(exe), "run", str(spec), "--workdir", str(workdir)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=ctrl_c_default)
    return proc, workdir


def test_progress_lines_go_to_the_log_file(tmp_path: Path, mnist_root: Path) -> None:
    log = tmp_path / "run.log"
    proc, _ = _start(tmp_path, log, name="logged", epochs=1, subset=600, n=2)
    assert proc.wait(timeout=600) == 0, log.read_text()
    text = " ".join(log.read_text().split())  # rich wraps long lines
    for line in ("trial 0 started: hidden_width=32", "trial 0: estimators", "trial 0: training",
                 "study: 1/2 trials finished", "trial 1: training", "study: 2/2 trials finished"):
        assert line in text, f"{line!r} not in the log:\n{log.read_text()}"
    assert text.index("trial 0: training") < text.index("study: 1/2 trials finished")


def test_ctrl_c_ends_the_trial_with_one_line(tmp_path: Path, mnist_root: Path) -> None:
    log = tmp_path / "run.log"
    proc, workdir = _start(tmp_path, log, name="interrupted", epochs=100, subset=5000, n=2)
    try:
        deadline = time.monotonic() + 300
        while "trial 0: training" not in log.read_text():  # the progress line says training has begun
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no training within 300 s:\n{log.read_text()}"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    text = log.read_text()
    assert text.count("interrupted: finished trials are saved") == 1, text
    for noise in ("failed with value", "Traceback", "KeyboardInterrupt"):
        assert noise not in text, text
    with sqlite3.connect(workdir / "study.db") as db:
        states = [s for (s,) in db.execute("SELECT state FROM trials ORDER BY number")]
    assert states == ["FAIL"]  # ended, not left RUNNING: retried on resume
