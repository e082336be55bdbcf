"""ElementwiseBinary (ElementwiseAdd, Sub, Mul, ...): HLS and RTL, e.g. a residual network's add.

FINN's estimate (finn-plus 1.6.1, custom_op/fpgadataflow/elementwise_binary.py; neither
hls/elementwise_binary_hls.py nor rtl/elementwise_binary_rtl.py overrides it):
* cycles = output words = prod(out_shape[:-1]) x out_shape[-1] / PE;
* memory only for a constant operand streamed from a memory (mem_mode internal_decoupled, or
  multi-layer offload): one (PE x rhs bits) x (rhs words x max(1, mlo_max_iter)) memory, as
  BRAM18 (ram_style auto/block, MVAU's aspect ladder), URAM (ultra) or LUTRAM (distributed:
  width x ceil(depth / 64) LUTs). An internal_embedded constant counts as nothing;
* no DSPs, and no LUTs beyond that memory.

So FINN's estimate of a residual add (both operands streamed) is 0 everywhere. The model here
keeps FINN's figures (``NodeCost.finn``; cycles, BRAM18, URAM and DSP unchanged) and counts the
LUTs the node is made of (see ``estimators.structural``):
* HLS: the AXI-Stream ports (every streamed input and the output), the loop control, FINN's
  parameter-memory LUTs, and per PE lane the operation's datapath: add/sub one LUT per output
  bit, absdiff two, max/compare one per input bit (+ the output mux for max), bitwise ops one
  per output bit, logical ops one, multiply FINN-R's LUT-multiplier fit.
* RTL (finn-rtllib eltwise): per lane an integer add/sub is one LUT per output bit; an integer
  multiply is a DSP58 and a float operation a DSPFP32 (one DSP per lane, which FINN does not
  count either: our ``dsp`` counts them, FINN's 0 is kept beside); an integer operand of a float
  operation goes through int_to_fp32 (a normaliser, about bits x clog2(bits) LUTs); the elastic
  output queue is an SRL FIFO, one LUT per output bit.
Operations or datatypes this does not cover (Div, BitShift, HLS float datapaths) raise
UnknownLayerError naming them: a datapath without a model must not look free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from estimators.core import FoldingError, NodeCost, UnknownLayerError, clog2, register, require_divides
from estimators.mvau import MVAU_BRAM_WIDTHS, weight_bram18, weight_uram
from estimators.structural import HLS_CONTROL_LUT, axis_ports, loop_control, lut_multiplier

Shape = tuple[int, ...]
Style = Literal["input", "const"]

# FINN's ElementwiseBinaryOperation subclasses (op type = "Elementwise" + name); RTL has three.
OPERATIONS = ("Add", "Sub", "Mul", "Div", "AbsDiff", "And", "Or", "Xor", "Equal", "Less", "LessOrEqual",
              "Greater", "GreaterOrEqual", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift", "Max")
RTL_OPERATIONS = ("Add", "Sub", "Mul")


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementwiseBinary:
    """One Elementwise<operation>_hls / _rtl node. ``*_float``: a FLOAT* datatype (bits 16/32)."""

    op_type: ClassVar[str] = "ElementwiseBinary"
    name: str
    impl: Literal["hls", "rtl"]
    operation: str
    lhs_shape: Shape
    rhs_shape: Shape
    out_shape: Shape
    lhs_bits: int
    rhs_bits: int
    out_bits: int
    lhs_signed: bool = False
    rhs_signed: bool = False
    out_signed: bool = False
    lhs_float: bool = False
    rhs_float: bool = False
    lhs_style: Style = "input"
    rhs_style: Style = "input"
    pe: int = 1
    ram_style: Literal["auto", "block", "distributed", "ultra"] = "auto"
    mem_mode: Literal["internal_embedded", "internal_decoupled"] = "internal_embedded"
    mlo_max_iter: int = 0

    def __post_init__(self) -> None:
        n = self.name
        if self.impl not in ("hls", "rtl"):
            raise ValueError(f"impl of {n!r} must be 'hls' or 'rtl', got {self.impl!r}")
        if self.operation not in (RTL_OPERATIONS if self.impl == "rtl" else OPERATIONS):
            raise ValueError(f"{n!r}: FINN has no Elementwise{self.operation}_{self.impl}")
        if "const" == self.lhs_style == self.rhs_style:
            raise ValueError(f"{n!r}: at most one operand can be a constant")
        for attr in ("lhs_style", "rhs_style"):
            if getattr(self, attr) not in ("input", "const"):
                raise ValueError(f"{attr} of {n!r} must be 'input' or 'const', got {getattr(self, attr)!r}")
        if self.ram_style not in ("auto", "block", "distributed", "ultra"):
            raise FoldingError(f"ram_style={self.ram_style!r} of {n!r} is not one of auto/block/distributed/ultra")
        if self.mem_mode not in ("internal_embedded", "internal_decoupled"):
            raise FoldingError(f"mem_mode={self.mem_mode!r} of {n!r} must be internal_embedded/internal_decoupled")
        if min(self.lhs_bits, self.rhs_bits, self.out_bits) < 1 or not (self.lhs_shape and self.rhs_shape):
            raise ValueError(f"{n!r}: bit widths must be >= 1 and shapes non-empty")
        try:
            broadcast = tuple(int(d) for d in _broadcast(self.lhs_shape, self.rhs_shape))
        except ValueError:
            raise ValueError(f"{n!r}: lhs_shape {list(self.lhs_shape)} and rhs_shape {list(self.rhs_shape)} "
                             "do not broadcast") from None
        if broadcast != tuple(self.out_shape):
            raise ValueError(f"{n!r}: out_shape {list(self.out_shape)} is not the broadcast {list(broadcast)}")
        if self.pe < 1:
            raise FoldingError(f"PE={self.pe} of {n!r} must be >= 1")
        require_divides("PE", self.pe, "out_shape[-1]", self.out_shape[-1], layer=n)
        for side in (self.lhs_shape, self.rhs_shape):
            if not (self.broadcast_last_axis and side[-1] == 1) and side[-1] % self.pe:
                raise FoldingError(f"PE={self.pe} of {n!r} must divide the operands' last axes "
                                   f"{self.lhs_shape[-1]} and {self.rhs_shape[-1]}")

    @property
    def broadcast_last_axis(self) -> bool:
        """Exactly one operand has a last axis of 1 (FINN then repeats it across the PE lanes)."""
        return (self.lhs_shape[-1] == 1) != (self.rhs_shape[-1] == 1)

    def folded_input_shape(self, ind: int) -> Shape:
        *outer, last = (self.lhs_shape, self.rhs_shape)[ind]
        if self.broadcast_last_axis and last == 1:
            return (*outer, 1, 1)
        return (*outer, last // self.pe, self.pe)

    @property
    def folded_output_shape(self) -> Shape:
        *outer, last = self.out_shape
        return (*outer, last // self.pe, self.pe)

    def is_streamed(self, ind: int) -> bool:
        """FINN's get_instream_width is 0 for an embedded constant: it is not a stream."""
        const = (self.lhs_style, self.rhs_style)[ind] == "const"
        return not (const and self.mem_mode == "internal_embedded" and not self.mlo_max_iter)

    def instream_width(self, ind: int) -> int:
        # every stream carries PE elements per word, a broadcast operand repeated across the lanes
        return self.pe * (self.lhs_bits, self.rhs_bits)[ind] if self.is_streamed(ind) else 0

    def parameter_memories(self) -> list[tuple[int, int]]:
        """(width, depth) of the constant-operand memory FINN counts (_parameter_memory_specs)."""
        if self.mem_mode == "internal_embedded" and not self.mlo_max_iter:
            return []  # FINN asks for the embedded constant's stream width, which is 0
        if self.rhs_style == "const" or self.mlo_max_iter:
            depth = math.prod(self.folded_input_shape(1)[:-1]) * max(1, self.mlo_max_iter)
            width = self.instream_width(1)
            return [(width, depth)] if width > 0 and depth > 0 else []
        return []


def _broadcast(a: Shape, b: Shape) -> Shape:
    """numpy's multidirectional broadcasting of two shapes (kept pure: no array needed)."""
    n = max(len(a), len(b))
    out = []
    for x, y in zip((1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)):
        if x != y and 1 not in (x, y):
            raise ValueError("shapes do not broadcast")
        out.append(max(x, y) if 0 not in (x, y) else 0)
    return tuple(out)


def finn_estimate(layer: ElementwiseBinary) -> NodeCost:
    """FINN's own figures (its lut/bram/uram/dsp_estimation and get_exp_cycles)."""
    cycles = math.prod(layer.folded_output_shape[:-1])
    mems = layer.parameter_memories()
    bram = sum(weight_bram18(d, w, MVAU_BRAM_WIDTHS) for w, d in mems) if layer.ram_style in ("auto", "block") else 0
    uram = sum(weight_uram(d, w) for w, d in mems) if layer.ram_style == "ultra" else 0
    lut = sum(w * -(-d // 64) for w, d in mems) if layer.ram_style == "distributed" else 0
    return NodeCost(cycles=int(cycles), lut=float(lut), bram18=float(bram), uram=float(uram), dsp=0.0)


def _unmodelled(layer: ElementwiseBinary, why: str) -> UnknownLayerError:
    return UnknownLayerError(f"No LUT model for Elementwise{layer.operation}_{layer.impl} {layer.name!r} ({why})")


def _hls_lane_luts(layer: ElementwiseBinary) -> int:
    if layer.lhs_float or layer.rhs_float:
        raise _unmodelled(layer, "floating-point HLS datapath")
    op, a, b, o = layer.operation, layer.lhs_bits, layer.rhs_bits, layer.out_bits
    if op in ("Add", "Sub", "BitwiseAnd", "BitwiseOr", "BitwiseXor"):
        return o
    if op == "AbsDiff":
        return 2 * o  # difference, then a conditional negate
    if op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"):
        return max(a, b)
    if op == "Max":
        return max(a, b) + o
    if op in ("And", "Or", "Xor"):
        return 1
    if op == "Mul":
        return lut_multiplier(a, b)
    raise _unmodelled(layer, f"no structural model of {op}")


def _rtl_lane(layer: ElementwiseBinary) -> tuple[int, int]:
    """(LUTs, DSPs) of one RTL lane."""
    if not (layer.lhs_float or layer.rhs_float):
        return (0, 1) if layer.operation == "Mul" else (layer.out_bits, 0)
    convert = sum(bits * clog2(bits) for bits, is_float in ((layer.lhs_bits, layer.lhs_float),
                                                          (layer.rhs_bits, layer.rhs_float)) if not is_float)
    return convert, 1


@register(ElementwiseBinary)
def estimate_elementwise(layer: ElementwiseBinary, part: str) -> NodeCost:
    """FINN's cycles and memory, plus the LUTs (and RTL DSPs) FINN does not count; FINN's own
    figures in ``.finn`` (module docstring)."""
    finn = finn_estimate(layer)
    ports = [layer.instream_width(i) for i in (0, 1) if layer.is_streamed(i)] + [layer.pe * layer.out_bits]
    if layer.impl == "hls":
        lut = finn.lut + axis_ports(*ports) + loop_control(finn.cycles) + layer.pe * _hls_lane_luts(layer)
        dsp = 0
    else:
        lane_lut, lane_dsp = _rtl_lane(layer)
        lut = finn.lut + layer.pe * (lane_lut + layer.out_bits) + HLS_CONTROL_LUT  # + output queue
        dsp = layer.pe * lane_dsp
    return NodeCost(cycles=finn.cycles, lut=float(lut), bram18=finn.bram18, uram=finn.uram, dsp=float(dsp), finn=finn)
