"""Read FINN's non-MVAU streaming nodes into the estimator records.

Covers ConvolutionInputGenerator_rtl, Thresholding_hls/_rtl, Pool_hls, LabelSelect_hls,
FMPadding_rtl, Reshape_rtl, DuplicateStreams_hls, StreamingDataWidthConverter_hls/_rtl and
StreamingFIFO_rtl/_hls. Each converter reads the specialized node once through FINN's own
custom-op instance (so FINN's attribute defaults apply) into a frozen ``estimators`` record.
``model`` is not read (FINN's estimates depend on node attributes only); it is taken so every
converter has the same signature. FINN and QONNX are imported inside functions.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from estimators.dwc import StreamingDataWidthConverter
from estimators.fifo import StreamingFIFO
from estimators.streaming import DuplicateStreams, FMPadding, LabelSelect, Pool, Reshape
from estimators.swg import ConvolutionInputGenerator
from estimators.thresholding import Thresholding

if TYPE_CHECKING:
    from onnx import NodeProto
    from qonnx.core.modelwrapper import ModelWrapper

Impl = Literal["hls", "rtl"]


def _impl(node: NodeProto, base: str, allowed: tuple[Impl, ...] = ("hls", "rtl")) -> Impl:
    for impl in allowed:
        if node.op_type == f"{base}_{impl}":
            return impl
    expected = " or ".join(f"{base}_{i}" for i in allowed)
    raise ValueError(f"node {node.name!r} is a {node.op_type}, expected {expected} (run SpecializeLayers first)")


def _custom_op(node: NodeProto) -> Any:
    from qonnx.custom_op.registry import getCustomOp

    return getCustomOp(node)


def _pair(values: Any) -> tuple[int, int]:
    h, w = (int(v) for v in values)
    return h, w


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def convolutioninputgenerator_from_finn(node: NodeProto, model: ModelWrapper) -> ConvolutionInputGenerator:
    """ConvolutionInputGenerator_rtl (finn-plus 1.6.1 has no HLS variant)."""
    del model
    _impl(node, "ConvolutionInputGenerator", ("rtl",))
    op = _custom_op(node)
    idt = op.get_input_datatype()
    layer = ConvolutionInputGenerator(
        name=node.name,
        ifm_channels=op.get_nodeattr("IFMChannels"),
        ifm_dim=_pair(op.get_nodeattr("IFMDim")),
        conv_kernel_dim=_pair(op.get_nodeattr("ConvKernelDim")),
        simd=op.get_nodeattr("SIMD"),
        input_bits=idt.bitwidth(),
        input_signed=bool(idt.signed()),
        stride=_pair(op.get_nodeattr("Stride")),
        dilation=_pair(op.get_nodeattr("Dilation")),
        depthwise=bool(op.get_nodeattr("depthwise")),
        parallel_window=bool(op.get_nodeattr("parallel_window")),
        ram_style=op.get_nodeattr("ram_style"),
        m=op.get_nodeattr("M"),
        dynamic_mode=bool(op.get_nodeattr("dynamic_mode")),
    )
    # the record derives OFMDim; FINN's cycle formula reads the stored attribute
    ofm = _pair(op.get_nodeattr("OFMDim"))
    if ofm != layer.ofm_dim:
        raise ValueError(f"node {node.name!r}: OFMDim={list(ofm)} disagrees with IFMDim/kernel/stride/dilation "
                         f"(expected {list(layer.ofm_dim)})")
    return layer


def thresholding_from_finn(node: NodeProto, model: ModelWrapper) -> Thresholding:
    """Thresholding_hls or Thresholding_rtl; each variant's own attributes are read."""
    del model
    impl = _impl(node, "Thresholding")
    op = _custom_op(node)
    idt, wdt, odt = op.get_input_datatype(0), op.get_input_datatype(1), op.get_output_datatype()
    variant: dict[str, Any]
    if impl == "hls":
        variant = {"ram_style": op.get_nodeattr("ram_style"), "mem_mode": op.get_nodeattr("mem_mode")}
    else:
        variant = {
            "depth_trigger_uram": op.get_nodeattr("depth_trigger_uram"),
            "depth_trigger_bram": op.get_nodeattr("depth_trigger_bram"),
            "uniform_thres": bool(op.get_nodeattr("uniform_thres")),
            "deep_pipeline": bool(op.get_nodeattr("deep_pipeline")),
        }
    return Thresholding(
        name=node.name,
        impl=impl,
        num_channels=op.get_nodeattr("NumChannels"),
        pe=op.get_nodeattr("PE"),
        num_steps=op.get_nodeattr("numSteps"),
        input_bits=idt.bitwidth(),
        weight_bits=wdt.bitwidth(),
        output_bits=odt.bitwidth(),
        input_signed=bool(idt.signed()),
        weight_signed=bool(wdt.signed()),
        output_signed=bool(odt.signed()),
        num_input_vectors=_ints(op.get_nodeattr("numInputVectors")),
        act_val=op.get_nodeattr("ActVal"),
        runtime_writeable_weights=bool(op.get_nodeattr("runtime_writeable_weights")),
        mlo_max_iter=op.get_nodeattr("mlo_max_iter"),
        bodies=op.get_nodeattr("bodies"),
        **variant,
    )


def pool_from_finn(node: NodeProto, model: ModelWrapper) -> Pool:
    del model
    _impl(node, "Pool", ("hls",))
    op = _custom_op(node)
    idt, odt = op.get_input_datatype(), op.get_output_datatype()
    return Pool(
        name=node.name,
        channels=op.get_nodeattr("Channels"),
        pe=op.get_nodeattr("PE"),
        kernel_size=_ints(op.get_nodeattr("KernelSize")),
        out_img_dims=_ints(op.get_nodeattr("OutImgDims")),
        input_bits=idt.bitwidth(),
        output_bits=odt.bitwidth(),
        input_signed=bool(idt.signed()),
        output_signed=bool(odt.signed()),
        function=op.get_nodeattr("Function"),
        accum_bits=op.get_nodeattr("AccumBits"),
        size=op.get_nodeattr("Size"),
        batch_size=op.get_nodeattr("BatchSize"),
    )


def labelselect_from_finn(node: NodeProto, model: ModelWrapper) -> LabelSelect:
    del model
    _impl(node, "LabelSelect", ("hls",))
    op = _custom_op(node)
    idt, odt = op.get_input_datatype(), op.get_output_datatype()
    return LabelSelect(
        name=node.name,
        labels=op.get_nodeattr("Labels"),
        pe=op.get_nodeattr("PE"),
        k=op.get_nodeattr("K"),
        input_bits=idt.bitwidth(),
        output_bits=odt.bitwidth(),
        input_signed=bool(idt.signed()),
        output_signed=bool(odt.signed()),
        num_input_vectors=_ints(op.get_nodeattr("numInputVectors")),
    )


def fmpadding_from_finn(node: NodeProto, model: ModelWrapper) -> FMPadding:
    del model
    _impl(node, "FMPadding", ("rtl",))
    op = _custom_op(node)
    idt = op.get_input_datatype()
    top, left, bottom, right = _ints(op.get_nodeattr("Padding"))
    return FMPadding(
        name=node.name,
        img_dim=_pair(op.get_nodeattr("ImgDim")),
        padding=(top, left, bottom, right),
        num_channels=op.get_nodeattr("NumChannels"),
        simd=op.get_nodeattr("SIMD"),
        input_bits=idt.bitwidth(),
        input_signed=bool(idt.signed()),
        num_input_vectors=op.get_nodeattr("numInputVectors"),
        dynamic_mode=bool(op.get_nodeattr("dynamic_mode")),
    )


def reshape_from_finn(node: NodeProto, model: ModelWrapper) -> Reshape:
    del model
    _impl(node, "Reshape", ("rtl",))
    op = _custom_op(node)
    dt = op.get_input_datatype()
    return Reshape(
        name=node.name,
        inp_shape=_ints(op.get_nodeattr("inp_shape")),
        out_shape=_ints(op.get_nodeattr("out_shape")),
        dtype_bits=dt.bitwidth(),
        dtype_signed=bool(dt.signed()),
        pe=op.get_nodeattr("PE"),
    )


def duplicatestreams_from_finn(node: NodeProto, model: ModelWrapper) -> DuplicateStreams:
    del model
    _impl(node, "DuplicateStreams", ("hls",))
    op = _custom_op(node)
    idt = op.get_input_datatype()
    return DuplicateStreams(
        name=node.name,
        num_channels=op.get_nodeattr("NumChannels"),
        pe=op.get_nodeattr("PE"),
        num_output_streams=op.get_nodeattr("NumOutputStreams"),
        input_bits=idt.bitwidth(),
        input_signed=bool(idt.signed()),
        num_input_vectors=_ints(op.get_nodeattr("numInputVectors")),
    )


def streamingdatawidthconverter_from_finn(node: NodeProto, model: ModelWrapper) -> StreamingDataWidthConverter:
    del model
    impl = _impl(node, "StreamingDataWidthConverter")
    op = _custom_op(node)
    dt = op.get_input_datatype()
    return StreamingDataWidthConverter(
        name=node.name,
        impl=impl,
        in_shape=_ints(op.get_nodeattr("inShape")),
        out_shape=_ints(op.get_nodeattr("outShape")),
        in_width=op.get_nodeattr("inWidth"),
        out_width=op.get_nodeattr("outWidth"),
        data_bits=dt.bitwidth(),
        data_signed=bool(dt.signed()),
    )


def streamingfifo_from_finn(node: NodeProto, model: ModelWrapper) -> StreamingFIFO:
    """StreamingFIFO_rtl, or the virtual StreamingFIFO_hls (estimated identically by FINN)."""
    del model
    impl = _impl(node, "StreamingFIFO")
    op = _custom_op(node)
    dt = op.get_input_datatype()
    return StreamingFIFO(
        name=node.name,
        impl=impl,
        depth=op.get_nodeattr("depth"),
        folded_shape=_ints(op.get_nodeattr("folded_shape")),
        normal_shape=_ints(op.get_nodeattr("normal_shape")),
        data_bits=dt.bitwidth(),
        data_signed=bool(dt.signed()),
        ram_style=op.get_nodeattr("ram_style"),
        impl_style=op.get_nodeattr("impl_style"),
    )


# FINN op type (after SpecializeLayers) -> converter.
CONVERTERS: dict[str, Callable[[NodeProto, ModelWrapper], object]] = {
    "ConvolutionInputGenerator_rtl": convolutioninputgenerator_from_finn,
    "Thresholding_hls": thresholding_from_finn,
    "Thresholding_rtl": thresholding_from_finn,
    "Pool_hls": pool_from_finn,
    "LabelSelect_hls": labelselect_from_finn,
    "FMPadding_rtl": fmpadding_from_finn,
    "Reshape_rtl": reshape_from_finn,
    "DuplicateStreams_hls": duplicatestreams_from_finn,
    "StreamingDataWidthConverter_hls": streamingdatawidthconverter_from_finn,
    "StreamingDataWidthConverter_rtl": streamingdatawidthconverter_from_finn,
    "StreamingFIFO_rtl": streamingfifo_from_finn,
    "StreamingFIFO_hls": streamingfifo_from_finn,
}
