"""Small streaming nodes: Pool, LabelSelect, FMPadding, Reshape, DuplicateStreams.

finn-plus 1.6.1 has no resource model for any of them: HWCustomOp's defaults report 0 LUT,
BRAM, URAM and DSP. Each model here returns FINN's cycle count and those zeros explicitly, so the
zeros are a stated fact about FINN's estimate, not a missing model, except DuplicateStreams:
residual networks have one per block, so its LUTs (an AXI-Stream port per input and output
and the loop control, see ``estimators.structural``) are counted from its structure, with
FINN's zeros kept beside them (``NodeCost.finn``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import FoldingError, NodeCost, register, require_divides
from estimators.structural import axis_ports, loop_control


def _no_resources(cycles: int) -> NodeCost:
    """FINN has no resource model for this node type (its estimate is 0 for every resource)."""
    return NodeCost(cycles=int(cycles), lut=0.0, bram18=0.0, uram=0.0, dsp=0.0)


def _require_positive(layer: str, **values: int) -> None:
    for what, v in values.items():
        if v < 1:
            raise ValueError(f"{what}={v} of {layer!r} must be >= 1")


@dataclass(frozen=True, slots=True)
class Pool:
    """Pool_hls: reduces each K-element window (produced by a depthwise SWG) per channel."""

    op_type: ClassVar[str] = "Pool"
    name: str
    channels: int
    pe: int
    kernel_size: tuple[int, ...]
    out_img_dims: tuple[int, ...]
    input_bits: int
    output_bits: int
    input_signed: bool = False
    output_signed: bool = False
    function: Literal["MaxPool", "AvgPool", "AccPool", "QuantAvgPool"] = "MaxPool"
    accum_bits: int = 0
    size: int = 1
    batch_size: int = 1

    def __post_init__(self) -> None:
        _require_positive(self.name, channels=self.channels, batch_size=self.batch_size)
        if self.function not in ("MaxPool", "AvgPool", "AccPool", "QuantAvgPool"):
            raise ValueError(
                f"Function of Pool {self.name!r} must be MaxPool/AvgPool/AccPool/QuantAvgPool, got {self.function!r}"
            )
        same_type = (self.input_bits, self.input_signed) == (self.output_bits, self.output_signed)
        if self.function == "MaxPool" and not same_type:
            raise ValueError(f"MaxPool {self.name!r} needs OutputDataType == InputDataType")
        if self.function == "QuantAvgPool" and self.input_signed != self.output_signed:
            raise ValueError(f"QuantAvgPool {self.name!r} cannot mix signed and unsigned datatypes")
        require_divides("PE", self.pe, "Channels", self.channels, layer=self.name)


@register(Pool)
def estimate_pool(layer: Pool, part: str) -> NodeCost:
    """Cycles = C*K/PE per output pixel. Source: finn-plus 1.6.1 custom_op/fpgadataflow/pool.py
    (get_exp_cycles); hls/pool_hls.py has no resource estimates, so FINN reports 0."""
    k = math.prod(layer.kernel_size)
    return _no_resources(layer.channels * k // layer.pe * math.prod(layer.out_img_dims) * layer.batch_size)


@dataclass(frozen=True, slots=True)
class LabelSelect:
    """LabelSelect_hls: top-K over Labels scores."""

    op_type: ClassVar[str] = "LabelSelect"
    name: str
    labels: int
    pe: int
    k: int
    input_bits: int
    output_bits: int
    input_signed: bool = False
    output_signed: bool = False
    num_input_vectors: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        _require_positive(self.name, labels=self.labels, k=self.k)
        require_divides("PE", self.pe, "Labels", self.labels, layer=self.name)


@register(LabelSelect)
def estimate_labelselect(layer: LabelSelect, part: str) -> NodeCost:
    """Cycles = Labels/PE (FINN ignores numInputVectors here). Source: finn-plus 1.6.1
    custom_op/fpgadataflow/labelselect.py (get_exp_cycles); no resource model, FINN reports 0."""
    return _no_resources(layer.labels // layer.pe)


@dataclass(frozen=True, slots=True)
class FMPadding:
    """FMPadding_rtl: zero padding around a feature map; padding is [top, left, bottom, right]."""

    op_type: ClassVar[str] = "FMPadding"
    name: str
    img_dim: tuple[int, int]
    padding: tuple[int, int, int, int]
    num_channels: int
    simd: int
    input_bits: int
    input_signed: bool = False
    num_input_vectors: int = 1
    dynamic_mode: bool = False

    def __post_init__(self) -> None:
        _require_positive(self.name, img_h=self.img_dim[0], img_w=self.img_dim[1], num_channels=self.num_channels)
        if len(self.padding) != 4 or min(self.padding) < 0:
            raise ValueError(f"Padding of FMPadding {self.name!r} must be 4 values >= 0, got {self.padding}")
        require_divides("SIMD", self.simd, "NumChannels", self.num_channels, layer=self.name)

    @property
    def out_dim(self) -> tuple[int, int]:
        top, left, bottom, right = self.padding
        return self.img_dim[0] + top + bottom, self.img_dim[1] + left + right


@register(FMPadding)
def estimate_fmpadding(layer: FMPadding, part: str) -> NodeCost:
    """Cycles = C/SIMD per padded output pixel. Source: finn-plus 1.6.1
    custom_op/fpgadataflow/fmpadding.py (get_exp_cycles); rtl/fmpadding_rtl.py has no
    resource estimates, so FINN reports 0."""
    oh, ow = layer.out_dim
    return _no_resources(layer.num_channels // layer.simd * layer.num_input_vectors * oh * ow)


@dataclass(frozen=True, slots=True)
class Reshape:
    """Reshape_rtl: a pass-through whose PE elements per word must divide both last axes."""

    op_type: ClassVar[str] = "Reshape"
    name: str
    inp_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype_bits: int
    dtype_signed: bool = False
    pe: int = 1

    def __post_init__(self) -> None:
        if not self.inp_shape or not self.out_shape:
            raise ValueError(f"Reshape {self.name!r} needs non-empty inp_shape and out_shape")
        require_divides("PE", self.pe, "out_shape[-1]", self.out_shape[-1], layer=self.name)
        if self.inp_shape[-1] % self.pe:
            n_in, n_out = self.inp_shape[-1], self.out_shape[-1]
            both = [d for d in range(1, n_in + 1) if n_in % d == 0 and n_out % d == 0]
            raise FoldingError(
                f"PE={self.pe} of {self.name!r} must also divide inp_shape[-1]={self.inp_shape[-1]} (allowed: {both})"
            )


@register(Reshape)
def estimate_reshape(layer: Reshape, part: str) -> NodeCost:
    """Cycles = output words. Source: finn-plus 1.6.1 custom_op/fpgadataflow/reshape.py
    (get_exp_cycles); rtl/reshape_rtl.py has no resource estimates, so FINN reports 0."""
    return _no_resources(math.prod(layer.out_shape[:-1]) * (layer.out_shape[-1] // layer.pe))


@dataclass(frozen=True, slots=True)
class DuplicateStreams:
    """DuplicateStreams_hls: fans one stream out to NumOutputStreams (residual branches)."""

    op_type: ClassVar[str] = "DuplicateStreams"
    name: str
    num_channels: int
    pe: int
    num_output_streams: int
    input_bits: int
    input_signed: bool = False
    num_input_vectors: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        _require_positive(self.name, num_channels=self.num_channels, num_output_streams=self.num_output_streams)
        require_divides("PE", self.pe, "NumChannels", self.num_channels, layer=self.name)


@register(DuplicateStreams)
def estimate_duplicatestreams(layer: DuplicateStreams, part: str) -> NodeCost:
    """Cycles = input words. Source: finn-plus 1.6.1 custom_op/fpgadataflow/duplicatestreams.py
    (get_exp_cycles); hls/duplicatestreams_hls.py has no resource estimates, so FINN reports 0
    (kept in ``.finn``); ``lut`` counts the 1 + NumOutputStreams ports and the loop control."""
    finn = _no_resources(math.prod(layer.num_input_vectors) * (layer.num_channels // layer.pe))
    width = layer.pe * layer.input_bits
    lut = axis_ports(*[width] * (1 + layer.num_output_streams)) + loop_control(finn.cycles)
    return NodeCost(cycles=finn.cycles, lut=float(lut), finn=finn)
