"""QONNX file -> FINN's specialized dataflow graph, before folding.

It mirrors finn-plus 1.6.1's estimate steps up to step_specialize_layers by calling FINN's
transformations directly, because `finn.builder.build_dataflow_steps` cannot be imported without
Vivado (it imports `finn.xsi`). The step order and arguments follow FINN's step functions one to
one, so `finn build build.yaml model.onnx` on an exported bundle reaches the same graph.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dse._quiet import captured
from dse.errors import BackendError, ConfigError
from dse.finn.folding import minimize_bit_width


def _settings() -> None:
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()


# The op types FINN 1.6.1's step_convert_to_hw hands to InferElementwiseBinaryOperation.
_ELEMENTWISE_OPS = ("Mul", "Div", "Sub", "Add", "And", "Or", "Xor", "Equal", "Less", "LessOrEqual", "Greater",
                    "GreaterOrEqual")


def _has_residual_add(model: Any) -> bool:
    """An Add joining two streams (neither input a constant): a residual block's join."""
    return any(all(model.get_initializer(i) is None for i in n.input)
               for n in model.get_nodes_by_op_type("Add") if len(n.input) == 2)


def _streamline_residual(model: Any, max_rounds: int = 10) -> Any:
    """The extra streamlining residual graphs need after step_streamline (FINN_FACTS section 10),
    repeated until the graph stops changing. MoveLinearPastFork must come before
    MoveLinearPastEltwiseAdd, which does not check for forks (the other order leaves a dangling
    tensor); the transpose moves at the end stop Transposes from staying behind as Shuffles."""
    import finn.transformation.streamline.absorb as absorb
    import finn.transformation.streamline.reorder as reorder
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.remove import RemoveIdentityOps

    linear = (reorder.MoveLinearPastFork, reorder.MoveLinearPastEltwiseAdd, reorder.MoveScalarLinearPastInvariants,
              reorder.MoveMulPastJoinAdd, reorder.MoveAddPastJoinAdd, reorder.MoveScalarMulPastMatMul,
              reorder.MoveScalarAddPastMatMul, reorder.MoveScalesPastIm2Col, absorb.AbsorbAddIntoMultiThreshold,
              absorb.AbsorbMulIntoMultiThreshold, absorb.AbsorbScalarMulAddIntoTopK, Streamline)
    transposes = (reorder.MoveTransposePastFork, reorder.MoveTransposePastJoinAdd,
                  absorb.AbsorbTransposeIntoMultiThreshold, absorb.AbsorbConsecutiveTransposes)
    for passes in (linear, transposes):
        for _ in range(max_rounds):
            before = model.model.graph.SerializeToString()
            for t in passes:
                model = model.transform(t()).transform(RemoveIdentityOps()).transform(InferDataTypes())
            if model.model.graph.SerializeToString() == before:
                break
    return model


def to_hw_graph(qonnx_path: Path, *, part: str, work_dir: Path) -> Any:
    """QONNX file -> specialized FINN dataflow graph, before folding (FINN steps up to
    step_specialize_layers). Returns the dataflow partition's ModelWrapper. A graph with a
    residual Add also gets the extra streamlining and the residual inferers (Elementwise,
    GlobalAccPool, pool-from-reduce, Requant absorption) of FINN 1.6.1's step_convert_to_hw."""
    _settings()
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.absorb_into_requant import AbsorbElementwiseOpsIntoRequant
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import InferDuplicateStreamsLayer
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.fm_padding import InferFMPadding
    from finn.transformation.fpgadataflow.convert_to_hw.label_select import InferLabelSelectLayer
    from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import InferGlobalAccPoolLayer
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from finn.transformation.fpgadataflow.convert_to_hw.pool_from_reduce import InferPoolFromReduce
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.requant import InferRequantLayer
    from finn.transformation.fpgadataflow.convert_to_hw.reshape import InferReshape
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from finn.transformation.fpgadataflow.convert_to_hw.vector_vector_activation import (
        InferVectorVectorActivation,
    )
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from finn.transformation.qonnx.quant_act_to_multithreshold import default_filter_function_generator
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from finn.util.fpgadataflow import is_fpgadataflow_node
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveReadableTensorNames,
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
    )
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
    from qonnx.util.cleanup import cleanup_model

    def apply(model: Any, op_types: tuple[str, ...], t: Any) -> Any:
        # FINN's step_convert_to_hw runs each inferer only when its op types are present.
        if any(model.get_nodes_by_op_type(o) for o in op_types):
            model = model.transform(t)
        return model

    model = ModelWrapper(str(qonnx_path))
    # step_qonnx_to_finn
    model = cleanup_model(model)
    model = model.transform(ConvertQONNXtoFINN(
        filter_function=default_filter_function_generator(max_multithreshold_bit_width=8)))
    # step_tidy_up
    for t in (InferShapes(), FoldConstants(), GiveUniqueNodeNamesRecursive(), GiveReadableTensorNames(),
              InferDataTypes(), RemoveStaticGraphInputs()):
        model = model.transform(t)
    # step_streamline
    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(Streamline())
    if model.get_nodes_by_op_type("Conv"):
        for t in (LowerConvsToMatMul(), MakeMaxPoolNHWC(), absorb.AbsorbTransposeIntoMultiThreshold(),
                  MakeMaxPoolNHWC(), absorb.AbsorbConsecutiveTransposes()):
            model = model.transform(t)
    for t in (ConvertBipolarMatMulToXnorPopcount(), Streamline(), absorb.AbsorbScalarMulAddIntoTopK(),
              InferDataLayouts(), RemoveUnusedTensors()):
        model = model.transform(t)
    residual = _has_residual_add(model)
    if residual:
        model = _streamline_residual(model)
    # step_convert_to_hw (standalone_thresholds=False, the FINN default)
    model = apply(model, ("XnorPopcountMatMul",), InferBinaryMatrixVectorActivation())
    model = apply(model, ("MatMul",), InferQuantizedMatrixVectorActivation())
    model = apply(model, ("MatMul",), InferVectorVectorActivation())
    model = apply(model, ("TopK",), InferLabelSelectLayer())
    model = apply(model, ("MultiThreshold", "Quant"), InferRequantLayer(bitwidth_threshold=9))
    model = apply(model, ("MultiThreshold",), InferThresholdingLayer())
    model = apply(model, ("Pad",), InferFMPadding())
    model = apply(model, ("MaxPool", "AveragePool", "MaxPoolNHWC", "QuantAvgPool2d"), InferPool())
    model = apply(model, ("Im2Col",), InferConvInpGen())
    model = apply(model, ("ConvolutionInputGenerator",), RemoveCNVtoFCFlatten())
    if residual:
        # FINN 1.6.1 runs these for every graph; only residual graphs get them here, so the
        # TFC/CNV/MobileNet graphs stay exactly as before (no stray float Mul turned HW).
        model = apply(model, ("ReduceMax", "ReduceSum", "ReduceMean"), InferPoolFromReduce())
        model = apply(model, _ELEMENTWISE_OPS, InferElementwiseBinaryOperation())
        model = apply(model, ("GlobalAveragePool",), InferGlobalAccPoolLayer())
    model = model.transform(InferDuplicateStreamsLayer())
    if residual:
        model = apply(model, ("Requant",), AbsorbElementwiseOpsIntoRequant())
    for t in ( absorb.AbsorbConsecutiveTransposes(), RemoveCNVtoFCFlatten(),
              GiveUniqueNodeNamesRecursive(), InferDataLayouts(), InferDataTypes(), InferShapes(),
              InferReshape()):
        model = model.transform(t)
    # step_minimize_bit_width_initial
    model = minimize_bit_width(model)
    # step_create_dataflow_partition
    unmapped = ", ".join(f"{n.name} ({n.op_type})" for n in model.graph.node if not is_fpgadataflow_node(n))
    try:
        parent = model.transform(CreateDataflowPartition(partition_model_dir=str(work_dir / "partitions")))
    except AssertionError as e:  # a non-HW node between HW nodes: "cycle-free graph violated"
        raise BackendError(f"FINN cannot build one dataflow partition ({e}); "
                           f"nodes FINN could not map: {unmapped}") from None
    sdps = parent.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(sdps) != 1:
        raise BackendError(f"FINN produced {len(sdps)} dataflow partitions (need 1); "
                           f"nodes FINN could not map: {unmapped}")
    model = ModelWrapper(getCustomOp(sdps[0]).get_nodeattr("model"))
    # step_specialize_layers
    for t in (SpecializeLayers(part), GiveUniqueNodeNamesRecursive(), InferShapes(), InferDataTypes()):
        model = model.transform(t)
    return model


def load_hw_graph(model_path: Path, part: str, work_dir: Path, log_path: Path) -> Any:
    """A user's model file as FINN's specialized dataflow graph: a QONNX model is converted
    (to_hw_graph), a FINN HW graph is taken as it is. What is not an ONNX model, or what FINN
    cannot map, is the user's ConfigError."""
    from qonnx.core.modelwrapper import ModelWrapper

    if not model_path.exists():
        raise ConfigError(f"model not found: {model_path}")
    try:
        model = ModelWrapper(str(model_path))
    except Exception as err:  # onnx raises DecodeError and friends
        raise ConfigError(f"{model_path} is not an ONNX model: {err}") from None
    if not model.model.opset_import or not model.graph.node:
        raise ConfigError(f"{model_path} is not an ONNX model (no graph or opset; empty file?)")
    if model.graph.node and all(n.op_type.endswith(("_hls", "_rtl")) for n in model.graph.node):
        return model  # already a specialized FINN dataflow graph
    try:
        with captured(log_path):
            return to_hw_graph(model_path, part=part, work_dir=work_dir)
    except (ConfigError, OSError):
        raise
    except Exception as err:  # FINN raises plain exceptions on graphs it cannot map; it is the user's model
        raise ConfigError(f"FINN cannot map {model_path.name} to HW layers: {err}") from None
