"""The node types residual networks add: ElementwiseBinary (HLS, RTL) and GlobalAccPool.

Fidelity: one single-node FINN model per random attribute draw, read with the dse.finn.graph
converter; FINN's own figures (``NodeCost.finn_figures``) must equal FINN's get_exp_cycles and
lut/bram/uram/dsp_estimation exactly on an UltraScale+ and a Versal part, and the structural
figures must keep FINN's cycles and memory. Also: streams, knobs, the unknown-type errors.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import estimators as est
from estimators.core import FoldingError, UnknownLayerError, node_cost
from estimators.elementwise import OPERATIONS, RTL_OPERATIONS, ElementwiseBinary
from estimators.folding import FoldingLimits, layer_options
from estimators.globalaccpool import GlobalAccPool
from estimators.streaming import DuplicateStreams
from estimators.streams import in_stream, in_streams, out_stream
from tests.estimators.test_streaming_nodes import PARTS, _check_all, _dtype, _finn_cost, _single_node_model, divisors

CASES = 150  # random draws per op type and impl, each checked on both parts (>= 300 comparisons)
UNMODELLED = ("Div", "BitShift")  # no structural LUT model: node_cost raises


def _bits(dt: str) -> int:
    return 1 if dt in ("BIPOLAR", "BINARY") else 32 if dt == "FLOAT32" else int(dt.lstrip("UINT"))


def _elementwise_cases(seed: int, impl: str) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    ops = RTL_OPERATIONS if impl == "rtl" else tuple(o for o in OPERATIONS if o not in UNMODELLED)
    for i in range(CASES):
        op = str(rng.choice(ops))
        c = int(rng.choice([int(rng.integers(1, 257)), 64, 512]))
        outer = [1, int(rng.integers(1, 17)), int(rng.integers(1, 17))] if rng.random() < 0.7 else [1]
        out = [*outer, c]
        kind = rng.random()
        if kind < 0.5:  # residual add: both operands streamed, same shape
            rhs, rhs_style = out, "input"
        elif kind < 0.75:  # per-channel constant
            rhs, rhs_style = [c], "const"
        elif kind < 0.9:  # one value per pixel, broadcast along the channels
            rhs, rhs_style = [*outer, 1], str(rng.choice(["input", "const"]))
        else:  # scalar constant
            rhs, rhs_style = [1], "const"
        pe = int(rng.choice(divisors(c)))
        if impl == "rtl" and rng.random() < 0.6:  # FINN's RTL path: FLOAT32 operands
            lhs_dt = rhs_dt = "FLOAT32"
            if rng.random() < 0.3:
                lhs_dt = _dtype(rng, 8)
            out_dt = "FLOAT32"
        else:
            lhs_dt, rhs_dt = _dtype(rng, 16), _dtype(rng, 16)
            out_dt = _dtype(rng, 24)
        attrs: dict[str, Any] = {
            "lhs_dtype": lhs_dt, "rhs_dtype": rhs_dt, "out_dtype": out_dt, "lhs_shape": out, "rhs_shape": rhs,
            "out_shape": out, "lhs_style": "input", "rhs_style": rhs_style, "PE": pe,
            "ram_style": str(rng.choice(["auto", "block", "distributed", "ultra"])),
            "mem_mode": str(rng.choice(["internal_embedded", "internal_decoupled"])),
        }
        if rng.random() < 0.1:
            attrs["mlo_max_iter"] = int(rng.integers(2, 5))
        if i % 7 == 0 and rhs_style == "input":  # the constant on the left instead
            attrs.update(lhs_shape=rhs, rhs_shape=out, lhs_style="const", rhs_style="input")
        inputs = [("lhs", attrs["lhs_shape"], lhs_dt), ("rhs", attrs["rhs_shape"], rhs_dt)]
        yield _single_node_model(f"Elementwise{op}", impl, inputs, [("out", out, out_dt)], **attrs)


def _globalaccpool_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        c = int(rng.choice([int(rng.integers(1, 257)), 512, 2048]))
        pe = int(rng.choice(divisors(c)))
        h, w = int(rng.integers(1, 33)), int(rng.integers(1, 33))
        dt = _dtype(rng, 8)
        yield _single_node_model(
            "GlobalAccPool", "hls", [("inp", [1, h, w, c], dt)], [("out", [1, 1, 1, c], "INT32")],
            NumChannels=c, PE=pe, inputDataType=dt, numInputVectors=[1, h, w],
        )


def _requant_cases(seed: int, impl: str) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        c = int(rng.choice([int(rng.integers(1, 257)), 512, 1024]))
        pe = int(rng.choice(divisors(c)))
        vecs = [1] if rng.random() < 0.3 else [1, int(rng.integers(1, 33)), int(rng.integers(1, 33))]
        idt = f"INT{int(rng.integers(2, 33))}" if impl == "rtl" or rng.random() < 0.5 else "FLOAT32"
        odt = f"{str(rng.choice(['INT', 'UINT']))}{int(rng.integers(2, 17))}"
        attrs: dict[str, Any] = {"narrow": int(impl == "hls" and rng.random() < 0.5)}
        if impl == "rtl":
            attrs["mem_mode"] = str(rng.choice(["internal_embedded", "internal_decoupled"]))
        yield _single_node_model(
            "Requant", impl, [("inp", [*vecs, c], idt)], [("out", [*vecs, c], odt)],
            NumChannels=c, PE=pe, inputDataType=idt, outputDataType=odt, numInputVectors=vecs, **attrs,
        )


@pytest.fixture(scope="module")
def conv() -> Any:
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()
    from dse.finn.graph import residual

    return residual


def _check_streams(cases: Iterator[tuple[Any, Any]], convert: Any) -> int:
    """Our streams against FINN's get_normal/folded shapes and stream widths (input 0, output 0)."""
    from qonnx.custom_op.registry import getCustomOp

    n = 0
    for node, model in cases:
        layer, op = convert(node, model), getCustomOp(node)
        streams = {0: in_stream(layer)} | dict(enumerate(in_streams(layer)))
        for ind, s in streams.items():
            if isinstance(layer, ElementwiseBinary) and not layer.is_streamed(ind):
                continue
            assert tuple(s.normal_shape) == tuple(int(d) for d in op.get_normal_input_shape(ind))
            assert tuple(s.folded_shape) == tuple(int(d) for d in op.get_folded_input_shape(ind))
            assert s.width_bits == op.get_instream_width(ind) and s.elem_bits == op.get_input_datatype(ind).bitwidth()
        o = out_stream(layer)
        assert tuple(o.normal_shape) == tuple(int(d) for d in op.get_normal_output_shape())
        assert tuple(o.folded_shape) == tuple(int(d) for d in op.get_folded_output_shape())
        assert o.width_bits == op.get_outstream_width() and o.elem_bits == op.get_output_datatype().bitwidth()
        n += 1
    return n


@pytest.mark.finn
@pytest.mark.parametrize("impl", ["hls", "rtl"])
def test_elementwise_matches_finn(conv: Any, impl: str) -> None:
    _check_all(_elementwise_cases(11 if impl == "hls" else 12, impl), conv.elementwisebinary_from_finn)


@pytest.mark.finn
def test_globalaccpool_matches_finn(conv: Any) -> None:
    _check_all(_globalaccpool_cases(13), conv.globalaccpool_from_finn)


@pytest.mark.finn
def test_requant_rtl_matches_finn(conv: Any) -> None:
    _check_all(_requant_cases(17, "rtl"), conv.requant_from_finn)


@pytest.mark.finn
def test_requant_hls_finn_figures_exact_but_cost_raises(conv: Any) -> None:
    """Requant_hls computes in floating point: FINN's figures restated, node_cost names the gap."""
    from estimators.requant import finn_estimate

    n = 0
    for node, model in _requant_cases(18, "hls"):
        layer = conv.requant_from_finn(node, model)
        for part in PARTS:
            assert finn_estimate(layer) == _finn_cost(node, part), layer
            n += 1
    assert n >= 2 * 100
    with pytest.raises(UnknownLayerError, match="Requant_hls"):
        node_cost(layer, PARTS[0])


@pytest.mark.finn
def test_streams_match_finn(conv: Any) -> None:
    assert _check_streams(_elementwise_cases(14, "hls"), conv.elementwisebinary_from_finn) == CASES
    assert _check_streams(_elementwise_cases(15, "rtl"), conv.elementwisebinary_from_finn) == CASES
    assert _check_streams(_globalaccpool_cases(16), conv.globalaccpool_from_finn) == CASES
    assert _check_streams(_requant_cases(19, "rtl"), conv.requant_from_finn) == CASES
    assert _check_streams(_requant_cases(20, "hls"), conv.requant_from_finn) == CASES


@pytest.mark.finn
@pytest.mark.parametrize("op", UNMODELLED)
def test_unmodelled_datapaths_raise_but_finn_figures_exact(conv: Any, op: str) -> None:
    """Div/BitShift: FINN's figures are still restated exactly, but node_cost names the gap."""
    from estimators.elementwise import finn_estimate

    extra = {"direction": "LEFT"} if op == "BitShift" else {}
    node, model = _single_node_model(
        f"Elementwise{op}", "hls", [("a", [1, 4, 4, 8], "INT8"), ("b", [8], "INT4")], [("o", [1, 4, 4, 8], "INT8")],
        lhs_dtype="INT8", rhs_dtype="INT4", out_dtype="INT8", lhs_shape=[1, 4, 4, 8], rhs_shape=[8],
        out_shape=[1, 4, 4, 8], rhs_style="const", mem_mode="internal_decoupled", PE=2, **extra)
    layer = conv.elementwisebinary_from_finn(node, model)
    assert finn_estimate(layer) == _finn_cost(node, PARTS[0])
    with pytest.raises(UnknownLayerError, match=f"Elementwise{op}_hls"):
        node_cost(layer, PARTS[0])


@pytest.mark.finn
def test_graph_reader_rejects_an_unknown_node_type_by_name() -> None:
    from dse.finn.graph import graph_from_finn

    node, model = _single_node_model("Lookup", "hls", [("i", [1, 4], "UINT4")], [("o", [1, 4, 8], "INT8")])
    with pytest.raises(KeyError, match="'Lookup_hls', which FINN-DSE cannot read"):
        graph_from_finn(model)
    del node


@pytest.mark.finn
def test_reader_covers_the_new_op_types(conv: Any) -> None:
    from dse.finn.graph import _converters, base_op_type

    known = _converters()
    assert all(base_op_type(t) in known for t in conv.CONVERTERS)
    assert {"ElementwiseAdd", "GlobalAccPool", "Requant", "DuplicateStreams", "Pool", "Reshape"} <= set(known)


# --- structural figures, knobs and purity (no FINN needed) -------------------------------------

PART = PARTS[0]


def _add(pe: int = 1, c: int = 64, bits: int = 4, **kw: Any) -> ElementwiseBinary:
    shape = (1, 8, 8, c)
    return ElementwiseBinary(name="add", impl="hls", operation="Add", lhs_shape=shape, rhs_shape=shape,
                             out_shape=shape, lhs_bits=bits, rhs_bits=bits, out_bits=bits + 1, pe=pe, **kw)


def test_residual_add_costs_luts_finn_calls_free() -> None:
    cost = node_cost(_add(pe=4), PART)
    assert cost.finn is not None and cost.finn.lut == cost.finn.bram18 == cost.finn.dsp == 0
    assert cost.cycles == cost.finn.cycles == 8 * 8 * 64 // 4
    # ports 4*(4+4+5), adders 4*5, loop control: more LUTs with more PE, never fewer
    assert cost.lut > 4 * (4 + 4 + 5) + 4 * 5
    assert node_cost(_add(pe=16), PART).lut > cost.lut


def test_duplicate_and_globalaccpool_count_luts_and_keep_finn_zeros() -> None:
    dup = node_cost(DuplicateStreams(name="d", num_channels=64, pe=8, num_output_streams=2, input_bits=4,
                                     num_input_vectors=(1, 8, 8)), PART)
    assert dup.finn is not None and dup.finn.lut == 0 and dup.lut >= 3 * 8 * 4
    gap = node_cost(GlobalAccPool(name="g", num_channels=64, pe=4, num_input_vectors=(1, 8, 8), input_bits=4,
                                  output_bits=10), PART)
    assert gap.finn is not None and gap.finn.lut == 0 and gap.cycles == 8 * 8 * 16 + 16
    assert gap.lut > 4 * 10


def test_requant_rtl_counts_a_dsp_per_lane() -> None:
    from estimators.requant import Requant

    layer = Requant(name="rq", impl="rtl", num_channels=32, pe=4, input_bits=16, output_bits=8,
                    num_input_vectors=(1, 4, 4))
    cost = node_cost(layer, PART)
    assert cost.finn is not None and cost.finn.dsp == cost.finn.lut == 0
    assert cost.dsp == 4 and cost.cycles == 16 * 8 and cost.lut > 4 * 2 * 8
    # one channel per lane: its scale/bias are constants, no parameter ROM, fewer LUTs per lane
    assert node_cost(replace(layer, pe=32), PART).lut / 32 < cost.lut / 4


def test_network_estimate_keeps_finns_lut_total() -> None:
    graph = est.DataflowGraph.chain([_add(pe=2)])
    net = est.estimate_graph(graph, PART, clock_ns=5.0)
    assert net.finn_lut == 0 and net.lut > 0


def test_knobs_fold_the_new_types() -> None:
    limits = FoldingLimits()
    assert sorted(o.pe for o in layer_options(_add(c=12), limits)) == divisors(12)
    const = replace(_add(c=12), rhs_shape=(12,), rhs_style="const", mem_mode="internal_decoupled")
    assert {o.ram_style for o in layer_options(const, limits)} == {"auto", "block", "distributed"}
    gap = GlobalAccPool(name="g", num_channels=6, pe=1, num_input_vectors=(1, 4, 4), input_bits=4, output_bits=8)
    assert sorted(o.pe for o in layer_options(gap, limits)) == [1, 2, 3, 6]
    reshape = est.folding.layer_options(
        __import__("estimators.streaming", fromlist=["Reshape"]).Reshape(
            name="r", inp_shape=(1, 2, 2, 6), out_shape=(1, 24), dtype_bits=2), limits)
    assert sorted(o.pe for o in reshape) == [1, 2, 3, 6]


def test_invalid_folding_and_shapes_raise() -> None:
    with pytest.raises(FoldingError, match="PE=5"):
        _add(pe=5)
    with pytest.raises(ValueError, match="broadcast"):
        replace(_add(), rhs_shape=(1, 8, 8, 3))
    with pytest.raises(ValueError, match="ElementwiseDiv_rtl"):
        replace(_add(), impl="rtl", operation="Div")
    with pytest.raises(FoldingError, match="PE"):
        GlobalAccPool(name="g", num_channels=6, pe=4, num_input_vectors=(1, 4, 4), input_bits=4, output_bits=8)


def test_full_design_uses_the_add_s_second_input() -> None:
    """dup -> add.lhs and dup -> thr -> add.rhs: each edge's DWC takes that input's own width."""
    from estimators.full_design import full_design_graph
    from estimators.thresholding import Thresholding

    shape = (1, 4, 4, 16)
    dup = DuplicateStreams(name="dup", num_channels=16, pe=8, num_output_streams=2, input_bits=4,
                           num_input_vectors=(1, 4, 4))
    thr = Thresholding(name="thr", impl="rtl", num_channels=16, pe=4, num_steps=7, input_bits=4, weight_bits=4,
                       output_bits=3, num_input_vectors=(1, 4, 4))
    add = ElementwiseBinary(name="add", impl="hls", operation="Add", lhs_shape=shape, rhs_shape=shape,
                            out_shape=shape, lhs_bits=4, rhs_bits=3, out_bits=5, pe=2)
    full = full_design_graph(est.DataflowGraph((dup, thr, add), ((), (0,), (0, 1))), part=PART)
    dwcs = {layer.name: (layer.in_width, layer.out_width) for layer in full.layers
            if type(layer).op_type == "StreamingDataWidthConverter"}
    assert sorted(dwcs.values()) == [(12, 6), (32, 8), (32, 16)]
    assert [layer.name for layer in full.layers].index("add") == len(full.layers) - 1


def test_modules_stay_pure() -> None:
    code = ("import sys, estimators.elementwise, estimators.globalaccpool, estimators.requant, estimators.structural; "
            "bad = {'torch', 'finn', 'qonnx', 'onnx', 'optuna'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- a residual block as FINN builds it: fork, branch, join, global pool -------------------------

def _residual_block(c: int = 24, h: int = 6) -> Any:
    """in -> DuplicateStreams -> (Thresholding -> ElementwiseAdd.lhs, ElementwiseAdd.rhs) -> GlobalAccPool,
    specialized FINN HW nodes at PE 1 (as after step_specialize_layers)."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    shape, vecs = [1, h, h, c], [1, h, h]
    hls = {"domain": "finn.custom_op.fpgadataflow.hls", "backend": "fpgadataflow"}
    nodes = [
        helper.make_node("DuplicateStreams_hls", ["x"], ["d0", "d1"], name="DuplicateStreams_hls_0", NumChannels=c,
                         PE=1, NumOutputStreams=2, inputDataType="UINT4", numInputVectors=vecs, **hls),
        helper.make_node("Thresholding_hls", ["d0", "thr"], ["t"], name="Thresholding_hls_0", NumChannels=c, PE=1,
                         numSteps=15, inputDataType="UINT4", weightDataType="INT6", outputDataType="UINT4",
                         numInputVectors=vecs, ActVal=0, **hls),
        helper.make_node("ElementwiseAdd_hls", ["t", "d1"], ["s"], name="ElementwiseAdd_hls_0", lhs_dtype="UINT4",
                         rhs_dtype="UINT4", out_dtype="UINT5", lhs_shape=shape, rhs_shape=shape, out_shape=shape,
                         PE=1, **hls),
        helper.make_node("GlobalAccPool_hls", ["s"], ["y"], name="GlobalAccPool_hls_0", NumChannels=c, PE=1,
                         inputDataType="UINT5", numInputVectors=vecs, **hls),
    ]
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    graph = helper.make_graph(nodes, "block", [vi("x", shape)], [vi("y", [1, 1, 1, c])],
                              value_info=[vi(n, shape) for n in ("d0", "d1", "t", "s")])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="test"))
    for name, dt in (("x", "UINT4"), ("d0", "UINT4"), ("d1", "UINT4"), ("t", "UINT4"), ("s", "UINT5")):
        model.set_tensor_datatype(name, DataType[dt])
    thresholds = np.tile(np.arange(1, 16, dtype=np.float32), (c, 1)) + np.arange(c, dtype=np.float32)[:, None] % 3
    model.set_initializer("thr", thresholds)
    model.set_tensor_datatype("thr", DataType["INT6"])
    return model


@pytest.mark.finn
def test_residual_block_matches_finn_on_random_foldings(conv: Any) -> None:
    """Graph reader, fork/join critical path and every node against FINN's analyses, 30 foldings;
    FINN's SetFolding folds the new types too and our reader follows it."""
    from dse.finn import analyse, fold
    from dse.finn.graph import graph_from_finn

    hw = _residual_block()
    base, _ = fold(hw, clock_ns=5.0, target_fps=2_000_000)
    graph = graph_from_finn(base)
    assert [type(layer).op_type for layer in graph.layers] == ["DuplicateStreams", "Thresholding",
                                                               "ElementwiseBinary", "GlobalAccPool"]
    assert graph.preds == ((), (0,), (1, 0), (2,))
    assert max(getattr(layer, "pe") for layer in graph.layers) > 1, "SetFolding left every PE at 1"
    tables = est.option_tables(graph, PARTS[0])
    rng = np.random.default_rng(21)
    for _ in range(30):
        ours = est.folding.apply_choice(graph, tables, [int(rng.integers(len(t))) for t in tables])
        mine = est.estimate_graph(ours, PARTS[0], clock_ns=5.0)
        folded, _ = fold(hw, clock_ns=5.0, folding=est.folding_config(ours))
        finn, _ = analyse(folded, board_name="U280", clock_ns=5.0)
        assert graph_from_finn(folded) == ours
        for cost, theirs in zip(mine.costs, finn.layers, strict=True):
            f = cost.finn_figures
            assert (f.cycles, f.lut, f.bram18, f.uram, f.dsp) == (theirs.cycles, theirs.lut, theirs.bram18,
                                                                  theirs.uram, theirs.dsp), theirs.name
        assert (mine.max_cycles, mine.critical_path_cycles, mine.bottleneck) == (
            finn.max_cycles, finn.critical_path_cycles, finn.bottleneck)
        assert mine.finn_lut == pytest.approx(finn.lut) and mine.lut > finn.lut


def test_estimate_report_puts_finns_figures_beside_structural_ones() -> None:
    from dse.estimate import _finn_beside

    add, const_add = node_cost(_add(pe=2), PART), node_cost(replace(_add(), rhs_style="const", rhs_shape=(64,),
                                                                   mem_mode="internal_decoupled"), PART)
    assert _finn_beside(add) == {"finn_lut": 0.0, "finn_dsp": 0.0}
    assert _finn_beside(est.NodeCost(cycles=3, lut=7.0)) == {}
    assert const_add.finn is not None and const_add.finn.bram18 == const_add.bram18 > 0


@pytest.mark.finn
def test_residual_block_full_design_matches_finn(conv: Any) -> None:
    """DWCs and FIFOs around the fork and the join as FINN's InsertDWC -> InsertFIFO ->
    SpecializeLayers -> GiveUniqueNodeNamesRecursive put them, names, order, edges and costs."""
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from qonnx.custom_op.registry import getCustomOp

    from dse.finn import fold
    from dse.finn.graph import graph_from_finn
    from estimators.dwc import StreamingDataWidthConverter
    from estimators.full_design import estimate_full_design, full_design_graph
    from tests.estimators.test_full_design import _comparable

    hw = _residual_block()
    graph = graph_from_finn(fold(hw, clock_ns=5.0, target_fps=2_000_000)[0])
    tables = est.option_tables(graph, PARTS[0])
    rng = np.random.default_rng(22)
    dwcs = 0
    for depth in (None, 2, 40, 600, None, 3000):
        ours = est.folding.apply_choice(graph, tables, [int(rng.integers(len(t))) for t in tables])
        folded, _ = fold(hw, clock_ns=5.0, folding=est.folding_config(ours))
        if depth is not None:
            for node in folded.graph.node:
                streamed = [t for t in node.input if folded.get_initializer(t) is None]
                getCustomOp(node).set_nodeattr("inFIFODepths", [depth] * len(streamed))
                getCustomOp(node).set_nodeattr("outFIFODepths", [depth] * len(node.output))
        model = folded.transform(InsertDWC())
        if depth is not None:
            model = model.transform(InsertFIFO(create_shallow_fifos=True))
        model = model.transform(SpecializeLayers(PARTS[0])).transform(GiveUniqueNodeNamesRecursive())
        theirs, mine = graph_from_finn(model), full_design_graph(ours, fifo_depths=depth, part=PARTS[0])
        assert [_comparable(layer) for layer in mine.layers] == [_comparable(layer) for layer in theirs.layers], depth
        assert mine.preds == theirs.preds, depth
        finn_res = model.analysis(lambda m: res_estimation(m, fpgapart=PARTS[0]))
        estimate = estimate_full_design(ours, PARTS[0], clock_ns=5.0, fifo_depths=depth)
        for name, cost in zip(estimate.names, estimate.costs, strict=True):
            f = cost.finn_figures
            assert (f.lut, f.bram18, f.uram, f.dsp) == tuple(
                float(finn_res[name].get(k, 0)) for k in ("LUT", "BRAM_18K", "URAM", "DSP")), (depth, name)
        dwcs += sum(isinstance(layer, StreamingDataWidthConverter) for layer in mine.layers)
    assert dwcs > 0
