"""User mistakes end in one line and a non-zero exit; every command has --help."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import finn_dse


@pytest.mark.parametrize("command", [[], ["run"], ["pareto"], ["export"], ["estimate"], ["report"], ["dashboard"], ["trials"], ["fetch-data"]])
def test_help(command: list[str]) -> None:
    proc = finn_dse(*command, "--help")
    assert "Usage: finn-dse" in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["run", "no/such.yaml"], "error: study file not found: no/such.yaml"),
    (["pareto", "--workdir", "no/such/dir"], "error: no FINN-DSE study in no/such/dir"),
    (["export", "--workdir", "no/such/dir", "--trial", "0", "--out", "x"], "error: no FINN-DSE study in"),
])
def test_mistakes_give_one_line(args: list[str], message: str) -> None:
    proc = finn_dse(*args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_invalid_study_file_names_the_key(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nspace:\n  weight_bits: [3]\n  hidden_widht: [64]\n")
    proc = finn_dse("run", str(f), "--workdir", str(tmp_path / "w"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "space.weight_bits.0: Input should be 1, 2, 4 or 8 (got 3)" in proc.stderr
    assert "space.hidden_widht: unknown key" in proc.stderr


def test_usage_errors_exit_2() -> None:
    proc = finn_dse("export", "--trial", "x", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_missing_data_says_how_to_provide_it(tmp_path: Path) -> None:
    import os
    import shutil

    bin_dir = tmp_path / "bin"  # a PATH without npm: the fetch cannot run
    bin_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "FINN_DSE_DATA"}
    env["PATH"] = str(bin_dir)
    assert shutil.which("npm", path=env["PATH"]) is None
    proc = finn_dse("fetch-data", "--data-root", str(tmp_path / "data"), check=False, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert str(tmp_path / "data" / "mnist") in proc.stderr and "FINN_DSE_DATA" in proc.stderr


def test_promote_and_measure_have_one_backend_default() -> None:
    import inspect

    from dse import api
    from dse.jobs import promotion

    helps = {c: finn_dse(c, "--help").stdout for c in ("promote", "measure")}
    for text in helps.values():
        assert "--backend [local|slurm]" in text and "[default: local]" in " ".join(text.split())
    defaults = {inspect.signature(f).parameters["backend"].default
                for f in (api.promote, api.measure, promotion.promote, promotion.measure)}
    assert defaults == {"local"}
