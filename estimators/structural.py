"""LUTs of the pieces every streaming node has, for node types FINN's estimate reports as free.

finn-plus 1.6.1 has no LUT model for DuplicateStreams_hls, GlobalAccPool_hls or the datapath of
ElementwiseBinary (HWCustomOp's default is 0). Those nodes are not free: every AXI-Stream port,
loop counter and adder costs logic. The models that use this module count those pieces and keep
FINN's own figures beside theirs (``NodeCost.finn``).

The coefficients are first-order counts from the hardware's structure, not fitted to synthesis:
* HLS top-level AXI-Stream ports get a both-way register slice (Vitis HLS's default
  register_mode for axis); its data multiplexer is about one LUT per bit.
* An n-bit add or subtract is one LUT per result bit (the carry chain is in CARRY8 cells).
* A loop counter over N iterations is a clog2(N)-bit incrementer plus its end-of-loop compare,
  about two LUTs per bit; the ap_ctrl_none pipeline's handshake and stall logic is a constant.
No synthesized design of these node types was available to check them against. Note that
``estimators.calibration`` learns from FINN's own per-node estimates (0 for these types), so its
corrections are not a calibration of these structural figures.
"""
from __future__ import annotations

from estimators.core import clog2

AXIS_PORT_LUT_PER_BIT = 1  # register-slice data mux of one HLS AXI-Stream port, per bit
HLS_CONTROL_LUT = 16  # handshake/stall logic of one pipelined HLS loop with ap_ctrl_none
COUNTER_LUT_PER_BIT = 2  # incrementer + terminal-count compare


def axis_ports(*widths: int) -> int:
    """LUTs of HLS AXI-Stream ports of these widths (in bits)."""
    return AXIS_PORT_LUT_PER_BIT * sum(widths)


def loop_control(iterations: int) -> int:
    """LUTs of one pipelined HLS loop running ``iterations`` times per frame."""
    return HLS_CONTROL_LUT + COUNTER_LUT_PER_BIT * clog2(max(iterations, 1))


def lut_multiplier(a_bits: int, b_bits: int) -> int:
    """LUTs of one a x b multiplier in fabric: FINN-R's fit, as FINN's MVAU_hls lut_estimation uses."""
    w = a_bits + b_bits
    return (2 * -(-w // 6) - 1) * w
