"""Create, resume and run an Optuna multi-objective study over FINN designs.

The objectives come from the study file (default: maximize validation accuracy and throughput,
minimize LUTs). Hard limits (board fit with a margin, minimum throughput, maximum latency,
minimum accuracy) are Optuna constraints set per trial (``Trial.set_constraint``), so designs
that break one are recorded but never enter the Pareto front, and every sampler sees them as
infeasible. A killed run loses nothing: every finished trial is in the database, and trials
left RUNNING by a dead process are failed and re-enqueued with the same parameters.

One job (why it is over 400 lines): the study's run loop, from opening the storage to the last recorded trial.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dse.artifacts import StudyLayout, TrialFiles, write_atomic, write_json
from dse.errors import BackendError, ConfigError, StudyStopped, disk_full_cause
from dse.failure_stop import same_failure
from dse.families import get_family
from dse.spec import StudySpec
from dse.text import plural
from dse.storage.claims import ClaimLock, finished_trials, optimize_claimed
from dse.storage.database import GRACE_S, HEARTBEAT_S, database_full, make_storage, name_objectives, prepare_storage
from dse.storage.orphans import RUNNER_ATTR, recover_orphans, workdir_lock
from dse.storage.urls import redact

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)



class StudyObserver(Protocol):
    """What the CLI (or a notebook) hears while a study runs. All methods are optional hooks."""

    def study_started(self, done: int, target: int) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def stage(self, number: int, name: str, done: int, total: int) -> None: ...
    def trial_finished(self, number: int, state: str, summary: str) -> None: ...
    def study_progress(self, stats: StudyStats) -> None: ...


@dataclass(frozen=True, slots=True)
class StudyStats:
    """The study at a glance: what the progress line shows."""

    finished: int
    target: int
    feasible: int
    stopped_estimator: int  # stopped by the estimators before training
    stopped_accuracy: int  # training stopped early: minimum accuracy out of reach
    failed: int
    best: str  # best feasible design so far, in words
    eta_s: float | None


def study_stats(study: optuna.Study, target: int, *, started: float | None = None,
                done_at_start: int = 0) -> StudyStats:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    finished = finished_trials(study)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    feasible = [t for t in complete if all(v <= 0 for v in t.constraints.values())]
    by = [t.user_attrs.get("stopped_by") for t in complete]
    best = ""
    if feasible:
        top = max(feasible, key=lambda t: (t.user_attrs.get("val_accuracy") or 0.0, t.user_attrs.get("fps") or 0.0))
        best = (f"best {top.user_attrs.get('val_accuracy', 0):.2%} at {top.user_attrs.get('fps', 0):,.0f} fps, "
                f"{top.user_attrs.get('lut', 0):,.0f} LUT (trial {top.number})")
    eta = None
    if started is not None and finished > done_at_start:
        per = (time.perf_counter() - started) / (finished - done_at_start)
        eta = per * max(0, target - finished)
    return StudyStats(finished=finished, target=target, feasible=len(feasible), stopped_estimator=by.count("estimator"),
                      stopped_accuracy=by.count("accuracy"),
                      failed=sum(1 for t in trials if t.state == TrialState.FAIL and "fail_reason" in t.user_attrs),
                      best=best, eta_s=eta)


def make_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    """The study file's sampler. Constraints reach every sampler through Trial.set_constraint.

    In a network-level study (``evaluation.hardware: front``) TPE, GP and random search learn from
    the network trials only and propose each network once (dse.network_sampler); NSGA-II already
    ignores the added design trials (they carry no generation).
    """
    inner = _file_sampler(spec, seed)
    if spec.evaluation.hardware != "front" or spec.sampler == "nsga2":
        return inner
    from dse.network_sampler import NetworkSampler

    return NetworkSampler(inner, lambda t: spec.space.suggest(t, clock_ns=spec.hardware.clock_ns, hardware=False),
                          spec.directions)


def _file_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    startup = max(1, min(10, spec.n_trials // 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if spec.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(20, spec.n_trials // 4)))
        if spec.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=startup)


def open_study(spec: StudySpec, storage_url: str, *, sampler_seed: int | None = None,
               heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> optuna.Study:
    """Create the study or load it if it exists (same name, same storage)."""
    import optuna

    storage = make_storage(storage_url, heartbeat_s=heartbeat_s, grace_s=grace_s)
    seed = spec.seed if sampler_seed is None else sampler_seed
    study = optuna.create_study(study_name=spec.name, storage=storage, load_if_exists=True,
                                directions=spec.directions, sampler=make_sampler(spec, seed))
    stored = study.user_attrs.get("objectives")
    if stored is not None and list(stored) != spec.objective_attrs or (
            [d.name.lower() for d in study.directions] != spec.directions):
        raise ConfigError(f"study {spec.name!r} in {redact(storage_url)} has objectives {stored}, the study file asks for "
                          f"{spec.objective_attrs}: give the study another name to start a new one")
    stored_spec = study.user_attrs.get("spec")
    if stored_spec is not None:
        # Studies from before network-level trials have no key: they were per-trial studies.
        mode = (stored_spec.get("evaluation") or {}).get("hardware", "per_trial")
        if mode != spec.evaluation.hardware:
            raise ConfigError(f"study {spec.name!r} in {redact(storage_url)} was run with evaluation.hardware: {mode}; "
                              f"add `hardware: {mode}` under `evaluation:` in the study file to resume it, or give "
                              "the study another name")
    if "spec" not in study.user_attrs:
        study.set_user_attr("spec", spec.model_dump(mode="json"))
        study.set_user_attr("objectives", spec.objective_attrs)
    name_objectives(study, spec.objective_attrs)
    return study


@contextlib.contextmanager
def _exit_fails_trial() -> Iterator[None]:
    """A `sys.exit()` in a trial (a user model's code) fails that trial; the study goes on.

    Optuna only catches `Exception`: a `SystemExit` would end the whole study with the user's exit
    status (0 for `sys.exit(0)`), no message and the trial left RUNNING."""
    try:
        yield
    except SystemExit as err:
        raise BackendError(f"the user model called sys.exit({err.code!r})") from None


def _trial_seed(spec_seed: int, params: dict[str, Any]) -> int:
    # The same design trains the same way, also when it is retried under a new trial number.
    digest = hashlib.sha256(json.dumps([spec_seed, params], sort_keys=True).encode()).hexdigest()
    return int(digest[:8], 16)


def _summary(trial_number: int, outcome: Any) -> str:
    a = outcome.attrs
    head = f"trial {trial_number}: {a['design']}"
    hw = (f"{a['fps']:,.0f} fps, {a['latency_us']:.1f} us, {a['lut']:,.0f} LUT, {a['bram18']:,.0f} BRAM18, "
          f"{a['energy_uj']:.1f} uJ/inference")
    secs = ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in outcome.seconds.items() if v >= 0.05)
    total = sum(outcome.seconds.values())
    if outcome.stopped_by == "estimator":
        return f"{head} -> stopped by the estimators before training: {outcome.reason} ({hw}; {total * 1e3:.0f} ms)"
    acc = f"val {a['val_accuracy']:.2%}" + (f" test {a['test_accuracy']:.2%}" if "test_accuracy" in a else "")
    if outcome.stopped_by == "accuracy":
        return f"{head} -> {outcome.reason} ({total:.1f} s: {secs})"
    verdict = "feasible" if outcome.feasible else f"INFEASIBLE: {outcome.reason}"
    return f"{head} -> {acc}, {hw} [{a['estimate_source']}], {verdict} ({total:.1f} s: {secs})"


def _network_summary(trial_number: int, outcome: Any) -> str:
    a = outcome.attrs
    head = f"trial {trial_number}: network {a['design']}"
    if outcome.stopped_by in ("estimator", "deferred", "repeat"):
        return f"{head} -> not trained: {outcome.reason}"
    acc = f"val {a['val_accuracy']:.2%}"
    if outcome.stopped_by == "accuracy":
        return f"{head} -> {outcome.reason}"
    disagree = " (FINN disagrees on some: see finn_disagreement)" if a.get("finn_disagreement") else ""
    return (f"{head} -> {acc}, {a['n_designs']} hardware designs ({outcome.designs_added} added as trials), fastest "
            f"{a['fps']:,.0f} fps at {a['lut']:,.0f} LUT [{a['estimate_source']}]{disagree}")


def _data_loader(spec: StudySpec, data_root: Path, own: Any = None) -> Any:
    """Loads the study's dataset on first use (screened-out trials never need it), once per process;
    ``own`` is the user's dataset preflight already loaded and checked."""
    from dse.data import fetch_mnist, load_dataset

    cache: dict[str, Any] = {}

    def load() -> Any:
        if "data" not in cache:
            rgb32 = get_family(spec.space.family).image
            if own is not None:
                from dse.data import as_rgb32_dataset

                cache["data"] = as_rgb32_dataset(own) if rgb32 else own
            else:
                assert isinstance(spec.dataset, str)  # a user's own dataset comes in as ``own``
                if spec.dataset == "mnist":
                    fetch_mnist(data_root)
                cache["data"] = load_dataset(spec.dataset, data_root, val_size=spec.training.val_size,
                                             seed=spec.seed, rgb32=rgb32)
        return cache["data"]

    return load


def save_meta(layout: StudyLayout, spec: StudySpec, storage_url: str) -> None:
    import yaml

    # No password, and the work directory's own SQLite file relative to it (copies and moves keep working).
    write_json(layout.meta, {"study_name": spec.name, "storage": layout.storage_to_meta(storage_url)})
    write_atomic(layout.spec_copy, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))


def preflight(spec: StudySpec, data_root: Path) -> Any:
    """What would fail every trial, checked before the study is created: a user model that does not
    load or build, a dataset that is not there and is never downloaded (CIFAR-10), a user's dataset
    that does not hold what the study file declares or does not fit the network. Otherwise the
    first trial fails, Optuna logs it twice more, and a FAIL trial stays in a new study.
    Returns the user's dataset, loaded and checked (None for the built-in ones)."""
    if spec.training.device == "cuda":
        from dse.training import resolve_device

        resolve_device("cuda")  # one line here rather than a failed first trial
    if spec.dataset == "cifar10":
        from dse.data import find_cifar10_or_fail

        find_cifar10_or_fail(data_root)
    own = None
    if not isinstance(spec.dataset, str):
        from dse.user_data import load_user_dataset

        own = load_user_dataset(spec.dataset, val_size=spec.training.val_size, seed=spec.seed)
    from dse.user_metric import check_metric

    check_metric(spec.training, spec.num_classes)  # a metric that does not import or score: one line here
    family = get_family(spec.space.family)
    model_shape = family.check_model(spec)  # a user model that does not load or build: one line here
    if own is not None:
        shape = tuple(own.train.images.shape[1:])
        declared = spec.dataset.input_shape  # type: ignore[union-attr]
        if declared is not None and tuple(declared) != shape:
            raise ConfigError(f"dataset {spec.dataset_label}: x_train: samples of shape {shape}, the study file "
                              f"declares input_shape {tuple(declared)}")
        family.check_fits(spec, shape, model_shape)
    if spec.training.augment != "none":
        # Crops and flips need images: the samples as the network sees them must be (C,) H x W.
        seen = model_shape if model_shape is not None else (
            tuple(own.train.images.shape[1:]) if own is not None else (28, 28))
        if len(seen) < 2:
            raise ConfigError(f"training.augment: {spec.training.augment} crops and flips images, but the samples are "
                              f"{len(seen)}-D features of shape {seen}: use augment: none")
    return own


def with_data_shape(spec: StudySpec, own: Any) -> StudySpec:
    """``spec`` with its own dataset's sample shape filled in (what shapes the built-in networks)."""
    if own is None or isinstance(spec.dataset, str):
        return spec
    dataset = spec.dataset.model_copy(update={"input_shape": tuple(own.train.images.shape[1:])})
    return spec.model_copy(update={"dataset": dataset})


def run_study(spec: StudySpec, workdir: Path, *, data_root: Path, storage_url: str | None = None,
              n_trials: int | None = None, observer: StudyObserver | None = None,
              write_report: bool = True, worker: bool = False, heartbeat_s: int = HEARTBEAT_S,
              grace_s: int = GRACE_S, timeout_s: float | None = None) -> optuna.Study:
    """Run (or resume) ``spec`` until it has ``n_trials`` finished trials (default: the spec's).

    ``timeout_s``: start no trial after this many seconds (Optuna's ``timeout``; the running
    trial finishes).

    ``worker=True`` joins a study that other processes work on at the same time (shared storage,
    no work-dir lock): trials of dead workers are found through heartbeats older than ``grace_s``.
    """
    import optuna

    from dse.evaluate import evaluate
    from dse.networks import NetworkStore, run_network
    from dse.parents import ParentStore

    layout = StudyLayout(Path(workdir))
    target = n_trials if n_trials is not None else spec.n_trials
    if target < 1:
        raise ConfigError(f"--n-trials must be >= 1, got {target}")
    own_data = preflight(spec, data_root)
    spec = with_data_shape(spec, own_data)
    if spec.hardware.fpgas != (1,) and spec.evaluation.hardware != "front":  # front mode judges K cards
        logger.warning("hardware.fpgas %s: per-trial designs are judged on one %s card; for more cards use "
                       "evaluation.hardware: front or finn-dse estimate MODEL --fit --fpgas K",
                       list(spec.hardware.fpgas), spec.hardware.board)
    private = storage_url is None and not worker
    url = storage_url or layout.default_storage
    if storage_url is not None and not worker:  # (api.worker has prepared it already)
        # A run may start beside workers on an empty database: create the tables one at a time.
        prepare_storage(storage_url)
    # Trials of this work directory's `run` carry its name, so a restarted run recovers its own
    # interrupted trial at once, also on shared storage (where others' trials wait for heartbeats).
    owner = None if worker else f"{socket.gethostname()}:{layout.root.resolve()}"
    with contextlib.nullcontext() if worker else workdir_lock(layout):
        study = open_study(spec, url, heartbeat_s=heartbeat_s, grace_s=grace_s)
        claim = ClaimLock(url, spec.name)
        with contextlib.nullcontext() if private else claim:  # processes starting together enqueue a retry once
            recover_orphans(study, fail_running=private, owner=owner)
            if not private:
                optuna.storages.fail_stale_trials(study)
        done = finished_trials(study)
        # Re-seed per resume so a restarted sampler does not replay the first process's proposals.
        # Workers starting together see the same trial count: each adds entropy of its own, or all
        # of them would propose the same designs.
        study.sampler = make_sampler(spec, spec.seed + len(study.trials)
                                     + (int.from_bytes(os.urandom(3), "little") if worker else 0))
        save_meta(layout, spec, url)
        if done >= target:
            logger.info("study %s already has %s (target %d)", spec.name, plural(done, "finished trial"), target)
            claim.close()
            if write_report:
                write_pareto(study, layout)
            return study
        logger.info("study %s: %d of %s finished; running %d more (work dir %s)", spec.name, done,
                    plural(target, "trial"), target - done, layout.root)
        if observer is not None:
            observer.study_started(done, target)
        data = _data_loader(spec, data_root, own_data)
        parents = ParentStore(layout.parents, spec)
        started = time.perf_counter()

        front_mode = spec.evaluation.hardware == "front"
        networks = NetworkStore(layout.root / "networks")

        def objective(trial: optuna.Trial) -> tuple[float, ...]:
            if owner is not None:
                trial.set_user_attr(RUNNER_ATTR, owner)
            point = spec.space.suggest(trial, clock_ns=spec.hardware.clock_ns, hardware=not front_mode)
            if front_mode:
                return network_objective(trial, point)
            if observer is not None:
                observer.trial_started(trial.number, dict(trial.params))
            files = TrialFiles(layout.trial_dir(trial.number))
            trial.set_user_attr("artifact_dir", str(files.root.relative_to(layout.root)))

            def stage(name: str, i: int, n: int) -> None:
                if observer is not None:
                    observer.stage(trial.number, name, i, n)

            try:
                with _exit_fails_trial():
                    outcome = evaluate(point, spec, files, seed=_trial_seed(spec.seed, dict(trial.params)), data=data,
                                       parents=parents, progress=stage)
            except BackendError as err:
                if (full := disk_full_cause(err)) is not None:
                    raise full from None
                trial.set_user_attr("fail_reason", str(err))
                logger.warning("trial %d failed: %s", trial.number, err)
                if observer is not None:
                    observer.trial_finished(trial.number, "FAIL", str(err))
                raise
            for key, value in outcome.attrs.items():
                trial.set_user_attr(key, value)
            # <= 0 means met: infeasible trials stay out of study.best_trials and the samplers know.
            for name, value in outcome.constraints.items():
                trial.set_constraint(name, float(value))
            summary = _summary(trial.number, outcome)
            logger.info(summary)
            if observer is not None:
                observer.trial_finished(trial.number, "COMPLETE", summary)
            return outcome.values

        def network_objective(trial: optuna.Trial, point: Any) -> tuple[float, ...]:
            if observer is not None:
                observer.trial_started(trial.number, dict(trial.params))

            def stage(name: str, i: int, n: int) -> None:
                if observer is not None:
                    observer.stage(trial.number, name, i, n)

            try:
                with _exit_fails_trial():
                    outcome = run_network(trial, point, spec, layout, networks, data=data, parents=parents,
                                          progress=stage, seed=_trial_seed(spec.seed, dict(trial.params)))
            except BackendError as err:
                if (full := disk_full_cause(err)) is not None:
                    raise full from None
                trial.set_user_attr("fail_reason", str(err))
                logger.warning("trial %d failed: %s", trial.number, err)
                if observer is not None:
                    observer.trial_finished(trial.number, "FAIL", str(err))
                raise
            for key, value in outcome.attrs.items():
                trial.set_user_attr(key, value)
            for name, value in outcome.constraints.items():
                trial.set_constraint(name, float(value))
            summary = _network_summary(trial.number, outcome)
            logger.info(summary)
            if observer is not None:
                observer.trial_finished(trial.number, "PRUNED" if outcome.pruned else "COMPLETE", summary)
            if outcome.values is None:
                raise optuna.TrialPruned(outcome.reason)
            return outcome.values

        stopped: list[str] = []  # the reason every trial failed with, once the run gives up

        def after_trial(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if write_report:
                write_pareto(study, layout)
            if observer is not None and hasattr(observer, "study_progress"):
                observer.study_progress(study_stats(study, target, started=started, done_at_start=done))
            if (reason := same_failure(study, target)) is not None:
                stopped.append(reason)
                study.stop()
            elif not worker and finished_trials(study) >= target:
                study.stop()

        if observer is not None and hasattr(observer, "study_progress"):
            observer.study_progress(study_stats(study, target))
        try:
            # On shared storage every process claims each trial before starting it, a `run` beside
            # workers included, so the study never overshoots its budget.
            if not private:
                optimize_claimed(study, objective, target=target, poll_s=heartbeat_s, claim=claim, timeout_s=timeout_s,
                                 catch=(BackendError,), callbacks=[after_trial])
            else:
                study.optimize(objective, n_trials=target - done, timeout=timeout_s, catch=(BackendError,),
                               callbacks=[after_trial])
        except Exception as err:
            if (full := database_full(err, url)) is not None:  # the trial stays RUNNING: the next run retries it
                raise full from None
            raise
        finally:
            claim.close()
        logger.info("study %s: %s in %.0f s", spec.name, plural(finished_trials(study) - done, "trial"),
                    time.perf_counter() - started)
    if stopped:
        failed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
        raise StudyStopped(f"study {spec.name} stopped: every trial failed the same way ({plural(failed, 'trial')}): "
                           f"{stopped[-1]}; fix that and run the same command again (the study resumes)")
    return study


def write_pareto(study: optuna.Study, layout: StudyLayout) -> Path | None:
    """Refresh pareto.html in the work directory (cheap; done after every trial)."""
    from dse.report import write_pareto_html
    from dse.results import trials_frame

    frame = trials_frame(study)
    if frame.empty:
        return None
    return write_pareto_html(frame, layout.pareto_html, title=study.study_name)
