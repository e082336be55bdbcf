"""StreamingDataWidthConverter: inserted by FINN between nodes whose stream widths differ."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import FoldingError, NodeCost, register


@dataclass(frozen=True, slots=True)
class StreamingDataWidthConverter:
    """One StreamingDataWidthConverter_hls / _rtl node; widths are unpadded stream bits."""

    op_type: ClassVar[str] = "StreamingDataWidthConverter"
    name: str
    impl: Literal["hls", "rtl"]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_width: int
    out_width: int
    data_bits: int
    data_signed: bool = False

    def __post_init__(self) -> None:
        if self.impl not in ("hls", "rtl"):
            raise ValueError(f"impl of DWC {self.name!r} must be 'hls' or 'rtl', got {self.impl!r}")
        if self.data_bits < 1 or not self.in_shape:
            raise ValueError(f"StreamingDataWidthConverter {self.name!r} needs data_bits >= 1 and a non-empty in_shape")
        channels, total = self.in_shape[-1], math.prod(self.in_shape)
        for what, width in (("inWidth", self.in_width), ("outWidth", self.out_width)):
            if width < 1 or width % self.data_bits:
                raise FoldingError(
                    f"{what}={width} of {self.name!r} must be a positive multiple of the element width {self.data_bits}"
                )
            # FINN folds the last axis, or failing that the whole tensor, into words of this width
            elems = width // self.data_bits
            if channels % elems and total % elems:
                raise FoldingError(
                    f"{what}={width} of {self.name!r} carries {elems} elements per word, which divides neither "
                    f"the last axis ({channels}) nor the tensor ({total} elements)"
                )


def _log2_steps(ratio: float) -> int:
    """|ceil(log2(ratio))| evaluated in floating point exactly as FINN does (ratio may be < 1,
    where ceil rounds toward zero), so the counter-bit term matches FINN bit for bit."""
    return abs(math.ceil(math.log(ratio, 2)))


@register(StreamingDataWidthConverter)
def estimate_dwc(layer: StreamingDataWidthConverter, part: str) -> NodeCost:
    """FINN's shift-register DWC model: in -> lcm(in, out) -> out, each step costing counter bits
    plus the control-set LUTs of the wider side. FINN's get_exp_cycles is the HWCustomOp
    default (0): a DWC is not counted in FINN's cycle analysis. No BRAM/URAM/DSP model.
    Source: finn-plus 1.6.1 custom_op/fpgadataflow/streamingdatawidthconverter.py (lut_estimation),
    shared by hls/ and rtl/ variants."""
    inw, outw = layer.in_width, layer.out_width
    lcm = math.lcm(inw, outw)
    lut = 0
    if inw != lcm:
        lut += _log2_steps(inw / lcm) + lcm
    if lcm != outw:
        lut += _log2_steps(lcm / outw) + outw
    return NodeCost(cycles=0, lut=float(lut))
