"""VVAU (VectorVectorActivation, depthwise conv) cost model, HLS and RTL, as finn-plus 1.6.1 has it.

Sources (finn/custom_op/fpgadataflow/): ``vectorvectoractivation.py`` (VVAU: get_exp_cycles,
calc_wmem, calc_tmem, bram_estimation, uram_estimation), ``hls/vectorvectoractivation_hls.py``
(VVAU_hls: lut_estimation, dsp_estimation) and ``rtl/vectorvectoractivation_rtl.py`` (VVAU_rtl:
lut_estimation, dsp_estimation). Same FINN-R forms as the MVAU with MW -> k_h*k_w, except where
noted below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import FoldingError, NodeCost, ceil_div, register, require_divides
from estimators.mvau import (
    Impl,
    RamStyle,
    ResType,
    check_choice,
    check_positive,
    finn_r_luts,
    fitted_accumulator_bits,
    weight_bram18,
    weight_uram,
)

VvauMemMode = Literal["internal_embedded", "internal_decoupled", "external"]

# VVAU's ladder divides by power-of-two widths (so a 9-bit word takes two 8-bit RAMB18 columns).
VVAU_BRAM_WIDTHS = (4, 8, 16, 32)


@dataclass(frozen=True, slots=True, kw_only=True)
class VVAU:
    """One VVAU_hls / VVAU_rtl node. Fields as in ``estimators.mvau.MVAU``; the kernel is
    (k_h, k_w) and the output feature map (dim_h, dim_w). VVAU has no ram_style_thresholds."""

    op_type: ClassVar[str] = "VVAU"
    name: str
    impl: Impl
    channels: int
    k_h: int
    k_w: int
    dim_h: int
    dim_w: int
    pe: int
    simd: int
    input_bits: int
    input_signed: bool
    weight_bits: int
    output_bits: int
    acc_bits: int = 32
    no_activation: bool = False
    mem_mode: VvauMemMode = "internal_decoupled"
    ram_style: RamStyle = "auto"
    res_type: ResType = "auto"

    def __post_init__(self) -> None:
        n = self.name
        check_choice(n, "impl", self.impl, Impl)
        check_choice(n, "mem_mode", self.mem_mode, VvauMemMode)
        check_choice(n, "ram_style", self.ram_style, RamStyle)
        check_choice(n, "res_type", self.res_type, ResType)
        check_positive(n, channels=self.channels, k_h=self.k_h, k_w=self.k_w, dim_h=self.dim_h,
                       dim_w=self.dim_w, pe=self.pe, simd=self.simd, input_bits=self.input_bits,
                       weight_bits=self.weight_bits, output_bits=self.output_bits, acc_bits=self.acc_bits)
        require_divides("pe", self.pe, "channels", self.channels, layer=n)
        require_divides("simd", self.simd, "kernel_area", self.kernel_area, layer=n)
        if self.impl == "rtl":
            # FINN refuses these when generating HDL; SpecializeLayers never picks rtl for them.
            if self.res_type == "lut":
                raise FoldingError(f"res_type='lut' of {n!r}: VVAU_rtl is DSP-based (allowed: auto, dsp)")
            if not self.no_activation:
                raise FoldingError(f"{n!r}: VVAU_rtl has no thresholding; needs no_activation=True")

    @property
    def kernel_area(self) -> int:
        return self.k_h * self.k_w

    @property
    def wmem(self) -> int:
        """Depth of the weight memory (calc_wmem)."""
        return self.kernel_area * self.channels // self.pe // self.simd

    @property
    def tmem(self) -> int:
        return 0 if self.no_activation else self.channels // self.pe

    @property
    def weight_width(self) -> int:
        return self.pe * self.simd * self.weight_bits


def _bram18(layer: VVAU) -> int:
    # Unlike the MVAU, "auto" with a shallow (<=128) memory is costed as LUTRAM in every mem_mode
    # (yet adds no LUTs), and ram_style is ignored for deep embedded weights.
    shallow = layer.wmem <= 128
    if (
        (layer.mem_mode == "internal_decoupled" and layer.ram_style in ("distributed", "ultra"))
        or (layer.ram_style == "auto" and shallow)
        or (layer.mem_mode == "internal_embedded" and shallow)
        or layer.mem_mode == "external"
    ):
        return 0
    return weight_bram18(layer.wmem, layer.weight_width, VVAU_BRAM_WIDTHS)


def _uram(layer: VVAU) -> int:
    if layer.mem_mode != "internal_decoupled" or layer.ram_style != "ultra":
        return 0
    return weight_uram(layer.wmem, layer.weight_width)


def _lut(layer: VVAU) -> int:
    if layer.impl == "rtl":
        return 0  # FINN reports 0 for the DSP-based RTL VVU
    acc = fitted_accumulator_bits(layer.kernel_area, layer.weight_bits, layer.input_bits,
                                  layer.input_signed, layer.acc_bits)
    thr: float = 0
    cmp: float = 0
    if not layer.no_activation:
        # Always counted as LUTRAM (VVAU has no ram_style_thresholds), and unrounded: depth/64.
        steps = 2**layer.output_bits - 1
        thr = steps * acc * layer.tmem / 64
        cmp = steps * acc
    weight_mem = 0
    if (layer.mem_mode == "internal_decoupled" and layer.ram_style == "distributed") or (
        layer.mem_mode == "internal_embedded" and layer.wmem <= 128
    ):
        weight_mem = layer.weight_width * ceil_div(layer.wmem, 64)
    return finn_r_luts(pe=layer.pe, simd=layer.simd, weight_bits=layer.weight_bits,
                       input_bits=layer.input_bits, res_type=layer.res_type, acc=acc, thr=thr, cmp=cmp,
                       weight_mem=weight_mem)


def _dsp(layer: VVAU) -> int:
    if layer.impl == "rtl":
        # DSP58 chains of 3 kernel taps. FINN builds VVAU_rtl only for Versal but reports this
        # figure for any part, so it does here too.
        return layer.pe * ceil_div(layer.simd, 3)
    if layer.res_type != "dsp":
        return 0
    return layer.pe * ceil_div(layer.weight_bits + layer.input_bits, 48)  # not x SIMD, as in FINN


@register(VVAU)
def vvau_cost(layer: VVAU, part: str) -> NodeCost:
    """Cycles and resources of one VVAU, equal to finn-plus 1.6.1's get_exp_cycles and
    lut/bram/uram/dsp_estimation of VVAU_hls or VVAU_rtl (see the module docstring); ``part``
    does not change any of them."""
    cycles = layer.channels * layer.kernel_area // (layer.pe * layer.simd) * layer.dim_h * layer.dim_w
    return NodeCost(cycles=cycles, lut=float(_lut(layer)), bram18=float(_bram18(layer)),
                    uram=float(_uram(layer)), dsp=float(_dsp(layer)))
