"""Create, resume and run an Optuna multi-objective study over FINN designs.

Objectives: maximize validation accuracy, maximize FINN-estimated throughput, minimize LUTs.
Fitting the board is a hard constraint (Optuna's constraints_func), so designs that do not fit
are recorded but never enter the Pareto front. A killed run loses nothing: every finished trial
is in the database, and trials left RUNNING by a dead process are failed and re-enqueued with
the same parameters when the study resumes.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dse.artifacts import StudyLayout, TrialFiles, write_atomic, write_json
from dse.errors import BackendError, ConfigError
from dse.spec import StudySpec

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("val_accuracy", "maximize"),
    ("fps", "maximize"),
    ("lut", "minimize"),
)
HEARTBEAT_S = 20
GRACE_S = 90


class StudyObserver(Protocol):
    """What the CLI (or a notebook) hears while a study runs. All methods are optional hooks."""

    def study_started(self, done: int, target: int) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def stage(self, number: int, name: str, done: int, total: int) -> None: ...
    def trial_finished(self, number: int, state: str, summary: str) -> None: ...


def make_storage(url: str, *, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> optuna.storages.BaseStorage:
    """RDB storage with heartbeats, so trials of dead workers are failed and retried.

    A trial whose heartbeat is older than ``grace_s`` is failed (and re-enqueued) the next time
    any worker starts a trial.
    """
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are stable enough
            return RDBStorage(url, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                              **kwargs)
    except (ImportError, ModuleNotFoundError) as err:
        raise ConfigError(f"storage {url!r} needs a database driver that is not installed: {err}") from None
    except optuna.exceptions.StorageInternalError as err:
        raise ConfigError(f"cannot open storage {url!r}: {err}") from None
    except Exception as err:  # SQLAlchemy: malformed URL or unreachable server
        raise ConfigError(f"cannot open storage {url!r}: {type(err).__name__}: {err}") from None


def make_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(20, spec.n_trials // 4)))
    # Constraints reach the samplers through Trial.set_constraint (Optuna 5 reads trial.constraints).
    return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                      n_startup_trials=max(1, min(10, spec.n_trials // 4)))


def open_study(spec: StudySpec, storage_url: str, *, sampler_seed: int | None = None,
               heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> optuna.Study:
    """Create the study or load it if it exists (same name, same storage)."""
    import optuna

    storage = make_storage(storage_url, heartbeat_s=heartbeat_s, grace_s=grace_s)
    seed = spec.seed if sampler_seed is None else sampler_seed
    study = optuna.create_study(study_name=spec.name, storage=storage, load_if_exists=True,
                                directions=[d for _, d in OBJECTIVES], sampler=make_sampler(spec, seed))
    if list(study.directions) != [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MAXIMIZE,
                                  optuna.study.StudyDirection.MINIMIZE]:
        raise ConfigError(f"study {spec.name!r} in {storage_url} has other objectives than FINN-DSE's")
    if "spec" not in study.user_attrs:
        study.set_user_attr("spec", spec.model_dump(mode="json"))
        study.set_user_attr("objectives", [name for name, _ in OBJECTIVES])
    return study


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards the budget: done, or failed for a reason other than a dead worker."""
    from optuna.trial import TrialState

    # Trials failed because their process died carry no fail_reason: they are retried, not counted.
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and "fail_reason" in t.user_attrs))


def recover_orphans(study: optuna.Study, *, fail_running: bool) -> list[int]:
    """Re-enqueue, with the same parameters, every trial a stopped process could not finish.

    With ``fail_running`` (only safe when no other process works on the study: the caller holds
    the work-dir lock on a private SQLite database) trials left RUNNING are failed first; shared
    databases rely on heartbeats for that. Failed trials without a recorded ``fail_reason`` (kill,
    Ctrl-C, stale heartbeat) that nobody has retried yet are enqueued again.
    """
    from optuna.trial import TrialState

    storage = study._storage  # noqa: SLF001 - Optuna exposes no public way to fail a dead process's trial
    if fail_running:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)  # noqa: SLF001
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials} | {t.system_attrs.get("failed_trial") for t in trials}
    again = []
    for t in trials:
        if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs and t.number not in retried and t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            again.append(t.number)
    if again:
        logger.warning("trials %s were interrupted; retrying them with the same parameters", again)
    return again


@contextlib.contextmanager
def workdir_lock(layout: StudyLayout) -> Iterator[None]:
    """One `finn-dse run` per work directory at a time (the lock dies with the process)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = Path(layout.lock).read_text().strip() or "?"
            raise ConfigError(f"{layout.root} is in use by another finn-dse run (pid {owner}); "
                              "wait for it to finish or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _trial_seed(spec_seed: int, params: dict[str, Any]) -> int:
    # The same design trains the same way, also when it is retried under a new trial number.
    digest = hashlib.sha256(json.dumps([spec_seed, params], sort_keys=True).encode()).hexdigest()
    return int(digest[:8], 16)


def _summary(trial_number: int, attrs: dict[str, Any], point: Any) -> str:
    return (f"trial {trial_number}: w{point.weight_bits}a{point.act_bits} {point.hidden_layers}x{point.hidden_width} "
            f"target {point.target_fps:,.0f} fps -> val {attrs['val_accuracy']:.2%} test {attrs['test_accuracy']:.2%}, "
            f"{attrs['fps']:,.0f} fps, {attrs['latency_us']:.1f} us, {attrs['lut']:,.0f} LUT, "
            f"{attrs['bram18']:,.0f} BRAM18, {'fits' if attrs['fits'] else 'DOES NOT FIT'} "
            f"({attrs['train_s'] + attrs['export_s'] + attrs['finn_s']:.1f} s: train {attrs['train_s']:.1f}, "
            f"export {attrs['export_s']:.1f}, FINN {attrs['finn_s']:.1f})")


def save_meta(layout: StudyLayout, spec: StudySpec, storage_url: str) -> None:
    import yaml

    write_json(layout.meta, {"study_name": spec.name, "storage": storage_url})
    write_atomic(layout.spec_copy, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))


def run_study(spec: StudySpec, workdir: Path, *, data_root: Path, storage_url: str | None = None,
              n_trials: int | None = None, observer: StudyObserver | None = None,
              write_report: bool = True, worker: bool = False, heartbeat_s: int = HEARTBEAT_S,
              grace_s: int = GRACE_S) -> optuna.Study:
    """Run (or resume) ``spec`` until it has ``n_trials`` finished trials (default: the spec's).

    ``worker=True`` joins a study that other processes work on at the same time (shared storage,
    no work-dir lock): trials of dead workers are found through heartbeats older than ``grace_s``.
    """
    import optuna

    from dse.data import fetch_mnist, load_mnist
    from dse.evaluate import evaluate

    layout = StudyLayout(Path(workdir))
    target = n_trials if n_trials is not None else spec.n_trials
    if target < 1:
        raise ConfigError(f"--n-trials must be >= 1, got {target}")
    private = storage_url is None and not worker
    url = storage_url or layout.default_storage
    with contextlib.nullcontext() if worker else workdir_lock(layout):
        study = open_study(spec, url, heartbeat_s=heartbeat_s, grace_s=grace_s)
        if not private:
            optuna.storages.fail_stale_trials(study)
        recover_orphans(study, fail_running=private)
        done = finished_trials(study)
        # Re-seed per resume so a restarted sampler does not replay the first process's proposals.
        study.sampler = make_sampler(spec, spec.seed + len(study.trials))
        save_meta(layout, spec, url)
        if done >= target:
            logger.info("study %s already has %d finished trials (target %d)", spec.name, done, target)
            if write_report:
                write_pareto(study, layout)
            return study
        logger.info("study %s: %d of %d trials finished; running %d more (work dir %s)", spec.name, done,
                    target, target - done, layout.root)
        if observer is not None:
            observer.study_started(done, target)
        fetch_mnist(data_root)
        data = load_mnist(data_root, val_size=spec.training.val_size, seed=spec.seed)

        def objective(trial: optuna.Trial) -> tuple[float, float, float]:
            point = spec.space.suggest(trial)
            if observer is not None:
                observer.trial_started(trial.number, dict(trial.params))
            files = TrialFiles(layout.trial_dir(trial.number))
            trial.set_user_attr("artifact_dir", str(files.root.relative_to(layout.root)))

            def stage(name: str, i: int, n: int) -> None:
                if observer is not None:
                    observer.stage(trial.number, name, i, n)

            try:
                outcome = evaluate(point, spec, data, files, seed=_trial_seed(spec.seed, dict(trial.params)),
                                   progress=stage)
            except BackendError as err:
                trial.set_user_attr("fail_reason", str(err))
                logger.warning("trial %d failed: %s", trial.number, err)
                if observer is not None:
                    observer.trial_finished(trial.number, "FAIL", str(err))
                raise
            attrs = outcome.user_attrs()
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            # <= 0 means it fits: infeasible trials stay out of study.best_trials and the samplers know.
            trial.set_constraint(f"fits_{spec.hardware.board}", max(attrs["utilization"].values()) - 1.0)
            if not attrs["fits"]:
                trial.set_user_attr("reason", f"does not fit {spec.hardware.board}: "
                                              f"{attrs['limiting_resource']} over the usable budget")
            summary = _summary(trial.number, attrs, point)
            logger.info(summary)
            if observer is not None:
                observer.trial_finished(trial.number, "COMPLETE", summary)
            return attrs["val_accuracy"], attrs["fps"], attrs["lut"]

        def after_trial(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if write_report:
                write_pareto(study, layout)
            if finished_trials(study) >= target:
                study.stop()

        start = time.perf_counter()
        study.optimize(objective, n_trials=target - done, catch=(BackendError,), callbacks=[after_trial])
        logger.info("study %s: %d trials in %.0f s", spec.name, finished_trials(study) - done,
                    time.perf_counter() - start)
    return study


def write_pareto(study: optuna.Study, layout: StudyLayout) -> Path | None:
    """Refresh pareto.html in the work directory (cheap; done after every trial)."""
    from dse.report import write_pareto_html
    from dse.results import trials_frame

    frame = trials_frame(study)
    if frame.empty:
        return None
    return write_pareto_html(frame, layout.pareto_html, title=study.study_name)
