"""A work directory copied or moved elsewhere is a study of its own: its commands open its own
study.db (study.json keeps the path relative to the work directory), never the original's."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ROOT, finn_dse

pytestmark = [pytest.mark.slow]

STUDY = ROOT / "studies" / "smoke_workers.yaml"


def _complete(workdir: Path) -> int:
    with sqlite3.connect(f"file:{workdir / 'study.db'}?mode=ro", uri=True) as con:
        return con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]


def test_copied_workdir_uses_its_own_database(tmp_path: Path, mnist_root: Path) -> None:
    original, copy = tmp_path / "original", tmp_path / "elsewhere" / "copy"
    finn_dse("run", str(STUDY), "--workdir", str(original), "--data-root", str(mnist_root), "--n-trials", "2")
    assert json.loads((original / "study.json").read_text())["storage"] == "sqlite:///study.db"
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    assert finn_dse("trials", "--workdir", str(copy)).stdout.count("COMPLETE") == 2
    assert "Pareto front of smoke_workers" in finn_dse("pareto", "--workdir", str(copy)).stdout
    finn_dse("report", "--workdir", str(copy))
    assert (copy / "report.html").exists()
    finn_dse("export", "--workdir", str(copy), "--trial", "0", "--out", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "model.onnx").exists()
    finn_dse("run", str(STUDY), "--workdir", str(copy), "--data-root", str(mnist_root), "--n-trials", "3")
    assert _complete(copy) == 3
    assert not original.exists()

    # A study.json of an older version names the database by its absolute path: a copy made of
    # such a work directory, its original still there, opens its own database too.
    again = tmp_path / "again"
    shutil.copytree(copy, again)
    (again / "study.json").write_text(json.dumps({"study_name": "smoke_workers",
                                                  "storage": f"sqlite:///{(copy / 'study.db').resolve()}"}))
    assert finn_dse("trials", "--workdir", str(again)).stdout.count("COMPLETE") == 3
    finn_dse("run", str(STUDY), "--workdir", str(again), "--data-root", str(mnist_root), "--n-trials", "4")
    assert (_complete(copy), _complete(again)) == (3, 4)
