"""Every ready study file validates, and its space yields designs the estimators can judge."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse.screen import screen
from dse.spec import load_spec

STUDIES = sorted(p for p in (Path(__file__).resolve().parents[1] / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_file_validates_and_screens(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name and spec.n_trials >= 1
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        point = spec.space.suggest(trial, clock_ns=spec.hardware.clock_ns)
        result = screen(point, spec.hardware, spec.limits, multiple=spec.space.pruning.multiple)
        assert result.estimate.fps > 0 and result.fit.utilization
        study.tell(trial, [0.0] * len(spec.directions))


def test_the_default_study_screens_some_designs_out_and_keeps_others() -> None:
    spec = load_spec(Path(__file__).resolve().parents[1] / "studies" / "tfc_mnist.yaml")
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(seed=1))
    reasons = []
    for _ in range(30):
        trial = study.ask()
        reasons.append(screen(spec.space.suggest(trial, clock_ns=5.0), spec.hardware, spec.limits).reason)
        study.tell(trial, [0.0] * len(spec.directions))
    stopped = sum(r is not None for r in reasons)
    assert 0 < stopped < len(reasons)
