"""One network on 1, 2, 3 U280s: max fps and energy, and our partition beside finn-plus's partitioner.

Networks (Brevitas, random init seed 0, exported to QONNX, converted by FINN once each), checked
and printed: the fastest folding on one card against the fastest folding ignoring resources.
Under FINN's own limits most networks reach their fastest folding on one U280: the HLS MVAU's
weight stream (at most 8191 bits wide) caps every layer's parallelism, and the input-side sliding
windows move one pixel per cycle. Found here (printed by this script or measured while choosing):
CNV w2a2 full size reaches its fastest (21,259 fps, MVAU_hls_1 stream-bound) on one card, as do
CNV w4a4, a 2x-wide CNV, LFC w4a4 (3 x 1024), MLPs of 4-6 x 2048 and MobileNet-v1 widths at
224x224 (3,916 fps, bound by the 224x224 input window). What overflows one card is depth at full
rate: many layers each at its widest stream. So the two networks are deep LFCs: 12 x 1024 w2a2
and 16 x 1024 w4a4 (MNIST-sized input, 784). CNV w2a2 stays in as the one-card reference.

1. For K = 1, 2, 3: estimators.multi_fpga.fastest_on_cards (folding and partition chosen
   together; each card within its usable budget and SLRs, each link within AuroraFlow's
   95 Gbit/s): max fps, latency, cards used, energy per inference (all cards' power / fps).
2. On the same folded graphs (the fastest design on K = 2 and K = 3 cards, folded in FINN with its
   folding config), our exact partition over exactly K cards (estimators.partition) timed against
   finn-plus 1.6.1's partitioner: PartitionForMultiFPGA as step_prepare_synthesis calls it (chain,
   aurora, resource_utilization, max_utilization 0.8, single_stream_network), under LC_ALL=C (the
   script re-runs itself with it: finn-plus's partitioner dies on a C.UTF-8 locale) with FINN's
   build folder created first. Both see the folded dataflow graph before FIFO/DWC insertion. Times
   are medians over --repeats runs, finn-plus's after one warm-up (its first call imports its
   solver). Balance: each partition's fullest card, by our measure (most used resource over the
   card's usable budget, estimators.partition.Card.utilization) and by finn-plus's (use over the
   raw card, LUT/FF/DSP/BRAM18, what its objective balances); fps of both (the folding fixes it;
   estimators.partition.assess says whether finn-plus's cuts fit the links and cards).
Usage: python benchmarks/multi_fpga.py [--repeats 3]
Last line: max_fps_ratio_2_vs_1 (geometric mean over the networks that overflow one card) and
partition_speedup_vs_finn_plus (geometric mean of finn-plus's time over ours).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# finn-plus's partitioner restores the locale it found and fails on C.UTF-8: run under LC_ALL=C.
if os.environ.get("LC_ALL") != "C":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "LC_ALL": "C"})

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402

BOARD, CLOCK_NS, MAX_CARDS = "U280", 5.0, 3
FINN_RESOURCES = ("LUT", "FF", "DSP", "BRAM_18K")  # finn-plus's default considered_resources


def _networks() -> list[tuple[str, object, tuple[int, ...]]]:
    from dse.models.cnv import CNVConfig, build_cnv
    from dse.models.tfc import TFCConfig, build_tfc

    return [(f"LFC-deep {n}x1024 w{b}a{b}", build_tfc(TFCConfig(hidden=(1024,) * n, weight_bits=b, act_bits=b)),
             (1, 784)) for n, b in ((12, 2), (16, 4))] + [
        ("CNV w2a2", build_cnv(CNVConfig(weight_bits=2, act_bits=2)), (1, 3, 32, 32))]


def _finn_partition(folded: object, cards: int, work: Path) -> tuple[float, dict[str, int]]:
    """finn-plus's PartitionForMultiFPGA on the folded FINN model: (seconds, node -> card)."""
    import yaml
    from finn.builder.build_dataflow_config import DataflowBuildConfig
    from finn.transformation.fpgadataflow.multifpga.partition_model import PartitionForMultiFPGA
    from finn.util.fpgadataflow import get_device_id

    cfg = DataflowBuildConfig.from_yaml(yaml.safe_dump({
        "output_dir": str(work / "build"), "synth_clk_period_ns": CLOCK_NS, "board": BOARD,
        "shell_flow_type": "vitis_alveo", "generate_outputs": ["bitfile"], "folding_config_file": "unused.json",
        "partitioning_configuration": {"num_fpgas": cards, "topology": "chain", "communication_kernel": "aurora",
                                       "partition_strategy": "resource_utilization",
                                       "single_stream_network": True}}))
    (work / "build" / "report").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    out = folded.transform(PartitionForMultiFPGA(cfg))  # type: ignore[attr-defined]
    seconds = time.perf_counter() - t0
    return seconds, {n.name: int(get_device_id(n)) for n in out.graph.node}


def _finn_balance(folded: object, part: str, mapping: dict[str, int], cards: int) -> float:
    """finn-plus's view of the fullest card: max over cards and its resources of use / raw card."""
    from finn.util.platforms import platforms
    from finn.util.resources import available_resources_on_platform, get_estimated_model_resources

    est = get_estimated_model_resources(folded, part, list(FINN_RESOURCES), True)
    cap = available_resources_on_platform(platforms[BOARD](), list(FINN_RESOURCES))
    return max(sum(est[n][r] for n, c in mapping.items() if c == card) / cap[r]
               for card in range(cards) for r in FINN_RESOURCES if cap[r])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per partitioner (median reported)")
    args = ap.parse_args()
    rep = Report("multi_fpga", f"{BOARD} cards at {CLOCK_NS} ns, chain of up to {MAX_CARDS} over AuroraFlow links "
                 f"(0.51 us, 95.03 Gbit/s), no SIMD x weight-bits cap (FINN's 8191-bit stream limit kept); "
                 f"networks random init seed 0; finn-plus 1.6.1 PartitionForMultiFPGA (chain, aurora, "
                 f"resource_utilization, max_utilization 0.8, single_stream_network, CBC), LC_ALL=C; "
                 f"partition times median of {args.repeats}")

    rep.say("# columns: 'up to K' = estimators.multi_fpga.fastest_on_cards (fewest cards among the fastest); partition "
            "rows = that folding over exactly K cards: ours = estimators.partition (node costs included), finn+ = "
            "PartitionForMultiFPGA.apply (MIP build, CBC solve, report); fullest = the fullest card, our measure "
            "(of its usable budget) and finn-plus's (of the raw card)")

    import torch

    import estimators as est
    from dse._quiet import captured
    from dse.finn import export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn
    from finn.util.settings import initialize_dummy_settings

    board = est.get_board(BOARD)
    tmp = Path(tempfile.mkdtemp(prefix="multi-fpga-"))
    os.chdir(tmp)  # FINN's build folder (FINN_TMP) goes here, created before the partitioner runs
    initialize_dummy_settings()
    (tmp / "FINN_TMP").mkdir(exist_ok=True)
    log = tmp / "finn.log"
    limits = est.FoldingLimits(wwidth_max=None)
    fps_ratios, speedups = [], []
    for name, net, shape in _networks():
        torch.manual_seed(0)
        t0 = time.perf_counter()
        qonnx = export_qonnx(net, tmp / f"{name.replace(' ', '_')}.onnx", input_shape=shape, log_path=log)
        with captured(log):
            hw = to_hw_graph(qonnx, part=board.part, work_dir=tmp)
        convert_s = time.perf_counter() - t0
        graph = graph_from_finn(hw)
        tables = est.option_tables(graph, board.part, limits)
        t0 = time.perf_counter()
        designs = [est.fastest_on_cards(graph, board, cards=k, clock_ns=CLOCK_NS, limits=limits, tables=tables)
                   for k in range(1, MAX_CARDS + 1)]
        search_s = time.perf_counter() - t0
        best = designs[0].best_reachable_fps
        overflows = designs[0].fps < best * (1 - 1e-9)
        rep.say()
        rep.say(f"== {name}: {len(graph)} HW nodes (FINN conversion {convert_s:.0f} s); fastest folding ignoring "
                f"resources {best:,.0f} fps; {'does not reach it on one card' if overflows else 'reaches it on one card'}"
                f"; folding+partition for K=1..{MAX_CARDS} in {search_s:.2f} s")
        rep.say(f"{'up to K':>8}{'cards':>6}{'fps':>11}{'x1 card':>9}{'latency us':>12}{'power W':>9}{'uJ/inf':>9}"
                f"  fullest card per card")
        for k, d in enumerate(designs, start=1):
            if not d.met:
                rep.say(f"{k:>8}  no design: {d.reason}")
                continue
            rep.say(f"{k:>8}{d.n_cards:>6}{d.fps:>11,.0f}{d.fps / designs[0].fps:>9.2f}{d.latency_ns / 1e3:>12.1f}"
                    f"{d.power_w or 0:>9.1f}{d.energy_uj or 0:>9.1f}  "
                    + ", ".join(f"{c.utilization:.0%}" for c in d.cards))
        if overflows and designs[0].met and designs[1].met:
            fps_ratios.append(designs[1].fps / designs[0].fps)
        rep.say(f"{'K':>3}{'nodes':>6}{'ours ms':>9}{'finn+ ms':>10}{'speedup':>9}{'ours fullest':>14}"
                f"{'finn+ fullest':>15}{'ours fullest(finn+ measure)':>29}{'finn+ fullest(finn+ measure)':>30}"
                f"  finn+ cuts feasible / fps")
        warmed = False
        for k in range(2, MAX_CARDS + 1):
            d = designs[k - 1]
            if not d.met:
                continue
            config = est.folding_config(d.graph)
            with captured(log):
                folded, _ = fold(hw, clock_ns=CLOCK_NS, folding=config, mvau_wwidth_max=8191)
            mine = graph_from_finn(folded)  # what finn-plus partitions: FINN's folded graph, bit widths minimized
            ours_t, ours = [], None
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                ours = est.partition(mine, board, cards=k, clock_ns=CLOCK_NS, exact=True)
                ours_t.append(time.perf_counter() - t0)
            assert ours is not None
            with captured(log):
                if not warmed:
                    _finn_partition(folded, k, tmp)
                    warmed = True
                runs = [_finn_partition(folded, k, tmp) for _ in range(args.repeats)]
            finn_s = statistics.median(r[0] for r in runs)
            mapping = runs[-1][1]
            ours_s = statistics.median(ours_t)
            speedups.append(finn_s / ours_s)
            names = [layer.name for layer in mine.layers]
            cuts = [j for j in range(1, len(names)) if mapping[names[j]] != mapping[names[j - 1]]]
            theirs = est.assess(mine, board, cuts, clock_ns=CLOCK_NS)
            ours_map = {n: c.index for c in ours.cards for n in c.layers} if ours.feasible else {}
            with captured(log):
                ours_finn = _finn_balance(folded, board.part, ours_map, k) if ours.feasible else float("nan")
                theirs_finn = _finn_balance(folded, board.part, mapping, k)
            rep.say(f"{k:>3}{len(names):>6}{ours_s * 1e3:>9.2f}{finn_s * 1e3:>10.1f}{finn_s / ours_s:>9.0f}"
                    f"{ours.utilization:>14.0%}{theirs.utilization:>15.0%}{ours_finn:>29.0%}{theirs_finn:>30.0%}"
                    f"  {'yes' if theirs.feasible else 'NO: ' + str(theirs.reason)} / "
                    f"{theirs.fps:,.0f} (ours {ours.fps:,.0f})")
    ratio = math.exp(statistics.fmean(math.log(r) for r in fps_ratios)) if fps_ratios else float("nan")
    speed = math.exp(statistics.fmean(math.log(s) for s in speedups)) if speedups else float("nan")
    rep.say()
    rep.say(f"max fps on up to 2 cards over 1 card, networks that overflow one card: "
            f"{', '.join(f'{r:.2f}x' for r in fps_ratios)} (geometric mean {ratio:.2f}x); partition time, finn-plus "
            f"over ours: {', '.join(f'{s:.0f}x' for s in speedups)} (geometric mean {speed:.0f}x)")
    rep.say(f"max_fps_ratio_2_vs_1={ratio:.2f} partition_speedup_vs_finn_plus={speed:.0f}")
    path = rep.save()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
