"""Our folding solver vs FINN's SetFolding, both judged by FINN's own estimate flow.

For TFC w2a2 and CNV w2a2 (U280, 5 ns) and a sweep of throughput targets:
- SetFolding(target, mvau_wwidth_max=36, two_pass_relaxation) as FINN's builder runs it;
- ours, target mode: the least-LUT folding that meets the target with at most SetFolding's BRAM18
  (when SetFolding misses the target: the least device-weighted cost), over PE/SIMD, memory styles
  and resType, limited only by FINN's hard rules (HLS weight stream <= 8191 bits, no 36-bit cap);
- ours, budget mode: the fastest folding that fits the U280 (finn-plus usable fractions).
Every folding, ours included, is applied to the FINN model with ApplyConfig and estimated by FINN.
Usage: python benchmarks/folding_vs_setfolding.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402

PART = "xcu280-fsvh2892-2L-e"
CLOCK = 5.0
TARGETS = {
    "TFC w2a2": np.geomspace(20_000, 4_000_000, 12),
    "CNV w2a2": np.geomspace(300, 40_000, 12),
}


def _model(name: str) -> tuple[object, tuple[int, ...]]:
    import torch

    torch.manual_seed(0)
    if name.startswith("TFC"):
        from dse.models.tfc import TFCConfig, build_tfc

        return build_tfc(TFCConfig(hidden=(64, 64, 64), weight_bits=2, act_bits=2)), (1, 784)
    from dse.models.cnv import CNVConfig, build_cnv

    return build_cnv(CNVConfig(weight_bits=2, act_bits=2)), (1, 3, 32, 32)


def main() -> None:
    rep = Report("folding_vs_setfolding", f"TFC 784-64-64-64-10 w2a2 and CNV w2a2 (random init, seed 0), "
                 f"U280 {PART}, clock {CLOCK} ns, {len(next(iter(TARGETS.values())))} targets each; "
                 "SetFolding mvau_wwidth_max=36; ours: FoldingLimits(wwidth_max=None, stream 8191, memory styles)")
    import estimators as est
    from dse._quiet import captured
    from dse.finn import analyse, export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn

    board = est.get_board("U280")
    weights = est.device_weights(board)
    savings: list[float] = []
    for name, targets in TARGETS.items():
        tmp = Path(tempfile.mkdtemp(prefix="solver-"))
        model, shape = _model(name)
        path = export_qonnx(model, tmp / "m.onnx", input_shape=shape, log_path=tmp / "log")

        def finn_judge(folding: dict | None = None, target: float | None = None) -> object:
            with captured(tmp / "log"):
                folded, cfg = fold(hw, clock_ns=CLOCK, folding=folding, target_fps=target)
                return analyse(folded, board_name="U280", clock_ns=CLOCK)[0]

        with captured(tmp / "log"):
            hw = to_hw_graph(path, part=PART, work_dir=tmp)
            base, _ = fold(hw, clock_ns=CLOCK, target_fps=1000)
        graph = graph_from_finn(base)
        tables = est.option_tables(graph, PART, est.FoldingLimits(wwidth_max=None))
        fastest = (1e9 / CLOCK) / est.solver.fastest_cycles(tables)
        rep.say(f"\n== {name}: {len(graph)} HW nodes, {sum(len(t) for t in tables)} options; "
                f"fastest reachable {fastest:,.0f} fps")
        rep.say(f"{'target fps':>11} | {'SetFolding fps':>14} {'LUT':>8} {'BRAM18':>6} {'URAM':>4} {'DSP':>4} | "
                f"{'ours fps':>10} {'LUT':>8} {'BRAM18':>6} {'URAM':>4} {'DSP':>4} | {'LUT saving':>10}")
        sf_fit_fps = 0.0
        for target in targets:
            cycles = int(1e9 / CLOCK / target)
            sf = finn_judge(target=float(target))
            sf_met = sf.max_cycles <= cycles
            # Never spend more of any memory or DSP than SetFolding did: the saving is in LUTs only.
            caps = {"bram18": sf.bram18, "uram": sf.uram, "dsp": sf.dsp} if sf_met else None
            w = {"lut": 1.0} if sf_met else weights
            sol = est.solve_for_target(graph, PART, target_fps=float(target), clock_ns=CLOCK, weights=w,
                                       tables=tables, caps=caps)
            ours = finn_judge(folding=est.folding_config(sol.graph))
            ours_met = ours.max_cycles <= cycles
            reachable = cycles >= est.solver.fastest_cycles(tables)
            assert ours_met == reachable, f"{name} {target}: ours met={ours_met}, reachable={reachable}"
            assert (ours.lut, ours.bram18, ours.max_cycles) == (sol.lut, sol.bram18, sol.max_cycles) or \
                abs(ours.lut - sol.lut) <= 0.01 * sol.lut, "our estimate disagrees with FINN's"
            if sf.fits:
                sf_fit_fps = max(sf_fit_fps, sf.fps)
            note = ""
            if sf_met and ours_met:
                saving = 100 * (sf.lut - ours.lut) / sf.lut
                savings.append(saving)
                note = f"{saving:>9.1f}%"
                if ours.lut > sf.lut or ours.bram18 > sf.bram18 or ours.uram > sf.uram or ours.dsp > sf.dsp:
                    note += "  WORSE"
            elif not sf_met and ours_met:
                note = "  SetFolding MISSED"
            elif not ours_met:
                note = "  unreachable"
            rep.say(f"{target:>11,.0f} | {sf.fps:>14,.0f} {sf.lut:>8,.0f} {sf.bram18:>6,.0f} {sf.uram:>4,.0f} "
                    f"{sf.dsp:>4,.0f} | {ours.fps:>10,.0f} {ours.lut:>8,.0f} {ours.bram18:>6,.0f} {ours.uram:>4,.0f} "
                    f"{ours.dsp:>4,.0f} | {note}")
        budget = est.solve_for_budget(graph, PART, board=board, clock_ns=CLOCK, tables=tables)
        judged = finn_judge(folding=est.folding_config(budget.graph))
        rep.say(f"budget mode (fastest that fits the U280): {judged.fps:,.0f} fps, {judged.lut:,.0f} LUT, "
                f"{judged.bram18:,.0f} BRAM18, {judged.uram:,.0f} URAM, {judged.dsp:,.0f} DSP, fits={judged.fits} ({judged.limiting_resource} at "
                f"{judged.utilization[judged.limiting_resource]:.0%}); fastest fitting SetFolding result: "
                f"{sf_fit_fps:,.0f} fps -> {judged.fps / sf_fit_fps:.2f}x")
        assert judged.fits and judged.fps >= sf_fit_fps
    rep.say()
    rep.say(f"LUT saving where both meet the target: median {statistics.median(savings):.1f}%, "
            f"range {min(savings):.1f}% .. {max(savings):.1f}% over {len(savings)} targets")
    rep.say(f"median_lut_saving_vs_setfolding={statistics.median(savings):.1f}")
    rep.save()


if __name__ == "__main__":
    main()
