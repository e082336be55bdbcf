"""Thresholding (multi-threshold activation): HLS (threshold table) and RTL (binary search tree)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import FoldingError, NodeCost, ceil_div, register, require_divides

# finn/util/memutil.py mem_primitives_versal, in FINN's order: ties in wasted bits go to the
# earlier entry (Python's sort is stable), so URAM beats BRAM beats LUTRAM on a tie.
_PRIMITIVES: tuple[tuple[str, int, int], ...] = (
    ("URAM", 72, 4096),
    ("URAM", 36, 8192),
    ("URAM", 18, 16384),
    ("URAM", 9, 32768),
    ("BRAM", 36, 512),
    ("BRAM", 18, 1024),
    ("BRAM", 9, 2048),
    ("LUTRAM", 1, 64),
)


@dataclass(frozen=True, slots=True)
class Thresholding:
    """One Thresholding_hls / Thresholding_rtl node.

    ``ram_style``/``mem_mode`` exist on the HLS variant only; ``depth_trigger_*``,
    ``uniform_thres``, ``deep_pipeline`` on the RTL variant only (each is ignored by the other).
    """

    op_type: ClassVar[str] = "Thresholding"
    name: str
    impl: Literal["hls", "rtl"]
    num_channels: int
    pe: int
    num_steps: int
    input_bits: int
    weight_bits: int
    output_bits: int
    input_signed: bool = False
    weight_signed: bool = False
    output_signed: bool = False
    num_input_vectors: tuple[int, ...] = (1,)
    act_val: int = 0
    ram_style: Literal["distributed", "block", "ultra"] = "distributed"
    mem_mode: Literal["internal_embedded", "internal_decoupled"] = "internal_decoupled"
    runtime_writeable_weights: bool = False
    depth_trigger_uram: int = 0
    depth_trigger_bram: int = 0
    uniform_thres: bool = False
    deep_pipeline: bool = True
    mlo_max_iter: int = 0  # multi-layer offload: threshold sets stored per node
    bodies: int = 0

    def __post_init__(self) -> None:
        if self.impl not in ("hls", "rtl"):
            raise ValueError(f"impl of Thresholding {self.name!r} must be 'hls' or 'rtl', got {self.impl!r}")
        if min(self.num_channels, self.num_steps, self.input_bits, self.weight_bits, self.output_bits) < 1:
            raise ValueError(f"Thresholding {self.name!r}: channels, steps and bit widths must be >= 1")
        if self.pe < 1:
            raise FoldingError(f"PE={self.pe} of {self.name!r} must be >= 1")
        require_divides("PE", self.pe, "NumChannels", self.num_channels, layer=self.name)

    @property
    def tmem(self) -> int:
        return self.num_channels // self.pe

    def stage_memories(self) -> list[tuple[int, int]]:
        """(width, depth) of each PE's memory per binary-search stage (get_pe_mem_geometries)."""
        sets = max(1, self.mlo_max_iter, self.bodies)
        if self.uniform_thres:
            return [(self.output_bits - x, self.tmem * 2**x * sets) for x in range(1, self.output_bits)]
        return [(self.weight_bits, self.tmem * 2**x * sets) for x in range(self.output_bits)]


def _allowed_primitives(layer: Thresholding, depth: int) -> tuple[tuple[str, int, int], ...]:
    """depth_trigger_bram/uram restrict the primitive choice. FINN quirk kept: setting only the
    BRAM trigger (uram trigger 0) sends every stage to URAM, since depth >= 0 always holds."""
    bram_at, uram_at = layer.depth_trigger_bram, layer.depth_trigger_uram
    if bram_at == 0 and uram_at == 0:
        return _PRIMITIVES
    if bram_at <= depth < uram_at:
        return tuple(p for p in _PRIMITIVES if p[0] == "BRAM")
    if depth >= uram_at:
        return tuple(p for p in _PRIMITIVES if p[0] == "URAM")
    return _PRIMITIVES


def rtl_memory(layer: Thresholding) -> dict[str, int]:
    """Primitive counts by kind ("URAM", "BRAM", "LUTRAM") for the RTL threshold memories."""
    totals: dict[str, int] = {}
    for width, depth in layer.stage_memories():
        # least wasted bits == least allocated bits (same request); min() keeps the first on ties
        options = [
            (ceil_div(width, pw) * ceil_div(depth, pd), pw * pd, kind)
            for kind, pw, pd in _allowed_primitives(layer, depth)
        ]
        count, _, kind = min(options, key=lambda o: o[0] * o[1])
        totals[kind] = totals.get(kind, 0) + layer.pe * count
    return totals


def _hls_cost(layer: Thresholding) -> tuple[int, int, int]:
    """(lut, bram18, uram) of the HLS threshold table: PE x numSteps thresholds per word, TMEM words."""
    word = layer.pe * layer.weight_bits * layer.num_steps
    deep = layer.tmem > 1  # a single-word table is kept in registers
    bram = ceil_div(word, 16) * ceil_div(layer.tmem, 1024) if deep and layer.ram_style == "block" else 0
    uram = ceil_div(word, 72) * ceil_div(layer.tmem, 4096) if deep and layer.ram_style == "ultra" else 0
    lutram = word * ceil_div(layer.tmem, 64) if deep and layer.ram_style == "distributed" else 0
    return layer.input_bits * layer.pe + lutram, bram, uram


@register(Thresholding)
def estimate_thresholding(layer: Thresholding, part: str) -> NodeCost:
    """FINN's estimate for Thresholding_hls / Thresholding_rtl.

    Source: finn-plus 1.6.1 custom_op/fpgadataflow/thresholding.py (get_exp_cycles),
    hls/thresholding_hls.py (bram/uram/lut_estimation) and rtl/thresholding_rtl.py
    (get_pe_mem_geometries, _get_memory_estimate_details) with finn/util/memutil.py. The RTL
    model picks the least-waste primitive on FINN's Versal list for every part, and its LUT
    figure is just the LUTRAM count (no comparator logic). No DSPs.
    """
    cycles = math.prod(layer.num_input_vectors) * layer.tmem
    if layer.impl == "hls":
        lut, bram, uram = _hls_cost(layer)
        return NodeCost(cycles=cycles, lut=float(lut), bram18=float(bram), uram=float(uram))
    mem = rtl_memory(layer)
    return NodeCost(
        cycles=cycles,
        lut=float(mem.get("LUTRAM", 0)),
        bram18=float(mem.get("BRAM", 0)),
        uram=float(mem.get("URAM", 0)),
    )
