"""Issue 13's inputs that used to end in a traceback or a wrong exit: each is now one line on
stderr and a non-zero exit (2 for bad input, 1 for an environment failure),
through the real console script."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import finn_dse


@pytest.fixture(scope="module")
def bundle(smoke_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """An exported trial of the smoke study: (trial number, bundle directory)."""
    from dse.api import load_study
    from dse.errors import ConfigError

    study, out = load_study(smoke_workdir), tmp_path_factory.mktemp("bundle") / "b"
    for number in range(20):
        try:
            return number, study.export(number, out).path
        except ConfigError:
            continue
    raise AssertionError("the smoke study has no exportable trial")


@pytest.fixture(scope="module")
def infeasible_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study whose every design is too slow (stopped by the estimators, no training: seconds)."""
    root = tmp_path_factory.mktemp("infeasible")
    text = (Path(__file__).resolve().parents[2] / "studies" / "smoke.yaml").read_text()
    study = root / "infeasible.yaml"
    study.write_text(text.replace("name: smoke", "name: infeasible").replace("n_trials: 4", "n_trials: 2")
                     + "limits:\n  min_fps: 1.0e+12\n")
    finn_dse("run", str(study), "--workdir", str(root / "run"))
    return root / "run"


def _folding(bundle: Path, tmp: Path, pe: object) -> str:
    config = json.loads((bundle / "folding_config.json").read_text())
    node = next(k for k, v in config.items() if isinstance(v, dict) and "PE" in v)
    config[node]["PE"] = pe
    path = tmp / f"folding-{type(pe).__name__}.json"
    path.write_text(json.dumps(config))
    return str(path)


CASES = [
    # (id, argv template, exit code, text in the line)
    ("study-not-utf8", ["run", "{tmp}/latin1.yaml", "--workdir", "{tmp}/w"], 2, "not UTF-8 text"),
    ("seed-2**70", ["run", "{tmp}/seed.yaml", "--workdir", "{tmp}/w"], 2, "seed: Input should be less than"),
    ("target-fps-inf", ["run", "{tmp}/inf.yaml", "--workdir", "{tmp}/w"], 2, "target_fps.high: Input should be a finite"),
    ("duplicate-key", ["run", "{tmp}/dup.yaml", "--workdir", "{tmp}/w"], 2, "line 3: duplicate key 'seed'"),
    ("epochs-true", ["run", "{tmp}/epochs.yaml", "--workdir", "{tmp}/w"], 2, "epochs: expected a number, got true"),
    ("alias-bomb", ["run", "{tmp}/bomb.yaml", "--workdir", "{tmp}/w"], 2, "expands to more than 100,000 values"),
    ("user-model-missing-file", ["run", "{tmp}/user.yaml", "--workdir", "{tmp}/w"], 2,
     "user model '{tmp}/missing.py:build': file {tmp}/missing.py does not exist"),
    ("user-model-raises", ["run", "{tmp}/user_raises.yaml", "--workdir", "{tmp}/w"], 2,
     "raised RuntimeError: boom"),
    ("cifar10-missing", ["run", "{tmp}/cifar.yaml", "--workdir", "{tmp}/w", "--data-root", "{tmp}/nodata"], 1,
     "CIFAR-10 not found (looked in {tmp}/nodata/cifar-10-batches-py"),
    ("workdir-is-a-file", ["run", "studies/smoke.yaml", "--workdir", "{tmp}/file"], 2,
     "work directory {tmp}/file is a file"),
    ("export-out-is-a-file", ["export", "--workdir", "{smoke}", "--trial", "{trial}", "--out", "{tmp}/file"], 2,
     "is a file"),
    ("export-out-not-empty", ["export", "--workdir", "{smoke}", "--trial", "{trial}", "--out", "{bundle}"], 2,
     "is not empty; give an empty or new directory, or --force"),
    ("estimate-empty-onnx", ["estimate", "{tmp}/empty.onnx"], 2, "is not an ONNX model"),
    ("estimate-pe-float", ["estimate", "{bundle}/model.onnx", "--folding", "{pe_float}"], 2,
     "PE must be a positive integer, got 2.5"),
    ("estimate-pe-string", ["estimate", "{bundle}/model.onnx", "--folding", "{pe_str}"], 2,
     "PE must be a positive integer, got 'x'"),
    ("estimate-target-fps-nan", ["estimate", "{bundle}/model.onnx", "--target-fps", "nan"], 2,
     "--target-fps must be > 0, got nan"),
    ("estimate-save-folding-missing-dir", ["estimate", "{bundle}/model.onnx", "--save-folding", "{tmp}/no/f.json"], 2,
     "directory {tmp}/no does not exist"),
    ("promote-no-feasible-trial", ["promote", "--workdir", "{infeasible}", "--mode", "estimate-only"], 2,
     "nothing to promote: study 'infeasible' has no feasible trial"),
    ("measure-without-build", ["measure", "--workdir", "{infeasible}", "--trial", "0", "--backend", "local"], 2,
     "trial 0 has no completed synthesized build with a bitfile (its builds: none); build it first"),
    ("report-out-is-a-dir", ["report", "--workdir", "{smoke}", "-o", "{tmp}"], 2, "Is a directory: {tmp}"),
    ("trials-csv-is-a-dir", ["trials", "--workdir", "{smoke}", "--csv", "{tmp}"], 2, "Is a directory: {tmp}"),
]


@pytest.mark.parametrize(("argv", "code", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_line_error(argv: list[str], code: int, text: str, smoke_workdir: Path, bundle: tuple[int, Path],
                        infeasible_workdir: Path, tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp_path / "seed.yaml").write_text(f"name: s\nseed: {2**70}\n")
    (tmp_path / "inf.yaml").write_text("name: s\nspace:\n  folding:\n    target_fps: {low: 1000, high: .inf}\n")
    (tmp_path / "dup.yaml").write_text("name: s\nseed: 1\nseed: 2\n")
    (tmp_path / "epochs.yaml").write_text("name: s\ntraining:\n  epochs: true\n")
    lines = ["name: bomb", "a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    lines += [f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "file").write_text("")
    (tmp_path / "user.yaml").write_text(f"name: u\nspace:\n  family: user\n  model: {tmp_path}/missing.py:build\n")
    (tmp_path / "raises.py").write_text("def build(**kw):\n    raise RuntimeError('boom')\n")
    (tmp_path / "user_raises.yaml").write_text(f"name: u\nspace:\n  family: user\n  model: {tmp_path}/raises.py:build\n")
    (tmp_path / "cifar.yaml").write_text("name: c\ndataset: cifar10\nspace:\n  family: cnv\n")
    (tmp_path / "nodata").mkdir()
    (tmp_path / "empty.onnx").write_bytes(b"")
    trial, out = bundle
    fields = {"tmp": str(tmp_path), "smoke": str(smoke_workdir), "infeasible": str(infeasible_workdir), "trial": str(trial), "bundle": str(out),
              "pe_float": _folding(out, tmp_path, 2.5), "pe_str": _folding(out, tmp_path, "x")}
    proc = finn_dse(*(a.format(**fields) for a in argv), check=False)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr[:2000]
    assert text.format(**fields) in proc.stderr
    assert len(proc.stderr) < 1000
    assert not (tmp_path / "w" / "study.db").exists()  # bad input is refused before a study is created


def test_rejected_build_option_leaves_no_bundle(smoke_workdir: Path, bundle: tuple[int, Path], tmp_path: Path) -> None:
    out = tmp_path / "b"
    proc = finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(bundle[0]), "--out", str(out),
                    "--build-option", "no_such_field=1", check=False)
    assert proc.returncode == 2 and "build options rejected" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_export_force_replaces_a_non_empty_folder(smoke_workdir: Path, bundle: tuple[int, Path], tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "old.txt").write_text("old")
    finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(bundle[0]), "--out", str(out), "--force")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "build.sh", "build.yaml", "estimates.json",
                                                     "folding_config.json", "model.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_forced_re_export_keeps_an_edited_build_yaml(smoke_workdir: Path, bundle: tuple[int, Path], tmp_path: Path) -> None:
    out = tmp_path / "b"
    args = ("export", "--workdir", str(smoke_workdir), "--trial", str(bundle[0]), "--out", str(out))
    finn_dse(*args)
    fresh = (out / "build.yaml").read_text()
    edited = fresh + "auto_fifo_strategy: characterize\n"  # what a user tuning the build would do
    (out / "build.yaml").write_text(edited)
    refused = finn_dse(*args, check=False)
    assert refused.returncode == 2 and "build.yaml.previous" in refused.stderr
    proc = finn_dse(*args, "--force")
    assert (out / "build.yaml").read_text() == fresh and (out / "build.yaml.previous").read_text() == edited
    assert f"kept as {out / 'build.yaml.previous'}" in proc.stdout
    # Forced again, unedited: the kept edit is carried over, not lost.
    proc = finn_dse(*args, "--force")
    assert (out / "build.yaml.previous").read_text() == edited and "still kept as" in proc.stdout
    # Nothing edited, nothing kept: the plain bundle.
    (out / "build.yaml.previous").unlink()
    proc = finn_dse(*args, "--force")
    assert not (out / "build.yaml.previous").exists() and "kept as" not in proc.stdout + proc.stderr
