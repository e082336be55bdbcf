"""FINN's re-folding vs FINN-DSE's closed-form estimators, per design point, on one CNV graph.

Both sides start from the same converted FINN graph (full-size CNV w2a2, U280, 5 ns) and judge
the same random valid foldings (PE/SIMD, memory styles, resType varied):
- FINN: ApplyConfig + exp_cycles_per_layer + res_estimation + AnnotateCycles + dataflow_performance
  (what a DSE would have to call per point with FINN's objects);
- ours, scalar: records -> estimate_graph (one design point at a time);
- ours, vectorised: evaluate_batch over many foldings at once (how samplers and the solver use it).
Checks on the way that both sides give the same max cycles and LUT for every timed point.
Usage: python benchmarks/estimator_speed.py [--finn-points 30] [--batch 100000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402

PART = "xcu280-fsvh2892-2L-e"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--finn-points", type=int, default=30)
    ap.add_argument("--scalar-points", type=int, default=300)
    ap.add_argument("--batch", type=int, default=100_000)
    args = ap.parse_args()
    rep = Report("estimator_speed", f"CNV w2a2 full size, U280 {PART}, 5 ns; {args.finn_points} FINN points, "
                 f"{args.scalar_points} scalar points, batch of {args.batch}; random valid foldings, seed 0")

    import torch
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    from finn.transformation.general import ApplyConfig

    import estimators as est
    from dse._quiet import captured
    from dse.finn import export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn
    from dse.models.cnv import CNVConfig, build_cnv

    tmp = Path(tempfile.mkdtemp(prefix="speed-"))
    torch.manual_seed(0)
    path = export_qonnx(build_cnv(CNVConfig(weight_bits=2, act_bits=2)), tmp / "cnv.onnx",
                        input_shape=(1, 3, 32, 32), log_path=tmp / "log")
    with captured(tmp / "log"):
        t0 = time.perf_counter()
        hw = to_hw_graph(path, part=PART, work_dir=tmp)
        base, _ = fold(hw, clock_ns=5.0, target_fps=1000)
        convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = graph_from_finn(base)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = est.option_tables(graph, PART, est.FoldingLimits(wwidth_max=None))
    tables_s = time.perf_counter() - t0
    n_options = sum(len(t) for t in tables)
    rep.say(f"graph: {len(graph)} HW nodes; FINN conversion once {convert_s:.2f} s; reading it into records "
            f"{read_s * 1e3:.1f} ms; option tables ({n_options} options) {tables_s:.2f} s, once per graph")

    rng = np.random.default_rng(0)
    choices = np.stack([rng.integers(len(t), size=max(args.batch, args.scalar_points)) for t in tables], axis=1)

    finn_times = []
    for k in range(args.finn_points):
        cfg = est.folding_config(est.folding.apply_choice(graph, tables, choices[k]))
        with captured(tmp / "log"):
            t0 = time.perf_counter()
            m = base.transform(ApplyConfig(cfg))
            cycles = m.analysis(exp_cycles_per_layer)
            res = m.analysis(partial(res_estimation, fpgapart=PART))
            m = m.transform(AnnotateCycles())
            perf = m.analysis(dataflow_performance)
            finn_times.append(time.perf_counter() - t0)
        ours = est.estimate_graph(est.folding.apply_choice(graph, tables, choices[k]), PART, clock_ns=5.0)
        assert ours.max_cycles == perf["max_cycles"] == max(cycles.values())
        assert abs(ours.lut - sum(r["LUT"] for r in res.values())) <= 0.01 * ours.lut
    finn_s = statistics.median(finn_times)

    scalar_times = []
    for k in range(args.scalar_points):
        t0 = time.perf_counter()
        est.estimate_graph(est.folding.apply_choice(graph, tables, choices[k]), PART, clock_ns=5.0)
        scalar_times.append(time.perf_counter() - t0)
    scalar_s = statistics.median(scalar_times)

    batch = choices[: args.batch]
    est.evaluate_batch(graph, tables, batch[:1000])  # warm-up
    t0 = time.perf_counter()
    out = est.evaluate_batch(graph, tables, batch)
    batch_s = (time.perf_counter() - t0) / len(batch)
    ref = est.estimate_graph(est.folding.apply_choice(graph, tables, batch[7]), PART, clock_ns=5.0)
    assert out.max_cycles[7] == ref.max_cycles and abs(out.lut[7] - ref.lut) < 1e-6

    rep.say()
    rep.say(f"{'per design point':<44}{'time':>12}{'vs FINN':>12}")
    rep.say(f"{'FINN re-folding + analyses (median)':<44}{finn_s * 1e3:>10.2f} ms{1.0:>11.0f}x")
    rep.say(f"{'ours, scalar estimate_graph (median)':<44}{scalar_s * 1e6:>10.1f} us{finn_s / scalar_s:>11.0f}x")
    rep.say(f"{'ours, vectorised evaluate_batch (mean)':<44}{batch_s * 1e6:>10.3f} us{finn_s / batch_s:>11.0f}x")
    rep.say(f"batch throughput: {1 / batch_s:,.0f} design points/s ({len(graph)} nodes each)")
    rep.say(f"all {args.finn_points} FINN-timed points agreed with ours on max_cycles and LUT")
    rep.say(f"speedup_vs_finn_cnv={finn_s / batch_s:.0f}")
    rep.save()


if __name__ == "__main__":
    main()
