"""A user model that calls sys.exit() (issue 13 item 8): before the study starts (import, build,
the contract's forward check) it is one line and exit 1 with no study created; during a trial
(training's forward) that trial fails with the reason and the study goes on, nothing left RUNNING,
until every trial has failed the same way."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ROOT, finn_dse

MLP = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom examples.user_models.small_mlp import SmallMLP\n"
MODELS = {
    "import": "import sys\nsys.exit(3)\n",
    "build": "import sys\ndef build(**kw):\n    sys.exit(0)\n",
    "check": MLP + "class M(SmallMLP):\n    def forward(self, x):\n        sys.exit(0)\n"
                   "def build(**kw):\n    return M(**kw)\n",
    "training": MLP + "class M(SmallMLP):\n    def forward(self, x):\n        if self.training:\n            sys.exit(0)\n"
                      "        return super().forward(x)\n"
                      "def build(**kw):\n    return M(**kw)\n",
}


def _study(tmp_path: Path, case: str, n_trials: int = 2) -> Path:
    (tmp_path / "m.py").write_text(MODELS[case])
    spec = tmp_path / "s.yaml"
    spec.write_text(f"""name: ex
dataset: mnist
space:
  family: user
  model: {tmp_path}/m.py:build
  weight_bits: [2]
  act_bits: [2]
  target_fps: {{low: 50000, high: 1000000, log: true}}
training: {{epochs: 1, batch_size: 128, train_subset: 500, val_size: 100}}
evaluation: {{hardware: per_trial}}
sampler: random
n_trials: {n_trials}
seed: 0
""")
    return spec


@pytest.mark.parametrize(("case", "when"), [
    ("import", "sys.exit(3) while importing"),
    ("build", "sys.exit(0) while calling it with weight_bits=2, act_bits=2, num_classes=10"),
    ("check", "sys.exit(0) while running its forward on a dummy batch"),
])
def test_exit_before_the_study_is_one_line(case: str, when: str, tmp_path: Path, mnist_root: Path) -> None:
    proc = finn_dse("run", str(_study(tmp_path, case)), "--workdir", str(tmp_path / "w"), check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]  # torch may warn once on import (no CUDA) before it
    assert last.startswith("error: user model ") and f"the user model called {when}" in last, proc.stderr
    assert not (tmp_path / "w" / "study.db").exists()


def test_exit_during_a_trial_fails_that_trial(tmp_path: Path, mnist_root: Path) -> None:
    """Each trial fails with the reason; as every trial fails the same way, the run stops after
    three (issue 18 item 2) with that reason in one line and exit 1, not exit 0 after the budget."""
    workdir = tmp_path / "w"
    proc = finn_dse("run", str(_study(tmp_path, "training", n_trials=6)), "--workdir", str(workdir), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "trial 0 failed: the user model called sys.exit(0)" in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last == ("error: study ex stopped: every trial failed the same way (3 trials): the user model called "
                    "sys.exit(0); fix that and run the same command again (the study resumes)"), proc.stderr
    with sqlite3.connect(workdir / "study.db") as db:
        states = [s for (s,) in db.execute("SELECT state FROM trials ORDER BY number")]
        reasons = {v for (v,) in db.execute("SELECT value_json FROM trial_user_attributes WHERE key='fail_reason'")}
    assert states == ["FAIL", "FAIL", "FAIL"]  # went on to a third trial, then stopped; none left RUNNING
    assert reasons == {'"the user model called sys.exit(0)"'}
