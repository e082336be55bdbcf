"""FINN-faithful mode equals FINN's own estimate reports, per node, on real FINN graphs.

For TFC and CNV at 1, 2 and 4 bits, and TFC with per-layer (mixed) bits, >= 50 random valid
foldings each (PE/SIMD, memory styles, resType, parallel_window all varied) are applied both to our
records and, through FINN's ApplyConfig, to the FINN model; FINN's exp_cycles_per_layer and
res_estimation must agree: cycles, BRAM18, URAM and DSP exactly, LUT within 1%.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from tests.fidelity import assert_matches_finn

pytestmark = [pytest.mark.finn, pytest.mark.slow]

N_FOLDINGS = 50
Bits = int | tuple[int, ...]
# Per-layer bits: an XNOR layer between integer ones, 8-bit layers and an RTL classifier (>= 4-bit
# weights and inputs). A mixed CNV (1, 1, 2, 2, 8, 8, 1, 1, 8)/(1, 2, 4, 4, 8, 1, 1, 8) passes too
# but takes ~3 minutes here; its records and costs are checked at one folding in test_families.py.
CASES = [(family, b, b) for family in ("tfc", "cnv") for b in (1, 2, 4)] + [("tfc", (1, 1, 2, 8), (1, 4, 8))]


def _id(case: tuple[str, Bits, Bits]) -> str:
    family, w, a = case
    return f"{family}-w{''.join(map(str, w)) if isinstance(w, tuple) else w}" \
        f"a{''.join(map(str, a)) if isinstance(a, tuple) else a}"


def _seed(weight_bits: Bits) -> int:
    return weight_bits if isinstance(weight_bits, int) else zlib.crc32(repr(weight_bits).encode()) % 1000


def _model(family: str, weight_bits: Bits, act_bits: Bits) -> object:
    import torch

    torch.manual_seed(_seed(weight_bits))
    if family == "tfc":
        from dse.models.tfc import TFCConfig, build_tfc

        return build_tfc(TFCConfig(hidden=(64, 64, 64), weight_bits=weight_bits, act_bits=act_bits))
    from dse.models.cnv import CNVConfig, build_cnv

    return build_cnv(CNVConfig(weight_bits=weight_bits, act_bits=act_bits))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_random_foldings_match_finn(case: tuple[str, Bits, Bits], tmp_path: Path) -> None:
    from dse.finn import export_qonnx

    family, w, a = case
    shape = (1, 784) if family == "tfc" else (1, 3, 32, 32)
    path = export_qonnx(_model(family, w, a), tmp_path / "m.onnx", input_shape=shape)
    assert_matches_finn(path, tmp_path, n_foldings=N_FOLDINGS, seed=_seed(w))
