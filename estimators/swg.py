"""ConvolutionInputGenerator (sliding window generator): finn-plus 1.6.1 has only the RTL variant."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import FoldingError, NodeCost, ceil_div, register, require_divides

RamStyle = Literal["auto", "block", "distributed", "ultra"]

# Depth ladder of a RAMB18 used as a FIFO-like buffer: (max depth, data bits per primitive).
_BRAM_ASPECTS = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2))


def conv_out_dim(ifm: int, k: int, stride: int, dilation: int) -> int:
    """Output size without padding, as qonnx's compute_conv_output_dim (padding lives in FMPadding)."""
    return (ifm - dilation * (k - 1) - 1) // stride + 1


@dataclass(frozen=True, slots=True)
class ConvolutionInputGenerator:
    """One ConvolutionInputGenerator_rtl node; 2-tuples are FINN's [H, W] order."""

    op_type: ClassVar[str] = "ConvolutionInputGenerator"
    name: str
    ifm_channels: int
    ifm_dim: tuple[int, int]
    conv_kernel_dim: tuple[int, int]
    simd: int
    input_bits: int
    input_signed: bool = False
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    depthwise: bool = False
    parallel_window: bool = False
    ram_style: RamStyle = "distributed"
    m: int = 1  # FINN's "M" (extra output parallelism, parallel_window only)
    dynamic_mode: bool = False

    def __post_init__(self) -> None:
        (k_h, k_w), (h, w) = self.conv_kernel_dim, self.ifm_dim
        (s_h, s_w), (d_h, d_w) = self.stride, self.dilation
        if min(k_h, k_w, h, w, s_h, s_w, d_h, d_w, self.input_bits, self.m) < 1:
            raise ValueError(
                f"ConvolutionInputGenerator {self.name!r}: dims, kernel, stride, dilation, bits, M must be >= 1"
            )
        if (k_h - 1) * d_h + 1 > h or (k_w - 1) * d_w + 1 > w or s_h > h or s_w > w:
            raise ValueError(
                f"ConvolutionInputGenerator {self.name!r}: dilated kernel {self.conv_kernel_dim} (dilation "
                f"{self.dilation}) or stride {self.stride} exceeds IFMDim {self.ifm_dim}"
            )
        require_divides("SIMD", self.simd, "IFMChannels", self.ifm_channels, layer=self.name)
        if self.impl_style == "parallel" and not (self.depthwise or (k_h == 1 and k_w == 1)):
            if self.simd != self.ifm_channels:
                raise FoldingError(
                    f"SIMD={self.simd} of {self.name!r}: parallel_window on a non-depthwise "
                    f"{k_h}x{k_w} window needs SIMD == IFMChannels (allowed: {self.ifm_channels})"
                )
        if self.parallel_window and self.dynamic_mode:
            raise FoldingError(f"parallel_window=1 of {self.name!r} is incompatible with dynamic_mode=1 (allowed: 0)")

    @property
    def ofm_dim(self) -> tuple[int, int]:
        return (
            conv_out_dim(self.ifm_dim[0], self.conv_kernel_dim[0], self.stride[0], self.dilation[0]),
            conv_out_dim(self.ifm_dim[1], self.conv_kernel_dim[1], self.stride[1], self.dilation[1]),
        )

    @property
    def impl_style(self) -> Literal["default", "parallel"]:
        """FINN's select_impl_style: a 1x1 kernel always takes the parallel (register) variant."""
        k_h, k_w = self.conv_kernel_dim
        window_out = self.m * k_h * k_w if self.parallel_window else 1
        return "parallel" if window_out > 1 or (k_h == 1 and k_w == 1) else "default"

    @property
    def buffer_depth(self) -> int:
        """Words (of SIMD elements) held by the circular buffer (get_buffer_depth)."""
        (k_h, k_w), (_, w) = self.conv_kernel_dim, self.ifm_dim
        (s_h, s_w), (d_h, d_w) = self.stride, self.dilation
        cf = self.ifm_channels // self.simd
        if self.impl_style == "parallel":
            return ((k_h - 1) * d_h * w + (k_w - 1) * d_w) * cf + 2
        window = k_h * k_w
        # stride > 1 gets extra room so that input can be preloaded early
        extra_w = max(0, (s_w - 1) - window) * cf
        extra_h = max(0, (s_h - 1) * w - window) * cf
        return ((k_h - 1) * d_h * w + (k_w - 1) * d_w + 1) * cf + extra_w + extra_h

    def line_buffers(self) -> tuple[int, int]:
        """(depth, count) of the RAM buffers FINN charges for; (0, 0) where it charges none."""
        (k_h, k_w), (h, w) = self.conv_kernel_dim, self.ifm_dim
        if self.impl_style == "default":
            return self.buffer_depth, 1
        if h == 1 or w == 1:
            return 0, 0  # 1D parallel window: registers only
        span_w = (k_w - 1) * self.dilation[1] + 1
        return (w - span_w) + w * (self.dilation[0] - 1), k_h - 1


def _expected_cycles(layer: ConvolutionInputGenerator) -> int:
    c = layer.ifm_channels
    cf = c // layer.simd
    (h, w), (oh, ow) = layer.ifm_dim, layer.ofm_dim
    (k_h, k_w), (s_h, s_w), (d_h, d_w) = layer.conv_kernel_dim, layer.stride, layer.dilation
    if layer.impl_style == "parallel":
        return h * w * cf + 2  # one cycle per input word, plus pipeline fill
    if h == 1 or w == 1:
        # 1D: FINN normalises a (D, 1) frame to (1, D); only the W axis matters
        if w == 1:
            w, ow, k_w, s_w = h, oh, k_h, s_h
        if layer.depthwise:
            # windows are replayed once per channel fold, so frames cannot overlap in the buffer
            out = ow * k_w * cf + (cf - 1) * k_w
            inp = w * cf + cf * (k_w - 1) * (s_w - 1)
            return max(out, inp) + 2
        return ow * k_w * cf + 2
    fill = ((k_h - 1) * d_h * w + (k_w - 1) * d_w + 1) * cf
    per_row = max(ow * k_w * k_h * cf, s_w * w * cf)
    if layer.depthwise:
        per_row += ow * (s_w - 1) * (cf - 1)
    cycles = fill + oh * per_row
    if layer.depthwise:
        cycles += (s_h - 1) * w * cf
    return cycles


def _bram_aspect_width(depth: int) -> int:
    return next((bits for limit, bits in _BRAM_ASPECTS if depth <= limit), 1)


def _bram18(layer: ConvolutionInputGenerator) -> int:
    if layer.ram_style not in ("block", "auto"):
        return 0
    depth, count = layer.line_buffers()
    if count == 0:
        return 0
    width = layer.simd * layer.input_bits
    columns = ceil_div(width, _bram_aspect_width(depth))
    total = ceil_div(depth, 16384) * columns
    if depth > 16384:
        # the partial last cascade stage may use a wider (shallower) aspect
        total -= columns - ceil_div(width, _bram_aspect_width(depth % 16384))
    return total * count


def _uram(layer: ConvolutionInputGenerator) -> int:
    if layer.ram_style != "ultra":
        return 0
    depth, count = layer.line_buffers()
    return ceil_div(depth, 4096) * ceil_div(layer.simd * layer.input_bits, 72) * count


@register(ConvolutionInputGenerator)
def estimate_swg(layer: ConvolutionInputGenerator, part: str) -> NodeCost:
    """FINN's estimate for ConvolutionInputGenerator_rtl.

    Source: finn-plus 1.6.1 custom_op/fpgadataflow/rtl/convolutioninputgenerator_rtl.py
    (select_impl_style, get_buffer_depth, get_exp_cycles, bram_estimation, lut_estimation,
    uram_estimation). No DSPs. The LUT figure uses the circular-buffer depth even for the
    parallel variant, as FINN does.
    """
    width = layer.simd * layer.input_bits
    lutram = width * ceil_div(layer.buffer_depth, 38) if layer.ram_style == "distributed" else 0
    return NodeCost(
        cycles=_expected_cycles(layer),
        lut=float(300 + lutram),
        bram18=float(_bram18(layer)),
        uram=float(_uram(layer)),
    )
