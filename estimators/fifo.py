"""StreamingFIFO: FINN's model of finn-rtllib fifo.sv (finn/util/resource_models.py).

Style resolution ("auto" -> srl/distributed/block/ultra) and the RAMB18/URAM288 tilings are
exact restatements; FINN's LUT coefficients were fitted on Vivado OOC runs ("fitted" below).
W is always the stream width padded to a multiple of 8 bits (AXI-Stream).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Literal

from estimators.core import NodeCost, ceil_div, is_versal, register

FifoStyle = Literal["srl", "distributed", "block", "ultra"]

_URAM_DEPTH_THRESHOLD = 2028  # auto: deeper than this goes to URAM
_BRAM_MIN_ABITS = 9  # RAMB18 at 512 x 36
_URAM_MIN_ABITS = 12  # URAM288 at 4096 x 72
_HI_URAM_RATIO = 7  # fitted: RAMB18s per URAM at which a hi space joins URAM
_VERSAL_URAM_LUTS = 20  # fitted: Versal URAM read path
# SDP aspects (width, rows), widest first
_RAMB18 = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
_RAMB18E5 = ((36, 512), (18, 1024), (9, 2048))  # Versal stops at 9 bits
_URAM288 = ((72, 4096), (36, 8192), (18, 16384), (9, 32768))  # UltraScale+ has only the first


def clog2(x: int) -> int:
    """SystemVerilog $clog2 in exact integer arithmetic (0 for x <= 1)."""
    return max(x - 1, 0).bit_length()


@dataclass(frozen=True, slots=True)
class StreamingFIFO:
    """One StreamingFIFO_rtl (or the virtual StreamingFIFO_hls, which FINN estimates the same way)."""

    op_type: ClassVar[str] = "StreamingFIFO"
    name: str
    depth: int
    folded_shape: tuple[int, ...]
    data_bits: int
    normal_shape: tuple[int, ...] = ()
    data_signed: bool = False
    ram_style: Literal["auto", "srl", "block", "distributed", "ultra"] = "auto"
    impl: Literal["hls", "rtl"] = "rtl"
    impl_style: Literal["rtl", "virtual"] = "rtl"

    def __post_init__(self) -> None:
        if self.impl not in ("hls", "rtl"):
            raise ValueError(f"impl of StreamingFIFO {self.name!r} must be 'hls' or 'rtl', got {self.impl!r}")
        if self.depth < 0:  # 0/1 are legal: set_fifo_depths makes them, and they cost nothing
            raise ValueError(f"depth={self.depth} of StreamingFIFO {self.name!r} must be >= 0")
        if not self.folded_shape or self.folded_shape[-1] < 1 or self.data_bits < 1:
            raise ValueError(f"StreamingFIFO {self.name!r} needs folded_shape[-1] >= 1 and data_bits >= 1")

    @property
    def width(self) -> int:
        """Padded stream width (get_instream_width_padded)."""
        return ceil_div(self.folded_shape[-1] * self.data_bits, 8) * 8

    @property
    def resolved_style(self) -> FifoStyle:
        return resolve_style(self.depth, self.width, self.ram_style)


def resolve_style(depth: int, width: int, requested: str) -> FifoStyle:
    """The storage fifo.sv elaborates (resource_models._resolve): shallow FIFOs are always SRL."""
    if depth <= 33:
        return "srl"
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if depth <= 64 and width < 12:
        return "srl"
    if depth <= 257 or width < 5:
        return "distributed"
    return "block" if depth <= _URAM_DEPTH_THRESHOLD else "ultra"


def _geometry(depth: int, uram: bool) -> tuple[int, int]:
    """Address bits (lo, hi) of fifo.sv's two memory spaces; hi = 0 when one space suffices."""
    min_abits, queue = (_URAM_MIN_ABITS, 16) if uram else (_BRAM_MIN_ABITS, 0)
    need = max(depth - queue - 1, 1)  # one slot sits in the output register (+ URAM queue)
    lo = clog2(need)
    if lo <= min_abits:
        return lo, 0
    hi = clog2(need - 2 ** (lo - 1))
    return (lo - 1, max(hi, 1)) if hi < lo - 1 else (lo, 0)


def _hi_in_ram(rows: int, width: int) -> bool:
    return rows * rows * width >= 2**20  # fitted boundary: otherwise Vivado uses LUTRAM


def _lutram_luts(rows: int, width: int) -> int:
    return ceil_div(rows, 32) * ceil_div(width, 2) * 5 // 4  # RAM32X2 per LUT6, 5/4 fitted


def _hi_select_luts(width: int) -> int:
    return 18 + 3 * width // 7  # fitted


@lru_cache(maxsize=4096)
def _ramb18_tiles(rows: int, width: int, versal: bool) -> tuple[int, int]:
    """(RAMB18 tiles, deepest cascade) for a rows x width memory.

    UltraScale+ may split a word over several aspects: exhaustive partition DP over the
    ladder (a tie keeps the wider aspect). Versal never splits: best single aspect."""
    if versal:
        return min((ceil_div(rows, r) * ceil_div(width, w), ceil_div(rows, r)) for w, r in _RAMB18E5)
    best: list[tuple[int, int]] = [(0, 0)]  # best[b]: plan for the lowest b bits of the word
    for bits in range(1, width + 1):
        cands = []
        for w, r in _RAMB18:
            cascade = ceil_div(rows, r)
            rest_tiles, rest_cascade = best[max(bits - w, 0)]
            cands.append((cascade + rest_tiles, max(cascade, rest_cascade)))
        best.append(min(cands, key=lambda c: c[0]))  # first minimum: the widest aspect wins ties
    return best[width]


def _uram_tiles(rows: int, width: int, versal: bool) -> tuple[int, int]:
    """(URAM288 tiles, cascade): the narrowest aspect holding a whole word (Versal), else 72 bits."""
    w, r = _URAM288[0]
    if versal:
        w, r = next(((cw, cr) for cw, cr in reversed(_URAM288) if cw >= width), _URAM288[0])
    cascade = ceil_div(rows, r)
    return cascade * ceil_div(width, w), cascade


def _cascade_mux_luts(stages: int, width: int, versal: bool) -> int:
    """Versal lacks F7/F8 muxes: LUT6 4:1 levels over an SRL cascade (fitted)."""
    if not versal or stages < 2:
        return 0
    per_bit = 1 if stages > 2 else 0.5
    return math.ceil(width * per_bit * ceil_div(stages - 1, 3)) - 2


def fifo_cost(depth: int, width: int, style: FifoStyle, versal: bool) -> tuple[int, int, int]:
    """(bram18, uram, lut) of a depth x width fifo.sv in the given style (resource_models._fifo_cost)."""
    if depth < 2:
        return 0, 0, 0
    cw = clog2(depth + 1) + 1  # control is fitted linear in the counter width
    if style == "srl":
        stages = ceil_div(depth - 1 if depth > 4 else 4, 32)
        return 0, 0, stages * width + _cascade_mux_luts(stages, width, versal) + 5 * cw - 7
    if style == "distributed":
        rows = 2 ** clog2(depth - 1)
        return 0, 0, _lutram_luts(rows, width) + rows // 128 * (width // 2) + 8 * cw - 15

    uram = style == "ultra"
    lo, hi = _geometry(depth, uram)
    hi_ram = bool(hi) and _hi_in_ram(2**hi, width)
    hi_lutram = bool(hi) and not hi_ram
    select = _hi_select_luts(width) if hi else 0
    if not uram:
        tiles, cascade = _ramb18_tiles(2**lo, width, versal)
        if hi_ram:
            hi_tiles, hi_cascade = _ramb18_tiles(2**hi, width, versal)
            tiles, cascade = tiles + hi_tiles, max(cascade, hi_cascade)
        lut = 54 + 3 * cascade + 2 * tiles // 5 + select + (_lutram_luts(2**hi, width) if hi_lutram else 0)
        return tiles, 0, lut

    urams, cascade = _uram_tiles(2**lo, width, versal)
    lut = 6 * cw + select
    if hi_lutram:
        lut += _lutram_luts(2**hi, width) + width  # + one SRL16E per bit to match URAM latency
    lut += max(1, cascade // 4 - 2) * width  # output queue / pipeline stages (fitted)
    if versal:
        lut += _VERSAL_URAM_LUTS
    bram = 0
    if hi_ram:
        hi_uram = _uram_tiles(2**hi, width, versal)[0]
        hi_bram = _ramb18_tiles(2**hi, width, versal)[0]
        if hi >= _URAM_MIN_ABITS or hi_bram >= _HI_URAM_RATIO * hi_uram:
            urams += hi_uram
        else:
            bram = hi_bram
    return bram, urams, lut


@register(StreamingFIFO)
def estimate_fifo(layer: StreamingFIFO, part: str) -> NodeCost:
    """FINN's StreamingFIFO estimate. get_exp_cycles is the HWCustomOp default (0): FIFOs are not
    counted in FINN's cycle analysis. No DSPs.
    Source: finn-plus 1.6.1 custom_op/fpgadataflow/streamingfifo.py (resolve_ram_style,
    get_fifo_cost, *_estimation) and finn/util/resource_models.py (_resolve, _fifo_cost)."""
    bram, uram, lut = fifo_cost(layer.depth, layer.width, layer.resolved_style, is_versal(part))
    return NodeCost(cycles=0, lut=float(lut), bram18=float(bram), uram=float(uram))
