"""The calibration dataset of a study (per-node estimate vs synthesis) and its calibration report.

``<workdir>/calibration/nodes.csv`` gets one row per (synthesized node, resource) whenever a
synthesized build is ingested: the study, trial and job, the report file it came from, the node and
its FINN op type, FINN's estimate for that node (from the same build's estimate report) and the
post-synthesis count. ``calibration_report`` fits estimators.calibration on it, writes the result
to ``<workdir>/calibration/calibration.json`` (what ``load_calibration`` gives the estimators) and
returns the table with MAPE per resource before and after.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dse.artifacts import write_atomic, write_json
from estimators.calibration import (MIN_SAMPLES, Calibration, Correction, ResourceSummary, Sample, fit_calibration,
                                    resource_summary)

COLUMNS = ("study", "trial", "job", "source", "node", "finn_op_type", "op_type", "resource", "estimate", "measured")
_KEY = ("study", "source", "node", "resource")  # source: the report file (one per build)


def dataset_path(workdir: Path) -> Path:
    return Path(workdir) / "calibration" / "nodes.csv"


def calibration_path(workdir: Path) -> Path:
    return Path(workdir) / "calibration" / "calibration.json"


def read_rows(workdir: Path) -> list[dict[str, str]]:
    path = dataset_path(workdir)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def append_rows(workdir: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Add rows (idempotent: a (study, report file, node, resource) already there is kept). Returns how many were new."""
    path = dataset_path(workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = read_rows(workdir)
        seen = {tuple(str(r[k]) for k in _KEY) for r in existing}
        new = []
        for row in rows:
            key = tuple(str(row[k]) for k in _KEY)
            if key not in seen:
                seen.add(key)
                new.append({k: row.get(k, "") for k in COLUMNS})
        if new:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows([{k: r.get(k, "") for k in COLUMNS} for r in existing] + new)
            write_atomic(path, buf.getvalue())
    return len(new)


def load_samples(workdir: Path) -> list[Sample]:
    samples = []
    for r in read_rows(workdir):
        est, meas = float(r["estimate"]), float(r["measured"])
        if math.isfinite(est) and math.isfinite(meas):
            samples.append(Sample(r["op_type"], r["resource"], est, meas, design=f"trial {r['trial']} job {r['job']}"))
    return samples


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """What the calibration learned: one row per (op_type, resource), and MAPE per resource."""

    calibration: Calibration
    resources: tuple[ResourceSummary, ...]
    samples: int
    designs: int
    path: Path | None  # where calibration.json was written

    @property
    def rows(self) -> list[Correction]:
        return self.calibration.table()

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "designs": self.designs, **self.calibration.to_dict(),
                "resources": [{"resource": r.resource, "n": r.n, "mape_before": r.mape_before,
                               "mape_after": r.mape_after} for r in self.resources]}

    def to_text(self) -> str:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}%"

        if not self.samples:
            return ("no calibration data yet: it comes from synthesized builds "
                    "(estimate-only builds add none)")
        lines = [f"calibration from {self.samples} node figures of {self.designs} synthesized design(s) "
                 f"(model: {self.calibration.kind} least squares per op type and resource, "
                 f">= {self.calibration.min_samples} samples, used if leave-one-out MAPE improves)",
                 f"{'op type':<28}{'resource':<9}{'n':>5}{'model':>8}{'a':>9}{'b':>10}{'MAPE before':>13}"
                 f"{'after':>9}{'LOO':>9}  used"]
        for c in self.rows:
            lines.append(f"{c.op_type:<28}{c.resource:<9}{c.n:>5}{c.kind:>8}{c.a:>9.3f}{c.b:>10.1f}"
                         f"{pct(c.mape_before):>13}{pct(c.mape_after):>9}{pct(c.mape_loo):>9}  "
                         f"{'yes' if c.used else 'no'}{'  (' + c.note + ')' if c.note else ''}")
        lines.append("per resource (all nodes): " + ", ".join(
            f"{r.resource} {pct(r.mape_before)} -> {pct(r.mape_after)} (n={r.n})" for r in self.resources))
        return "\n".join(lines)


def calibration_report(workdir: Path, *, min_samples: int = MIN_SAMPLES, kind: str = "affine",
                       write: bool = True) -> CalibrationReport:
    """Fit the calibration on the study's dataset; the table of corrections and MAPE before/after."""
    workdir = Path(workdir)
    samples = load_samples(workdir)
    calib = fit_calibration(samples, min_samples=min_samples, kind=kind)  # type: ignore[arg-type]
    designs = len({(r["study"], r["source"]) for r in read_rows(workdir)})
    path = None
    if write and samples:
        path = write_json(calibration_path(workdir), {**calib.to_dict(), "samples": len(samples), "designs": designs})
    return CalibrationReport(calibration=calib, resources=tuple(resource_summary(samples, calib)),
                             samples=len(samples), designs=designs, path=path)


def load_calibration(workdir: Path) -> Calibration | None:
    """The study's calibration for the estimators (``estimate_graph(..., calibration=...)``), or None
    when no synthesized design has been ingested yet."""
    path = calibration_path(Path(workdir))
    if path.exists():
        return Calibration.from_dict(json.loads(path.read_text()))
    if dataset_path(Path(workdir)).exists():
        report = calibration_report(workdir)
        return report.calibration if report.samples else None
    return None
