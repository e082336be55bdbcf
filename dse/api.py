"""FINN-DSE from Python: the same operations as the `finn-dse` commands, for notebooks and scripts.

A study is created from a study file, a :class:`~dse.spec.StudySpec` or a plain dict, run for a
number of trials or a time budget, and read back as pandas DataFrames and plotly figures::

    import dse

    study = dse.create_study("studies/smoke.yaml", workdir="runs/smoke")
    study.run(n_trials=4)                       # resumes: finished trials are kept
    study.pareto()                              # the feasible Pareto front, a DataFrame
    study.pareto_figure()                       # accuracy / throughput / LUT, plotly
    study.export(study.pareto().number[0], "bundle/")

Every command of the CLI maps onto one function here (:data:`CLI_COMMANDS`); the CLI only adds
printing, logging set-up and environment defaults. Nothing here prints or reads environment
variables (the one exception: :meth:`Study.run` draws a progress bar, like optuna's
``show_progress_bar``). torch, FINN, optuna and plotly are imported inside the functions.

One job (why it is over 400 lines): the Python facade, one function per command.
"""
from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import StudyLayout, TrialFiles
from dse.errors import ConfigError
from dse.text import plural

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    import plotly.graph_objects as go
    from optuna.trial import FrozenTrial

    from dse.estimate import EstimateReport
    from dse.export import Bundle
    from dse.model_front import ModelFront
    from dse.launch import ClusterProfile, Submission
    from dse.spec import StudySpec
    from dse.study import StudyObserver, StudyStats

__all__ = ["CLI_COMMANDS", "Launched", "Study", "calibration", "create_study", "estimate_model", "fetch_data",
           "ingest", "jobs", "launch", "load_study", "measure", "model_front", "promote", "worker"]

logger = logging.getLogger(__name__)


def _default_workdir(name: str) -> Path:
    return Path("runs") / name


def _default_data_root() -> Path:
    from dse.data import default_data_root

    return default_data_root()


def _as_spec(study: str | Path | StudySpec | Mapping[str, Any]) -> StudySpec:
    from dse.spec import StudySpec, load_spec, parse_spec

    if isinstance(study, StudySpec):
        return study
    if isinstance(study, Mapping):
        return parse_spec(dict(study), source="study")
    if isinstance(study, (str, Path)):
        return load_spec(Path(study))
    raise ConfigError(f"a study is a study file path, a StudySpec or a dict, got {type(study).__name__}")


_NOISY_MODULES = r"(torch|brevitas|onnx|onnxscript|qonnx|finn)(\.|$)"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's per-trial lines repeat the progress bar; torch, Brevitas and ONNX warn about their
    own internals (the CLI shows those only with --debug)."""
    with _quiet_optuna(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=_NOISY_MODULES)
        yield


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off for the duration (what optuna's own progress bar does)."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


_STAGES = {"screen": "estimators", "parent": "training the parent", "train": "training",
           "finetune": "fine-tuning", "export": "exporting QONNX", "finn": "FINN estimate"}


class _ProgressBar:
    """A StudyObserver drawing one tqdm bar (a widget in Jupyter, text in a terminal)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.trial = ""

    def study_started(self, done: int, target: int) -> None:
        with warnings.catch_warnings():  # without ipywidgets tqdm warns, then draws text: fine
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

        self.bar = tqdm(total=target, initial=done, desc="trials", unit="trial", dynamic_ncols=True)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.trial = f"trial {number}"
        if self.bar is not None:
            self.bar.set_postfix_str(self.trial)

    def stage(self, number: int, name: str, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.trial}: {_STAGES.get(name, name)}")

    def trial_finished(self, number: int, state: str, summary: str) -> None:
        pass

    def study_progress(self, stats: StudyStats) -> None:
        if self.bar is None:
            return
        self.bar.n = stats.finished
        self.bar.set_description(f"trials ({stats.feasible} feasible, {stats.stopped_estimator} stopped by "
                                 f"estimators, {stats.stopped_accuracy} stopped early)")
        self.bar.set_postfix_str(stats.best.removeprefix("best ") if stats.best else "")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Observers:
    """Forwards each hook to several observers (each hook is optional on each observer)."""

    def __init__(self, *observers: Any) -> None:
        self.observers = [o for o in observers if o is not None]

    def _call(self, hook: str, *args: Any) -> None:
        for o in self.observers:
            fn = getattr(o, hook, None)
            if fn is not None:
                fn(*args)

    def study_started(self, done: int, target: int) -> None:
        self._call("study_started", done, target)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self._call("trial_started", number, params)

    def stage(self, number: int, name: str, done: int, total: int) -> None:
        self._call("stage", number, name, done, total)

    def trial_finished(self, number: int, state: str, summary: str) -> None:
        self._call("trial_finished", number, state, summary)

    def study_progress(self, stats: StudyStats) -> None:
        self._call("study_progress", stats)


class Study:
    """A FINN-DSE study: its study file, work directory (trial files) and Optuna storage.

    Get one from :func:`create_study` (new or resumed) or :func:`load_study` (an existing work
    directory). Reading methods (``trials``, ``pareto``, figures) work while another process runs
    the study.
    """

    def __init__(self, spec: StudySpec, workdir: Path, *, storage: str | None = None, data_root: Path | None = None,
                 optuna_study: optuna.Study | None = None) -> None:
        self.spec = spec
        self.workdir = Path(workdir)
        self.data_root = Path(data_root) if data_root is not None else _default_data_root()
        self._storage = storage  # None: the private SQLite file in the work directory
        self._optuna = optuna_study

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def storage(self) -> str:
        """The Optuna storage URL (default: ``sqlite:///<workdir>/study.db``)."""
        return self._storage or StudyLayout(self.workdir).default_storage

    @property
    def optuna(self) -> optuna.Study:
        """The underlying ``optuna.Study`` (created in the storage on first use)."""
        if self._optuna is None:
            from dse.study import open_study, save_meta

            layout = StudyLayout(self.workdir)
            layout.root.mkdir(parents=True, exist_ok=True)
            with _quiet_optuna():
                self._optuna = open_study(self.spec, self.storage)
            save_meta(layout, self.spec, self.storage)
        return self._optuna

    def __repr__(self) -> str:
        from dse.storage.claims import finished_trials

        return (f"<dse.Study {self.name!r}: {plural(finished_trials(self.optuna), 'finished trial')}, "
                f"{len(self.optuna.best_trials)} on the Pareto front; work dir {self.workdir}>")

    # -- running -------------------------------------------------------------------------------
    def run(self, n_trials: int | None = None, *, timeout_s: float | None = None, progress: bool = True,
            observer: StudyObserver | None = None, heartbeat_s: int | None = None,
            grace_s: int | None = None) -> Study:
        """Run (or resume) until the study has ``n_trials`` finished trials (default: the spec's).

        ``timeout_s`` is a time budget: no trial starts after it has passed (the running one
        finishes). ``progress`` draws a bar (a widget in Jupyter) and keeps the output to it:
        optuna's per-trial log lines and the internal warnings of torch, Brevitas and ONNX are
        hidden while it runs (``progress=False`` changes no logging or warning settings).
        ``observer`` hears every trial and stage (any of the hooks of
        :class:`dse.study.StudyObserver`). Interrupted trials are retried with the same
        parameters on the next run. ``heartbeat_s``/``grace_s``: as for :func:`worker` (on a
        shared storage). CLI: ``finn-dse run``.

        >>> study = dse.create_study("studies/smoke.yaml", workdir="runs/smoke")
        >>> study.run(n_trials=6, timeout_s=600)          # doctest: +SKIP
        """
        from dse.study import run_study
        from dse.storage.database import GRACE_S, HEARTBEAT_S

        if timeout_s is not None and timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        bar = _ProgressBar() if progress else None
        try:
            with _quiet() if progress else contextlib.nullcontext():
                self._optuna = run_study(self.spec, self.workdir, data_root=self.data_root, storage_url=self._storage,
                                         n_trials=n_trials, timeout_s=timeout_s, observer=_Observers(observer, bar),
                                         heartbeat_s=heartbeat_s or HEARTBEAT_S, grace_s=grace_s or GRACE_S)
        finally:
            if bar is not None:
                bar.close()
        return self

    # -- reading -------------------------------------------------------------------------------
    def trials(self) -> pd.DataFrame:
        """One row per trial: parameters, accuracies, hardware figures, state, ``feasible``,
        ``pareto``, ``reason`` (why a design was stopped). CLI: ``finn-dse trials``.

        >>> study.trials()[["number", "state", "val_accuracy", "fps", "lut"]]   # doctest: +SKIP
        """
        from dse.results import trials_frame

        return trials_frame(self.optuna)

    def pareto(self) -> pd.DataFrame:
        """The feasible Pareto front (rows of :meth:`trials` with ``feasible & pareto``), best
        validation accuracy first. CLI: ``finn-dse pareto``."""
        from dse.report.pareto import pareto_rows

        front = pareto_rows(self.trials())
        return front.sort_values(["val_accuracy", "number"], ascending=[False, True]).reset_index(drop=True)

    def layers(self, trial: int) -> pd.DataFrame:
        """Per-layer estimate of one trial: ``name, op_type, pe, simd, cycles, lut, bram18, uram,
        dsp`` in dataflow order, plus ``bottleneck`` (the layer that sets the throughput)."""
        import pandas as pd

        est = self._estimate(trial)
        cols = ["name", "op_type", "pe", "simd", "cycles", "lut", "bram18", "uram", "dsp"]
        frame = pd.DataFrame([{c: layer.get(c) for c in cols} for layer in est.get("layers", [])], columns=cols)
        frame = frame.astype({"pe": "Int64", "simd": "Int64"})  # a layer without SIMD shows <NA>, not 1.0
        frame["bottleneck"] = frame["name"] == est.get("bottleneck")
        return frame

    def _trial(self, number: int) -> FrozenTrial:
        trials = {t.number: t for t in self.optuna.get_trials(deepcopy=False)}
        if number not in trials:
            known = f"0..{max(trials)}" if trials else "none yet"
            raise ConfigError(f"study {self.name!r} has no trial {number} (trials: {known})")
        return trials[number]

    def _estimate(self, number: int) -> dict[str, Any]:
        t = self._trial(number)
        rel = t.user_attrs.get("artifact_dir")
        files = TrialFiles(self.workdir / rel if rel else StudyLayout(self.workdir).trial_dir(number))
        try:
            return dict(json.loads(files.estimate.read_text()))
        except (OSError, ValueError):
            raise ConfigError(f"trial {number} has no per-layer estimate ({files.estimate}); it is "
                              f"{t.state.name}") from None

    # -- figures -------------------------------------------------------------------------------
    def pareto_figure(self) -> go.Figure:
        """Accuracy vs LUT, accuracy vs throughput, throughput vs LUT: the front, dominated and
        infeasible designs drawn differently; hover for a design's figures."""
        from dse.report import pareto_figure, pareto_info

        return pareto_figure(pareto_info(self.trials()), title=f"Pareto front of {self.name}")

    def layers_figure(self, *trials: int) -> go.Figure:
        """LUTs and cycles per layer of the given trials side by side (default: the Pareto front).

        >>> study.layers_figure(3, 5)                     # doctest: +SKIP
        """
        from dse.dashboard import layers_figure

        frame = self.trials()
        if trials:
            for n in trials:
                self._estimate(n)  # a clear error for an unknown trial or one without an estimate
            frame = frame[frame["number"].isin(trials)].assign(pareto=True)
        fig = layers_figure(frame, self.workdir)
        if fig is None:
            raise ConfigError(f"study {self.name!r} has no trial with a per-layer estimate yet")
        which = f"trials {', '.join(map(str, trials))}" if trials else "the Pareto-front designs"
        fig.update_layout(title=f"Per-layer estimates of {which} (log scale)")
        return fig

    def hypervolume_figure(self) -> go.Figure:
        """Hypervolume of the feasible designs after each trial (accuracy, fps, LUT normalised
        to [0, 1], reference point (1, 1, 1); see :mod:`dse.report.page`)."""
        import plotly.graph_objects as go

        from dse.report.page import hypervolume_history
        from dse.report.pareto import is_missing
        from estimators.devices import get_board

        board = get_board(self.spec.hardware.board)
        frame = self.trials()
        trials = [{"number": int(r.number), "state": r.state, "feasible": bool(r.feasible),
                   "metrics": {k: None if is_missing(r[k]) else float(r[k])
                               for k in ("val_accuracy", "fps", "lut")}} for _, r in frame.iterrows()]
        history = hypervolume_history(trials, fps_max=1e9 / self.spec.hardware.clock_ns, lut_budget=board.usable().lut)
        fig = go.Figure(go.Scatter(x=[h["number"] for h in history], y=[h["hypervolume"] for h in history],
                                   mode="lines+markers", line={"shape": "hv"},
                                   text=[f"{h['n_feasible']} feasible designs" for h in history],
                                   hovertemplate="trial %{x}: %{y:.4f}<br>%{text}<extra></extra>"))
        fig.update_layout(title=f"Hypervolume over trials ({self.name})", xaxis_title="trial",
                          yaxis_title="hypervolume (accuracy, fps, LUT)", template="plotly_white", height=380)
        return fig

    # -- outputs -------------------------------------------------------------------------------
    def export(self, trial: int, out: str | Path, *,
               build_options: Mapping[str, Any] | Sequence[str] | None = None, force: bool = False,
               fpgas: int | None = None) -> Bundle:
        """Write the deployment bundle of ``trial`` (model.onnx, folding_config.json, build.yaml,
        estimates.json, README.md) to ``out``. ``build_options`` adds finn-plus
        DataflowBuildConfig fields, as a dict or ``"KEY=VALUE"`` strings. A non-empty ``out`` is
        refused unless ``force`` (then replaced whole). ``fpgas`` K >= 2 splits the design over a
        chain of K cards (finn-plus's partitioning_configuration). CLI: ``finn-dse export``.

        >>> bundle = study.export(3, "bundle/")          # doctest: +SKIP
        >>> # then, where Vivado/Vitis/XRT are set up: bundle/build.sh (runs finn build --batch)
        """
        from dse.export import export_bundle, parse_build_options

        options = (parse_build_options(list(build_options))
                   if build_options is not None and not isinstance(build_options, Mapping) else build_options)
        return export_bundle(self.optuna, self.workdir, trial, Path(out), build_options=options, force=force,
                             fpgas=fpgas)

    def report(self, out: str | Path | None = None) -> Path:
        """Write the offline HTML report (default ``<workdir>/report.html``); returns its path.
        CLI: ``finn-dse report``."""
        from dse.report.page import write_report

        return write_report(self.optuna, self.workdir, Path(out) if out is not None else None, storage=self.storage)

    def write_trials(self, path: str | Path, *, fmt: str | None = None) -> Path:
        """Every trial as CSV or Parquet (by suffix, or ``fmt``); see :func:`dse.trials_export.export_frame`.
        CLI: ``finn-dse trials --csv/--parquet``."""
        from dse.trials_export import write_trials

        return write_trials(self.optuna, Path(path), fmt=fmt)  # type: ignore[arg-type]

    def dashboard(self, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        """Attach the hardware figures to the study and serve optuna-dashboard until Ctrl-C
        (blocks). CLI: ``finn-dse dashboard``."""
        from dse.dashboard import attach_plots, serve

        attach_plots(self.optuna, workdir=self.workdir)
        serve(self.storage, host=host, port=port)


def create_study(study: str | Path | StudySpec | Mapping[str, Any], *, workdir: str | Path | None = None,
                 storage: str | None = None, data_root: str | Path | None = None) -> Study:
    """A new study, or the existing one of the same name in the same storage (nothing is lost).

    ``study`` is a study file (YAML), a :class:`~dse.spec.StudySpec` or a dict in the study-file
    format; it is validated here. ``workdir`` defaults to ``runs/<name>``, ``storage`` to SQLite
    in the work directory, ``data_root`` to ``~/.cache/finn-dse/data``. The study is written to
    its storage on first use (:meth:`Study.run`, or any reading method).

    >>> study = dse.create_study({"name": "mine", "space": {"weight_bits": [1, 2]}, "n_trials": 8},
    ...                          workdir="runs/mine")     # doctest: +SKIP
    """
    spec = _as_spec(study)
    if workdir is not None and Path(workdir).exists() and not Path(workdir).is_dir():
        raise ConfigError(f"work directory {workdir} is a file; give a directory (new or the study's own)")
    return Study(spec, Path(workdir) if workdir is not None else _default_workdir(spec.name), storage=storage,
                 data_root=Path(data_root) if data_root is not None else None)


def load_study(workdir: str | Path, *, storage: str | None = None, data_root: str | Path | None = None) -> Study:
    """Open the study a run left in ``workdir`` (its ``study.json`` names the study and storage).

    >>> study = dse.load_study("runs/tfc_mnist")       # doctest: +SKIP
    >>> study.pareto()                                  # doctest: +SKIP
    """
    from dse.spec import parse_spec
    from dse.storage.database import load_study as _load
    from dse.storage.database import study_url

    workdir = Path(workdir)
    with _quiet_optuna():
        ostudy = _load(workdir, storage)
    layout = StudyLayout(workdir)
    if "spec" in ostudy.user_attrs:
        spec = parse_spec(ostudy.user_attrs["spec"], source=f"study {ostudy.study_name}")
    else:
        spec = _as_spec(layout.spec_copy)
    url = study_url(workdir, storage)
    return Study(spec, workdir, storage=None if url == layout.default_storage else url,
                 data_root=Path(data_root) if data_root is not None else None, optuna_study=ostudy)


def estimate_model(model: str | Path, *, folding: Mapping[str, Any] | str | Path | None = None,
             target_fps: float | None = None, fit: bool = False, board: str = "U280", clock_ns: float = 5.0,
             wwidth_max: int | None = 36, compare_finn: bool = False, full_design: bool = False,
             fifo_depth: int | None = None, calibration: str | Path | None = None,
             fpgas: int | None = None) -> EstimateReport:
    """Per-layer and total estimates of a QONNX (or FINN HW) model, without a study.

    FINN converts the model once; then FINN-DSE's estimators apply ``folding`` (a FINN folding
    config, as a dict or a JSON file), or solve for the cheapest folding reaching ``target_fps``,
    or for the fastest one that fits the board (``fit``). ``calibration``: a study work directory
    whose synthesized designs calibrate the resource estimates (see ``finn-dse calibration``).
    ``fpgas`` K: also partition it over a chain of K cards (``fit``: the fastest design on up to K).
    ``report.data`` holds the stable JSON
    form (see the README), ``report.notes`` what to know about it. CLI: ``finn-dse estimate``.

    >>> report = dse.estimate_model("bundle/model.onnx", target_fps=1e6)      # doctest: +SKIP
    >>> report.data["fps"], report.data["totals"]["lut"]                 # doctest: +SKIP
    """
    from dse.estimate import estimate_model as _estimate

    config: dict[str, Any] | None
    if folding is None or isinstance(folding, Mapping):
        config = dict(folding) if folding is not None else None
    else:
        try:
            config = json.loads(Path(folding).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read folding config {folding}: {err}") from None
    cal = None
    if calibration is not None:
        from dse.jobs import load_calibration

        cal = load_calibration(Path(calibration))
        if cal is None:
            raise ConfigError(f"no calibration data in {calibration} yet: it comes from synthesized builds "
                              "(finn-dse promote --mode full, then finn-dse jobs)")
    return _estimate(Path(model), board=board, clock_ns=clock_ns, folding=config, target_fps=target_fps,
                          fit=fit, wwidth_max=wwidth_max, compare_finn=compare_finn, full_design=full_design,
                          fifo_depth=fifo_depth, calibration=cal, fpgas=fpgas)


def model_front(model: str | Path, *, board: str | None = None, clock_ns: Sequence[float] | None = None,
                min_fps: float | None = None, max_latency_us: float | None = None,
                ram_styles: Sequence[str] | None = None, res_types: Sequence[str] | None = None,
                wwidth_max: int | None = None, study_file: str | Path | None = None) -> ModelFront:
    """The exact hardware front of a trained QONNX model, without training (a hardware-only study).

    FINN converts the model once; the estimators sweep every reachable folding level x memory
    styles x resType x clocks (``estimators.front``). Settings not given come from ``study_file``
    (its hardware, limits and ``space.folding`` memory styles), else: U280, 5 ns, all four memory
    styles, resType auto, mvau_wwidth_max 36. ``write_front``/``export_design`` of
    :mod:`dse.model_front` write the outputs and bundles. CLI: ``finn-dse front``.

    >>> mf = dse.api.model_front("model.onnx", min_fps=1e5)      # doctest: +SKIP
    >>> mf.frame()[["fps", "lut", "bram18"]]                       # doctest: +SKIP
    """
    from dse.model_front import DEFAULT_RAM_STYLES
    from dse.model_front import model_front as _front

    defaults: dict[str, Any] = {"board": "U280", "clock_ns": (5.0,), "ram_styles": DEFAULT_RAM_STYLES,
                                "res_types": ("auto",), "wwidth_max": 36, "min_fps": None, "max_latency_us": None,
                                "fit_margin": 0.0}
    if study_file is not None:
        from dse.spec import load_spec

        spec = load_spec(Path(study_file))
        f = spec.space.folding
        defaults.update(board=spec.hardware.board, wwidth_max=spec.hardware.mvau_wwidth_max,
                        clock_ns=tuple(spec.space.clock_ns or (spec.hardware.clock_ns,)),
                        ram_styles=tuple(f.ram_style), res_types=tuple(f.res_type), min_fps=spec.limits.min_fps,
                        max_latency_us=spec.limits.max_latency_us, fit_margin=spec.limits.fit_margin)
    given = {"board": board, "clock_ns": tuple(clock_ns) if clock_ns else None, "min_fps": min_fps,
             "max_latency_us": max_latency_us, "ram_styles": tuple(ram_styles) if ram_styles else None,
             "res_types": tuple(res_types) if res_types else None, "wwidth_max": wwidth_max}
    settings = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    return _front(model, **settings)


def fetch_data(data_root: str | Path | None = None) -> Path:
    """Fetch and verify MNIST into ``<data_root>/mnist`` (default ``~/.cache/finn-dse/data``);
    returns that directory. Quick when the files are there. CLI: ``finn-dse fetch-data``."""
    from dse.data import fetch_mnist

    return fetch_mnist(Path(data_root) if data_root is not None else _default_data_root())


def worker(study: str | Path | StudySpec | Mapping[str, Any], *, storage: str, workdir: str | Path | None = None,
           n_trials: int | None = None, data_root: str | Path | None = None, heartbeat_s: int | None = None,
           grace_s: int | None = None, observer: StudyObserver | None = None) -> Study:
    """Join ``study`` on shared ``storage`` (e.g. PostgreSQL) and run trials beside other workers
    until the study has ``n_trials`` finished ones; ``observer`` hears its trials (see
    :meth:`Study.run`). CLI: ``finn-dse worker``."""
    import os
    import socket

    from dse.storage.database import prepare_storage
    from dse.storage.urls import redact
    from dse.study import run_study
    from dse.storage.database import GRACE_S, HEARTBEAT_S

    if heartbeat_s is not None and grace_s is not None and grace_s <= heartbeat_s:
        raise ConfigError(f"--grace ({grace_s} s) must be longer than --heartbeat ({heartbeat_s} s)")
    spec = _as_spec(study)
    prepare_storage(storage)
    handle = Study(spec, Path(workdir) if workdir is not None else _default_workdir(spec.name), storage=storage,
                   data_root=Path(data_root) if data_root is not None else None)
    logger.info("worker %s:%d joins study %s at %s", socket.gethostname(), os.getpid(), spec.name, redact(storage))
    handle._optuna = run_study(spec, handle.workdir, data_root=handle.data_root, storage_url=storage,
                               n_trials=n_trials, worker=True, heartbeat_s=heartbeat_s or HEARTBEAT_S,
                               grace_s=grace_s or GRACE_S, observer=observer)
    return handle


@dataclass(frozen=True, slots=True)
class Launched:
    """What :func:`launch` submitted: the job array and the study the workers share."""

    submission: Submission
    study: Study
    workers: int
    finished: int  # finished trials when the workers were submitted
    target: int


def launch(study_file: str | Path, *, workers: int, storage: str | None,
           profile: str | Path | ClusterProfile | None = None, partition: str | None = None,
           account: str | None = None, time_min: int | None = None, cpus: int | None = None,
           mem_gb: float | None = None, modules: Sequence[str] | None = None, setup: Sequence[str] = (),
           workdir: str | Path | None = None, n_trials: int | None = None, data_root: str | Path | None = None,
           fallback_data_root: str | Path | None = None, heartbeat_s: int | None = None,
           grace_s: int | None = None, gpus: int | None = None) -> Launched:
    """Submit ``workers`` ``finn-dse worker`` processes for ``study_file`` as one Slurm job array.

    ``profile`` is a cluster profile (YAML path or loaded); the keyword options override it.
    ``data_root`` is the dataset directory as the nodes see it (default: the profile's, else
    ``fallback_data_root``, else ``~/.cache/finn-dse/data``). The study is created on ``storage``
    (a database server) before anything is submitted. CLI: ``finn-dse launch --slurm``.
    """
    from dse.launch import ClusterProfile, check_can_submit, load_profile, submit_workers, worker_argv
    from dse.storage.database import prepare_storage
    from dse.storage.urls import job_password, require_server_storage
    from dse.storage.claims import finished_trials

    url = require_server_storage(storage)
    spec = _as_spec(study_file)
    overrides = {"partition": partition, "account": account, "time_min": time_min, "cpus": cpus, "mem_gb": mem_gb,
                 "gpus_per_worker": gpus,
                 "modules": [m.strip() for m in modules if m.strip()] if modules is not None else None,
                 "setup": list(setup) or None}
    if isinstance(profile, ClusterProfile):
        from dse.launch import parse_profile

        merged = {**profile.model_dump(exclude_unset=True), **{k: v for k, v in overrides.items() if v is not None}}
        cluster = parse_profile(merged, source="cluster profile")
    else:
        cluster = load_profile(Path(profile) if profile is not None else None, overrides)
    check_can_submit(cluster)
    root = (Path(workdir) if workdir is not None else _default_workdir(spec.name)).resolve()
    data = (Path(data_root) if data_root is not None else Path(cluster.data_root) if cluster.data_root
            else Path(fallback_data_root) if fallback_data_root is not None else _default_data_root()).resolve()
    # Create the study now: a bad URL fails here, not in every array task.
    prepare_storage(url)
    handle = Study(spec, root, storage=url, data_root=data)
    ostudy = handle.optuna
    argv = worker_argv(Path(study_file), storage=url, workdir=root, data_root=data, n_trials=n_trials,
                       heartbeat_s=heartbeat_s, grace_s=grace_s)
    with job_password(url):  # the workers' argv (pickled by submitit) has no password
        sub = submit_workers(argv, workers=workers, profile=cluster, folder=root / "slurm", job_name=f"dse-{spec.name}")
    return Launched(submission=sub, study=handle, workers=workers, finished=finished_trials(ostudy),
                    target=n_trials or spec.n_trials)


def promote(workdir: str | Path, top: int = 3, *, backend: str = "local", mode: str = "full",
            profile: str | Path | None = None, storage: str | None = None,
            build_options: Mapping[str, Any] | Sequence[str] | None = None, finn_args: Sequence[str] = ()) -> Any:
    """Build the best designs for real (``finn-dse promote``): pick ``top`` Pareto candidates spread
    over the front (by hypervolume contribution), export their bundles and submit one build job
    each, ``local`` or ``slurm`` (``profile``: a cluster profile YAML). ``mode="full"`` runs
    ``finn build`` with synthesis (needs Vivado, Vitis, XRT); ``"estimate-only"`` runs FINN's
    estimate flow only. A candidate already built (or building) with the same options is not
    submitted again. Returns a ``dse.jobs.promotion.Promotion`` (``.jobs``, ``.to_text()``).

    >>> dse.api.promote("runs/tfc_mnist", top=3, backend="slurm", profile="studies/clusters/noctua2.yaml")
    """
    from dse.export import parse_build_options
    from dse.jobs import promote as _promote

    options = (parse_build_options(tuple(build_options)) if build_options is not None
               and not isinstance(build_options, Mapping) else build_options)
    return _promote(Path(workdir), top, backend=backend, mode=mode, profile=profile, storage=storage,
                    build_options=options, finn_args=tuple(finn_args))


def jobs(workdir: str | Path, *, storage: str | None = None, trial: int | None = None) -> list[Any]:
    """The study's build and measurement jobs, brought up to date and ingested when finished
    (``finn-dse jobs``). ``dse.jobs.cancel_job`` / ``dse.jobs.wait_jobs`` are
    ``finn-dse jobs cancel`` / ``finn-dse jobs wait``."""
    from dse.jobs import list_jobs

    return list_jobs(Path(workdir), storage=storage, trial=trial)


def measure(workdir: str | Path, trial: int, *, backend: str = "local", profile: str | Path | None = None,
            storage: str | None = None, batch_size: int = 10000, device: str | None = None,
            duration_s: float = 20.0) -> Any:
    """Submit a board measurement of a trial's synthesized build (``finn-dse measure``): the
    driver's throughput test on the U280 while XRT reports board power; fps, latency, power and
    energy per inference are attached to the trial. With no synthesized build, or locally without
    XRT or a U280, it raises at once; on Slurm a node without them ends the job FAILED saying which."""
    from dse.jobs import measure as _measure

    return _measure(Path(workdir), trial, backend=backend, profile=profile, storage=storage,
                    batch_size=batch_size, device=device, duration_s=duration_s)


def ingest(workdir: str | Path, trial: int, build_dir: str | Path, *, storage: str | None = None) -> Any:
    """Attach the reports of a ``finn build`` that ran elsewhere to ``trial`` (``finn-dse ingest``)."""
    from dse.jobs import ingest_build_dir

    return ingest_build_dir(Path(workdir), trial, Path(build_dir), storage=storage)


def calibration(workdir: str | Path, *, min_samples: int = 5, kind: str = "affine") -> Any:
    """Per node type and resource, the correction learned from synthesized designs and the
    estimators' error (MAPE) before and after it (``finn-dse calibration``)."""
    from dse.jobs import calibration_report

    return calibration_report(Path(workdir), min_samples=min_samples, kind=kind)


#: Each `finn-dse` command and the API function that does its work (the CLI adds only printing).
CLI_COMMANDS: dict[str, Callable[..., Any]] = {
    "run": Study.run,  # on create_study(STUDY_FILE, workdir=..., storage=..., data_root=...)
    "pareto": Study.pareto,  # on load_study(WORKDIR)
    "report": Study.report,
    "trials": Study.trials,  # and Study.write_trials for --csv / --parquet
    "export": Study.export,
    "dashboard": Study.dashboard,
    "estimate": estimate_model,
    "front": model_front,  # then dse.model_front.write_front / export_design
    "fetch-data": fetch_data,
    "worker": worker,
    "launch": launch,
    "promote": promote,
    "jobs": jobs,
    "measure": measure,
    "ingest": ingest,
    "calibration": calibration,
}
