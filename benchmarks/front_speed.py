"""One network's exact hardware front, timed, and checked design by design in FINN.

CNV w2a2 full size (Brevitas, exported to QONNX, converted by FINN once), U280, 5 ns: the
estimators' hardware front (estimators/front.py) over every reachable bottleneck cycle count x
three weight-memory styles (block, distributed, ultra; option tables built once per network).
Then five designs spread over the front are applied in FINN, each with its folding config and
the project's FINN estimate flow (dse/finn/: ApplyConfig, minimize bit widths, FINN's
cycle/resource/performance analyses), and FINN's figures are compared with ours; FINN's time per
design is printed beside ours.
Usage: python benchmarks/front_speed.py [--points 5] [--repeats 5] [--wwidth-max 36]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402

BOARD, CLOCK_NS, STYLES = "U280", 5.0, ("block", "distributed", "ultra")
FIGURES = ("max_cycles", "critical_path_cycles", "lut", "bram18", "uram", "dsp")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=5, help="front designs to check in FINN")
    ap.add_argument("--repeats", type=int, default=5, help="front sweeps timed (the median is reported)")
    ap.add_argument("--wwidth-max", type=int, default=36, help="FINN's mvau_wwidth_max (0: no cap)")
    args = ap.parse_args()
    wwidth = args.wwidth_max or None
    rep = Report("front_speed", f"CNV w2a2 full size (64-64-128-128-256-256 / 512-512, random init, seed 0), "
                 f"{BOARD} at {CLOCK_NS} ns, weight memories {'/'.join(STYLES)}, mvau_wwidth_max "
                 f"{wwidth or 'none'}, front timed {args.repeats}x (median), {args.points} designs checked in FINN")

    import torch

    import estimators as est
    from dse._quiet import captured
    from dse.finn import analyse, export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn
    from dse.models.cnv import CNVConfig, build_cnv
    from estimators.front import hardware_front

    board = est.get_board(BOARD)
    tmp = Path(tempfile.mkdtemp(prefix="front-speed-"))
    log = tmp / "finn.log"
    torch.manual_seed(0)
    model = export_qonnx(build_cnv(CNVConfig(weight_bits=2, act_bits=2)), tmp / "cnv.onnx",
                         input_shape=(1, 3, 32, 32), log_path=log)
    with captured(log):
        t0 = time.perf_counter()
        hw = to_hw_graph(model, part=board.part, work_dir=tmp)
        convert_s = time.perf_counter() - t0
    graph = graph_from_finn(hw)

    limits = est.FoldingLimits(wwidth_max=wwidth)
    times, front = [], None
    for _ in range(args.repeats):  # each sweep builds its own option tables: nothing is reused between runs
        t0 = time.perf_counter()
        front = hardware_front(graph, board, clock_ns=(CLOCK_NS,), ram_styles=STYLES, limits=limits)
        times.append(time.perf_counter() - t0)
    assert front is not None
    front_s = statistics.median(times)
    t0 = time.perf_counter()
    tables = est.option_tables(graph, board.part, limits)
    tables_s = time.perf_counter() - t0
    designs = front.designs
    per_style = {s: sum(d.ram_style == s for d in designs) for s in STYLES}
    rep.say(f"graph: {len(graph)} HW nodes, {sum(len(t) for t in tables)} options in {len(tables)} tables "
            f"(built in {tables_s:.2f} s, once per sweep); FINN's conversion of the model, once: {convert_s:.2f} s")
    rep.say(f"front: {front.levels} reachable bottleneck levels over the 3 styles, {front.candidates} distinct "
            f"candidate designs, {front.feasible} within the limits, {len(designs)} non-dominated "
            f"({', '.join(f'{s} {n}' for s, n in per_style.items())}); "
            f"{designs[-1].fps:,.0f} .. {designs[0].fps:,.0f} fps")
    rep.say(f"front time: median {front_s:.3f} s over {args.repeats} runs (min {min(times):.3f}, max {max(times):.3f})")

    n = min(args.points, len(designs))
    picks = sorted({round(k * (len(designs) - 1) / max(1, n - 1)) for k in range(n)})
    rep.say()
    rep.say(f"{'#':>4} {'id':<13}{'style':<12}{'fps':>10}{'LUT':>10}{'BRAM18':>8}{'URAM':>6}{'DSP':>6}"
            f"{'FINN s':>9}{'ours us':>9}{'ratio':>9}  FINN agrees")
    matches, finn_times, ours_times = 0, [], []
    for i in picks:
        d = designs[i]
        config = est.folding_config(d.graph)
        with captured(log):
            t0 = time.perf_counter()
            folded, _ = fold(hw, clock_ns=CLOCK_NS, folding=config, mvau_wwidth_max=wwidth or 8191)
            finn, _ = analyse(folded, board_name=BOARD, clock_ns=CLOCK_NS)
            finn_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(100):
            ours = est.estimate_graph(d.graph, board.part, clock_ns=CLOCK_NS)
        ours_s = (time.perf_counter() - t0) / 100
        finn_times.append(finn_s)
        ours_times.append(ours_s)
        mine = {"max_cycles": d.max_cycles, "critical_path_cycles": ours.critical_path_cycles, "lut": d.lut,
                "bram18": d.bram18, "uram": d.uram, "dsp": d.dsp}
        theirs = {k: getattr(finn, k) for k in FIGURES}
        diff = {k: (mine[k], theirs[k]) for k in FIGURES if abs(mine[k] - theirs[k]) > 1e-6 * max(1.0, abs(theirs[k]))}
        same_fps = (abs(d.fps - finn.fps) <= 1e-9 * finn.fps
                    and abs(d.latency_us - finn.latency_ns / 1e3) <= 1e-9 * d.latency_us)
        ok = not diff and same_fps
        matches += ok
        rep.say(f"{i:>4} {d.id:<13}{d.ram_style:<12}{d.fps:>10,.0f}{d.lut:>10,.0f}{d.bram18:>8,.0f}{d.uram:>6,.0f}"
                f"{d.dsp:>6,.0f}{finn_s:>9.3f}{ours_s * 1e6:>9.1f}{finn_s / ours_s:>9,.0f}  "
                + ("yes (cycles, latency, fps, LUT, BRAM18, URAM, DSP)" if ok else f"NO: {diff}"))
    finn_point = statistics.median(finn_times)
    ours_point = front_s / front.candidates
    rep.say()
    rep.say(f"FINN per design (re-fold + minimize bit widths + analyses, model already converted): median "
            f"{finn_point:.3f} s; ours per design in the sweep (front time / candidates): {ours_point * 1e6:.0f} us "
            f"-> {finn_point / ours_point:,.0f}x")
    rep.say(f"ours per design one at a time (estimate_graph on the folded graph): median "
            f"{statistics.median(ours_times) * 1e6:.0f} us -> {finn_point / statistics.median(ours_times):,.0f}x")
    rep.say(f"FINN would need ~{finn_point * front.candidates:.0f} s (+{convert_s:.1f} s conversion) to judge the "
            f"{front.candidates} candidates this sweep judged in {front_s:.2f} s")
    rep.say(f"front_s={front_s:.3f} designs={len(designs)} levels={front.levels} candidates={front.candidates} "
            f"finn_match={matches}/{len(picks)} finn_s_per_design={finn_point:.3f} "
            f"finn_over_ours_ratio={finn_point / ours_point:.0f} "
            f"finn_over_ours_point_ratio={finn_point / statistics.median(ours_times):.0f}")
    path = rep.save()
    print(f"wrote {path}")
    if matches != len(picks) or front_s > 1.0:
        sys.exit(1)


if __name__ == "__main__":
    main()
