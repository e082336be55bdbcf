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
