"""FINN-faithful mode equals FINN's own estimate reports, per node, on real FINN graphs.

For TFC and CNV at 1, 2 and 4 bits, >= 50 random valid foldings each (PE/SIMD, memory styles,
resType, parallel_window all varied) are applied both to our records and, through FINN's
ApplyConfig, to the FINN model; FINN's exp_cycles_per_layer and res_estimation must agree:
cycles, BRAM18, URAM and DSP exactly, LUT within 1%.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.fidelity import assert_matches_finn

pytestmark = [pytest.mark.finn, pytest.mark.slow]

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
    from dse import finn_flow

    shape = (1, 784) if family == "tfc" else (1, 3, 32, 32)
    path = finn_flow.export_qonnx(_model(family, bits), tmp_path / "m.onnx", input_shape=shape)
    assert_matches_finn(path, tmp_path, n_foldings=N_FOLDINGS, seed=bits)
