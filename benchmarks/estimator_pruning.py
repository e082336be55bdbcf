"""What estimator-first screening saves: the default study with evaluation.estimator_first on and off.

Runs studies/tfc_mnist.yaml as is (3 epochs on all 55k training images, QONNX export, FINN confirmation;
optionally fewer trials with --n-trials) twice, with the same seed and trial budget, each in its own
temporary work directory, at the same time in two processes (so that a shared machine's changing load hits
both alike; --sequential runs them one after the other):
- estimator_first: true  - designs the estimators find breaking a hard hardware limit (board fit with
  the 15% margin, the study's min_fps) are recorded and never trained;
- estimator_first: false - every design is trained, exported and confirmed by FINN, then judged.
Training time = sum over trials of train_s + parent_train_s (trials stopped early by the accuracy check
carry no train_s user attr, so theirs is read from the trial's metrics.json); training work = images x
epochs trained, also weighted by the MLP's multiply-accumulates per image (independent of the machine's
load); wall time = first trial's start to last trial's end (so a run resumed with --workdir reports the
time its trials took). Hypervolume of the feasible front as the report page computes it
(dse.report.page.hypervolume_history: (1 - val_accuracy, 1 - fps / f_clk, lut / usable LUT), reference
(1, 1, 1), feasible COMPLETE trials only).
Headline: training_time_saved=<percent> hv_ratio=<hv with screening / hv without>.
Usage: python benchmarks/estimator_pruning.py [--n-trials 40] [--seed 0] [--sampler gp] [--quick]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402
from benchmarks.dse_efficiency import _Observer, train_seconds, trial_dicts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "tfc_mnist.yaml"
QUICK_TRAINING = {"epochs": 1, "train_subset": 2000, "val_size": 1000}


def mlp_macs(widths: list[int], inputs: int = 28 * 28, classes: int = 10) -> int:
    """Multiply-accumulates per image of a TFC-style MLP (inputs -> widths -> classes)."""
    dims = [inputs, *widths, classes]
    return sum(a * b for a, b in zip(dims, dims[1:]))


def run_one(spec: Any, workdir: Path, data_root: Path, budget: int, progress: Any, overall: Any,
            label: str) -> dict[str, Any]:
    from dse.report.page import hypervolume_history
    from dse.study import run_study
    from estimators.devices import get_board

    obs = _Observer(progress, overall, label)
    resumed = sum(1 for _ in (workdir / "trials").glob("*/metrics.json")) if workdir.exists() else 0
    t0 = time.perf_counter()
    study = run_study(spec, workdir, data_root=data_root, n_trials=budget, write_report=False, observer=obs)
    wall = time.perf_counter() - t0
    progress.remove_task(obs.run)
    trials = study.get_trials(deepcopy=False)
    history = hypervolume_history(trial_dicts(study), fps_max=1e9 / spec.hardware.clock_ns,
                                  lut_budget=get_board(spec.hardware.board).usable().lut)
    train = [train_seconds(workdir, t) for t in trials if t.user_attrs.get("stopped_by") != "estimator"]
    train = [s for s in train if s is not None]
    feasible = [t for t in trials if t.state.name == "COMPLETE" and all(v <= 0 for v in t.constraints.values())]
    by = [t.user_attrs.get("stopped_by") for t in trials]
    hw_broken = sum(1 for t in trials if t.user_attrs.get("stopped_by") != "estimator"
                    and any(t.constraints.get(k, 0) > 0 for k in ("fit", "min_fps", "max_latency_us")))
    # Load-independent training work: images x epochs trained (TrainResult.epochs, whole epochs begun), and the
    # same weighted by the MLP's multiply-accumulates per image (a 1024-wide MLP costs ~80x a 32-wide one).
    work = sum(int(t.user_attrs.get("train_images") or 0) * int(t.user_attrs.get("epochs") or 0) for t in trials)
    macs = sum(int(t.user_attrs.get("train_images") or 0) * int(t.user_attrs.get("epochs") or 0)
               * mlp_macs(t.user_attrs.get("widths") or []) for t in trials)
    # Wall time from the trials' own timestamps, so a resumed (--workdir) run reports the time its trials took.
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else wall
    return {"trials": len(trials), "trained": len(train), "train_s": sum(train), "wall_s": wall,
            "train_work": work / 1e6, "train_macs": macs / 1e12, "resumed": resumed,
            "export_s": sum(float(t.user_attrs.get("export_s", 0.0)) for t in trials),
            "finn_s": sum(float(t.user_attrs.get("finn_s", 0.0)) for t in trials),
            "hv": history[-1]["hypervolume"] if history else 0.0, "feasible": len(feasible),
            "screened": by.count("estimator"), "acc_stop": by.count("accuracy"), "hw_broken_trained": hw_broken,
            "failed": sum(1 for t in trials if t.state.name == "FAIL"),
            "designs": len({tuple(sorted((k, v) for k, v in t.params.items() if k != "target_fps")) for t in trials}),
            "params": [dict(t.params) for t in trials],
            "front": sorted(((t.user_attrs.get("design"), t.user_attrs.get("val_accuracy"), t.user_attrs.get("fps"),
                              t.user_attrs.get("lut"), t.number) for t in study.best_trials), key=lambda r: -r[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-trials", type=int, default=None, help="trial budget of each run [default: the study's]")
    ap.add_argument("--seed", type=int, default=None, help="study seed [default: the study's]")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: 8 trials, training {QUICK_TRAINING}")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads per run (the engine leaves torch's default, one per core; on a "
                         "shared 2-core machine that made QAT ~10x slower than 1 thread)")
    ap.add_argument("--sequential", action="store_true",
                    help="run the two studies one after the other [default: at the same time, in two processes, "
                         "so both see the same machine load]")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the two work directories here (a killed benchmark resumes its runs) [default: temp]")
    ap.add_argument("--sampler", choices=("tpe", "nsga2", "gp", "random"), default=None,
                    help="override the study's sampler (results go to estimator_pruning_<sampler>.txt)")
    ap.add_argument("--arm", choices=("true", "false"), help=argparse.SUPPRESS)  # internal: one run, JSON to stdout
    args = ap.parse_args()

    import yaml

    from dse.spec import parse_spec

    data = yaml.safe_load(STUDY.read_text())
    if args.seed is not None:
        data["seed"] = args.seed
    if args.sampler is not None:
        data["sampler"] = args.sampler
    # Like `finn-dse run --n-trials`: the budget is cut, the study (and so its sampler settings) is not.
    budget = args.n_trials if args.n_trials is not None else data["n_trials"]
    if args.quick:
        budget = min(budget, 8)
        data["training"] = {**data["training"], **QUICK_TRAINING}
    specs = {}
    for first in (True, False):
        d = {**data, "name": f"bench_estimator_first_{str(first).lower()}",
             "evaluation": {**data["evaluation"], "estimator_first": first, "hardware": "per_trial"}}
        specs[first] = parse_spec(d, source="estimator_pruning")
    spec = specs[True]
    base = args.workdir or Path(tempfile.mkdtemp(prefix="dse-estimator-pruning-"))

    import optuna
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dse.data import default_data_root, fetch_mnist

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dse").setLevel(logging.WARNING)
    data_root = default_data_root(os.environ)
    console = Console(stderr=True)
    if args.arm is not None:
        first = args.arm == "true"
        with Progress(console=console, disable=True) as progress:
            r = run_one(specs[first], base / f"estimator_first_{first}", data_root, budget, progress,
                        progress.add_task("", total=budget), f"estimator_first={first}")
        print(json.dumps(r))
        return

    mode = "one after the other" if args.sequential else "at the same time in two processes"
    rep = Report("estimator_pruning" + (f"_{args.sampler}" if args.sampler else "") + ("_quick" if args.quick else ""),
                 f"{STUDY.relative_to(ROOT)}{' (QUICK overrides)' if args.quick else ' (--sampler override)' if args.sampler else ' as is'}: sampler {spec.sampler}, "
                 f"seed {spec.seed}, {budget} trials (study n_trials {spec.n_trials}), training "
                 f"{spec.training.model_dump()}, finn_confirm {spec.evaluation.finn_confirm}; estimator_first true "
                 f"and false run {mode}; {args.threads} torch thread(s) each")
    fetch_mnist(data_root)
    res: dict[bool, dict[str, Any]] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        if args.sequential:
            overall = progress.add_task("both runs", total=2 * budget)
            for first in (True, False):
                res[first] = run_one(specs[first], base / f"estimator_first_{first}", data_root, budget, progress,
                                     overall, f"estimator_first={first}")
        else:
            argv = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(base), "--threads",
                    str(args.threads), "--n-trials", str(budget)]
            argv += ["--seed", str(args.seed)] if args.seed is not None else []
            argv += ["--quick"] if args.quick else []
            argv += ["--sampler", args.sampler] if args.sampler is not None else []
            procs, tasks = {}, {}
            for first in (True, False):
                procs[first] = subprocess.Popen([*argv, "--arm", str(first).lower()], stdout=subprocess.PIPE,
                                                text=True)
                tasks[first] = progress.add_task(f"estimator_first={first}", total=budget)
            while any(p.poll() is None for p in procs.values()):
                for first, task in tasks.items():
                    done = len(list((base / f"estimator_first_{first}" / "trials").glob("*/metrics.json")))
                    progress.update(task, completed=done)
                time.sleep(2)
            for first, proc in procs.items():
                out = proc.stdout.read() if proc.stdout else ""
                if proc.returncode != 0:
                    raise SystemExit(f"the estimator_first={first} run failed (exit {proc.returncode})")
                res[first] = json.loads(out.strip().splitlines()[-1])
    for first in (True, False):
        r = res[first]
        console.print(f"estimator_first={first}: {r['trained']} trained, train {r['train_s']:.0f} s, "
                      f"wall {r['wall_s']:.0f} s, HV {r['hv']:.4f}")

    on, off = res[True], res[False]
    for first in (True, False):
        if res[first].get("resumed"):
            rep.say(f"estimator_first={first}: {res[first]['resumed']} trials were already done in {base} (an "
                    "earlier, interrupted or finished run); their times come from their own records")
    rep.say()
    rows = (("trials", "trials", "{:.0f}"), ("trials trained", "trained", "{:.0f}"),
            ("stopped by estimators", "screened", "{:.0f}"), ("stopped early (accuracy)", "acc_stop", "{:.0f}"),
            ("trained, then broke a hw limit", "hw_broken_trained", "{:.0f}"),
            ("distinct (bits, width) designs", "designs", "{:.0f}"),
            ("feasible trials", "feasible", "{:.0f}"), ("training time (s)", "train_s", "{:.1f}"),
            ("training work (M image-epochs)", "train_work", "{:.2f}"),
            ("training work (T multiply-acc.)", "train_macs", "{:.2f}"),
            ("export time (s)", "export_s", "{:.1f}"), ("FINN confirm time (s)", "finn_s", "{:.1f}"),
            ("wall time (s)", "wall_s", "{:.1f}"), ("hypervolume (feasible front)", "hv", "{:.4f}"),
            ("failed trials", "failed", "{:.0f}"))
    rep.say(f"{'':<32}{'estimator_first':>16}{'no screening':>16}{'with / without':>16}")
    for label, key, f in rows:
        ratio = on[key] / off[key] if off[key] else float("nan")
        rep.say(f"{label:<32}{f.format(on[key]):>16}{f.format(off[key]):>16}{ratio:>16.3f}")
    saved = 1 - on["train_s"] / off["train_s"] if off["train_s"] else float("nan")
    wall_saved = 1 - on["wall_s"] / off["wall_s"] if off["wall_s"] else float("nan")
    hv_ratio = on["hv"] / off["hv"] if off["hv"] else (float("inf") if on["hv"] else float("nan"))
    work_saved = 1 - on["train_work"] / off["train_work"] if off["train_work"] else float("nan")
    macs_saved = 1 - on["train_macs"] / off["train_macs"] if off["train_macs"] else float("nan")
    rep.say(f"training time saved {saved:.1%} (target >= 50%); training work saved {macs_saved:.1%} in MACs, "
            f"{work_saved:.1%} in image-epochs (neither depends on the machine's load); wall time saved "
            f"{wall_saved:.1%}; hv ratio {hv_ratio:.3f} (target >= 1.0)")
    same = sum(1 for a, b in zip(on["params"], off["params"]) if a == b)
    rep.say(f"trials proposing the same design (all parameters equal) in both runs: {same} of {min(on['trials'], off['trials'])}"
            " (same seed: the sampler's startup trials match; after that the runs can only diverge through the "
            "values the sampler sees for the designs that break a limit)")
    for first in (True, False):
        rep.say(f"feasible Pareto front, estimator_first={first} (design, val acc, fps, LUT, trial):")
        for design, acc, fps, lut, number in res[first]["front"]:
            rep.say(f"  {design:<28}{acc:>8.2%}{fps:>12,.0f}{lut:>10,.0f}{number:>6}")
    rep.say(f"training_time_saved={saved * 100:.1f}% hv_ratio={hv_ratio:.3f}")
    if not args.quick:
        rep.save()
    if args.workdir is None:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
