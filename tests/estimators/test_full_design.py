"""Full-design mode: the DWCs and FIFOs FINN's hardware generation inserts, and their cost.

The FINN tests replay FINN's own InsertDWC -> InsertFIFO(create_shallow_fifos=True) ->
SpecializeLayers -> GiveUniqueNodeNamesRecursive on real TFC and CNV graphs under random
foldings and FIFO depths, and compare the inserted nodes and FINN's res_estimation with ours.
The unmarked tests check the stream interfaces and the insertion rules on hand-made graphs.
"""
from __future__ import annotations

import math
from dataclasses import fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import estimators as est
from estimators.dwc import StreamingDataWidthConverter
from estimators.elementwise import ElementwiseBinary
from estimators.fifo import StreamingFIFO
from estimators.full_design import estimate_full_design, full_design_graph
from estimators.globalaccpool import GlobalAccPool
from estimators.graph import DataflowGraph
from estimators.mvau import MVAU
from estimators.requant import Requant
from estimators.streaming import DuplicateStreams, FMPadding, LabelSelect, Pool, Reshape
from estimators.streams import in_stream, out_stream
from estimators.swg import ConvolutionInputGenerator
from estimators.thresholding import Thresholding
from estimators.vvau import VVAU

PART = "xcu280-fsvh2892-2L-e"
SHAPE_FIELDS = ("in_shape", "out_shape", "normal_shape", "folded_shape")


# --- hand-made graphs ---------------------------------------------------------------------------

def _cnv_like() -> DataflowGraph:
    """A small conv -> pool -> fc chain covering most record types (element counts agree)."""
    return DataflowGraph.chain([
        FMPadding("pad", img_dim=(8, 8), padding=(1, 1, 1, 1), num_channels=4, simd=2, input_bits=2),
        ConvolutionInputGenerator("swg", ifm_channels=4, ifm_dim=(10, 10), conv_kernel_dim=(3, 3), simd=4,
                                  input_bits=2),
        MVAU(name="conv", impl="hls", mw=36, mh=8, pe=2, simd=6, input_bits=2, input_signed=False,
             weight_bits=2, output_bits=8, no_activation=True, num_input_vectors=64),
        Thresholding("thr", impl="hls", num_channels=8, pe=8, num_steps=3, input_bits=8, weight_bits=8,
                     output_bits=2, num_input_vectors=(1, 8, 8)),
        ConvolutionInputGenerator("pool_swg", ifm_channels=8, ifm_dim=(8, 8), conv_kernel_dim=(2, 2), simd=2,
                                  input_bits=2, stride=(2, 2), depthwise=True),
        Pool("pool", channels=8, pe=2, kernel_size=(2, 2), out_img_dims=(4, 4), input_bits=2, output_bits=2),
        Reshape("flatten", inp_shape=(1, 4, 4, 8), out_shape=(1, 128), dtype_bits=2, pe=1),
        MVAU(name="fc", impl="hls", mw=128, mh=10, pe=5, simd=16, input_bits=2, input_signed=False,
             weight_bits=2, output_bits=8, no_activation=True),
        LabelSelect("top1", labels=10, pe=2, k=1, input_bits=8, output_bits=4),
    ])


def _every_record() -> list[Any]:
    extra = [
        VVAU(name="dw", impl="hls", channels=8, k_h=3, k_w=3, dim_h=4, dim_w=4, pe=2, simd=3, input_bits=4,
             input_signed=True, weight_bits=4, output_bits=4),
        ElementwiseBinary(name="add", impl="hls", operation="Add", lhs_shape=(1, 4, 4, 8), rhs_shape=(1, 4, 4, 8),
                          out_shape=(1, 4, 4, 8), lhs_bits=4, rhs_bits=4, out_bits=5, pe=2),
        GlobalAccPool(name="gap", num_channels=8, pe=4, num_input_vectors=(1, 4, 4), input_bits=4, output_bits=8),
        Requant(name="rq", impl="rtl", num_channels=8, pe=2, input_bits=12, output_bits=4, num_input_vectors=(1, 4)),
        replace(_cnv_like().layers[1], name="swg_pw", parallel_window=True),
        DuplicateStreams("dup", num_channels=8, pe=4, num_output_streams=2, input_bits=3),
        StreamingDataWidthConverter("dwc", impl="rtl", in_shape=(1, 4, 6), out_shape=(1, 4, 6), in_width=8,
                                    out_width=12, data_bits=2),
        StreamingFIFO("fifo", depth=32, folded_shape=(1, 8, 3), data_bits=5, normal_shape=(1, 24)),
    ]
    return [*_cnv_like().layers, *extra]


def test_streams_of_every_record_type_are_folded_words() -> None:
    layers = _every_record()
    assert set(est.known_layer_types()) <= {type(layer) for layer in layers}, "a record type has no test"
    for layer in layers:
        for stream in (in_stream(layer), out_stream(layer)):
            assert stream.width_bits == stream.folded_shape[-1] * stream.elem_bits, layer
            assert math.prod(stream.folded_shape) == math.prod(stream.normal_shape), layer
    # spot checks against FINN's formulas
    conv, swg_pw, dwc = layers[2], layers[-4], layers[-2]
    assert in_stream(conv).width_bits == conv.simd * conv.input_bits
    assert out_stream(conv).width_bits == conv.pe * conv.output_bits
    assert out_stream(swg_pw).folded_shape == (1, 8, 8, 1, 36)
    assert in_stream(dwc).folded_shape == (6, 4)  # 4-element words straddle the last axis (6): flattened
    assert out_stream(dwc).folded_shape == (1, 4, 1, 6)  # both sides folded from inShape, as in FINN


def test_matching_widths_get_no_dwc() -> None:
    graph = DataflowGraph.chain([
        Thresholding("thr", impl="hls", num_channels=16, pe=4, num_steps=3, input_bits=8, weight_bits=8,
                     output_bits=2),
        MVAU(name="fc", impl="hls", mw=16, mh=8, pe=2, simd=4, input_bits=2, input_signed=False, weight_bits=2,
             output_bits=8, no_activation=True),
        LabelSelect("top1", labels=8, pe=2, k=1, input_bits=8, output_bits=3),
    ])
    assert full_design_graph(graph, part=PART) == graph
    with_fifos = full_design_graph(graph, fifo_depths=16, part=PART)
    assert [type(layer).__name__ for layer in with_fifos.layers] == [
        "StreamingFIFO", "Thresholding", "StreamingFIFO", "MVAU", "StreamingFIFO", "LabelSelect", "StreamingFIFO"]
    assert [layer.name for layer in with_fifos.layers[::2]] == [f"StreamingFIFO_rtl_{k}" for k in range(4)]


def test_full_design_adds_dwcs_and_fifos_where_finn_would() -> None:
    graph = _cnv_like()
    full = full_design_graph(graph, fifo_depths=300, part=PART)
    dwcs = [layer for layer in full.layers if isinstance(layer, StreamingDataWidthConverter)]
    fifos = [layer for layer in full.layers if isinstance(layer, StreamingFIFO)]
    mismatched = [(graph.layers[i - 1].name, graph.layers[i].name) for i in range(1, len(graph))
                  if out_stream(graph.layers[i - 1]).folded_shape[-1] != in_stream(graph.layers[i]).folded_shape[-1]]
    assert len(dwcs) == len(mismatched) > 0
    assert [d.name for d in dwcs] == [f"StreamingDataWidthConverter_rtl_{k}" for k in range(len(dwcs))]
    assert all(d.impl == "rtl" for d in dwcs)
    assert len(fifos) == (len(graph) - 1 + len(dwcs)) + 2  # every edge (a DWC splits one), both graph ends
    for i, layer in enumerate(full.layers):  # a DWC sits between producer and consumer of its edge
        if isinstance(layer, StreamingDataWidthConverter):
            before, after = full.layers[i - 2], full.layers[i + 2]
            assert (before.name, after.name) in mismatched
            assert (layer.in_width, layer.out_width) == (out_stream(before).width_bits, in_stream(after).width_bits)
    assert full.layers[0].folded_shape == in_stream(graph.layers[0]).folded_shape
    assert full.layers[-1].folded_shape == out_stream(graph.layers[-1]).folded_shape

    faithful = est.estimate_graph(graph, PART, clock_ns=5.0)
    for depths in (None, 0, 2, 300, 5000):
        mine = estimate_full_design(graph, PART, clock_ns=5.0, fifo_depths=depths)
        assert (mine.lut, mine.bram18, mine.uram, mine.dsp) >= (faithful.lut, faithful.bram18,
                                                                faithful.uram, faithful.dsp)
        assert mine.lut > faithful.lut  # the DWCs alone cost LUTs
        assert (mine.max_cycles, mine.critical_path_cycles, mine.bottleneck) == (
            faithful.max_cycles, faithful.critical_path_cycles, faithful.bottleneck)
    deep = estimate_full_design(graph, PART, clock_ns=5.0, fifo_depths=5000)
    assert deep.uram + deep.bram18 > faithful.uram + faithful.bram18


def test_fifo_depths_by_name_and_errors() -> None:
    graph = _cnv_like()
    names = [f.name for f in full_design_graph(graph, fifo_depths=2, part=PART).layers if isinstance(f, StreamingFIFO)]
    depths = {name: 2 + 40 * k for k, name in enumerate(names)}
    full = full_design_graph(graph, fifo_depths=depths, part=PART)
    assert {f.name: f.depth for f in full.layers if isinstance(f, StreamingFIFO)} == depths
    # graph-end FIFOs are floored at depth 2 as in FINN, edge FIFOs are not
    ends = full_design_graph(graph, fifo_depths=1, part=PART).layers
    assert (ends[0].depth, ends[2].depth, ends[-1].depth) == (2, 1, 2)
    with pytest.raises(KeyError, match="missing"):
        full_design_graph(graph, fifo_depths={names[0]: 4}, part=PART)
    with pytest.raises(KeyError, match="unknown"):
        full_design_graph(graph, fifo_depths={**depths, "StreamingFIFO_rtl_99": 4}, part=PART)
    with pytest.raises(ValueError, match="already is a full design"):
        full_design_graph(full, part=PART)
    broken = graph.with_layer(3, input_bits=4)  # Thresholding reads 4-bit elements from an 8-bit MVAU
    with pytest.raises(ValueError, match="elements"):
        full_design_graph(broken, part=PART)


def test_duplicate_streams_fan_out() -> None:
    fc = _cnv_like().layers[-2]
    dup = DuplicateStreams("dup", num_channels=10, pe=10, num_output_streams=2, input_bits=8)
    tops = [LabelSelect(f"top{k}", labels=10, pe=pe, k=1, input_bits=8, output_bits=4) for k, pe in ((0, 10), (1, 2))]
    graph = DataflowGraph((fc, dup, *tops), ((), (0,), (1,), (1,)))
    full = full_design_graph(graph, fifo_depths=8, part=PART)
    # FINN inserts each output's node right after the producer, so the last output's comes first;
    # then qonnx's SortGraph orders by depth, so top0 (one node after its FIFO) precedes the FIFO
    # after the DWC on the other branch, and top0's output FIFO precedes top1
    assert [layer.name for layer in full.layers] == [
        "StreamingFIFO_rtl_0", "fc", "StreamingFIFO_rtl_1", "StreamingDataWidthConverter_rtl_0", "StreamingFIFO_rtl_2",
        "dup", "StreamingFIFO_rtl_3", "StreamingFIFO_rtl_4", "StreamingDataWidthConverter_rtl_1",
        "top0", "StreamingFIFO_rtl_5", "StreamingFIFO_rtl_6", "top1", "StreamingFIFO_rtl_7"]
    index = {layer.name: i for i, layer in enumerate(full.layers)}
    assert full.preds[index["top0"]] == (index["StreamingFIFO_rtl_4"],)
    assert full.preds[index["StreamingDataWidthConverter_rtl_1"]] == (index["StreamingFIFO_rtl_3"],)
    assert full.preds[index["top1"]] == (index["StreamingFIFO_rtl_5"],)


# --- parity with FINN's own passes --------------------------------------------------------------

def _model(family: str) -> Any:
    import torch

    torch.manual_seed(2)
    if family == "tfc":
        from dse.models.tfc import TFCConfig, build_tfc

        return build_tfc(TFCConfig(hidden=(64, 64, 64), weight_bits=2, act_bits=2))
    from dse.models.cnv import CNVConfig, build_cnv

    return build_cnv(CNVConfig(channels=(16, 16, 32, 32, 64, 64), fc=(64, 64), weight_bits=2, act_bits=2))


def _finn_full_design(folded: Any, depth: int | dict[str, int] | None) -> Any:
    """FINN's step_set_fifo_depths (force minimal FIFOs) with the given depths."""
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from qonnx.custom_op.registry import getCustomOp

    if isinstance(depth, int):
        for node in folded.graph.node:
            getCustomOp(node).set_nodeattr("inFIFODepths", [depth])
            getCustomOp(node).set_nodeattr("outFIFODepths", [depth])
    model = folded.transform(InsertDWC())
    if depth is not None:
        model = model.transform(InsertFIFO(create_shallow_fifos=True))
    model = model.transform(SpecializeLayers(PART)).transform(GiveUniqueNodeNamesRecursive())
    if isinstance(depth, dict):
        for node in model.get_nodes_by_op_type("StreamingFIFO_rtl"):
            getCustomOp(node).set_nodeattr("depth", depth[node.name])
    return model


def _comparable(layer: Any) -> tuple[Any, ...]:
    """A record with its shapes reduced to (element count, last axis): MVAU records keep only the
    product of numInputVectors, so the DWCs/FIFOs next to them carry flattened normal shapes."""
    out: list[Any] = [type(layer).__name__]
    for f in fields(layer):
        value = getattr(layer, f.name)
        out.append((math.prod(value), value[-1] if value else None) if f.name in SHAPE_FIELDS else value)
    return tuple(out)


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("family", ["tfc", "cnv"])
def test_inserted_nodes_and_costs_match_finn(family: str, tmp_path: Path) -> None:
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    from dse._quiet import captured
    from dse.finn import export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn

    shape = (1, 784) if family == "tfc" else (1, 3, 32, 32)
    path = export_qonnx(_model(family), tmp_path / "m.onnx", input_shape=shape)
    with captured(tmp_path / "finn.log"):
        hw = to_hw_graph(path, part=PART, work_dir=tmp_path)
        base, _ = fold(hw, clock_ns=5.0, target_fps=1000)
    graph = graph_from_finn(base)
    tables = est.option_tables(graph, PART, est.FoldingLimits(wwidth_max=None))
    rng = np.random.default_rng(7)
    # None: DWCs only; ints span FINN's srl/distributed/block/ultra FIFO styles; "named": per-FIFO depths
    plans: list[Any] = [None, 2, 48, 300, 3000, "named", "named", 40]
    inserted, styles = 0, set()
    for plan in plans:
        ours = est.folding.apply_choice(graph, tables, [int(rng.integers(len(t))) for t in tables])
        depths: int | dict[str, int] | None = plan
        if plan == "named":
            names = [f.name for f in full_design_graph(ours, fifo_depths=2, part=PART).layers
                     if isinstance(f, StreamingFIFO)]
            depths = {name: int(rng.choice([2, 20, 60, 700, 2500, 5000])) for name in names}
        with captured(tmp_path / "finn.log"):
            folded, _ = fold(hw, clock_ns=5.0, folding=est.folding_config(ours))
            finn_model = _finn_full_design(folded, depths)
            finn_res = finn_model.analysis(partial(res_estimation, fpgapart=PART))
        theirs = graph_from_finn(finn_model)
        mine = full_design_graph(ours, fifo_depths=depths, part=PART)

        assert [_comparable(layer) for layer in mine.layers] == [_comparable(layer) for layer in theirs.layers], plan
        assert mine.preds == theirs.preds
        inserted += sum(isinstance(layer, StreamingDataWidthConverter) for layer in mine.layers)
        styles |= {layer.resolved_style for layer in mine.layers if isinstance(layer, StreamingFIFO)}

        estimate = estimate_full_design(ours, PART, clock_ns=5.0, fifo_depths=depths)
        totals = dict.fromkeys(("LUT", "BRAM_18K", "URAM", "DSP"), 0.0)
        for name, op_type, cost in zip(estimate.names, estimate.op_types, estimate.costs):
            res = {key: float(finn_res[name].get(key, 0)) for key in totals}
            for key in totals:
                totals[key] += res[key]
            # inserted nodes exactly; layers within 1% LUT as in test_fidelity
            exact = op_type in ("StreamingDataWidthConverter", "StreamingFIFO")
            lut_tol = 0.0 if exact else 0.01 * max(res["LUT"], 1.0)
            assert abs(cost.lut - res["LUT"]) <= lut_tol, (plan, name, cost, res)
            assert (cost.bram18, cost.uram, cost.dsp) == (res["BRAM_18K"], res["URAM"], res["DSP"]), (plan, name)
        assert abs(estimate.lut - totals["LUT"]) <= 0.01 * totals["LUT"]
        assert (estimate.bram18, estimate.uram, estimate.dsp) == (totals["BRAM_18K"], totals["URAM"], totals["DSP"])
    assert inserted > 0 and styles == {"srl", "distributed", "block", "ultra"}, (inserted, styles)
