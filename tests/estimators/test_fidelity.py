"""FINN-faithful mode equals FINN's own estimate reports, per node, on real FINN graphs.

For TFC and CNV at 1, 2 and 4 bits, >= 50 random valid foldings each (PE/SIMD, memory styles,
resType, parallel_window all varied) are applied both to our records and, through FINN's
ApplyConfig, to the FINN model; FINN's exp_cycles_per_layer and res_estimation must agree:
cycles, BRAM18, URAM and DSP exactly, LUT within 1%.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.finn, pytest.mark.slow]

PART = "xcu280-fsvh2892-2L-e"
N_FOLDINGS = 50


def _model(family: str, bits: int) -> object:
    import torch

    torch.manual_seed(bits)
    if family == "tfc":
        from dse.models.tfc import TFCConfig, build_tfc

        return build_tfc(TFCConfig(hidden=(64, 64, 64), weight_bits=bits, act_bits=bits))
    from dse.models.cnv import CNVConfig, build_cnv

    return build_cnv(CNVConfig(weight_bits=bits, act_bits=bits))


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("family", ["tfc", "cnv"])
def test_random_foldings_match_finn(family: str, bits: int, tmp_path: Path) -> None:
    import estimators as est
    from dse import finn_flow
    from dse.finn_graph import graph_from_finn

    shape = (1, 784) if family == "tfc" else (1, 3, 32, 32)
    path = finn_flow.export_qonnx(_model(family, bits), tmp_path / "m.onnx", input_shape=shape)
    with finn_flow._captured(tmp_path / "finn.log"):
        hw = finn_flow.to_hw_graph(path, part=PART, work_dir=tmp_path)
        base, _ = finn_flow.fold(hw, clock_ns=5.0, target_fps=1000)
    graph = graph_from_finn(base)
    tables = est.option_tables(graph, PART, est.FoldingLimits(wwidth_max=None))
    rng = np.random.default_rng(bits)
    mismatches: list[str] = []
    for _ in range(N_FOLDINGS):
        choice = [int(rng.integers(len(t))) for t in tables]
        ours = est.folding.apply_choice(graph, tables, choice)
        mine = est.estimate_graph(ours, PART, clock_ns=5.0)
        with finn_flow._captured(tmp_path / "finn.log"):
            folded, _ = finn_flow.fold(hw, clock_ns=5.0, folding=est.folding_config(ours))
            finn, _ = finn_flow.analyse(folded, board_name="U280", clock_ns=5.0)
        for name, cost, theirs in zip(mine.names, mine.costs, finn.layers):
            assert name == theirs.name
            exact = (cost.cycles, cost.bram18, cost.uram, cost.dsp) == (theirs.cycles, theirs.bram18, theirs.uram, theirs.dsp)
            lut_ok = abs(cost.lut - theirs.lut) <= 0.01 * max(theirs.lut, 1.0)
            if not (exact and lut_ok):
                mismatches.append(f"{name} {ours.layers[mine.names.index(name)]}: ours {cost} FINN {theirs}")
        assert mine.max_cycles == finn.max_cycles and mine.critical_path_cycles == finn.critical_path_cycles
        assert mine.bottleneck == finn.bottleneck
    assert not mismatches, "\n".join(mismatches[:5])
