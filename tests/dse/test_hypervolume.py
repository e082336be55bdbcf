"""dse.hypervolume: exact against inclusion-exclusion, and the only hypervolume in the project."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from dse.hypervolume import hypervolume

ROOT = Path(__file__).resolve().parents[2]


def _inclusion_exclusion(pts: np.ndarray, ref: np.ndarray) -> float:
    """Union of the boxes [p, ref]: sum over subsets of (-1)^(k+1) * volume of their intersection."""
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(range(len(pts)), k):
            corner = pts[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * float(np.prod(np.clip(ref - corner, 0.0, None)))
    return total


@pytest.mark.parametrize("d", [2, 3, 4])
def test_hypervolume_is_exact(d: int) -> None:
    rng = np.random.default_rng(d)
    for _ in range(5):
        pts = rng.uniform(0, 1, size=(9, d))
        ref = np.full(d, 1.1)
        assert hypervolume(pts, ref) == pytest.approx(_inclusion_exclusion(pts, ref), rel=1e-9)
    assert hypervolume(np.zeros((1, d)), np.ones(d)) == pytest.approx(1.0)
    # Points at or past the reference add nothing (instead of raising).
    assert hypervolume(np.full((1, d), 2.0), np.ones(d)) == 0.0
    assert hypervolume(np.ones((1, d)), np.ones(d)) == 0.0
    assert hypervolume(np.empty((0, d)), np.ones(d)) == 0.0


def test_no_private_optuna_api_and_one_hypervolume() -> None:
    """Optuna's private modules stay out, and nobody writes a second hypervolume."""
    offenders = []
    for path in [*ROOT.glob("dse/**/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("tests/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        if path.name != Path(__file__).name and re.search(r"optuna(\.[a-z]\w*)*\._\w+|compute_hypervolume", text):
            offenders.append(str(path.relative_to(ROOT)))
        if path.name != "hypervolume.py" and re.search(r"^def hypervolume\(", text, re.M):
            offenders.append(f"{path.relative_to(ROOT)} (defines hypervolume)")
    assert offenders == []
