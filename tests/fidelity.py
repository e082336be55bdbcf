"""Shared by the fidelity tests: random foldings judged by our estimators and by FINN itself."""
from __future__ import annotations

from pathlib import Path

import numpy as np

PART = "xcu280-fsvh2892-2L-e"


def assert_matches_finn(qonnx_path: Path, work_dir: Path, *, n_foldings: int, seed: int) -> None:
    """Apply ``n_foldings`` random valid foldings (PE/SIMD, memory styles, resType, ...) both to our
    records and, through FINN's ApplyConfig, to the FINN model; per node, cycles, BRAM18, URAM and
    DSP must be equal and LUT within 1% (FINN's own figures of the nodes whose LUTs we count from
    their structure, NodeCost.finn); max cycles, critical path and bottleneck equal."""
    import estimators as est
    from dse._quiet import captured
    from dse.finn import analyse, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn

    log = work_dir / "finn.log"
    with captured(log):
        hw = to_hw_graph(qonnx_path, part=PART, work_dir=work_dir)
        base, _ = fold(hw, clock_ns=5.0, target_fps=1000)
    graph = graph_from_finn(base)
    tables = est.option_tables(graph, PART, est.FoldingLimits(wwidth_max=None))
    rng = np.random.default_rng(seed)
    mismatches: list[str] = []
    for _ in range(n_foldings):
        choice = [int(rng.integers(len(t))) for t in tables]
        ours = est.folding.apply_choice(graph, tables, choice)
        mine = est.estimate_graph(ours, PART, clock_ns=5.0)
        with captured(log):
            folded, _ = fold(hw, clock_ns=5.0, folding=est.folding_config(ours))
            finn, _ = analyse(folded, board_name="U280", clock_ns=5.0)
        assert list(mine.names) == [layer.name for layer in finn.layers]
        for name, model, theirs in zip(mine.names, mine.costs, finn.layers):
            cost = model.finn_figures  # FINN's figures where a structural model counts more LUTs
            exact = (cost.cycles, cost.bram18, cost.uram, cost.dsp) == (theirs.cycles, theirs.bram18, theirs.uram,
                                                                         theirs.dsp)
            lut_ok = abs(cost.lut - theirs.lut) <= 0.01 * max(theirs.lut, 1.0)
            if not (exact and lut_ok):
                mismatches.append(f"{name} {ours.layers[mine.names.index(name)]}: ours {cost} FINN {theirs}")
        assert mine.max_cycles == finn.max_cycles and mine.critical_path_cycles == finn.critical_path_cycles
        assert mine.bottleneck == finn.bottleneck
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:5])
