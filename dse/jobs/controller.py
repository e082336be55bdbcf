"""The controller side of jobs: submit, follow, cancel, ingest. Stateless between calls.

Every call opens the study's job table, so any process (a notebook, a `finn-dse jobs` call, a
controller restarted after a crash) sees and continues the same jobs: ``refresh_jobs`` reads each
unfinished job's result file and its backend's state, records what happened, and ingests what
finished (once: see JobStore.ingest).

Layout: ``<workdir>/jobs/<kind>-<trial>-<token>/`` holds ``job.json`` (what to do), ``job.sh``
(the script the backend runs), ``log.txt`` (everything the job printed), ``status.json`` /
``result.json`` (written by the job) and ``out/`` (what it produced).
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import write_atomic, write_json
from dse.errors import ConfigError, DSEError
from dse.jobs.backends import BackendState, job_script, make_backend
from dse.jobs.store import TERMINAL, JobRecord, JobStore

if TYPE_CHECKING:
    import optuna

    from dse.launch import ClusterProfile

logger = logging.getLogger(__name__)

SUBMIT_GRACE_S = 120.0  # a job still SUBMITTING after this long, found nowhere, has failed to submit


@dataclass
class JobContext:
    """One study's jobs: its work directory, database URL, job table."""

    workdir: Path
    study_name: str
    url: str
    store: JobStore
    _study: Any = None

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            from dse.storage.database import load_study

            self._study = load_study(self.workdir, self.url)
        return self._study

    def close(self) -> None:
        self.store.close()


def open_jobs(workdir: Path, storage: str | None = None) -> JobContext:
    """The job table of the study in ``workdir`` (``storage`` overrides the URL in study.json)."""
    workdir = Path(workdir).resolve()
    from dse.storage.database import read_meta, study_url

    url = study_url(workdir, storage)
    return JobContext(workdir=workdir, study_name=read_meta(workdir)["study_name"], url=url, store=JobStore(url))


def _resolve_profile(profile: ClusterProfile | Path | str | None) -> ClusterProfile | None:
    if profile is None:
        return None
    from dse.launch import ClusterProfile, load_profile

    if isinstance(profile, ClusterProfile):
        return profile
    return load_profile(Path(profile))


def submit_job(ctx: JobContext, *, trial: int, kind: str, mode: str, backend: str, active_key: str | None,
               spec: Mapping[str, Any], profile: ClusterProfile | Path | str | None = None) -> tuple[JobRecord, bool]:
    """Create and start a job, unless an active one with ``active_key`` exists (then: it, False)."""
    from dse.launch import PLACEHOLDER_ACCOUNT

    be = make_backend(backend)
    cluster = _resolve_profile(profile)
    job_profile = cluster.job_profile("build" if kind == "build" else "measure") if cluster is not None else None
    if backend == "slurm":
        if job_profile is not None and job_profile.account == PLACEHOLDER_ACCOUNT:
            raise ConfigError(f"account {PLACEHOLDER_ACCOUNT!r} in the cluster profile is a placeholder: give your "
                              "compute-time project (`sacctmgr show assoc user=$USER`) or edit the profile")
        if job_profile is None:
            from dse.launch import ClusterProfile

            job_profile = ClusterProfile().job_profile("build" if kind == "build" else "measure")
    # A multi-card bundle's board job needs its K cards; its build runs on one node like any other.
    cards = int(spec.get("options", {}).get("fpgas") or 1) if kind == "measure" else 1
    if job_profile is not None:
        job_profile.multi_card_sbatch(cards)  # a profile that cannot place it: refused before any record
    if active_key is not None:
        existing = ctx.store.by_active_key(active_key)
        if existing is not None:
            return existing, False
    token = secrets.token_hex(6)
    job_dir = ctx.workdir / "jobs" / f"{kind}-{trial:05d}-{token}"
    rec, created = ctx.store.create(
        token=token, study=ctx.study_name, trial=trial, kind=kind, mode=mode, backend=backend, active_key=active_key,
        job_dir=str(job_dir), log_path=str(job_dir / "log.txt"), output_dir=str(job_dir / "out"),
        options={**spec.get("options", {}), "profile": job_profile.model_dump(mode="json") if job_profile else None})
    if not created:
        return rec, False
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        write_json(job_dir / "job.json", {"id": rec.id, "token": token, "kind": kind, "mode": mode,
                                          "study": ctx.study_name, "trial": trial, "output_dir": rec.output_dir,
                                          **spec})
        script = write_atomic(job_dir / "job.sh", job_script(rec, job_profile, cards=cards))
        backend_id = be.submit(rec, script)
    except Exception as err:
        ctx.store.update(rec.id, state="FAILED", reason=f"submission failed: {err}", end_time=time.time())
        raise
    ctx.store.update(rec.id, state="PENDING", backend_id=backend_id, submit_time=time.time())
    logger.info("job %d (%s %s, trial %d) submitted to %s as %s", rec.id, kind, mode, trial, backend, backend_id)
    return ctx.store.get(rec.id), True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return None


def refresh_job(ctx: JobContext, rec: JobRecord) -> JobRecord:
    """Bring one job's record up to date (result file first, then the backend's view)."""
    if rec.terminal or rec.backend == "manual":
        return rec
    job_dir = Path(rec.job_dir)
    result = _read_json(job_dir / "result.json")
    if result is not None:
        ctx.store.update(rec.id, state=result.get("state", "FAILED"), reason=result.get("reason"), result=result,
                         start_time=result.get("start_time") or rec.start_time,
                         end_time=result.get("end_time") or time.time())
        return ctx.store.get(rec.id)
    be = make_backend(rec.backend)
    if rec.state == "SUBMITTING" and not rec.backend_id:
        found = be.find(rec)
        if found:
            ctx.store.update(rec.id, state="PENDING", backend_id=found, submit_time=rec.created_time)
            logger.warning("job %d: adopted %s %s after an interrupted submission", rec.id, rec.backend, found)
            rec = ctx.store.get(rec.id)
        elif time.time() - rec.created_time > SUBMIT_GRACE_S:
            ctx.store.update(rec.id, state="FAILED", end_time=time.time(),
                             reason=f"submission was interrupted: no {rec.backend} job {rec.name} found")
            return ctx.store.get(rec.id)
        else:
            return rec
    status = _read_json(job_dir / "status.json")
    state: BackendState = be.poll(rec)
    if state.state in ("PENDING", "RUNNING") or (state.state == "UNKNOWN" and status is not None):
        new = "RUNNING" if state.state == "RUNNING" or status is not None else "PENDING"
        start = (status or {}).get("start_time") or (time.time() if new == "RUNNING" and not rec.start_time else None)
        changes: dict[str, Any] = {"state": new}
        if start and not rec.start_time:
            changes["start_time"] = start
        if new != rec.state or "start_time" in changes:
            ctx.store.update(rec.id, **changes)
            rec = ctx.store.get(rec.id)
        return rec
    if state.state == "UNKNOWN":
        return rec
    # The backend says it ended: the result file may have appeared meanwhile.
    result = _read_json(job_dir / "result.json")
    if result is not None:
        return refresh_job(ctx, rec)
    if state.state == "CANCELLED":
        ctx.store.update(rec.id, state="CANCELLED", end_time=time.time(), reason=f"cancelled in {rec.backend} ({state.detail})")
    else:
        ctx.store.update(rec.id, state="FAILED", end_time=time.time(),
                         reason=f"{rec.backend} job ended ({state.detail or state.state}) before it wrote a result; "
                                f"see {rec.log_path}")
    return ctx.store.get(rec.id)


def ingest(ctx: JobContext, rec: JobRecord) -> bool:
    """Attach a COMPLETED job's results to its trial (once). Returns whether this call did it."""
    if rec.state != "COMPLETED" or rec.ingested:
        return False
    from dse.jobs import ingest as ing
    from dse.jobs.calibration import append_rows
    from dse.jobs.reports import find_build_reports

    label = f"job {rec.id} ({rec.backend} {rec.backend_id or ''})".replace(" )", ")")
    out = Path(rec.output_dir)
    result = rec.result or {}
    trial = next((t for t in ctx.study.get_trials(deepcopy=False) if t.number == rec.trial), None)
    if trial is None:
        raise ConfigError(f"job {rec.id}: study {rec.study!r} has no trial {rec.trial}")
    known = {**trial.user_attrs, **ctx.store.results(rec.study).get(rec.trial, {})}  # earlier jobs' results too
    if rec.kind == "build" and rec.mode == "estimate-only":
        attrs = ing.estimate_only_figures(out, known, job=rec.id)
    elif rec.kind == "build":
        build_dir = Path(result.get("build_dir") or out)
        clock = rec.options.get("clock_ns")
        attrs, rows = ing.build_figures(find_build_reports(build_dir), clock_ns=clock, label=label, study=rec.study,
                                        trial=rec.trial, job=rec.id)
        if not attrs:
            ctx.store.update(rec.id, only_if_active=False, reason="no synthesis report found: nothing recorded")
            return False
        attrs["synth_job"] = rec.id
        append_rows(ctx.workdir, rows)
    else:
        figures = result.get("figures") or {}
        if not figures:
            from dse.jobs.board import derive_measurement

            figures = derive_measurement(json.loads((out / "measurement.json").read_text()))
        attrs = ing.measurement_attrs(figures, label=label, device=rec.options.get("device"))
        attrs["measure_job"] = rec.id
        if "synth_source" not in known:
            attrs["synth_source"] = attrs["measure_source"]
    done = ctx.store.ingest(rec.id, attrs, study=rec.study, trial=rec.trial)
    if done:
        logger.info("job %d: results attached to trial %d (%s)", rec.id, rec.trial, ", ".join(sorted(attrs)))
    return done


def refresh_jobs(workdir: Path, *, storage: str | None = None, ingest_results: bool = True) -> list[JobRecord]:
    """Update every unfinished job of the study and ingest what finished; all its jobs."""
    ctx = open_jobs(workdir, storage)
    try:
        return _refresh_all(ctx, ingest_results=ingest_results)
    finally:
        ctx.close()


def _refresh_all(ctx: JobContext, *, ingest_results: bool = True) -> list[JobRecord]:
    out = []
    for rec in ctx.store.list(study=ctx.study_name):
        rec = refresh_job(ctx, rec)
        if ingest_results and rec.state == "COMPLETED" and not rec.ingested:
            ingest(ctx, rec)
            rec = ctx.store.get(rec.id)
        out.append(rec)
    return out


def list_jobs(workdir: Path, *, storage: str | None = None, refresh: bool = True,
              trial: int | None = None) -> list[JobRecord]:
    """The study's jobs (brought up to date first unless ``refresh=False``)."""
    ctx = open_jobs(workdir, storage)
    try:
        jobs = _refresh_all(ctx) if refresh else ctx.store.list(study=ctx.study_name)
    finally:
        ctx.close()
    return [j for j in jobs if trial is None or j.trial == trial]


def cancel_job(workdir: Path, job_id: int, *, storage: str | None = None) -> JobRecord:
    """Cancel a job (scancel for Slurm, SIGTERM to its process group locally); it ends CANCELLED."""
    ctx = open_jobs(workdir, storage)
    try:
        rec = ctx.store.get(job_id)
        if rec.study != ctx.study_name:
            raise ConfigError(f"job {job_id} belongs to study {rec.study!r}, not {ctx.study_name!r}")
        rec = refresh_job(ctx, rec)
        if rec.terminal:
            raise ConfigError(f"job {job_id} already ended {rec.state}" + (f": {rec.reason}" if rec.reason else ""))
        if rec.backend_id:
            make_backend(rec.backend).cancel(rec)
        ctx.store.update(job_id, state="CANCELLED", end_time=time.time(), reason="cancelled by the user")
        return ctx.store.get(job_id)
    finally:
        ctx.close()


def wait_jobs(workdir: Path, job_ids: Iterable[int] | None = None, *, storage: str | None = None,
              timeout_s: float = 3600.0, poll_s: float = 5.0) -> list[JobRecord]:
    """Refresh until the given jobs (default: all of the study's) have ended and been ingested."""
    wanted = set(job_ids) if job_ids is not None else None
    deadline = time.monotonic() + timeout_s
    ctx = open_jobs(workdir, storage)
    try:
        while True:
            jobs = [j for j in _refresh_all(ctx) if wanted is None or j.id in wanted]
            if all(j.terminal and (j.state != "COMPLETED" or j.ingested or j.reason) for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                pending = [f"{j.id} {j.state}" for j in jobs if not j.terminal]
                raise DSEError(f"jobs still running after {timeout_s:.0f} s (they go on; `finn-dse jobs` follows "
                               f"them): {', '.join(pending)}")
            time.sleep(poll_s)
    finally:
        ctx.close()


def ingest_build_dir(workdir: Path, trial: int, build_dir: Path, *, storage: str | None = None) -> JobRecord:
    """Record a `finn build` that ran elsewhere (e.g. by hand on a bundle) and ingest its reports."""
    from dse.jobs.reports import find_build_reports

    build_dir = Path(build_dir).resolve()
    reports = find_build_reports(build_dir)
    if not reports.synthesized:
        raise ConfigError(f"{build_dir} holds no synthesis report (report/post_synth_resources*.json, "
                          "post_synth_report*.xml or ooc_synth_and_timing.json): nothing to ingest")
    ctx = open_jobs(workdir, storage)
    try:
        done = [j for j in ctx.store.list(study=ctx.study_name, trial=trial, kind="build")
                if j.backend == "manual" and j.job_dir == str(build_dir) and j.ingested]
        if done:
            return done[0]  # this build is in already
        token = secrets.token_hex(6)
        clock = _clock_of(build_dir)
        rec, _ = ctx.store.create(token=token, study=ctx.study_name, trial=trial, kind="build", mode="full",
                                  backend="manual", active_key=None, job_dir=str(build_dir),
                                  log_path=str(build_dir / "build_dataflow.log"), output_dir=str(build_dir),
                                  options={"clock_ns": clock}, state="COMPLETED")
        ctx.store.update(rec.id, only_if_active=False, result={"state": "COMPLETED", "synthesized": True,
                                                               "build_dir": str(build_dir)}, end_time=time.time())
        ingest(ctx, ctx.store.get(rec.id))
        return ctx.store.get(rec.id)
    finally:
        ctx.close()


def _clock_of(build_dir: Path) -> float | None:
    """The clock period of a build, from the build.yaml next to its output directory."""
    for cfg in (build_dir.parent / "build.yaml", build_dir / "build.yaml"):
        if cfg.exists():
            import yaml

            value = (yaml.safe_load(cfg.read_text()) or {}).get("synth_clk_period_ns")
            return float(value) if value is not None else None
    return None


def format_jobs(jobs: Iterable[JobRecord]) -> str:
    """The jobs as a plain-text table (what `finn-dse jobs` prints)."""
    import datetime

    def when(t: float | None) -> str:
        return datetime.datetime.fromtimestamp(t).strftime("%m-%d %H:%M:%S") if t else "-"

    rows = [f"{'id':>4} {'trial':>5} {'kind':<8}{'mode':<14}{'backend':<8}{'backend id':<12}{'state':<11}"
            f"{'submitted':<16}{'ended':<16}{'ingested':<9}reason / log"]
    for j in jobs:
        rows.append(f"{j.id:>4} {j.trial:>5} {j.kind:<8}{j.mode:<14}{j.backend:<8}{(j.backend_id or '-')[:11]:<12}"
                    f"{j.state:<11}{when(j.submit_time):<16}{when(j.end_time):<16}{'yes' if j.ingested else 'no':<9}"
                    f"{j.reason or j.log_path}")
    return "\n".join(rows)


def terminal_states() -> frozenset[str]:
    return TERMINAL
