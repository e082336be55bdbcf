"""The DSE engine end to end on real data: estimator-first screening, early stopping, pruning
from a shared trained parent, configurable objectives and samplers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from dse.errors import ConfigError
from dse.spec import parse_spec
from dse.study import open_study, run_study, study_stats

TINY = {"epochs": 1, "train_subset": 600, "val_size": 500, "batch_size": 100}


def _spec(**over: Any):
    data = {"name": "engine", "dataset": "mnist", "training": TINY, "sampler": "random", "seed": 3,
            "space": {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [32], "hidden_layers": [2]}}
    data.update(over)
    data["evaluation"] = {"hardware": "per_trial", **data.get("evaluation", {})}  # one folding per trial
    return parse_spec(data)


def _trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials() if t.state.name == "COMPLETE"]


def test_designs_breaking_a_hardware_limit_are_never_trained(tmp_path: Path, mnist_root: Path) -> None:
    space = {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [32], "hidden_layers": [2],
             "folding": {"target_fps": {"low": 1e4, "high": 1e6}}}
    spec = _spec(space=space, limits={"min_fps": 1e5}, n_trials=6,
                 evaluation={"finn_confirm": False, "export_model": False})
    study = run_study(spec, tmp_path / "w", data_root=mnist_root, write_report=False)
    trials = _trials(study)
    stopped = [t for t in trials if t.user_attrs.get("stopped_by") == "estimator"]
    trained = [t for t in trials if "val_accuracy" in t.user_attrs]
    assert stopped and trained and len(stopped) + len(trained) == 6
    front = {t.number for t in study.best_trials}
    for t in stopped:
        d = tmp_path / "w" / t.user_attrs["artifact_dir"]
        assert t.constraints and max(t.constraints.values()) > 0 and t.number not in front
        assert "below the minimum" in t.user_attrs["reason"] and t.user_attrs["fps"] < 1e5
        assert (d / "estimate.json").exists() and (d / "design.json").exists() and (d / "folding_config.json").exists()
        assert not (d / "weights.pt").exists() and not (d / "model.onnx").exists()
        assert t.values[0] == 0.0  # never trained
    for t in trained:
        assert t.user_attrs["fps"] >= 1e5 and t.user_attrs["estimate_source"] == "estimators"
        assert (tmp_path / "w" / t.user_attrs["artifact_dir"] / "weights.pt").exists()
    stats = study_stats(study, 6)
    assert stats.finished == 6 and stats.stopped_estimator == len(stopped)


def test_training_stops_early_when_the_minimum_accuracy_is_out_of_reach(tmp_path: Path, mnist_root: Path) -> None:
    spec = _spec(limits={"min_accuracy": 0.999}, n_trials=1,
                 training={**TINY, "epochs": 3}, evaluation={"checks_per_epoch": 2, "early_stop_headroom": 0.05})
    study = run_study(spec, tmp_path / "w", data_root=mnist_root, write_report=False)
    (t,) = _trials(study)
    assert t.user_attrs["stopped_by"] == "accuracy" and "cannot reach the minimum" in t.user_attrs["reason"]
    assert len(t.user_attrs["val_history"]) < 6  # 3 epochs x 2 checks, stopped before the end
    assert "test_accuracy" not in t.user_attrs  # the test set stays untouched by discarded designs
    assert t.user_attrs["train_s"] > 0 and "screen_s" in t.user_attrs  # what the stopped training cost
    assert t.constraints["min_accuracy"] > 0 and not study.best_trials
    assert not (tmp_path / "w" / t.user_attrs["artifact_dir"] / "model.onnx").exists()


@pytest.mark.finn
def test_pruned_designs_fine_tune_one_shared_trained_parent(tmp_path: Path, mnist_root: Path) -> None:
    space = {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [64], "hidden_layers": [2],
             "pruning": {"ratio": [0.5], "finetune_epochs": 1}}
    spec = _spec(space=space, n_trials=2)
    study = run_study(spec, tmp_path / "w", data_root=mnist_root, write_report=False)
    first, second = _trials(study)
    assert first.user_attrs["parent_train_s"] > 0 and second.user_attrs.get("parent_train_s", 0.0) == 0.0
    assert len(list((tmp_path / "w" / "parents").glob("*.pt"))) == 1
    for t in (first, second):
        assert t.user_attrs["widths"] == [32, 32] and t.user_attrs["estimate_source"] == "finn"
        assert t.user_attrs["parent_val_accuracy"] > 0.3 and t.user_attrs["val_accuracy"] > 0.3
        d = tmp_path / "w" / t.user_attrs["artifact_dir"]
        assert '"keep": [32, 32]' in (d / "pruning.json").read_text().replace("\n", "").replace("  ", " ")
        assert (d / "model.onnx").exists()
        # FINN's graph of the pruned, exported model has the planned widths: it agreed on the folding.
        assert t.user_attrs["est_lut"] == pytest.approx(t.user_attrs["lut"], rel=0.05)


def test_objectives_come_from_the_study_file(tmp_path: Path) -> None:
    spec = _spec(objectives=["accuracy", "energy_uj", "latency_us"])
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = open_study(spec, url)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    assert study.user_attrs["objectives"] == ["val_accuracy", "energy_uj", "latency_us"]
    with pytest.raises(ConfigError, match="objectives"):
        open_study(_spec(objectives=["accuracy", "fps"]), url)


@pytest.mark.parametrize("sampler, cls", [("nsga2", "NSGAIISampler"), ("gp", "GPSampler"), ("tpe", "TPESampler")])
def test_every_sampler_runs_screened_studies(tmp_path: Path, mnist_root: Path, sampler: str, cls: str) -> None:
    # Every design is below the minimum throughput: screened in milliseconds, nothing trains.
    spec = _spec(sampler=sampler, n_trials=5, limits={"min_fps": 1e12},
                 space={"family": "cnv", "weight_bits": [1, 2], "act_bits": [1, 2], "pruning": {"ratio": [0, 0.5]}})
    study = run_study(spec, tmp_path / "w", data_root=mnist_root, write_report=False)
    assert type(study.sampler).__name__ == cls
    trials = _trials(study)
    assert len(trials) == 5 and all(t.user_attrs["stopped_by"] == "estimator" for t in trials)
    assert sum(t.user_attrs["screen_s"] for t in trials) < 30


@pytest.mark.finn
def test_a_user_model_is_screened_trained_and_confirmed_by_finn(tmp_path: Path, mnist_root: Path) -> None:
    ref = f"{Path(__file__).resolve().parents[2] / 'examples' / 'user_models' / 'small_mlp.py'}:small_mlp"
    spec = _spec(space={"family": "user", "model": ref, "weight_bits": [2], "act_bits": [2]}, n_trials=1)
    study = run_study(spec, tmp_path / "w", data_root=mnist_root, write_report=False)
    (t,) = _trials(study)
    assert t.user_attrs["design"].startswith("user ") and "small_mlp" in t.user_attrs["design"]
    assert t.user_attrs["estimate_source"] == "finn" and t.user_attrs["val_accuracy"] > 0.3
    assert t.user_attrs["est_lut"] > 0 and t.user_attrs["lut"] > 0
