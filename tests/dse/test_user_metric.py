"""A study's own validation metric (training.metric): a macro-F1 written in the test's own module
scores every trial in place of top-1 accuracy (objective, test figure), and a metric that does not
import, raises or returns no score in [0, 1] ends the run in one line and exit 2."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dse.errors import ConfigError
from dse.spec import parse_spec
from dse.user_metric import UserMetric, check_metric
from tests.conftest import finn_dse

FEATURES, CLASSES = 16, 4
VAL, TEST = 100, 200

METRICS = textwrap.dedent('''
    import json
    import numpy as np

    LOG = None  # set by the test: every call appends what it scored


    def macro_f1(pred, labels):
        f1 = []
        for c in np.unique(labels):
            tp = int(((pred == c) & (labels == c)).sum())
            wrong = int(((pred == c) != (labels == c)).sum())
            f1.append(2 * tp / max(2 * tp + wrong, 1))
        value = float(np.mean(f1))
        with open(LOG, "a") as fh:
            fh.write(json.dumps({"value": value, "accuracy": float((pred == labels).mean()), "n": len(labels)}) + "\\n")
        return value


    def raises(pred, labels):
        raise RuntimeError("no score today")


    def too_big(pred, labels):
        return np.float64(1.5)


    def a_string(pred, labels):
        return "0.9"


    def large_split_only(pred, labels):
        return 0.5 if len(labels) < 90 else float("nan")  # fine at preflight, NaN on the validation split
''')


def _imbalanced(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """INT4 features, 70% of samples in class 0: macro-F1 and accuracy part ways."""
    rng = np.random.default_rng(seed)
    y = rng.choice(CLASSES, size=n, p=[0.7, 0.1, 0.1, 0.1])
    centroids = np.random.default_rng(0).integers(-4, 5, size=(CLASSES, FEATURES))
    return np.clip(centroids[y] + rng.integers(-6, 7, size=(n, FEATURES)), -8, 7).astype(np.int8), y.astype(np.int64)


def _study(tmp: Path, metric: str, **training: Any) -> Path:
    (x_train, y_train), (x_test, y_test) = _imbalanced(600, 1), _imbalanced(TEST, 2)
    npz = tmp / "features.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = {"name": "own-metric", "sampler": "random", "n_trials": 1, "seed": 0,
            "dataset": {"kind": "npz", "path": str(npz), "num_classes": CLASSES, "input_datatype": "INT4"},
            "space": {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [32], "hidden_layers": [1],
                      "folding": {"target_fps": {"low": 1e5, "high": 1e6, "log": True}}},
            "training": {"epochs": 2, "val_size": VAL, "batch_size": 50, "lr": 0.02, "metric": metric, **training},
            "evaluation": {"finn_confirm": False}, "objectives": ["accuracy", "lut"]}
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _metrics_file(tmp: Path) -> tuple[Path, Path]:
    log = tmp / "scored.jsonl"
    module = tmp / "my_metrics.py"
    module.write_text(METRICS.replace("LOG = None", f"LOG = {str(log)!r}"))
    return module, log


@pytest.mark.slow
def test_a_user_metric_is_the_studys_objective(tmp_path: Path) -> None:
    import dse

    module, log = _metrics_file(tmp_path)
    work = tmp_path / "w"
    finn_dse("run", str(_study(tmp_path, f"{module}:macro_f1")), "--workdir", str(work))
    scored = [json.loads(line) for line in log.read_text().splitlines()]
    on_val = {round(s["value"], 12): s for s in scored if s["n"] == VAL}
    on_test = {round(s["value"], 12): s for s in scored if s["n"] == TEST}
    assert on_val and on_test  # called on whole splits: the validation checks and the test split once

    study = dse.load_study(work)
    done = [t for t in study.optuna.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert done
    for t in done:
        # the first objective ("accuracy") is the metric's validation score, the test figure its test score
        assert round(t.values[0], 12) in on_val, (t.values, sorted(on_val))
        assert round(t.user_attrs["val_accuracy"], 12) in on_val
        assert round(t.user_attrs["test_accuracy"], 12) in on_test
    mine = on_val[round(done[0].values[0], 12)]
    assert abs(mine["value"] - mine["accuracy"]) > 1e-3  # macro-F1, not top-1 accuracy, on imbalanced classes


@pytest.mark.parametrize(("name", "expected"), [
    ("absent", "has no attribute 'absent'"),
    ("raises", "raised RuntimeError: no score today"),
    ("too_big", "returned 1.5, expected a float in [0, 1]"),
    ("a_string", "returned str '0.9', expected a float in [0, 1]"),
])
def test_a_bad_metric_is_one_line_before_the_study(name: str, expected: str, tmp_path: Path) -> None:
    module, _ = _metrics_file(tmp_path)
    proc = finn_dse("run", str(_study(tmp_path, f"{module}:{name}")), "--workdir", str(tmp_path / "w"), check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert "training.metric" in lines[0] and expected in lines[0], lines[0]
    assert not (tmp_path / "w" / "study.db").exists()  # refused before a study is created


@pytest.mark.slow
def test_a_metric_failing_mid_study_ends_it_in_one_line(tmp_path: Path) -> None:
    module, _ = _metrics_file(tmp_path)
    proc = finn_dse("run", str(_study(tmp_path, f"{module}:large_split_only")), "--workdir", str(tmp_path / "w"),
                    check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "large_split_only': returned nan, expected a float in [0, 1]" in lines[-1], lines[-1]


def test_metric_refs_are_validated_and_key_networks_only_when_set() -> None:
    base = {"name": "m"}
    with pytest.raises(ConfigError, match="training.metric: expected 'package.module:function'"):
        parse_spec({**base, "training": {"metric": "no_colon"}})
    plain = parse_spec(base).training
    assert "metric" not in plain.identity() and plain.metric_label == "accuracy"
    own = parse_spec({**base, "training": {"metric": "sklearn.metrics:balanced_accuracy_score"}}).training
    assert own.identity()["metric"] == "sklearn.metrics:balanced_accuracy_score"
    assert own.metric_label == "balanced_accuracy_score"
    check_metric(own, 10)  # an installed package's metric imports and scores perfect predictions 1.0


def test_metric_scores_are_checked() -> None:
    labels = np.array([0, 1, 1])
    ok = UserMetric("m:f", "logits", lambda logits, y: np.float32(logits.shape[1] / 4))
    assert ok.score(labels, np.zeros((3, 2)), labels) == 0.5  # logits go first when asked for
    for bad in (True, float("inf"), -0.1, np.array([0.5, 0.5]), None):
        with pytest.raises(ConfigError, match="expected a float in \\[0, 1\\]"):
            UserMetric("m:f", "predictions", lambda p, y, v=bad: v).score(labels, labels, labels)
