"""Read FINN's MVAU_hls/_rtl and VVAU_hls/_rtl nodes into the estimator records.

Each converter reads the node once, through FINN's own custom-op instance (attribute getters and
datatype getters, so FINN's defaults apply), into a frozen ``estimators`` record. Nodes are
expected after SpecializeLayers, i.e. with op types ending in ``_hls`` or ``_rtl``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from estimators.mvau import MVAU, Impl
from estimators.vvau import VVAU

if TYPE_CHECKING:
    from onnx import NodeProto
    from qonnx.core.modelwrapper import ModelWrapper


def _impl(node: NodeProto, base: str) -> Impl:
    for impl in ("hls", "rtl"):
        if node.op_type == f"{base}_{impl}":
            return cast(Impl, impl)
    raise ValueError(f"node {node.name!r} is a {node.op_type}, expected {base}_hls or {base}_rtl "
                     "(run SpecializeLayers first)")


def _custom_op(node: NodeProto) -> Any:
    from qonnx.custom_op.registry import getCustomOp

    return getCustomOp(node)


def _datapath(op: Any) -> dict[str, Any]:
    """The fields MVAU and VVAU records share: folding, datatypes and memory styles."""
    idt, wdt = op.get_input_datatype(0), op.get_input_datatype(1)
    return {
        "pe": op.get_nodeattr("PE"), "simd": op.get_nodeattr("SIMD"),
        "input_bits": idt.bitwidth(), "input_signed": bool(idt.signed()), "weight_bits": wdt.bitwidth(),
        "output_bits": op.get_output_datatype().bitwidth(), "acc_bits": op.get_accumulator_datatype().bitwidth(),
        "no_activation": bool(op.get_nodeattr("noActivation")), "mem_mode": op.get_nodeattr("mem_mode"),
        "ram_style": op.get_nodeattr("ram_style"), "res_type": op.get_nodeattr("resType"),
    }


def mvau_from_finn(node: NodeProto, model: ModelWrapper) -> MVAU:
    """The MVAU record for an MVAU_hls/MVAU_rtl node. ``model`` is not read: FINN's estimates depend
    on node attributes only (it is taken so every converter has the same signature)."""
    del model
    impl = _impl(node, "MVAU")
    op = _custom_op(node)
    return MVAU(
        name=node.name,
        impl=impl,
        mw=op.get_nodeattr("MW"),
        mh=op.get_nodeattr("MH"),
        ram_style_thresholds=op.get_nodeattr("ram_style_thresholds"),
        num_input_vectors=math.prod(op.get_nodeattr("numInputVectors")),
        th=op.get_nodeattr("TH"),
        **_datapath(op),
    )


def vvau_from_finn(node: NodeProto, model: ModelWrapper) -> VVAU:
    """The VVAU record for a VVAU_hls/VVAU_rtl node (``model`` is not read, as for the MVAU)."""
    del model
    impl = _impl(node, "VVAU")
    op = _custom_op(node)
    k_h, k_w = op.get_nodeattr("Kernel")
    dim_h, dim_w = op.get_nodeattr("Dim")
    return VVAU(name=node.name, impl=impl, channels=op.get_nodeattr("Channels"), k_h=k_h, k_w=k_w,
                dim_h=dim_h, dim_w=dim_w, **_datapath(op))
