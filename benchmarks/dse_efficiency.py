"""Sample efficiency of the samplers (TPE, NSGA-II, GP vs random) on the TFC study, with real training.

The study is studies/tfc_mnist.yaml (same space, objectives and hard limits) with a short training
budget so that one trained trial costs ~1-3 s on a shared 2-core CPU: training {epochs: 1,
train_subset: 8000, val_size: 2000}, evaluation {finn_confirm: false, export_model: false,
checks_per_epoch: 4} (with one epoch, a single check at its end could never save any training; four
checks give the early stop something to cut). Each sampler runs the same trial budget for every seed,
each run in its own temporary work directory (private SQLite), one after the other.

Reported per sampler, mean ± std over seeds:
- hypervolume of the feasible front after 25 / 50 / 100 trials, normalised over all runs (the
  headline): each objective is scaled to [0, 1] between the best and worst value any feasible trial
  of any run reached (accuracy linear, fps and LUT on a log scale, since they span decades),
  reference point (1.1, 1.1, 1.1). The report page's normalisation (dse.report.page.hypervolume_history:
  (1 - val_accuracy, 1 - fps / f_clk, lut / usable LUT), reference (1, 1, 1)) is printed too, but it
  cannot rank samplers here: fps / f_clk is below 0.03 for every TFC design, so the fps axis is
  1 - (tiny) and the volume is mostly the single fastest design's sliver;
- share of trials stopped by the estimators before training, share stopped early by the accuracy check;
- training time spent, and the training time a run without estimator screening would have spent on the
  same trials. The latter is an ESTIMATE: the measured training time plus, for every screened-out trial,
  the mean measured training time of the trained trials of the same hidden width in the same run
  (all trained trials of the run if none has that width). It assumes a screened-out design would have
  trained as long as a trained one of its width (no early stop credited).
Headline: hv_ratio_best_vs_random_at_50 = best sampler's mean HV at 50 trials / random's.
Also at equal TRAININGS (25 / 50) for every row, beside the network-level search (-front samplers:
evaluation.hardware: front, the sampler proposes networks and each trained network is folded exactly
over every reachable level; up to 4 proposals per training, repeats and deferrals cost none).
Usage: python benchmarks/dse_efficiency.py [--seeds 0,1,2,3,4] [--trials 100]
       [--samplers tpe,nsga2,gp,random,tpe-front,random-front] [--quick] [--name NAME]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "tfc_mnist.yaml"
TRAINING = {"epochs": 1, "train_subset": 8000, "val_size": 2000}
EVALUATION = {"finn_confirm": False, "export_model": False, "checks_per_epoch": 4}
ALL_SAMPLERS = ("tpe", "nsga2", "gp", "random")
# Network-level search (evaluation.hardware: front): the sampler proposes networks, each trained
# network is folded exactly over every reachable level (dse.networks).
FRONT_SAMPLERS = ("tpe-front", "random-front")
TRAININGS = (25, 50)  # the front rows are compared at equal trainings (their proposals cost none)


def is_training(t: Any) -> bool:
    """Did this trial train a network? (per trial: any trial not stopped by the estimators)"""
    if t.user_attrs.get("role") == "network":
        return bool(t.user_attrs.get("trained_here"))
    return t.state.name == "COMPLETE" and t.user_attrs.get("stopped_by") != "estimator" and (
        t.user_attrs.get("role") != "design")


def upto(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The trials recorded before the (k+1)-th training started (all, if there were <= k)."""
    seen = 0
    for i, r in enumerate(rows):
        if r["training"]:
            if seen == k:
                return rows[:i]
            seen += 1
    return rows


def bench_spec(sampler: str, seed: int, trials: int, *, training: dict[str, Any] | None = None,
               hardware: str = "per_trial") -> Any:
    """studies/tfc_mnist.yaml with the short training budget, the given sampler, seed and budget.

    ``hardware``: per_trial (the sampler proposes a folding target per trial) or front (networks
    only, each folded exactly over every reachable level: dse.networks)."""
    import yaml

    from dse.spec import parse_spec

    data = yaml.safe_load(STUDY.read_text())
    data["name"] = f"bench_{sampler}_{hardware}_s{seed}"
    data["training"] = {**data.get("training", {}), **(training or TRAINING)}
    data["evaluation"] = {**data.get("evaluation", {}), **EVALUATION, "hardware": hardware}
    data.update(sampler=sampler, seed=seed, n_trials=trials)  # make_sampler sizes startup / population from n_trials
    return parse_spec(data, source="dse_efficiency")


def trial_dicts(study: Any) -> list[dict[str, Any]]:
    """The trials in the shape dse.report.page.hypervolume_history reads."""
    out = []
    for t in study.get_trials(deepcopy=False):
        complete = t.state.name == "COMPLETE"
        out.append({"number": t.number, "state": t.state.name,
                    "feasible": complete and all(v <= 0 for v in t.constraints.values()),
                    "metrics": {k: t.user_attrs.get(k) for k in ("val_accuracy", "fps", "lut")}})
    return out


def combinations(spec: Any) -> int:
    """How many (bits, width) combinations the TFC space holds (everything but the folding target)."""
    sp = spec.space
    return len(sp.weight_bits) * len(sp.act_bits) * len(sp.hidden_width) * len(sp.hidden_layers)


def yaml_sampler() -> str:
    """The sampler the default study file names."""
    import yaml

    return str(yaml.safe_load(STUDY.read_text()).get("sampler", "tpe"))


def hv_at(history: list[dict[str, Any]], n: int) -> float:
    """Hypervolume after the first n trials (trial numbers 0..n-1)."""
    hv = 0.0
    for h in history:
        if h["number"] < n:
            hv = h["hypervolume"]
    return hv


def train_seconds(workdir: Path, t: Any) -> float | None:
    """Training seconds of a trained trial. Trials stopped early by the accuracy check carry no
    train_s user attr (dse/evaluate.py only copies `seconds` into attrs at the end of a full
    evaluation), so they are read from the trial's metrics.json."""
    if "train_s" in t.user_attrs:
        return float(t.user_attrs["train_s"]) + float(t.user_attrs.get("parent_train_s", 0.0))
    rel = t.user_attrs.get("artifact_dir")
    if rel is None:
        return None
    try:
        secs = json.loads((workdir / rel / "metrics.json").read_text())["seconds"]
    except (OSError, ValueError, KeyError):
        return None
    if "train" not in secs:
        return None
    return float(secs["train"]) + float(secs.get("parent_train", 0.0))


def collect(study: Any, workdir: Path, wall_s: float) -> dict[str, Any]:
    """The raw per-trial record of one run (JSON-serialisable; what --cache stores)."""
    rows = []
    for t, d in zip(study.get_trials(deepcopy=False), trial_dicts(study)):
        rows.append({**d, "params": dict(t.params), "stopped_by": t.user_attrs.get("stopped_by"),
                     "training": is_training(t), "role": t.user_attrs.get("role"),
                     "train_s": None if t.user_attrs.get("stopped_by") == "estimator" else train_seconds(workdir, t)})
    return {"trials": rows, "wall_s": wall_s}


Bounds = tuple[tuple[float, float, float], tuple[float, float, float]]


def _point(t: dict[str, Any]) -> tuple[float, float, float]:
    m = t["metrics"]
    return float(m["val_accuracy"]), math.log(float(m["fps"])), math.log(float(m["lut"]))


def pooled_bounds(raws: list[dict[str, Any]]) -> Bounds:
    """(worst, best) of (accuracy, log fps, log LUT) over the feasible trials of every run."""
    pts = [_point(t) for raw in raws for t in raw["trials"] if t["feasible"]]
    if not pts:  # no feasible trial anywhere: every hypervolume is 0 whatever the box
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    acc, fps, lut = zip(*pts)
    return (min(acc), min(fps), max(lut)), (max(acc), max(fps), min(lut))


def pooled_hv(trials: list[dict[str, Any]], n: int, bounds: Bounds) -> float:
    """Hypervolume of the first ``n`` trials' feasible front, normalised over all runs (see module doc)."""
    from dse.hypervolume import hypervolume

    worst, best = bounds
    losses = [[(b - v) / (b - w) if b != w else 0.0 for v, w, b in zip(_point(t), worst, best)]
              for t in trials[:n] if t["feasible"]]
    return hypervolume(losses, (1.1, 1.1, 1.1)) if losses else 0.0


def summarise(raw: dict[str, Any], spec: Any, checkpoints: tuple[int, ...], bounds: Bounds | None = None) -> dict[str, Any]:
    from dse.report.page import hypervolume_history
    from estimators.devices import get_board

    trials = raw["trials"]
    history = hypervolume_history(trials, fps_max=1e9 / spec.hardware.clock_ns,
                                  lut_budget=get_board(spec.hardware.board).usable().lut)
    by = [t["stopped_by"] for t in trials]
    trained: dict[int, list[float]] = {}
    for t in trials:
        if t["stopped_by"] != "estimator" and t["train_s"] is not None:
            trained.setdefault(t["params"].get("hidden_width"), []).append(t["train_s"])
    everything = [s for v in trained.values() for s in v]
    overall = statistics.mean(everything) if everything else 0.0
    extra = sum(statistics.mean(trained[w]) if trained.get(w) else overall
                for t in trials if t["stopped_by"] == "estimator" for w in [t["params"].get("hidden_width")])
    return {"n": len(trials), "hv_report": {n: hv_at(history, n) for n in checkpoints},
            "hv_trainings": ({k: pooled_hv(upto(trials, k), len(trials), bounds) for k in TRAININGS}
                             if bounds is not None else {}),
            "trainings": sum(1 for t in trials if t.get("training")),
            "pareto": pareto_designs(upto(trials, max(TRAININGS))),
            "hv": {n: pooled_hv(trials, n, bounds) for n in checkpoints} if bounds is not None else {},
            "stopped_estimator": by.count("estimator") / max(1, len(trials)),
            "stopped_accuracy": by.count("accuracy") / max(1, len(trials)),
            "feasible": sum(1 for t in trials if t["feasible"]), "train_s": sum(everything),
            "train_s_no_screen": sum(everything) + extra, "mean_train_s": overall, "wall_s": raw["wall_s"],
            "distinct": len({tuple(sorted((k, v) for k, v in t["params"].items() if k != "target_fps"))
                             for t in trials}),
            "failed": sum(1 for t in trials if t["state"] == "FAIL")}


def pareto_designs(trials: list[dict[str, Any]]) -> int:
    """Feasible designs on the (accuracy, fps, LUT) front."""
    pts = [(-a, -f, lut) for t in trials if t["feasible"] for a, f, lut in [_point(t)]]

    def dom(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    return sum(1 for p in pts if not any(dom(q, p) for q in pts))


class _Observer:
    """Feeds run_study's hooks into two rich bars: all runs' trials, and the current run."""

    def __init__(self, progress: Any, overall: Any, label: str) -> None:
        self.progress, self.overall = progress, overall
        self.run = progress.add_task(label, total=1)
        self.label = label

    def study_started(self, done: int, target: int) -> None:
        self.progress.update(self.run, total=target, completed=done)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        pass

    def stage(self, number: int, name: str, done: int, total: int) -> None:
        pass

    def trial_finished(self, number: int, state: str, summary: str) -> None:
        self.progress.advance(self.overall)

    def study_progress(self, stats: Any) -> None:
        self.progress.update(self.run, completed=stats.finished, description=(
            f"{self.label}: {stats.feasible} feasible, {stats.stopped_estimator} screened out, "
            f"{stats.stopped_accuracy} stopped early"))


def fmt(values: list[float], digits: int = 4) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated sampler/study seeds")
    ap.add_argument("--trials", type=int, default=100, help="trial budget per run")
    ap.add_argument("--samplers", default=",".join(ALL_SAMPLERS))
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 12 trials")
    ap.add_argument("--name", default="dse_efficiency", help="results file benchmarks/results/NAME.txt")
    ap.add_argument("--cache", type=Path, default=None,
                    help="directory for per-run summaries: runs already summarised there are not run again")
    ap.add_argument("--keep", action="store_true", help="keep the work directories (printed)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (the engine leaves torch's default, one per core; on a shared "
                         "2-core machine that made QAT ~10x slower than 1 thread)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    samplers = [s.strip() for s in args.samplers.split(",")]
    trials = args.trials
    training = dict(TRAINING)
    if args.quick:
        seeds, trials = seeds[:1], min(trials, 12)
    bad = set(samplers) - set(ALL_SAMPLERS) - set(FRONT_SAMPLERS)
    if bad:
        ap.error(f"unknown sampler(s) {sorted(bad)}; allowed: {', '.join(ALL_SAMPLERS + FRONT_SAMPLERS)}")
    checkpoints = tuple(sorted({n for n in (25, 50, 100) if n <= trials} | {trials}))
    name = args.name if not args.quick else "dse_efficiency_quick"
    rep = Report(name, f"{STUDY.relative_to(ROOT)} (space, objectives, limits as is) with training {training}, "
                 f"evaluation {EVALUATION}; samplers {samplers} (dse.study.make_sampler); {trials} trials per run; "
                 f"seeds {seeds}; one run at a time, each in its own temp work dir; {args.threads} torch thread(s)")

    import optuna
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dse.data import default_data_root, fetch_mnist
    from dse.report.page import hypervolume_history  # noqa: F401  (fail now, not after the first run)
    from dse.study import run_study

    import torch

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dse").setLevel(logging.WARNING)
    import os

    data_root = default_data_root(os.environ)
    fetch_mnist(data_root)
    base = Path(tempfile.mkdtemp(prefix="dse-efficiency-"))
    raws: dict[str, list[tuple[dict[str, Any], Any]]] = {s: [] for s in samplers}
    t_all = time.perf_counter()
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        overall = progress.add_task("all runs", total=len(samplers) * len(seeds) * trials)
        for seed in seeds:
            for sampler in samplers:
                if sampler in FRONT_SAMPLERS:  # proposals: repeats and deferrals cost no training
                    spec = bench_spec(sampler.removesuffix("-front"), seed, min(4 * max(TRAININGS), 4 * trials), training=training,
                                      hardware="front")
                else:
                    spec = bench_spec(sampler, seed, trials, training=training)
                key = hashlib.sha256(json.dumps(spec.model_dump(mode="json")).encode()).hexdigest()[:16]
                cached = args.cache / f"{sampler}_s{seed}_{key}.json" if args.cache else None
                if cached is not None and cached.exists():
                    raws[sampler].append((json.loads(cached.read_text()), spec))
                    progress.advance(overall, trials)
                    console.print(f"{sampler} seed {seed}: from {cached}")
                    continue
                workdir = base / f"{sampler}_s{seed}"
                obs = _Observer(progress, overall, f"{sampler} seed {seed}")
                t0 = time.perf_counter()
                study = run_study(spec, workdir, data_root=data_root, n_trials=spec.n_trials, write_report=False,
                                  observer=obs)
                raw = collect(study, workdir, time.perf_counter() - t0)
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    cached.write_text(json.dumps(raw))
                r = summarise(raw, spec, checkpoints)
                raws[sampler].append((raw, spec))
                progress.remove_task(obs.run)
                console.print(f"{sampler} seed {seed}: report-normalised HV "
                              + " ".join(f"@{n}={r['hv_report'][n]:.4f}" for n in checkpoints)
                              + f", {r['feasible']} feasible, {r['stopped_estimator']:.0%} screened out, "
                              f"{r['stopped_accuracy']:.0%} stopped early, train {r['train_s']:.0f} s, "
                              f"wall {r['wall_s']:.0f} s")
    total_s = time.perf_counter() - t_all
    bounds = pooled_bounds([raw for runs in raws.values() for raw, _ in runs])
    results = {s: [summarise(raw, spec, checkpoints, bounds) for raw, spec in runs] for s, runs in raws.items()}
    per = [s for s in samplers if s in ALL_SAMPLERS]  # the per-trial rows (by trials); all rows by trainings below

    rep.say()
    rep.say(f"normalisation over all runs: accuracy {bounds[0][0]:.4f}..{bounds[1][0]:.4f}, fps "
            f"{math.exp(bounds[0][1]):,.0f}..{math.exp(bounds[1][1]):,.0f} (log), LUT {math.exp(bounds[1][2]):,.0f}.."
            f"{math.exp(bounds[0][2]):,.0f} (log); reference point 1.1 per objective")
    head = "".join(f"{'HV@' + str(n):>18}" for n in checkpoints)
    rep.say(f"{'sampler':<8}{head}{'feasible':>10}{'screened':>10}{'acc-stop':>10}{'distinct':>10}{'wall s':>9}")
    for s in per:
        rs = results[s]
        cols = "".join(f"{fmt([r['hv'][n] for r in rs]):>18}" for n in checkpoints)
        rep.say(f"{s:<8}{cols}{statistics.mean(r['feasible'] for r in rs):>10.1f}"
                f"{statistics.mean(r['stopped_estimator'] for r in rs):>10.0%}"
                f"{statistics.mean(r['stopped_accuracy'] for r in rs):>10.0%}"
                f"{statistics.mean(r['distinct'] for r in rs):>10.1f}"
                f"{statistics.mean(r['wall_s'] for r in rs):>9.0f}")
    rep.say()
    rep.say("the same runs, hypervolume normalised as the report page does (see the module doc):")
    rep.say(f"{'sampler':<8}" + "".join(f"{'HV@' + str(n):>18}" for n in checkpoints))
    for s in per:
        rep.say(f"{s:<8}" + "".join(f"{fmt([r['hv_report'][n] for r in results[s]]):>18}" for n in checkpoints))
    rep.say("(HV: mean ± std over seeds; screened = share of trials stopped by the estimators before training; "
            "acc-stop = share stopped early by the accuracy check; distinct = distinct (bits, width) combinations "
            f"tried, of {combinations(raws[samplers[0]][0][1])})")
    rep.say()
    rep.say(f"{'sampler':<8}{'train s spent':>16}{'no-screen est.':>16}{'saved':>8}{'s/trained trial':>17}")
    for s in per:
        rs = results[s]
        spent = statistics.mean(r["train_s"] for r in rs)
        full = statistics.mean(r["train_s_no_screen"] for r in rs)
        rep.say(f"{s:<8}{spent:>16.0f}{full:>16.0f}{1 - spent / full if full else 0:>8.0%}"
                f"{statistics.mean(r['mean_train_s'] for r in rs):>17.2f}")
    rep.say("(training seconds per run, mean over seeds. 'no-screen est.' is an estimate, not a measurement: "
            "measured training time + for each screened-out trial the mean measured training time of trained "
            "trials of its hidden width in the same run)")
    rep.say()
    rep.say("every sampler at equal TRAININGS (networks trained; screened-out, deferred and repeated proposals cost "
            "none); the -front rows propose networks only and fold each trained one exactly (evaluation.hardware: "
            "front), so one training adds its whole hardware front:")
    rep.say(f"{'sampler':<14}" + "".join(f"{'HV@' + str(k) + ' trainings':>22}" for k in TRAININGS)
            + f"{'trainings':>11}{'Pareto designs@' + str(max(TRAININGS)):>19}{'wall s':>8}")
    for s in samplers:
        rs = results[s]
        rep.say(f"{s:<14}" + "".join(f"{fmt([r['hv_trainings'][k] for r in rs]):>22}" for k in TRAININGS)
                + f"{statistics.mean(r['trainings'] for r in rs):>11.1f}{statistics.mean(r['pareto'] for r in rs):>19.1f}"
                f"{statistics.mean(r['wall_s'] for r in rs):>8.0f}")
    rep.say("(a run with fewer trainings than a column is shown at its end: the default space has 54 networks, and "
            "a front search trains each at most once)")
    failed = sum(r["failed"] for rs in results.values() for r in rs)
    if failed:
        rep.say(f"WARNING: {failed} failed trials in total")
    runs_s = sum(r["wall_s"] for rs in results.values() for r in rs)
    rep.say(f"total wall time of the runs {runs_s / 60:.1f} min (this invocation {total_s / 60:.1f} min; runs "
            "found in --cache are not run again)")

    at = 50 if 50 in checkpoints else checkpoints[-1]
    means = {s: statistics.mean(r["hv"][at] for r in results[s]) for s in per}
    others = {s: v for s, v in means.items() if s != "random"}
    if "random" in means and others:
        best = max(others, key=others.get)
        ratio = others[best] / means["random"] if means["random"] > 0 else float("inf")
        from dse.spec import StudySpec

        default = StudySpec.model_fields["sampler"].default
        study_default = yaml_sampler()
        rep.say()
        rep.say("hypervolume per seed (seeds " + ", ".join(map(str, seeds)) + "):")
        for s in per:
            rep.say(f"{s:<8}" + "  ".join(f"@{n}: " + " ".join(f"{r['hv'][n]:.3f}" for r in results[s])
                                          for n in checkpoints))
        for s in dict.fromkeys([study_default, default]):
            if s in means and s != best:
                diffs = {n: [a['hv'][n] - b['hv'][n] for a, b in zip(results[best], results[s])] for n in checkpoints}
                wins = ", ".join(f"{sum(d > 0 for d in v)} of {len(v)} at {n}" for n, v in diffs.items())
                se = statistics.stdev(diffs[at]) / math.sqrt(len(diffs[at])) if len(diffs[at]) > 1 else float("nan")
                rep.say(f"{best} beats {s} (the default sampler) on {wins} trials; at {at} trials the mean "
                        f"difference is {statistics.mean(diffs[at]):+.4f} (paired standard error {se:.4f})")
            if s in means:
                rep.say(f"default sampler {s}: mean HV at {at} trials {means[s]:.4f}, "
                        f"{means[s] / means['random'] if means['random'] > 0 else float('inf'):.3f}x random")
        rep.say(f"best sampler at {at} trials: {best} (mean HV {others[best]:.4f} vs random {means['random']:.4f})")
        rep.say(f"hv_ratio_best_vs_random_at_{at}={ratio:.3f}")
    else:
        rep.say("hv_ratio_best_vs_random_at_50=nan (needs random and another sampler)")
    if not args.quick:
        rep.save()
    if args.keep:
        print(f"work dirs kept in {base}")
    else:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
