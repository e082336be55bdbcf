"""estimators/ and search_spaces/ are fully typed (mypy --strict), as STYLE.md asks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_on_pure_packages() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "estimators", "search_spaces"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_default_on_dse() -> None:
    # Default strictness: dse/ talks to untyped libraries (FINN, Brevitas, plotly), listed in
    # pyproject.toml's [[tool.mypy.overrides]]; our own calls between modules must still agree.
    proc = subprocess.run([sys.executable, "-m", "mypy", "dse"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
