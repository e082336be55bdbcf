"""Promote Pareto candidates to builds (and built designs to board measurements).

Which candidates: the study's feasible Pareto front (Optuna's ``best_trials``) minus the designs
that were never trained (stopped by the estimators or by early stopping: ``export`` refuses
them). From those, ``top`` are picked greedily by hypervolume contribution: objectives are turned
into losses (maximised ones negated), normalised to [0, 1] over the front, and each step takes the
candidate that adds the most hypervolume (reference point 1.1 in every objective) to the ones
already picked. The first pick is the design with the largest dominated box; later picks fill the
largest gaps, so the selection spreads over the front instead of clustering at one end.
The hypervolume is exact (dse.hypervolume).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.errors import BackendError, ConfigError
from dse.hypervolume import hypervolume
from dse.jobs.controller import JobContext, _refresh_all, open_jobs, submit_job
from dse.jobs.store import JobRecord

if TYPE_CHECKING:
    from dse.launch import ClusterProfile

logger = logging.getLogger(__name__)

BUILD_MODES = ("full", "estimate-only")
REFERENCE = 1.1  # reference point in every normalised loss


def normalised_losses(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Objective values -> losses in [0, 1] over the given points (maximised objectives negated)."""
    losses = np.array(values, dtype=float) * np.array([-1.0 if d.lower().startswith("max") else 1.0
                                                       for d in directions])
    lo, hi = losses.min(axis=0), losses.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    out: np.ndarray = (losses - lo) / span
    return out


def select_spread(losses: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Greedy hypervolume-contribution selection of ``k`` rows of ``losses`` (normalised):
    (row index, hypervolume it added when picked), in the order picked."""
    ref = np.full(losses.shape[1], REFERENCE)
    chosen: list[int] = []
    out: list[tuple[int, float]] = []
    base = 0.0
    for _ in range(min(k, len(losses))):
        best, gain = -1, -1.0
        for i in range(len(losses)):
            if i in chosen:
                continue
            hv = hypervolume(losses[[*chosen, i]], ref)
            if hv - base > gain + 1e-15:
                best, gain = i, hv - base
        chosen.append(best)
        out.append((best, gain))
        base += gain
    return out


@dataclass(frozen=True, slots=True)
class Candidate:
    trial: int
    hv_contribution: float
    values: tuple[float, ...]
    bundle: Path | None = None
    job: JobRecord | None = None
    submitted: bool = False  # False: an existing job for this candidate was reused


@dataclass(frozen=True, slots=True)
class Promotion:
    selected: tuple[Candidate, ...]
    skipped: tuple[tuple[int, str], ...] = ()  # (trial, why it cannot be promoted)
    front: tuple[int, ...] = field(default=())

    @property
    def jobs(self) -> list[JobRecord]:
        return [c.job for c in self.selected if c.job is not None]

    def to_text(self) -> str:
        lines = [f"Pareto front: trials {', '.join(map(str, self.front)) or 'none'}; "
                 f"promoted {len(self.selected)} (greedy hypervolume contribution)"]
        for c in self.selected:
            job = c.job
            what = (f"job {job.id} {job.kind} {job.mode} on {job.backend} {job.backend_id or ''} {job.state}"
                    if job is not None else "no job")
            lines.append(f"  trial {c.trial}: +{c.hv_contribution:.4f} hypervolume, {what}"
                         + ("" if c.submitted else " (already submitted: reused)"))
        for number, why in self.skipped:
            lines.append(f"  trial {number} not promoted: {why}")
        return "\n".join(lines)


def _digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pick_candidates(study: Any, top: int) -> tuple[list[tuple[int, float, tuple[float, ...]]], list[tuple[int, str]],
                                                     list[int]]:
    """(trial, contribution, values) picked from the front; (trial, reason) left out; the front's trial numbers."""
    if top < 1:
        raise ConfigError(f"--top must be >= 1, got {top}")
    front = sorted(study.best_trials, key=lambda t: t.number)
    skipped = []
    eligible = []
    for t in front:
        stopped = t.user_attrs.get("stopped_by")
        if stopped is not None:
            why = "stopped by the estimators before training" if stopped == "estimator" else "training stopped early"
            skipped.append((t.number, f"never trained ({why}): nothing to build"))
        else:
            eligible.append(t)
    if not eligible:
        return [], skipped, [t.number for t in front]
    directions = [d.name for d in study.directions]
    losses = normalised_losses(np.array([t.values for t in eligible]), directions)
    picked = select_spread(losses, top)
    return ([(eligible[i].number, gain, tuple(float(v) for v in eligible[i].values)) for i, gain in picked],
            skipped, [t.number for t in front])


def promote(workdir: Path, top: int = 3, *, backend: str = "local", mode: str = "full",
            profile: ClusterProfile | Path | str | None = None, storage: str | None = None,
            build_options: Mapping[str, Any] | None = None, finn_args: Sequence[str] = ()) -> Promotion:
    """Pick ``top`` Pareto candidates spread over the front, export their bundles and submit one
    build job each (``mode``: ``full`` = `finn build` with synthesis, ``estimate-only`` = FINN's
    estimate flow only, no Vivado). A candidate that already has an active or completed build
    of the same mode and options is not submitted again: its job is returned.

    ``build_options`` go into the bundle's build.yaml (as ``export --build-option``); ``finn_args``
    are extra arguments of ``finn build`` (e.g. ``--skip-dep-update``, ``--dependency-path DIR``).
    """
    if mode not in BUILD_MODES:
        raise ConfigError(f"mode must be one of {BUILD_MODES}, got {mode!r}")
    ctx = open_jobs(workdir, storage)
    try:
        return _promote(ctx, top, backend=backend, mode=mode, profile=profile, build_options=build_options or {},
                        finn_args=list(finn_args))
    finally:
        ctx.close()


def _promote(ctx: JobContext, top: int, *, backend: str, mode: str, profile: ClusterProfile | Path | str | None,
             build_options: Mapping[str, Any], finn_args: list[str]) -> Promotion:
    from dse.export import export_bundle

    study = ctx.study
    picked, skipped, front = pick_candidates(study, top)
    digest = _digest({"mode": mode, "options": dict(build_options) if mode == "full" else {}})
    selected = []
    for number, gain, values in picked:
        key = f"{ctx.study_name}/{number}/build/{mode}/{digest}"
        existing = ctx.store.by_active_key(key)
        if existing is not None:
            selected.append(Candidate(number, gain, values, Path(existing.options.get("bundle", "")), existing, False))
            continue
        bundle_dir = ctx.workdir / "promoted" / f"{number:05d}" / ("bundle" if mode == "estimate-only" else
                                                                    f"bundle-{digest}")
        try:
            bundle = export_bundle(study, ctx.workdir, number, bundle_dir, force=True,
                                   build_options=build_options if mode == "full" else None)
        except ConfigError as err:
            skipped.append((number, str(err)))
            continue
        clock = json.loads((bundle.path / "estimates.json").read_text())["hardware"].get("clock_ns")
        job, submitted = submit_job(ctx, trial=number, kind="build", mode=mode, backend=backend, active_key=key,
                                    spec={"bundle": str(bundle.path.resolve()),
                                          "options": {"bundle": str(bundle.path.resolve()), "clock_ns": clock,
                                                      "build_options": dict(build_options), "finn_args": finn_args}},
                                    profile=profile)
        selected.append(Candidate(number, gain, values, bundle.path, job, submitted))
    if not selected:  # nothing submitted or reused: an error, not a silent success
        if not front:
            raise ConfigError(f"nothing to promote: study {ctx.study_name!r} has no feasible trial on its Pareto front yet")
        why = "; ".join(f"trial {n}: {r}" for n, r in skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        raise ConfigError(f"nothing to promote: no trial of the Pareto front can be built ({why})")
    return Promotion(selected=tuple(selected), skipped=tuple(skipped), front=tuple(front))


def _local_board_or_fail() -> None:
    """A local measurement runs here: without XRT, a U280 or the driver packages it cannot."""
    import importlib.util
    import os

    from dse.jobs.tools import measure_tools, missing_text

    checks = measure_tools(os.environ, python_has=lambda m: importlib.util.find_spec(m) is not None)
    if not all(c.ok for c in checks):
        raise BackendError(f"cannot measure on this machine: {missing_text(checks)}")


def measure(workdir: Path, trial: int, *, backend: str = "local", profile: ClusterProfile | Path | str | None = None,
            storage: str | None = None, batch_size: int = 10000, device: str | None = None,
            duration_s: float = 20.0) -> JobRecord:
    """Submit a board measurement of ``trial``'s synthesized build (its latest COMPLETED full build).

    With no full build at all, or (``backend="local"``) without XRT, a U280 or the driver packages
    here, it raises at once (one line). With a full build still pending, the job is submitted and,
    if no bitfile turns up, ends FAILED saying so (next to whatever else is missing on the node).
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    ctx = open_jobs(workdir, storage)
    try:
        _refresh_all(ctx)
        builds = [j for j in ctx.store.list(study=ctx.study_name, trial=trial, kind="build")]
        built = [j for j in builds if j.state == "COMPLETED" and j.mode == "full" and (j.result or {}).get("bitfile")]
        options: dict[str, Any] = {"batch_size": batch_size, "device": device, "duration_s": duration_s}
        if built:
            b = built[-1]
            options.update(build_job=b.id, bitfile=(b.result or {}).get("bitfile"),
                           driver_settings=(b.result or {}).get("driver_settings"))
        else:
            described = ", ".join(f"job {j.id} {j.mode} {j.state}" for j in builds) or "none"
            reason = f"trial {trial} has no completed synthesized build with a bitfile (its builds: {described})"
            if not any(j.mode == "full" and j.state in ("SUBMITTING", "PENDING", "RUNNING") for j in builds):
                # Nothing that could produce a bitfile: say so now rather than submit a job bound to fail.
                raise ConfigError(f"{reason}; build it first: finn-dse promote --workdir {workdir} --mode full")
            options["no_bitfile_reason"] = reason
        if backend == "local":
            _local_board_or_fail()
        key = f"{ctx.study_name}/{trial}/measure/{options.get('build_job', 'none')}/{batch_size}/{device}"
        job, _ = submit_job(ctx, trial=trial, kind="measure", mode="throughput", backend=backend, active_key=key,
                            spec={"options": options}, profile=profile)
        return job
    finally:
        ctx.close()
