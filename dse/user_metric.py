"""A study's own validation metric (``training.metric`` in the study file, declared in dse/spec.py).

The function is named as user models are (``package.module:function`` or ``path/to/file.py:function``)
and called as ``fn(predictions, labels)`` or ``fn(logits, labels)`` (``training.metric_on``) on numpy
arrays of a whole validation or test split: predictions are class indices (N,) as
dse.training.predict makes them, logits the network's outputs (N, classes), or (N, 1) for a binary
classifier. It returns a float in [0, 1], higher is better: the search uses it wherever it would
use top-1 accuracy. A metric that cannot be imported, raises, or returns anything else is the
user's mistake: one ConfigError line naming it (the CLI exits 2), also when it happens mid-study.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.errors import ConfigError, shorten

if TYPE_CHECKING:
    from dse.spec import TrainingSpec

_ROLE = "training.metric"


@dataclass(frozen=True, slots=True)
class UserMetric:
    """The imported metric function, with what it is called on."""

    ref: str
    on: str  # "predictions" or "logits"
    fn: Callable[..., Any]

    def score(self, predictions: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> float:
        """The metric on one split, checked: a finite float in [0, 1]."""
        first = predictions if self.on == "predictions" else logits
        try:
            value = self.fn(first, labels)
        except SystemExit as err:  # no Exception: uncaught it would end finn-dse with the metric's status
            raise ConfigError(f"{_ROLE} {self.ref!r}: called sys.exit({err.code!r})") from None
        except Exception as err:
            msg = " ".join(str(err).split())
            raise ConfigError(f"{_ROLE} {self.ref!r}: raised {type(err).__name__}: {msg} "
                              f"(called on {self.on} of shape {tuple(first.shape)} and labels of shape "
                              f"{tuple(labels.shape)})") from err
        # numpy float/int scalars are numbers.Real; bool (a common slip: a comparison) is not a score.
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{_ROLE} {self.ref!r}: returned {type(value).__name__} {' '.join(shorten(value).split())}, "
                              "expected a float in [0, 1] (higher is better)")
        number = float(value)
        if not math.isfinite(number) or not 0.0 <= number <= 1.0:
            raise ConfigError(f"{_ROLE} {self.ref!r}: returned {number!r}, expected a float in [0, 1] "
                              "(higher is better)")
        return number


_LOADED: dict[tuple[str, str], UserMetric] = {}


def load_metric(ref: str, on: str = "predictions") -> UserMetric:
    """Import the metric ``ref`` names (once per process)."""
    if (ref, on) not in _LOADED:
        from dse.models.user import resolve_user_model

        _LOADED[(ref, on)] = UserMetric(ref=ref, on=on, fn=resolve_user_model(ref, role=_ROLE))
    return _LOADED[(ref, on)]


def study_metric(training: TrainingSpec) -> UserMetric | None:
    """The study's metric, or None for top-1 accuracy."""
    return None if training.metric is None else load_metric(training.metric, training.metric_on)


def check_metric(training: TrainingSpec, num_classes: int) -> None:
    """Preflight: the metric imports and, on predictions, scores perfect predictions of every class
    as a float in [0, 1] (a metric that raises or returns a wrong type says so before any training).
    A logits metric is only imported: the logits' width depends on the network."""
    metric = study_metric(training)
    if metric is None or metric.on != "predictions":
        return
    labels = np.tile(np.arange(num_classes, dtype=np.int64), max(1, 64 // num_classes))
    metric.score(labels.copy(), np.zeros((len(labels), 0), dtype=np.float32), labels)
