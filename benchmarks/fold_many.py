"""One training buys a whole hardware front: per-trial search vs network-level search, same sampler.

Both searches run studies/tfc_mnist.yaml (space, objectives, hard limits as is) with the short
training settings of benchmarks/dse_efficiency.py (training {epochs: 1, train_subset: 8000,
val_size: 2000}, no export, no FINN confirmation), the study's sampler (TPE), per seed, in the same
invocation, each in its own temp work dir:
- per_trial: today's search: the sampler proposes network AND folding target, one design per training;
- front: evaluation.hardware: front: the sampler proposes networks only; each trained network adds
  every design of its exact hardware front (dse.networks), a repeated proposal costs no training.

The x axis is TRAININGS (networks trained, including ones stopped early by the accuracy check;
screened-out, deferred and repeated proposals cost none). The hypervolume after k trainings is that
of the feasible designs recorded before the (k+1)-th training started, normalised as
dse_efficiency does (pooled over every run of both searches: accuracy linear, fps and LUT log,
reference 1.1; printed). Afterwards every network the front search deferred is trained
(defer off, same study) to show the deferral rule did not make the final front worse.

Last line: trainings_saved_ratio=X hv_ratio_at_10_trainings=Y pareto_designs_ratio=Z, with X = 40 /
the trainings the front search needs to reach the per-trial search's mean HV at 40 trainings (mean
curves over seeds), Y = mean HV ratio at 10 trainings, Z = mean Pareto designs at 40 trainings ratio.
Usage: python benchmarks/fold_many.py [--seeds 0,1,2] [--trainings 40]
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402
from benchmarks.dse_efficiency import (EVALUATION, STUDY, TRAINING, bench_spec, is_training, pareto_designs,  # noqa: E402
                                       pooled_bounds, pooled_hv, upto)

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = (10, 20, 40)


def records(study: Any) -> list[dict[str, Any]]:
    """Per trial (in number order): feasible, metrics, whether it trained, role, stopped_by."""
    out = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        complete = t.state.name == "COMPLETE"
        out.append({"number": t.number, "feasible": complete and all(v <= 0 for v in t.constraints.values()),
                    "metrics": {k: t.user_attrs.get(k) for k in ("val_accuracy", "fps", "lut")},
                    "training": is_training(t), "role": t.user_attrs.get("role"),
                    "stopped_by": t.user_attrs.get("stopped_by"), "params": dict(t.params)})
    return out


def trainings(rows: list[dict[str, Any]]) -> int:
    return sum(r["training"] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--trainings", type=int, default=40, help="trainings per per-trial run (the reference)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    n_ref = args.trainings
    checkpoints = tuple(sorted({c for c in CHECKPOINTS if c <= n_ref} | {n_ref}))
    headroom = {m: bench_spec("tpe", 0, 4 * n_ref, hardware=m).evaluation.early_stop_headroom
                for m in ("per_trial", "front")}
    rep = Report("fold_many", f"{STUDY.relative_to(ROOT)} (space, objectives, limits as is), sampler tpe, training "
                 f"{TRAINING}, evaluation {EVALUATION}; per_trial vs front (evaluation.hardware), seeds {seeds}; "
                 f"early_stop_headroom as each mode's default ({headroom}); "
                 f"per_trial runs until {n_ref} trainings, front until {n_ref} trainings or "
                 f"{4 * n_ref} proposals; {args.threads} torch thread(s); one run at a time")

    import optuna
    import torch

    from dse.data import default_data_root, fetch_mnist
    from dse.study import run_study

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dse").setLevel(logging.WARNING)
    data_root = default_data_root(os.environ)
    fetch_mnist(data_root)
    base = Path(tempfile.mkdtemp(prefix="fold-many-"))
    runs: dict[str, list[list[dict[str, Any]]]] = {"per_trial": [], "front": []}
    walls: dict[str, list[float]] = {"per_trial": [], "front": []}
    deferred_check: list[tuple[int, int, list[dict[str, Any]]]] = []
    for seed in seeds:
        for mode in ("per_trial", "front"):
            spec = bench_spec("tpe", seed, 4 * n_ref, hardware=mode)
            workdir = base / f"{mode}_s{seed}"
            t0 = time.perf_counter()
            # Run in slices until n_ref trainings (a resume re-seeds the sampler: slices are large).
            target = int(2.2 * n_ref) if mode == "per_trial" else 2 * n_ref
            while True:
                study = run_study(spec, workdir, data_root=data_root, n_trials=target, write_report=False)
                rows = records(study)
                from dse.study import finished_trials

                if trainings(rows) >= n_ref or target >= 4 * n_ref:
                    break
                target = min(4 * n_ref, finished_trials(study) + 2 * (n_ref - trainings(rows)) + 4)
            walls[mode].append(time.perf_counter() - t0)
            runs[mode].append(rows)
            print(f"{mode} seed {seed}: {len(rows)} trials, {trainings(rows)} trainings, "
                  f"{sum(r['feasible'] for r in rows)} feasible, {walls[mode][-1]:.0f} s", file=sys.stderr, flush=True)
            if mode == "front":
                deferred = {tuple(sorted(r["params"].items())) for r in rows if r["stopped_by"] == "deferred"}
                if deferred:  # train them now (defer off) and see whether the final front changes
                    for params in deferred:
                        study.enqueue_trial(dict(params))
                    spec2 = spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update={"defer": False})})
                    study = run_study(spec2, workdir, data_root=data_root,
                                      n_trials=finished_trials(study) + len(deferred), write_report=False)
                deferred_check.append((len(deferred), sum(r["stopped_by"] == "deferred" for r in rows),
                                       records(study)))

    bounds = pooled_bounds([{"trials": rows} for rs in runs.values() for rows in rs])
    hv = {m: [{k: pooled_hv(upto(rows, k), len(rows), bounds) for k in range(1, n_ref + 1)} for rows in rs]
          for m, rs in runs.items()}
    rep.say()
    rep.say(f"normalisation over all runs: accuracy {bounds[0][0]:.4f}..{bounds[1][0]:.4f}, fps "
            f"{math.exp(bounds[0][1]):,.0f}..{math.exp(bounds[1][1]):,.0f} (log), LUT {math.exp(bounds[1][2]):,.0f}.."
            f"{math.exp(bounds[0][2]):,.0f} (log); reference point 1.1 per objective")
    rep.say(f"{'search':<10}" + "".join(f"{'HV@' + str(k) + ' trainings':>22}" for k in checkpoints)
            + f"{'Pareto@' + str(n_ref):>11}{'trials':>8}{'trainings':>10}{'wall s':>8}")

    def fmt(v: list[float]) -> str:
        return f"{statistics.mean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.4f}"

    pareto = {m: [pareto_designs(upto(rows, n_ref)) for rows in rs] for m, rs in runs.items()}
    for m in runs:
        rep.say(f"{m:<10}" + "".join(f"{fmt([h[k] for h in hv[m]]):>22}" for k in checkpoints)
                + f"{statistics.mean(pareto[m]):>11.1f}{statistics.mean(len(r) for r in runs[m]):>8.1f}"
                f"{statistics.mean(trainings(r) for r in runs[m]):>10.1f}{statistics.mean(walls[m]):>8.0f}")
    rep.say("per seed, HV at " + ", ".join(map(str, checkpoints)) + " trainings:")
    for m in runs:
        rep.say(f"  {m:<10}" + "   ".join(" ".join(f"{h[k]:.3f}" for k in checkpoints) for h in hv[m]))
    front_rows = runs["front"]
    kinds = ("estimator", "deferred", "repeat", "accuracy")
    counts = {k: [sum(r["stopped_by"] == k and r["role"] == "network" for r in rows) for rows in front_rows]
              for k in kinds}
    designs = [sum(r["role"] == "design" for r in rows) for rows in front_rows]
    rep.say(f"front search, per run (mean): {statistics.mean(len([r for r in rows if r['role'] == 'network']) for rows in front_rows):.1f} "
            f"network proposals, {statistics.mean(designs):.1f} design trials added, "
            + ", ".join(f"{statistics.mean(v):.1f} {k}" for k, v in counts.items())
            + " (estimator: empty front, never trained; deferred: cannot add HV at the optimistic accuracy; "
              "repeat: already trained, reused; accuracy: training stopped early)")
    for (n_def, fired, after), rows in zip(deferred_check, front_rows):
        before_hv = pooled_hv(rows, len(rows), bounds)
        after_hv = pooled_hv(after, len(after), bounds)
        rep.say(f"  deferral fired {fired} times on {n_def} distinct networks; final front HV {before_hv:.4f} -> "
                f"{after_hv:.4f} after training every deferred network (Pareto designs {pareto_designs(rows)} -> "
                f"{pareto_designs(after)})")
    ref = statistics.mean(h[n_ref] for h in hv["per_trial"])
    mean_front = {k: statistics.mean(h[k] for h in hv["front"]) for k in range(1, n_ref + 1)}
    need = next((k for k in range(1, n_ref + 1) if mean_front[k] >= ref - 1e-12), None)
    per_seed = [next((k for k in range(1, n_ref + 1) if h[k] >= p[n_ref] - 1e-12), None)
                for h, p in zip(hv["front"], hv["per_trial"])]
    rep.say(f"per-trial mean HV at {n_ref} trainings: {ref:.4f}; the front search's mean curve reaches it after "
            f"{need if need is not None else f'more than {n_ref}'} trainings (per seed, against that seed's "
            f"per-trial run: {per_seed})")
    x = n_ref / need if need else 0.0
    at10 = 10 if 10 in checkpoints else checkpoints[0]
    pt10 = statistics.mean(h[at10] for h in hv["per_trial"])
    y = statistics.mean(h[at10] for h in hv["front"]) / pt10 if pt10 > 0 else float("inf")
    z = statistics.mean(pareto["front"]) / max(1e-9, statistics.mean(pareto["per_trial"]))
    rep.say(f"trainings_saved_ratio={x:.2f} hv_ratio_at_{at10}_trainings={y:.3f} pareto_designs_ratio={z:.2f}")
    rep.save()
    import shutil

    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
