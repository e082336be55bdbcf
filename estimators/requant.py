"""Requant (clip(round(x * scale + bias))): the HW layer FINN uses for wide activations.

FINN's estimate (finn-plus 1.6.1, custom_op/fpgadataflow/requant.py, hls/requant_hls.py,
rtl/requant_rtl.py): cycles = output words = prod(numInputVectors) x C/PE, plus a fixed 10 for
the HLS variant's pipeline start; no resource estimates, so 0 LUT, BRAM, URAM and DSP.

The RTL variant (finn-rtllib requant.sv, what SpecializeLayers picks for integer inputs with
narrow=0) is not free: per PE lane one DSP multiplies by the fixed-point scale and adds the bias
(the operand widths are chosen to fit one DSP48E1/E2/DSP58), then LUTs detect overflow
(about (product bits)/6), clip to N bits (N) and queue the result (N, an SRL). With more than one
channel per lane (C/PE > 1) the per-channel scale, bias and shift rotate through a LUT ROM of
C/PE entries (``estimators.structural`` counts one LUT per bit per 64 entries). The model counts
those, keeps FINN's zeros beside them (``NodeCost.finn``) and assumes one shift amount per lane
(a per-tensor scale; per-channel shifts add a barrel shifter the attributes do not reveal). The
HLS variant computes in single-precision floating point; it has no structural model here, so its
cost raises UnknownLayerError naming it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import (FoldingError, NodeCost, UnknownLayerError, ceil_div, clog2, dsp_block, register,
                             require_divides)
from estimators.structural import HLS_CONTROL_LUT

HLS_PIPELINE_CYCLES = 10  # Requant_hls.get_exp_cycles' fixed overhead
# (A, B) multiplier port widths by requant.sv's DSP VERSION (1: DSP48E1, 2: DSP48E2, 3: DSP58)
_DSP_PORTS = {"DSP48E1": (25, 18), "DSP48E2": (27, 18), "DSP58": (27, 24)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Requant:
    """One Requant_hls / Requant_rtl node."""

    op_type: ClassVar[str] = "Requant"
    name: str
    impl: Literal["hls", "rtl"]
    num_channels: int
    pe: int
    input_bits: int
    output_bits: int
    input_signed: bool = True
    output_signed: bool = False
    input_float: bool = False
    num_input_vectors: tuple[int, ...] = (1,)
    narrow: bool = False
    mem_mode: Literal["internal_embedded", "internal_decoupled"] = "internal_embedded"

    def __post_init__(self) -> None:
        if self.impl not in ("hls", "rtl"):
            raise ValueError(f"impl of Requant {self.name!r} must be 'hls' or 'rtl', got {self.impl!r}")
        if min(self.num_channels, self.input_bits, self.output_bits, *self.num_input_vectors) < 1:
            raise ValueError(f"Requant {self.name!r}: channels, vectors and bit widths must be >= 1")
        if self.mem_mode not in ("internal_embedded", "internal_decoupled"):
            raise FoldingError(f"mem_mode={self.mem_mode!r} of {self.name!r} must be internal_embedded/decoupled")
        if self.pe < 1:
            raise FoldingError(f"PE={self.pe} of {self.name!r} must be >= 1")
        require_divides("PE", self.pe, "NumChannels", self.num_channels, layer=self.name)

    @property
    def fold(self) -> int:
        return self.num_channels // self.pe


def mul_widths(layer: Requant, part: str) -> tuple[int, int]:
    """(scale, data) operand widths: requant.sv's derive_MUL_WIDTHS for this part's DSP."""
    a, b = _DSP_PORTS[dsp_block(part)]
    if layer.input_bits <= b:
        return 25, layer.input_bits
    return b, min(a, layer.input_bits)


def finn_estimate(layer: Requant) -> NodeCost:
    """FINN's own figures: get_exp_cycles, and 0 for every resource."""
    words = math.prod(layer.num_input_vectors) * layer.fold
    return NodeCost(cycles=words + (HLS_PIPELINE_CYCLES if layer.impl == "hls" else 0))


@register(Requant)
def estimate_requant(layer: Requant, part: str) -> NodeCost:
    """FINN's cycles; the RTL datapath's DSPs and LUTs (module docstring)."""
    finn = finn_estimate(layer)
    if layer.impl == "hls":
        raise UnknownLayerError(f"No LUT/DSP model for Requant_hls {layer.name!r} (single-precision "
                                "floating-point HLS datapath); FINN's own estimate is 0")
    s, x = mul_widths(layer, part)
    n = layer.output_bits
    params = s + (s + x) + clog2(s + x)  # scale, aligned bias, shift amount
    rom = params * ceil_div(layer.fold, 64) if layer.fold > 1 else 0
    lane = ceil_div(s + x + 1, 6) + 2 * n + rom
    return NodeCost(cycles=finn.cycles, lut=float(layer.pe * lane + HLS_CONTROL_LUT), dsp=float(layer.pe),
                    finn=finn)
