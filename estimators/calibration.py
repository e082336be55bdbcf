"""Corrections of the estimators' per-node resources, learned from synthesized designs.

The estimators restate FINN's pre-synthesis models; Vivado's post-synthesis counts differ from
them in ways that depend on the node type. Given samples (node type, resource, estimate,
post-synthesis value) from synthesized designs, ``fit_calibration`` learns one correction per
(op_type, resource):

* the model is an ordinary least-squares affine fit ``synth ~ a * estimate + b`` (``kind="affine"``,
  the default) or a scale factor through the origin ``a = sum(e*m) / sum(e*e)`` (``kind="scale"``);
  an affine fit whose estimates do not vary falls back to the scale factor;
* a pair needs at least ``min_samples`` nodes (default 5); below that it stays uncorrected;
* a correction is used only if its leave-one-out MAPE (each node predicted by a fit that did not
  see it) beats the uncorrected MAPE, so a handful of noisy nodes cannot make things worse;
* corrected values are clamped at 0.

MAPE (mean absolute percentage error, in %) is taken over the samples whose synthesized value is
> 0; nodes that synthesize to 0 of a resource (most BRAM/URAM/DSP counts) have no percentage
error and are left out of it (they still take part in the fit).

Op types are FINN's without the implementation suffix (``MVAU_hls`` -> ``MVAU``), as the
estimators' layer records name them. Pure: stdlib + numpy.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from estimators.core import NodeCost

Resource = Literal["lut", "bram18", "uram", "dsp"]
RESOURCES: tuple[Resource, ...] = ("lut", "bram18", "uram", "dsp")
Kind = Literal["affine", "scale"]
MIN_SAMPLES = 5
_IMPL_SUFFIXES = ("_hls", "_rtl")


def base_op_type(op_type: str) -> str:
    """FINN's op type without its implementation suffix: ``MVAU_hls`` -> ``MVAU``."""
    for suffix in _IMPL_SUFFIXES:
        if op_type.endswith(suffix):
            return op_type[: -len(suffix)]
    return op_type


@dataclass(frozen=True, slots=True)
class Sample:
    """One node of one synthesized design: FINN's estimate and the synthesized count."""

    op_type: str
    resource: str
    estimate: float
    measured: float
    design: str = ""  # where it came from (study/trial/job), for reports

    def __post_init__(self) -> None:
        if self.resource not in RESOURCES:
            raise ValueError(f"resource must be one of {RESOURCES}, got {self.resource!r}")
        for name in ("estimate", "measured"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        object.__setattr__(self, "op_type", base_op_type(self.op_type))


def mape(estimates: Sequence[float], measured: Sequence[float]) -> float | None:
    """Mean absolute percentage error (%) over the pairs with measured > 0; None if there are none."""
    errors = [abs(e - m) / m for e, m in zip(estimates, measured) if m > 0]
    return 100.0 * sum(errors) / len(errors) if errors else None


@dataclass(frozen=True, slots=True)
class Correction:
    """The correction of one (op_type, resource): ``corrected = max(0, a * estimate + b)``."""

    op_type: str
    resource: str
    kind: Literal["affine", "scale", "none"]
    a: float = 1.0
    b: float = 0.0
    n: int = 0  # samples
    mape_before: float | None = None  # uncorrected, over the samples (%)
    mape_after: float | None = None  # corrected, in-sample (%)
    mape_loo: float | None = None  # corrected, leave-one-out (%)
    used: bool = False  # applied by ``Calibration.correct``
    note: str = ""

    def apply(self, value: float) -> float:
        if not self.used:
            return value
        return max(0.0, self.a * value + self.b)


def _fit(e: np.ndarray, m: np.ndarray, kind: Kind) -> tuple[Literal["affine", "scale"], float, float]:
    """Least squares; ``affine`` falls back to ``scale`` when the estimates do not vary."""
    if kind == "affine" and len(e) >= 2 and float(np.ptp(e)) > 0:
        design = np.column_stack([e, np.ones_like(e)])
        (a, b), *_ = np.linalg.lstsq(design, m, rcond=None)
        return "affine", float(a), float(b)
    denom = float(np.dot(e, e))
    return "scale", (float(np.dot(e, m)) / denom if denom > 0 else 1.0), 0.0


def _predict(a: float, b: float, e: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum(0.0, a * e + b)
    return out


def _fit_pair(op_type: str, resource: str, e: np.ndarray, m: np.ndarray, *, min_samples: int,
              kind: Kind) -> Correction:
    n = len(e)
    before = mape(e.tolist(), m.tolist())
    if n < min_samples:
        return Correction(op_type, resource, "none", n=n, mape_before=before,
                          note=f"{n} sample(s), fewer than {min_samples}: not corrected")
    used_kind, a, b = _fit(e, m, kind)
    after = mape(_predict(a, b, e).tolist(), m.tolist())
    loo_pred = []
    for i in range(n):
        keep = np.arange(n) != i
        _, ai, bi = _fit(e[keep], m[keep], used_kind)
        loo_pred.append(float(_predict(ai, bi, e[i:i + 1])[0]))
    loo = mape(loo_pred, m.tolist())
    if before is None or loo is None:
        # Every sample synthesized to 0: the fit is exact where it matters (a = b = 0 predicts 0).
        used = bool(np.all(m == 0)) and bool(np.any(e > 0))
        note = "all synthesized values are 0" if used else "no sample with a synthesized value > 0"
    else:
        used = loo < before
        note = "" if used else f"leave-one-out MAPE {loo:.1f}% does not beat the uncorrected {before:.1f}%"
    return Correction(op_type, resource, used_kind, a=a, b=b, n=n, mape_before=before, mape_after=after,
                      mape_loo=loo, used=used, note=note)


@dataclass(frozen=True, slots=True)
class ResourceSummary:
    """MAPE of one resource over all samples, uncorrected and corrected (in-sample)."""

    resource: str
    n: int
    mape_before: float | None
    mape_after: float | None


@dataclass(frozen=True, slots=True)
class Calibration:
    """Corrections per (op_type, resource), learned by ``fit_calibration``."""

    corrections: Mapping[tuple[str, str], Correction] = field(default_factory=dict)
    min_samples: int = MIN_SAMPLES
    kind: str = "affine"

    def correction(self, op_type: str, resource: str) -> Correction | None:
        return self.corrections.get((base_op_type(op_type), resource))

    def correct(self, op_type: str, resource: str, value: float) -> float:
        """The corrected value (unchanged where no correction is used)."""
        c = self.correction(op_type, resource)
        return value if c is None else c.apply(value)

    def correct_cost(self, op_type: str, cost: NodeCost) -> NodeCost:
        """A node's cost with its resources corrected (cycles are not calibrated)."""
        return replace(cost, lut=self.correct(op_type, "lut", cost.lut),
                       bram18=self.correct(op_type, "bram18", cost.bram18),
                       uram=self.correct(op_type, "uram", cost.uram), dsp=self.correct(op_type, "dsp", cost.dsp))

    @property
    def used(self) -> tuple[Correction, ...]:
        return tuple(c for c in self.corrections.values() if c.used)

    def table(self) -> list[Correction]:
        """Every (op_type, resource) seen, sorted."""
        return [self.corrections[k] for k in sorted(self.corrections)]

    def to_dict(self) -> dict[str, Any]:
        return {"min_samples": self.min_samples, "kind": self.kind,
                "corrections": [{"op_type": c.op_type, "resource": c.resource, "kind": c.kind, "a": c.a, "b": c.b,
                                 "n": c.n, "mape_before": c.mape_before, "mape_after": c.mape_after,
                                 "mape_loo": c.mape_loo, "used": c.used, "note": c.note} for c in self.table()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        corrections = {}
        for row in data.get("corrections", ()):
            c = Correction(op_type=str(row["op_type"]), resource=str(row["resource"]), kind=row["kind"],
                           a=float(row["a"]), b=float(row["b"]), n=int(row["n"]),
                           mape_before=row.get("mape_before"), mape_after=row.get("mape_after"),
                           mape_loo=row.get("mape_loo"), used=bool(row["used"]), note=str(row.get("note", "")))
            corrections[(c.op_type, c.resource)] = c
        return cls(corrections=corrections, min_samples=int(data.get("min_samples", MIN_SAMPLES)),
                   kind=str(data.get("kind", "affine")))


def fit_calibration(samples: Iterable[Sample], *, min_samples: int = MIN_SAMPLES,
                    kind: Kind = "affine") -> Calibration:
    """One correction per (op_type, resource) seen in ``samples`` (see the module docstring)."""
    if min_samples < 2:
        raise ValueError(f"min_samples must be >= 2, got {min_samples}")
    if kind not in ("affine", "scale"):
        raise ValueError(f"kind must be 'affine' or 'scale', got {kind!r}")
    groups: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.op_type, s.resource), []).append(s)
    corrections = {}
    for (op_type, resource), group in groups.items():
        e = np.array([s.estimate for s in group], dtype=float)
        m = np.array([s.measured for s in group], dtype=float)
        corrections[(op_type, resource)] = _fit_pair(op_type, resource, e, m, min_samples=min_samples, kind=kind)
    return Calibration(corrections=corrections, min_samples=min_samples, kind=kind)


def resource_summary(samples: Iterable[Sample], calibration: Calibration) -> list[ResourceSummary]:
    """Per resource, over all samples: MAPE of the raw estimates and of the corrected ones."""
    rows = list(samples)
    out = []
    for resource in RESOURCES:
        mine = [s for s in rows if s.resource == resource]
        if not mine:
            continue
        est = [s.estimate for s in mine]
        fixed = [calibration.correct(s.op_type, resource, s.estimate) for s in mine]
        measured = [s.measured for s in mine]
        out.append(ResourceSummary(resource, len(mine), mape(est, measured), mape(fixed, measured)))
    return out
