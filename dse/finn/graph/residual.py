"""Read the node types residual networks add (ElementwiseBinary, GlobalAccPool, Requant) into records.

ElementwiseAdd_hls and the other Elementwise<op>_hls/_rtl nodes become one ``ElementwiseBinary``
record (the operation is a field); GlobalAccPool_hls becomes ``GlobalAccPool``. As in
``dse.finn.graph.streaming``, each node is read once through FINN's own custom-op instance, so
FINN's attribute defaults apply (e.g. mem_mode: internal_embedded for HLS, internal_decoupled
for RTL). ``model`` is not read.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dse.finn.graph.streaming import _custom_op, _impl, _ints
from estimators.elementwise import OPERATIONS, RTL_OPERATIONS, ElementwiseBinary
from estimators.globalaccpool import GlobalAccPool
from estimators.requant import Requant

if TYPE_CHECKING:
    from onnx import NodeProto
    from qonnx.core.modelwrapper import ModelWrapper


def _is_float(dt: Any) -> bool:
    return str(dt.name).startswith("FLOAT")


def elementwisebinary_from_finn(node: NodeProto, model: ModelWrapper) -> ElementwiseBinary:
    """Any Elementwise<op>_hls / _rtl node (ElementwiseAdd_hls in a residual block)."""
    del model
    base = node.op_type.rsplit("_", 1)[0]
    operation = base.removeprefix("Elementwise")
    if not base.startswith("Elementwise") or operation not in OPERATIONS:
        raise ValueError(f"node {node.name!r} is a {node.op_type}, not an ElementwiseBinary operation")
    impl = _impl(node, base, ("hls", "rtl") if operation in RTL_OPERATIONS else ("hls",))
    op = _custom_op(node)
    lhs, rhs, out = op.get_input_datatype(0), op.get_input_datatype(1), op.get_output_datatype()
    return ElementwiseBinary(
        name=node.name,
        impl=impl,
        operation=operation,
        lhs_shape=_ints(op.get_nodeattr("lhs_shape")),
        rhs_shape=_ints(op.get_nodeattr("rhs_shape")),
        out_shape=_ints(op.get_nodeattr("out_shape")),
        lhs_bits=lhs.bitwidth(), rhs_bits=rhs.bitwidth(), out_bits=out.bitwidth(),
        lhs_signed=bool(lhs.signed()), rhs_signed=bool(rhs.signed()), out_signed=bool(out.signed()),
        lhs_float=_is_float(lhs), rhs_float=_is_float(rhs),
        lhs_style=op.get_nodeattr("lhs_style"),
        rhs_style=op.get_nodeattr("rhs_style"),
        pe=op.get_nodeattr("PE"),
        ram_style=op.get_nodeattr("ram_style"),
        mem_mode=op.get_nodeattr("mem_mode"),
        mlo_max_iter=op.get_nodeattr("mlo_max_iter"),
    )


def globalaccpool_from_finn(node: NodeProto, model: ModelWrapper) -> GlobalAccPool:
    del model
    _impl(node, "GlobalAccPool", ("hls",))
    op = _custom_op(node)
    idt, odt = op.get_input_datatype(), op.get_output_datatype()
    n, h, w = _ints(op.get_nodeattr("numInputVectors"))
    return GlobalAccPool(
        name=node.name,
        num_channels=op.get_nodeattr("NumChannels"),
        pe=op.get_nodeattr("PE"),
        num_input_vectors=(n, h, w),
        input_bits=idt.bitwidth(),
        output_bits=odt.bitwidth(),
        input_signed=bool(idt.signed()),
        output_signed=bool(odt.signed()),
    )


def requant_from_finn(node: NodeProto, model: ModelWrapper) -> Requant:
    """Requant_hls / Requant_rtl (FINN's layer for activations wider than MultiThreshold's)."""
    del model
    impl = _impl(node, "Requant")
    op = _custom_op(node)
    idt, odt = op.get_input_datatype(0), op.get_output_datatype()
    return Requant(
        name=node.name,
        impl=impl,
        num_channels=op.get_nodeattr("NumChannels"),
        pe=op.get_nodeattr("PE"),
        input_bits=idt.bitwidth(),
        output_bits=odt.bitwidth(),
        input_signed=bool(idt.signed()),
        output_signed=bool(odt.signed()),
        input_float=_is_float(idt),
        num_input_vectors=_ints(op.get_nodeattr("numInputVectors")),
        narrow=bool(op.get_nodeattr("narrow")),
        **({"mem_mode": op.get_nodeattr("mem_mode")} if impl == "rtl" else {}),
    )


# FINN op type (after SpecializeLayers) -> converter.
CONVERTERS: dict[str, Callable[[NodeProto, ModelWrapper], object]] = {
    **{f"Elementwise{op}_hls": elementwisebinary_from_finn for op in OPERATIONS},
    **{f"Elementwise{op}_rtl": elementwisebinary_from_finn for op in RTL_OPERATIONS},
    "GlobalAccPool_hls": globalaccpool_from_finn,
    "Requant_hls": requant_from_finn,
    "Requant_rtl": requant_from_finn,
}
