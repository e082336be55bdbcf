"""GlobalAccPool_hls: the sum over all pixels per channel (a global average pool before its scale).

FINN's estimate (finn-plus 1.6.1, custom_op/fpgadataflow/globalaccpool.py): cycles = input words
+ output words = prod(numInputVectors) x C/PE + C/PE; hls/globalaccpool_hls.py has no resource
estimates, so FINN reports 0 LUT, BRAM, URAM and DSP. The node is finn-hlslib's AccPool_Batch:
PE accumulators of the output width and, when C/PE > 1, the C/PE partial sums of each lane
kept in LUTRAM. The model counts those LUTs plus the AXI-Stream ports and loop control (see
``estimators.structural``) and keeps FINN's zeros beside them (``NodeCost.finn``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from estimators.core import FoldingError, NodeCost, ceil_div, register, require_divides
from estimators.structural import axis_ports, loop_control


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalAccPool:
    """One GlobalAccPool_hls node; ``num_input_vectors`` is FINN's [N, H, W]."""

    op_type: ClassVar[str] = "GlobalAccPool"
    name: str
    num_channels: int
    pe: int
    num_input_vectors: tuple[int, int, int]
    input_bits: int
    output_bits: int
    input_signed: bool = False
    output_signed: bool = False

    def __post_init__(self) -> None:
        if len(self.num_input_vectors) != 3 or min(self.num_input_vectors) < 1:
            raise ValueError(f"numInputVectors of GlobalAccPool {self.name!r} must be [N, H, W] >= 1, "
                             f"got {list(self.num_input_vectors)}")
        if min(self.num_channels, self.input_bits, self.output_bits) < 1:
            raise ValueError(f"GlobalAccPool {self.name!r}: channels and bit widths must be >= 1")
        if self.pe < 1:
            raise FoldingError(f"PE={self.pe} of {self.name!r} must be >= 1")
        require_divides("PE", self.pe, "NumChannels", self.num_channels, layer=self.name)

    @property
    def folds(self) -> int:
        return self.num_channels // self.pe


def finn_estimate(layer: GlobalAccPool) -> NodeCost:
    """FINN's own figures: get_exp_cycles, and 0 for every resource."""
    return NodeCost(cycles=math.prod(layer.num_input_vectors) * layer.folds + layer.folds)


@register(GlobalAccPool)
def estimate_globalaccpool(layer: GlobalAccPool, part: str) -> NodeCost:
    """FINN's cycles; LUTs of accumulators, partial-sum LUTRAM, ports and control (module docstring)."""
    finn = finn_estimate(layer)
    acc_width = layer.pe * layer.output_bits
    partial_sums = acc_width * ceil_div(layer.folds, 64) if layer.folds > 1 else 0
    lut = (acc_width + partial_sums + axis_ports(layer.pe * layer.input_bits, acc_width)
           + loop_control(finn.cycles))
    return NodeCost(cycles=finn.cycles, lut=float(lut), finn=finn)
