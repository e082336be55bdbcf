"""The FINN adapter: the one module of dse/ that imports FINN and QONNX.

It mirrors finn-plus 1.6.1's `estimate_only_dataflow_steps` by calling FINN's transformations
directly, because `finn.builder.build_dataflow_steps` cannot be imported without Vivado (it
imports `finn.xsi`). The step order and arguments follow FINN's step functions one to one, so
`finn build build.yaml model.onnx` on an exported bundle reaches the same folded graph.
Other modules import this one lazily (inside functions): `import dse` must stay light.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dse._quiet import captured as _captured
from dse.artifacts import write_atomic
from dse.errors import DISK_FULL, BackendError, ConfigError
from estimators.devices import Resources, check_fit, get_board

logger = logging.getLogger(__name__)

# The attributes FINN's own steps extract into a folding config (step_target_fps_parallelization).
FOLDING_ATTRS = (
    "PE", "SIMD", "EmbFold", "SeqFold", "parallel_window", "ram_style", "ram_style_thresholds",
    "ram_style_mask", "depth", "impl_style", "resType", "mac_resource", "mem_mode",
    "runtime_writeable_weights", "depth_trigger_uram", "depth_trigger_bram",
)


@dataclass(frozen=True, slots=True)
class LayerEstimate:
    """FINN's figures for one hardware node."""

    name: str
    op_type: str
    cycles: int
    lut: float
    bram18: float
    uram: float
    dsp: float
    pe: int | None = None
    simd: int | None = None


@dataclass(frozen=True, slots=True)
class HardwareEstimate:
    """FINN's estimate for a folded design, plus the board fit check."""

    board: str
    clock_ns: float
    layers: tuple[LayerEstimate, ...]
    lut: float
    bram18: float
    uram: float
    dsp: float
    max_cycles: int
    bottleneck: str
    critical_path_cycles: int
    fps: float
    latency_ns: float
    fits: bool
    limiting_resource: str
    utilization: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layers"] = [asdict(layer) for layer in self.layers]  # JSON shape: lists, not tuples
        out["utilization"] = dict(self.utilization)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareEstimate:
        fields = dict(data)
        fields["layers"] = tuple(LayerEstimate(**layer) for layer in data["layers"])
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class FinnResult:
    estimate: HardwareEstimate
    folding: dict[str, Any]  # FINN folding config (ApplyConfig format)
    reports: dict[str, Any]  # FINN's raw analysis outputs, as its estimate reports hold them


def _settings() -> None:
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()


def output_width(model: Any, input_shape: tuple[int, ...]) -> int:
    """How many values the network outputs per sample (1: a binary classifier's one logit)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return int(model(torch.zeros(*input_shape)).shape[-1])
    finally:
        model.train(was_training)


def _with_sign(model: Any) -> Any:
    """``model`` with a bipolar quantizer on its one logit: FINN folds the classifier's bias and scale
    into that threshold, so the MVAU outputs the class as BIPOLAR (+1: class 1), as finn-examples'
    notebooks quantize a binary output only at export."""
    from brevitas.nn import QuantIdentity
    from brevitas.quant import SignedBinaryActPerTensorConst
    from torch import nn

    class _Signed(nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.sign = QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)

        def forward(self, x: Any) -> Any:
            return self.sign(self.net(x))

    return _Signed(model).eval()


def export_qonnx(model: Any, path: Path, *, input_shape: tuple[int, ...], log_path: Path | None = None,
                input_datatype: str = "UINT8") -> Path:
    """Export a Brevitas model to QONNX as FINN expects to receive it.

    The graph input is marked ``input_datatype`` (UINT8: raw pixels; the study's dataset declares
    it, FLOAT32 leaves it a float for the model's own input quantizer) and a TopK(k=1) is appended, so the exported
    file is exactly what a `finn build` of the bundle starts from: FINN absorbs the final scale
    into the TopK and maps it to a LabelSelect layer. A network with one output (a binary
    classifier's logit) gets a sign instead of the TopK (see _with_sign).
    """
    import torch
    from brevitas.export import export_qonnx as brevitas_export
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.insert_topk import InsertTopK

    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with _captured(log_path), tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            binary = output_width(model, input_shape) == 1
            brevitas_export(_with_sign(model) if binary else model, torch.zeros(*input_shape), str(raw))
            wrapped = ModelWrapper(str(raw)).transform(InferShapes())
            wrapped.set_tensor_datatype(wrapped.graph.input[0].name, DataType[input_datatype])
            # Shapes on every tensor, so qonnx can also execute the file as it is (checks, users).
            if not binary:
                wrapped = wrapped.transform(InsertTopK(k=1))
            wrapped = wrapped.transform(InferShapes())
            write_atomic(path, wrapped.model.SerializeToString())  # never a cut-short model.onnx
    finally:
        model.train(was_training)
    return path


def _minimize_bit_width(model: Any) -> Any:
    # FINN's _minimize_bit_width with minimize_bit_width=True.
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.infer_datatypes import InferDataTypes

    for t in (MinimizeWeightBitWidth(), MinimizeAccumulatorWidth(), InferDataTypes(),
              RoundAndClipThresholds(), InferDataTypes(), MinimizeWeightBitWidth(), InferDataTypes()):
        model = model.transform(t)
    return model


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
    model = _minimize_bit_width(model)
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


def _plain(value: Any) -> Any:
    """numpy scalars/arrays -> JSON-friendly Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fold(model: Any, *, clock_ns: float, target_fps: float | None = None,
         folding: Mapping[str, Any] | None = None, mvau_wwidth_max: int = 36) -> tuple[Any, dict[str, Any]]:
    """Set PE/SIMD and memory styles: from a target throughput (FINN's SetFolding, as
    step_target_fps_parallelization does it) or from a folding config (ApplyConfig).
    Then minimizes bit widths (step_minimize_bit_width). Returns the model and its folding config."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.general import ApplyConfig
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from finn.util.config import extract_model_config

    if (target_fps is None) == (folding is None):
        raise ConfigError("give exactly one of target_fps and folding")
    if target_fps is not None:
        if target_fps <= 0:
            raise ConfigError(f"target_fps must be > 0, got {target_fps}")
        target_cycles = int(1e9 / clock_ns / target_fps)  # as DataflowBuildConfig resolves it
        model = model.transform(SetFolding(max(1, target_cycles), mvau_wwidth_max=mvau_wwidth_max,
                                           two_pass_relaxation=True))
        model = model.transform(GiveUniqueNodeNamesRecursive())
    elif folding is not None:
        model = model.transform(GiveUniqueNodeNamesRecursive())
        model = model.transform(ApplyConfig(dict(folding)))
    config = _plain(extract_model_config(model, None, FOLDING_ATTRS))
    return _minimize_bit_width(model), config


def analyse(model: Any, *, board_name: str, clock_ns: float) -> tuple[HardwareEstimate, dict[str, Any]]:
    """FINN's estimate analyses (step_generate_estimate_reports) turned into a HardwareEstimate."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.op_and_param_counts import aggregate_dict_keys
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    from qonnx.custom_op.registry import getCustomOp

    board = get_board(board_name)
    cycles = _plain(model.analysis(exp_cycles_per_layer))
    resources = _plain(model.analysis(partial(res_estimation, fpgapart=board.part)))
    totals = _plain(aggregate_dict_keys(resources))
    model = model.transform(AnnotateCycles())
    perf = _plain(dict(model.analysis(dataflow_performance)))
    fps = (1e9 / clock_ns) / perf["max_cycles"]
    latency_ns = perf["critical_path_cycles"] * clock_ns
    perf["estimated_throughput_fps"] = fps
    perf["estimated_latency_ns"] = latency_ns

    layers = []
    for node in model.graph.node:
        inst = getCustomOp(node)
        attrs = {a.name for a in node.attribute}
        res = resources.get(node.name, {})
        layers.append(LayerEstimate(
            name=node.name, op_type=node.op_type, cycles=int(cycles.get(node.name, 0)),
            lut=float(res.get("LUT", 0)), bram18=float(res.get("BRAM_18K", 0)),
            uram=float(res.get("URAM", 0)), dsp=float(res.get("DSP", 0)),
            pe=int(inst.get_nodeattr("PE")) if "PE" in attrs else None,
            simd=int(inst.get_nodeattr("SIMD")) if "SIMD" in attrs else None,
        ))
    used = Resources(lut=totals.get("LUT", 0), bram18=totals.get("BRAM_18K", 0),
                     uram=totals.get("URAM", 0), dsp=totals.get("DSP", 0))
    fit = check_fit(used, board)
    estimate = HardwareEstimate(
        board=board.name, clock_ns=clock_ns, layers=tuple(layers), lut=used.lut, bram18=used.bram18,
        uram=used.uram, dsp=used.dsp, max_cycles=int(perf["max_cycles"]),
        bottleneck=str(perf["max_cycles_node_name"]), critical_path_cycles=int(perf["critical_path_cycles"]),
        fps=fps, latency_ns=latency_ns, fits=fit.fits, limiting_resource=fit.limiting,
        utilization=dict(fit.utilization),
    )
    reports = {
        "estimate_layer_cycles.json": cycles,
        "estimate_layer_resources.json": {**resources, "total": totals},
        "estimate_network_performance.json": perf,
    }
    return estimate, reports


def estimate(qonnx_path: Path, *, board: str = "U280", clock_ns: float = 5.0,
             target_fps: float | None = None, folding: Mapping[str, Any] | None = None,
             mvau_wwidth_max: int = 36, log_path: Path | None = None,
             reports_dir: Path | None = None) -> FinnResult:
    """Run FINN's estimate flow on a QONNX model: convert, fold, estimate.

    With ``reports_dir`` the folding config and FINN's report files are written there under
    the names FINN's builder uses (auto_folding_config.json, estimate_*.json).
    """
    part = get_board(board).part
    start = time.perf_counter()
    try:
        with _captured(log_path), tempfile.TemporaryDirectory(prefix="finn-dse-") as tmp:
            hw = to_hw_graph(qonnx_path, part=part, work_dir=Path(tmp))
            folded, config = fold(hw, clock_ns=clock_ns, target_fps=target_fps, folding=folding,
                                  mvau_wwidth_max=mvau_wwidth_max)
            hw_estimate, reports = analyse(folded, board_name=board, clock_ns=clock_ns)
    except (ConfigError, BackendError):
        raise
    except OSError as exc:
        if exc.errno in DISK_FULL:  # not FINN's failure: the run stops and the trial is retried
            raise
        raise BackendError(f"FINN estimate flow failed on {qonnx_path.name}: {exc}", log_path) from exc
    except Exception as exc:  # FINN raises plain exceptions; keep the study alive and point at the log
        raise BackendError(f"FINN estimate flow failed on {qonnx_path.name}: {exc}", log_path) from exc
    logger.debug("FINN estimate of %s took %.2f s", qonnx_path, time.perf_counter() - start)
    if reports_dir is not None:
        reports_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(reports_dir / "auto_folding_config.json", json.dumps(config, indent=2))
        for name, data in reports.items():
            write_atomic(reports_dir / name, json.dumps(data, indent=2))
    return FinnResult(hw_estimate, config, reports)
