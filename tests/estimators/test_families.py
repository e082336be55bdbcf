"""The fast graph path (estimators.families) against FINN's own conversion of the same models.

Fast tests check shapes, speed and validation; the ``finn`` tests export seeded Brevitas models
(TFC, CNV and MobileNet, uniform and per-layer bits),
convert and fold them with FINN, apply the same folding to the fast graph and compare record by
record and cost by cost. Only accumulator-derived fields may differ (the fast path uses the
datatype worst case where FINN minimizes against the trained weights).
"""
from __future__ import annotations

import dataclasses
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import estimators as est
from estimators.families import cnv_graph, mobilenet_graph, tfc_graph
from estimators.mvau import MVAU
from estimators.streaming import LabelSelect
from estimators.vvau import VVAU

PART = "xcu280-fsvh2892-2L-e"
CNV_SMALL = ((16, 16, 32, 32, 64, 64), (64, 64))
MOBILENET_SMALL = ((8, 16, 16, 32), (2, 2, 2, 2), 16)  # channels, strides, image_size


def _op_types(graph: est.DataflowGraph) -> list[str]:
    return [type(layer).__name__ for layer in graph.layers]


def _build_seconds(build: Any, repeat: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        build()
    return (time.perf_counter() - start) / repeat


# --- fast tests ---------------------------------------------------------------------------------

def test_tfc_graph_shape_and_estimate() -> None:
    graph = tfc_graph((64, 64, 64), 2, 2)
    assert _op_types(graph) == ["MVAU"] * 4 + ["LabelSelect"]
    first, last = graph.layers[0], graph.layers[3]
    assert (first.mw, first.mh, first.input_bits, first.input_signed) == (784, 64, 8, False)
    assert (last.mh, last.no_activation, last.impl) == (10, True, "hls")
    estimate = est.estimate_graph(graph, PART, clock_ns=5.0)
    assert estimate.max_cycles == 784 * 64 and estimate.lut > 0
    assert _build_seconds(lambda: tfc_graph((64, 64, 64), 2, 2)) < 1e-3


def test_cnv_graph_shape_and_estimate() -> None:
    graph = cnv_graph(*CNV_SMALL, 2, 2)
    conv = ["ConvolutionInputGenerator", "MVAU"]
    pool = ["ConvolutionInputGenerator", "Pool"]
    assert _op_types(graph) == conv * 2 + pool + conv * 2 + pool + conv * 2 + ["MVAU"] * 3 + ["LabelSelect"]
    assert [layer.num_input_vectors for layer in graph.layers if isinstance(layer, MVAU)][:6] == \
        [900, 784, 144, 100, 9, 1]
    estimate = est.estimate_graph(graph, PART, clock_ns=5.0)
    assert estimate.max_cycles > 0 and estimate.bram18 >= 0
    assert _build_seconds(lambda: cnv_graph(*CNV_SMALL, 2, 2)) < 1e-3


def test_mobilenet_graph_shape_and_estimate() -> None:
    channels, strides, size = MOBILENET_SMALL
    graph = mobilenet_graph(channels, strides, 2, 2, image_size=size)
    padded = ["FMPadding", "ConvolutionInputGenerator"]
    assert _op_types(graph) == [*padded, "MVAU", *[*padded, "VVAU", "MVAU"] * 3, "MVAU", "LabelSelect"]
    vvaus = [layer for layer in graph.layers if isinstance(layer, VVAU)]
    assert [(v.channels, v.pe, v.dim_h) for v in vvaus] == [(8, 8, 4), (16, 16, 2), (16, 16, 1)]
    assert [layer.num_input_vectors for layer in graph.layers if isinstance(layer, MVAU)] == [64, 16, 4, 1, 1]
    estimate = est.estimate_graph(graph, PART, clock_ns=5.0)
    assert estimate.max_cycles > 0 and estimate.lut > 0
    assert _build_seconds(lambda: mobilenet_graph(channels, strides, 2, 2, image_size=size)) < 1e-3


@pytest.mark.parametrize(("datatype", "w", "bits", "signed", "xnor_weight_bits"), [
    ("UINT8", 2, 8, False, 2), ("INT4", 2, 4, True, 2), ("UINT2", 4, 2, False, 4),
    ("BIPOLAR", 2, 1, True, 2),  # bipolar inputs, integer weights: a plain MVAU on 1-bit signed values
    ("BIPOLAR", 1, 1, False, 1),  # into 1-bit weights: XNOR-popcount on the BINARY stream, as FINN does
])
def test_tfc_first_layer_takes_the_declared_input_datatype(datatype: str, w: int, bits: int, signed: bool,
                                                           xnor_weight_bits: int) -> None:
    first = tfc_graph((32,), w, w, in_features=20, input_datatype=datatype).layers[0]
    assert isinstance(first, MVAU) and first.mw == 20
    assert (first.input_bits, first.input_signed, first.weight_bits) == (bits, signed, xnor_weight_bits)
    with pytest.raises(ValueError, match="unsupported graph input datatype 'FLOAT32'"):
        tfc_graph((32,), w, w, input_datatype="FLOAT32")


def test_per_layer_bits_follow_each_layer() -> None:
    """Datatypes between layers follow each activation; XNOR only where a bipolar activation meets
    1-bit weights; an int means the same bits for every layer."""
    graph = tfc_graph((32, 32, 32), (1, 1, 2, 8), (1, 4, 8))
    first, xnor, third, classifier = graph.layers[:4]
    assert (first.input_bits, first.weight_bits, first.output_bits) == (8, 2, 1)  # INT2 weights, BINARY out
    assert (xnor.input_bits, xnor.input_signed, xnor.weight_bits, xnor.output_bits) == (1, False, 1, 4)
    assert (third.input_bits, third.weight_bits, third.output_bits) == (4, 2, 8)
    assert (classifier.impl, classifier.input_bits, classifier.weight_bits) == ("rtl", 8, 8)
    bipolar = tfc_graph((32, 32), (2, 2, 4), (2, 1)).layers[2]  # bipolar input, 4-bit weights: no XNOR
    assert (bipolar.impl, bipolar.input_bits, bipolar.input_signed, bipolar.weight_bits) == ("hls", 1, True, 4)
    channels, strides, size = MOBILENET_SMALL
    mobilenet = mobilenet_graph(channels, strides, (2, 2, 1, 2, 2, 2, 2, 2), (2, 1, 2, 2, 2, 2, 2), image_size=size)
    vvau, pointwise = mobilenet.layers[5:7]  # a 1-bit depthwise activation feeding an XNOR pointwise conv
    assert (vvau.output_bits, pointwise.input_bits, pointwise.input_signed, pointwise.weight_bits) == (1, 1, False, 1)
    assert tfc_graph((32, 32), 2, 4) == tfc_graph((32, 32), (2, 2, 2), [4, 4])
    assert cnv_graph(*CNV_SMALL, 2, 1) == cnv_graph(*CNV_SMALL, (2,) * 9, (1,) * 8)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: tfc_graph((64, 64), (2, 2), 2), r"3 entries, one per weight layer \(fc0, fc1, classifier\)"),
    (lambda: tfc_graph((64, 64), 2, (2, 2, 2)), r"2 entries, one per activation"),
    (lambda: cnv_graph(*CNV_SMALL, 2, (2,) * 7 + (3,)), r"act_bits\[7\] \(layer fc1\)"),
    (lambda: mobilenet_graph(*MOBILENET_SMALL[:2], 2, 1, image_size=16), r"act_bits\[0\] \(layer conv0\)"),
    (lambda: mobilenet_graph(*MOBILENET_SMALL[:2], 2, (2, 2, 1, 2, 2, 2, 2), image_size=16),
     r"layer pw1.*padded depthwise conv dw2"),
    (lambda: mobilenet_graph(*MOBILENET_SMALL[:2], 2, (2, 1, 2, 2, 2, 2, 2), image_size=16),
     r"layer dw1.*1-bit weights in pw1"),
])
def test_per_layer_bits_validation(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(("w", "a", "impl", "weight_bits", "input_bits"), [
    (1, 1, "hls", 1, 1),  # XNOR-popcount
    (1, 4, "hls", 2, 4),  # bipolar weights on integer inputs: INT2
    (4, 4, "rtl", 4, 4),  # classifier without activation, >= 4 bits: DSP-based RTL MVU
    (8, 2, "hls", 8, 2),
])
def test_classifier_datatype_rules(w: int, a: int, impl: str, weight_bits: int, input_bits: int) -> None:
    classifier = tfc_graph((32,), w, a).layers[1]
    assert (classifier.impl, classifier.weight_bits, classifier.input_bits) == (impl, weight_bits, input_bits)
    assert classifier.name == ("MVAU_rtl_0" if impl == "rtl" else "MVAU_hls_1")  # numbered per impl
    assert classifier.output_bits == classifier.acc_bits


@pytest.mark.parametrize("build", [
    lambda: tfc_graph((), 2, 2),
    lambda: tfc_graph((64, 0), 2, 2),
    lambda: tfc_graph((64,), 3, 2),
    lambda: tfc_graph((64,), 2, 16),
    lambda: tfc_graph((64,), 2, 2, num_classes=0),
    lambda: cnv_graph((16,) * 5, (64,), 2, 2),
    lambda: cnv_graph((16,) * 6, (), 2, 2),
    lambda: cnv_graph((16,) * 6, (64,), 2, 2, image_size=16),
    lambda: cnv_graph((16,) * 6, (64,), 2, 2, image_size=40),
    lambda: mobilenet_graph((8,), (2,), 2, 2),
    lambda: mobilenet_graph((8, 16), (2, 3), 2, 2, image_size=4),
    lambda: mobilenet_graph((8, 16), (2, 2), 2, 2, image_size=16),
    lambda: mobilenet_graph((8, 0), (2, 2), 2, 2, image_size=4),
])
def test_invalid_descriptions_raise(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


# --- parity with FINN ---------------------------------------------------------------------------

# Fields that depend on MinimizeAccumulatorWidth (trained weight values): the classifier's output
# type is its accumulator type, and LabelSelect reads that type. VVAUs always have an activation.
ACC_FIELDS: dict[type, tuple[str, ...]] = {MVAU: ("acc_bits", "output_bits"), LabelSelect: ("input_bits",),
                                           VVAU: ("acc_bits",)}
TFC_CASES = [(("tfc", h), w, a) for h in ((64, 64, 64), (48, 32, 24))
             for w, a in ((1, 1), (2, 2), (4, 4), (1, 2), (2, 1))]
CNV_CASES = [(("cnv", d), b, b) for d in (CNV_SMALL, ((12, 10, 24, 20, 40, 36), (48, 30))) for b in (1, 2, 4)]
MOBILENET_CASES = [(("mobilenet", MOBILENET_SMALL), w, a) for w, a in ((2, 2), (4, 4), (1, 2))]
# Per-layer bits: activations of every width feeding layers of every weight width, XNOR layers
# (1-bit weights after a 1-bit activation) between non-XNOR ones, bipolar inputs to >= 2-bit
# weights, 1-bit weights on integer inputs (INT2), and classifiers on both the HLS and RTL side.
MIXED_CASES = [
    (("tfc", (64, 64, 64)), (4, 2, 2, 4), (4, 2, 1)),
    (("tfc", (48, 32, 24)), (1, 1, 2, 8), (1, 4, 8)),
    (("cnv", CNV_SMALL), (4, 2, 2, 4, 1, 2, 4, 2, 4), (4, 2, 1, 1, 2, 8, 1, 2)),
    (("cnv", CNV_SMALL), (1, 1, 2, 2, 8, 8, 1, 1, 8), (1, 2, 4, 4, 8, 1, 1, 8)),
    (("mobilenet", MOBILENET_SMALL), (4, 2, 1, 1, 1, 4, 2, 2), (4, 1, 2, 1, 4, 2, 1)),
    (("mobilenet", MOBILENET_SMALL), (1, 8, 2, 2, 1, 1, 4, 8), (2, 2, 2, 8, 2, 4, 8)),
]


def _acc_fields(layer: Any) -> tuple[str, ...]:
    if isinstance(layer, MVAU) and not layer.no_activation:
        return ("acc_bits",)  # with an activation the output type is the activation's
    return ACC_FIELDS.get(type(layer), ())


@pytest.fixture(scope="module")
def finn_runs() -> dict[Any, Any]:
    """Cache shared by the record and cost tests: case -> (folded FINN graph, its folding config,
    FINN's per-node estimate), so each model is exported and converted once."""
    return {}


def _finn(case: Any, cache: dict[Any, Any], tmp: Path) -> tuple[est.DataflowGraph, dict[str, Any], Any]:
    if case in cache:
        return cache[case]
    import torch

    from dse._quiet import captured
    from dse.finn import analyse, export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn

    (family, desc), w, a = case
    torch.manual_seed(zlib.crc32(_case_id(case).encode()) if isinstance(w, tuple) else w * 10 + a)
    model: Any
    shape: tuple[int, ...]
    if family == "tfc":
        from dse.models.tfc import TFCConfig, build_tfc

        model, shape, fps = build_tfc(TFCConfig(hidden=desc, weight_bits=w, act_bits=a)), (1, 784), 2e5
    elif family == "cnv":
        from dse.models.cnv import CNVConfig, build_cnv

        cfg = CNVConfig(channels=desc[0], fc=desc[1], weight_bits=w, act_bits=a)
        model, shape, fps = build_cnv(cfg), (1, 3, 32, 32), 2e4
    else:
        from dse.models.mobilenet import MobileNetConfig, build_mobilenet

        channels, strides, size = desc
        mcfg = MobileNetConfig(channels=channels, strides=strides, image_size=size, weight_bits=w, act_bits=a)
        model, shape, fps = build_mobilenet(mcfg), (1, 3, size, size), 2e4
    path = export_qonnx(model, tmp / "m.onnx", input_shape=shape)
    with captured(tmp / "finn.log"):
        hw = to_hw_graph(path, part=PART, work_dir=tmp)
        folded, config = fold(hw, clock_ns=5.0, target_fps=fps)
        finn_estimate, _ = analyse(folded, board_name="U280", clock_ns=5.0)
    cache[case] = (graph_from_finn(folded), config, finn_estimate)
    return cache[case]


def _fast(case: Any, config: dict[str, Any]) -> est.DataflowGraph:
    (family, desc), w, a = case
    if family == "tfc":
        graph = tfc_graph(desc, w, a)
    elif family == "cnv":
        graph = cnv_graph(desc[0], desc[1], w, a)
    else:
        graph = mobilenet_graph(desc[0], desc[1], w, a, image_size=desc[2])
    return est.apply_folding_config(graph, config)


CASES: list[Any] = [*TFC_CASES, *CNV_CASES, *MOBILENET_CASES, *MIXED_CASES]


def _case_id(case: Any) -> str:
    (family, desc), w, a = case
    bits = ["".join(map(str, b)) if isinstance(b, tuple) else str(b) for b in (w, a)]
    return f"{family}-{desc}-w{bits[0]}a{bits[1]}"


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fast_records_match_finn(case: Any, finn_runs: dict[Any, Any], tmp_path: Path) -> None:
    finn_graph, config, _ = _finn(case, finn_runs, tmp_path)
    fast = _fast(case, config)
    assert [(x.name, type(x)) for x in fast.layers] == [(y.name, type(y)) for y in finn_graph.layers]
    assert fast.preds == finn_graph.preds
    for ours, theirs in zip(fast.layers, finn_graph.layers):
        acc = _acc_fields(ours)
        for f in dataclasses.fields(ours):
            if f.name in acc:  # worst case: never narrower than FINN's weight-based width
                assert getattr(ours, f.name) >= getattr(theirs, f.name), (ours.name, f.name)
            else:
                assert getattr(ours, f.name) == getattr(theirs, f.name), (ours.name, f.name)


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fast_costs_match_finn(case: Any, finn_runs: dict[Any, Any], tmp_path: Path) -> None:
    finn_graph, config, finn_estimate = _finn(case, finn_runs, tmp_path)
    fast = _fast(case, config)
    # the fast graph with FINN's accumulator widths is FINN's graph, record for record
    exact = tuple(dataclasses.replace(ours, **{n: getattr(theirs, n) for n in _acc_fields(ours)})
                  for ours, theirs in zip(fast.layers, finn_graph.layers))
    assert exact == finn_graph.layers
    mine = est.estimate_graph(fast, PART, clock_ns=5.0)
    with_finn_acc = est.estimate_graph(est.DataflowGraph(exact, fast.preds), PART, clock_ns=5.0)
    for cost, exact_cost, theirs in zip(mine.costs, with_finn_acc.costs, finn_estimate.layers):
        assert (cost.cycles, cost.bram18, cost.uram, cost.dsp) == \
            (theirs.cycles, theirs.bram18, theirs.uram, theirs.dsp), theirs.name
        assert cost.lut >= theirs.lut and exact_cost.lut == theirs.lut, theirs.name
