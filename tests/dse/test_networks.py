"""Network-level studies (evaluation.hardware: front): one training buys the network's whole
hardware front; a network is trained at most once per study (repeats, workers, restarts)."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from dse.errors import ConfigError
from dse.spec import parse_spec
from tests.conftest import ROOT, assert_bundle_reproduces_estimates, finn_dse

TINY = {"epochs": 1, "train_subset": 600, "val_size": 500, "batch_size": 100}


def _data(name: str, widths: list[int], **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name, "dataset": "mnist", "training": TINY, "sampler": "random", "seed": 0, "n_trials": 3,
        "space": {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": widths, "hidden_layers": [1],
                  "folding": {"target_fps": {"low": 2e5, "high": 2e6, "log": True}}},
        "evaluation": {"finn_confirm": False, "export_model": False}}
    data.update(over)
    return data


def check_designs(study: Any) -> dict[str, list[Any]]:
    """Per trained network: its trials (the sampler's + one per other design), none duplicated."""
    trials = study.get_trials(deepcopy=False)
    keys = [t.user_attrs["design_key"] for t in trials if t.user_attrs.get("role") == "design"]
    assert len(keys) == len(set(keys)), Counter(keys).most_common(3)
    by: dict[str, list[Any]] = {}
    for t in trials:
        if "network_id" in t.user_attrs and t.state.name == "COMPLETE" and t.user_attrs.get("stopped_by") is None:
            by.setdefault(t.user_attrs["network_id"], []).append(t)
    for net, ts in by.items():
        owners = [t for t in ts if t.user_attrs["role"] == "network"]
        assert len(owners) == 1, (net, [t.number for t in owners])
        ids = {t.user_attrs["hardware_design_id"] for t in ts}
        assert len(ids) == len(ts) == owners[0].user_attrs["n_designs"], (net, len(ids), len(ts))
    return by


@pytest.mark.slow
def test_a_network_proposed_twice_is_trained_once(tmp_path: Path, mnist_root: Path) -> None:
    from dse.study import run_study
    from dse.storage.claims import finished_trials

    spec = parse_spec(_data("once", [32]))
    study = run_study(spec, tmp_path / "w", data_root=mnist_root, write_report=False)
    trials = study.get_trials()
    networks = [t for t in trials if t.user_attrs.get("role") == "network"]
    assert len(networks) == 3 and finished_trials(study) == 3
    trained = [t for t in networks if t.user_attrs.get("trained_here")]
    assert len(trained) == 1 and trained[0].state.name == "COMPLETE"
    for t in networks:
        if t is not trained[0]:
            assert t.state.name == "PRUNED" and t.user_attrs["stopped_by"] == "repeat"
            assert t.user_attrs["repeat_of"] == trained[0].number
            assert t.user_attrs["val_accuracy"] == trained[0].user_attrs["val_accuracy"]  # records reused
    assert len(list((tmp_path / "w" / "networks").glob("*/weights.pt"))) == 1
    (designs,) = check_designs(study).values()
    assert len(designs) == trained[0].user_attrs["n_designs"] > 1
    a = trained[0].user_attrs  # the sweep is recorded: what it covered and how long it took
    assert a["front_levels"] > 0 and a["front_candidates"] >= a["hardware_front_size"]
    assert a["hardware_front_size"] >= a["n_designs"] and a["front_s"] > 0
    # Every design is its own trial with its own folding; the fastest is the sampler's trial.
    assert len({t.values[1] for t in designs}) == len(designs)
    assert {t.number for t in study.best_trials} <= {t.number for t in designs}
    folds = {str(t.user_attrs["folding"]) for t in designs}
    assert len(folds) == len(designs)
    for t in designs:
        assert t.params == trained[0].params  # a design is an observation of its network for the sampler
        d = tmp_path / "w" / t.user_attrs["artifact_dir"]
        assert (d / "folding_config.json").exists() and (d / "estimate.json").exists()


@pytest.mark.slow
def test_a_network_under_a_stopped_bigger_one_is_deferred_then_trained_when_nothing_else_is_left(
        tmp_path: Path, mnist_root: Path) -> None:
    from dse.artifacts import StudyLayout
    from dse.study import open_study, run_study

    # 300 images to the first check: the 64-wide network is stopped there (the minimum is out of
    # reach), which bounds the 32-wide one below the minimum: deferred, not trained. The third
    # proposal has no untried network left: the deferred one is trained rather than a repeat.
    spec = parse_spec(_data("defer", [64, 32], limits={"min_accuracy": 0.99},
                            evaluation={"finn_confirm": False, "export_model": False, "checks_per_epoch": 2}))
    workdir = tmp_path / "w"
    layout = StudyLayout(workdir)
    layout.root.mkdir(parents=True)
    study = open_study(spec, layout.default_storage)
    study.enqueue_trial({"hidden_width": 64, "hidden_layers": 1, "weight_bits": 2, "act_bits": 2})
    study = run_study(spec, workdir, data_root=mnist_root, write_report=False)
    nets = sorted((t for t in study.get_trials() if t.user_attrs.get("role") == "network"), key=lambda t: t.number)
    assert [t.params["hidden_width"] for t in nets] == [64, 32, 32]
    big, deferred, later = nets
    assert big.user_attrs["stopped_by"] == "accuracy" and 0 < big.user_attrs["train_progress"] < 1
    assert deferred.state.name == "PRUNED" and deferred.user_attrs["stopped_by"] == "deferred"
    assert "below the minimum accuracy" in deferred.user_attrs["reason"]
    assert "trained_here" not in deferred.user_attrs
    assert later.user_attrs.get("trained_here") and later.user_attrs["stopped_by"] == "accuracy"


def test_front_mode_errors_are_one_line(tmp_path: Path) -> None:
    from dse.study import open_study

    data = _data("modes", [32])
    data["space"]["folding"] = {"mode": "sampled"}
    with pytest.raises(ConfigError, match="set evaluation.hardware: per_trial to keep it"):
        parse_spec(data)
    url = f"sqlite:///{tmp_path / 's.db'}"
    old = _data("modes", [32], evaluation={"hardware": "per_trial"})
    open_study(parse_spec(old), url)
    with pytest.raises(ConfigError, match=r"add `hardware: per_trial` under `evaluation:`"):
        open_study(parse_spec(_data("modes", [32])), url)


@pytest.mark.slow
@pytest.mark.finn
def test_every_front_design_exports_and_reproduces_in_finn(tmp_path: Path, mnist_root: Path) -> None:
    from dse.storage.database import load_study

    data = _data("front_export", [32], n_trials=1, evaluation={"finn_confirm": True, "export_model": True})
    study_file = tmp_path / "s.yaml"
    study_file.write_text(yaml.safe_dump(data))
    workdir = tmp_path / "w"
    finn_dse("run", str(study_file), "--workdir", str(workdir), "--data-root", str(mnist_root))
    study = load_study(workdir)
    front = sorted(t.number for t in study.best_trials)
    assert len(front) >= 2
    for number in front:
        t = study.trials[number]
        # FINN confirmed it; where FINN differs from the fast path (LUTs of the trained model's
        # minimised accumulators) the difference is recorded and the design carries FINN's figures.
        assert t.user_attrs["estimate_source"] == "finn"
        for key, (ours, finn) in t.user_attrs.get("finn_disagreement", {}).items():
            assert key == "lut" and finn == t.user_attrs["lut"] and abs(ours - finn) <= 0.01 * finn
        out = tmp_path / f"bundle{number}"
        finn_dse("export", "--workdir", str(workdir), "--trial", str(number), "--out", str(out))
        recorded = yaml.safe_load((out / "estimates.json").read_text())
        assert recorded["hardware_design_id"] == t.user_attrs["hardware_design_id"]
        assert yaml.safe_load((out / "folding_config.json").read_text()) == t.user_attrs["folding"]
        assert_bundle_reproduces_estimates(out, number)


def _states(db: Path) -> dict[int, str]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return dict(con.execute("SELECT number, state FROM trials").fetchall())
    except sqlite3.OperationalError:
        return {}


@pytest.mark.slow
def test_kill_during_training_then_resume_loses_and_duplicates_no_design(tmp_path: Path, mnist_root: Path) -> None:
    from dse.storage.database import load_study

    data = _data("killed", [32, 64], n_trials=3, training={**TINY, "epochs": 3, "train_subset": 3000})
    study_file = tmp_path / "s.yaml"
    study_file.write_text(yaml.safe_dump(data))
    workdir = tmp_path / "w"
    exe = Path(sys.executable).with_name("finn-dse")
    cmd = [str(exe), "run", str(study_file), "--workdir", str(workdir), "--data-root", str(mnist_root)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait until a network is being trained: its store folder exists, its record does not yet,
        # and the trial that trains it is RUNNING.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            training = [d for d in (workdir / "networks").glob("*/") if not (d / "record.json").exists()]
            if training and "RUNNING" in _states(workdir / "study.db").values() and (training[0] / "build.log").exists():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            raise AssertionError("no network training started in time")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    finn_dse("run", str(study_file), "--workdir", str(workdir), "--data-root", str(mnist_root))
    study = load_study(workdir)
    by = check_designs(study)
    assert by, "no network was trained after the resume"
    records = list((workdir / "networks").glob("*/record.json"))
    assert len(records) == len(by)  # every trained network has its designs, each once
    failed = [t for t in study.get_trials() if t.state.name == "FAIL"]
    assert len(failed) == 1 and any(t.user_attrs.get("retry_of") == failed[0].number for t in study.get_trials())


@pytest.mark.service
@pytest.mark.slow
def test_two_workers_on_postgres_train_a_network_once(postgres_db: str, mnist_root: Path, tmp_path: Path) -> None:
    import optuna

    from dse.storage.claims import finished_trials

    study_file = tmp_path / "s.yaml"
    study_file.write_text(yaml.safe_dump(_data("workers_front", [32], n_trials=4)))
    workdir = tmp_path / "run"
    exe = Path(sys.executable).with_name("finn-dse")
    env = {"OMP_NUM_THREADS": "1"}
    import os

    procs = [subprocess.Popen([str(exe), "worker", str(study_file), "--storage", postgres_db, "--workdir",
                               str(workdir), "--data-root", str(mnist_root), "--n-trials", "4"], cwd=ROOT,
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    study = optuna.load_study(study_name="workers_front", storage=postgres_db)
    assert finished_trials(study) == 4
    networks = [t for t in study.get_trials() if t.user_attrs.get("role") == "network"]
    assert sum(bool(t.user_attrs.get("trained_here")) for t in networks) == 1
    assert len(list((workdir / "networks").glob("*/weights.pt"))) == 1
    (designs,) = check_designs(study).values()
    assert len(designs) == designs[0].user_attrs["n_designs"]
