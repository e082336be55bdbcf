"""MVAU (MatrixVectorActivation) cost model, HLS and RTL, as finn-plus 1.6.1 estimates it.

Sources (finn/custom_op/fpgadataflow/): ``matrixvectoractivation.py`` (MVAU: get_exp_cycles,
calc_wmem, calc_tmem, bram_estimation, uram_estimation), ``hls/matrixvectoractivation_hls.py``
(MVAU_hls: lut_estimation, dsp_estimation) and ``rtl/matrixvectoractivation_rtl.py`` (MVAU_rtl:
lut_estimation, dsp_estimation). The LUT/BRAM forms are FINN-R's fits (Blott et al., 2018).

The shared pieces (FINN-R's LUT form, the RAMB18 aspect ladder) are public here because
``estimators.vvau`` reuses them with VVAU's own parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from estimators.core import FoldingError, NodeCost, ceil_div, dsp_block, register, require_divides

Impl = Literal["hls", "rtl"]
MemMode = Literal["internal_embedded", "internal_decoupled", "external", "external_mem", "dynamic"]
RamStyle = Literal["auto", "block", "distributed", "ultra"]
RamStyleThresholds = Literal["auto", "block", "distributed"]
ResType = Literal["auto", "lut", "dsp"]

# RAMB18 widths used for the 4/9/18/36-bit rungs of the aspect ladder (UG573, SDP mode).
MVAU_BRAM_WIDTHS = (4, 9, 18, 36)


def check_choice(layer: str, attr: str, value: str, allowed: object) -> None:
    """Reject a string attribute outside its Literal (a typo must not silently mean 'auto')."""
    options = get_args(allowed)
    if value not in options:
        raise FoldingError(f"{attr}={value!r} of {layer!r} is not one of {list(options)}")


def check_positive(layer: str, **sizes: int) -> None:
    for attr, value in sizes.items():
        if value < 1:
            raise FoldingError(f"{attr}={value} of {layer!r} must be >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class MVAU:
    """One MVAU_hls / MVAU_rtl node: the attributes FINN's estimates read, datatypes as bits.

    ``input_signed`` is FINN's ``DataType.signed()`` (True for BIPOLAR). ``acc_bits`` is the width
    of accDataType (FINN's default INT32 until MinimizeAccumulatorWidth runs). ``output_bits`` only
    matters with an activation (it sets the 2^B-1 thresholds). ``num_input_vectors`` is the product
    of numInputVectors; ``th`` is MVAU_rtl's tiling height (TH).
    """

    op_type: ClassVar[str] = "MVAU"
    name: str
    impl: Impl
    mw: int
    mh: int
    pe: int
    simd: int
    input_bits: int
    input_signed: bool
    weight_bits: int
    output_bits: int
    acc_bits: int = 32
    no_activation: bool = False
    mem_mode: MemMode = "internal_decoupled"
    ram_style: RamStyle = "auto"
    ram_style_thresholds: RamStyleThresholds = "auto"
    res_type: ResType = "auto"
    num_input_vectors: int = 1
    th: int = 1

    def __post_init__(self) -> None:
        n = self.name
        check_choice(n, "impl", self.impl, Impl)
        check_choice(n, "mem_mode", self.mem_mode, MemMode)
        check_choice(n, "ram_style", self.ram_style, RamStyle)
        check_choice(n, "ram_style_thresholds", self.ram_style_thresholds, RamStyleThresholds)
        check_choice(n, "res_type", self.res_type, ResType)
        check_positive(n, mw=self.mw, mh=self.mh, pe=self.pe, simd=self.simd, input_bits=self.input_bits,
                       weight_bits=self.weight_bits, output_bits=self.output_bits, acc_bits=self.acc_bits,
                       num_input_vectors=self.num_input_vectors, th=self.th)
        require_divides("pe", self.pe, "mh", self.mh, layer=n)
        require_divides("simd", self.simd, "mw", self.mw, layer=n)
        if self.impl == "hls":
            if self.th != 1:
                raise FoldingError(f"th={self.th} of {n!r}: MVAU_hls supports only th=1")
            return
        # MVAU_rtl: FINN refuses these when generating HDL; SpecializeLayers never picks rtl for them.
        if self.res_type == "lut":
            raise FoldingError(f"res_type='lut' of {n!r}: MVAU_rtl is DSP-based (allowed: auto, dsp)")
        if not self.no_activation:
            raise FoldingError(f"{n!r}: MVAU_rtl has no thresholding; needs no_activation=True")
        if self.th > 1:
            require_divides("th", self.th, "pe*simd", self.pe * self.simd, layer=n)
            require_divides("th", self.th, "num_input_vectors", self.num_input_vectors, layer=n)

    @property
    def wmem(self) -> int:
        """Depth of the weight memory (calc_wmem)."""
        return (self.mw // self.simd) * (self.mh // self.pe)

    @property
    def tmem(self) -> int:
        """Depth of the threshold memory (calc_tmem); 0 without an activation."""
        return 0 if self.no_activation else self.mh // self.pe

    @property
    def weight_width(self) -> int:
        """Bits of one weight-memory word: PE*SIMD weights (not divided by TH in the estimate)."""
        return self.pe * self.simd * self.weight_bits


# --- pieces shared with VVAU ----------------------------------------------------------------------

def fitted_accumulator_bits(dot_len: int, weight_bits: int, input_bits: int, input_signed: bool,
                            acc_bits: int) -> float:
    """Accumulator width in FINN-R's LUT form: accDataType's width, capped by the data-type bound
    of arXiv:2301.13376 (so the INT32 default does not inflate the estimate). Float arithmetic in
    FINN's order (math.log with base 2, not log2), so the result matches bit for bit."""
    alpha = math.log(dot_len, 2) + weight_bits + input_bits - 1 - int(input_signed)  # noqa: FURB163
    return min(acc_bits, math.ceil(alpha + math.log(1 + pow(2, -alpha), 2) + 1))  # noqa: FURB163


def finn_r_luts(*, pe: int, simd: int, weight_bits: int, input_bits: int, res_type: str, acc: float,
                thr: float, cmp: float, weight_mem: int) -> int:
    """FINN-R's LUT fit: 300 + 1.1*PE*(multipliers + adder tree + accumulator + thresholds +
    comparators) + LUTRAM weights. resType 'auto' counts as LUT multipliers (only 'dsp' drops them)."""
    w_a = weight_bits + input_bits
    mult = 0 if res_type == "dsp" else simd * (2 * ceil_div(w_a, 6) - 1) * w_a
    adder = w_a * (2 * simd - 1)
    return int(300 + 1.1 * (pe * (mult + adder + acc + thr + cmp)) + weight_mem)


def weight_bram18(depth: int, width: int, rung_widths: tuple[int, int, int, int]) -> int:
    """RAMB18s for a depth x width memory along FINN-R's aspect ladder: 1/2-bit words use the
    16k/8k-deep aspects, then 4, 9, 18, 36-bit rungs (VVAU divides by 4/8/16/32 instead)."""
    if width == 1:
        return ceil_div(depth, 16384)
    if width == 2:
        return ceil_div(depth, 8192)
    if width <= 4:
        return ceil_div(depth, 4096) * ceil_div(width, rung_widths[0])
    if width <= 9:
        return ceil_div(depth, 2048) * ceil_div(width, rung_widths[1])
    if width <= 18 or depth > 512:  # deep memories stay on the 18-bit rung however wide
        return ceil_div(depth, 1024) * ceil_div(width, rung_widths[2])
    return ceil_div(depth, 512) * ceil_div(width, rung_widths[3])


def weight_uram(depth: int, width: int) -> int:
    """UltraScale+ URAM tiling: 72-bit words, 4096 deep."""
    return ceil_div(width, 72) * ceil_div(depth, 4096)


# --- MVAU ---------------------------------------------------------------------------------------

def _in_luts_or_offchip(layer: MVAU) -> bool:
    """Weights that use neither BRAM nor URAM whatever ram_style says: small embedded (HLS puts
    <=128-deep arrays in LUTs) and external ones."""
    return (layer.mem_mode == "internal_embedded" and layer.wmem <= 128) or \
        layer.mem_mode in ("external", "external_mem")


def _bram18(layer: MVAU) -> int:
    # ram_style is honoured only in internal_decoupled mode; "auto" is costed as BRAM there, and
    # embedded weights deeper than 128 are costed as BRAM (and URAM, see _uram) whatever the style.
    if _in_luts_or_offchip(layer) or (
        layer.mem_mode == "internal_decoupled" and layer.ram_style in ("distributed", "ultra")
    ):
        return 0
    return weight_bram18(layer.wmem, layer.weight_width, MVAU_BRAM_WIDTHS)


def _uram(layer: MVAU) -> int:
    if _in_luts_or_offchip(layer) or (layer.mem_mode == "internal_decoupled" and layer.ram_style != "ultra"):
        return 0
    return weight_uram(layer.wmem, layer.weight_width)


def _lut(layer: MVAU) -> int:
    if layer.impl == "rtl":
        return 0  # FINN reports 0 for the DSP-based RTL MVU
    acc = fitted_accumulator_bits(layer.mw, layer.weight_bits, layer.input_bits, layer.input_signed,
                                  layer.acc_bits)
    thr: float = 0
    cmp: float = 0
    if not layer.no_activation and layer.ram_style_thresholds == "distributed":
        steps = 2**layer.output_bits - 1
        thr = steps * acc * ceil_div(layer.tmem, 64)
        cmp = steps * acc
    weight_mem = 0
    if (layer.mem_mode == "internal_decoupled" and layer.ram_style == "distributed") or (
        layer.mem_mode == "internal_embedded" and layer.wmem <= 128
    ):
        weight_mem = layer.weight_width * ceil_div(layer.wmem, 64)
    return finn_r_luts(pe=layer.pe, simd=layer.simd, weight_bits=layer.weight_bits,
                       input_bits=layer.input_bits, res_type=layer.res_type, acc=acc, thr=thr, cmp=cmp,
                       weight_mem=weight_mem)


def _dsp(layer: MVAU, part: str) -> int:
    if layer.impl == "hls":
        if layer.res_type != "dsp":
            return 0
        return layer.pe * layer.simd * ceil_div(layer.weight_bits + layer.input_bits, 48)
    # RTL: DSP58 (Versal) chains 3 SIMD lanes per slice; DSP48E1/E2 pack 4 PEs per slice.
    if dsp_block(part) == "DSP58":
        return layer.pe * ceil_div(layer.simd, 3)
    return ceil_div(layer.pe, 4) * layer.simd


@register(MVAU)
def mvau_cost(layer: MVAU, part: str) -> NodeCost:
    """Cycles and resources of one MVAU on ``part``, equal to finn-plus 1.6.1's get_exp_cycles,
    lut/bram/uram/dsp_estimation of MVAU_hls or MVAU_rtl (see the module docstring)."""
    cycles = (layer.mh // layer.pe) * (layer.mw // layer.simd) * layer.num_input_vectors * layer.th
    return NodeCost(cycles=cycles, lut=float(_lut(layer)), bram18=float(_bram18(layer)),
                    uram=float(_uram(layer)), dsp=float(_dsp(layer, part)))
