"""No module of dse/ over 400 lines unless it has one job, stated in its docstring (issue 14)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400
MODULES = sorted((ROOT / "dse").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_long_module_says_its_one_job(path: Path) -> None:
    text = path.read_text()
    lines = text.count("\n")
    if lines <= LIMIT:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "One job (why it is over 400 lines):" in doc, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or say its one job in its docstring")
