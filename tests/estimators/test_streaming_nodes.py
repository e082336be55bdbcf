"""Cost models of the non-MVAU nodes: fidelity against finn-plus 1.6.1, and invariants.

Fidelity tests build one single-node FINN model per random attribute draw, read it with the
dse.finn.graph.streaming converter and compare our NodeCost with FINN's own estimates on an
UltraScale+ and a Versal part.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.core import FoldingError, NodeCost, known_layer_types, node_cost
from estimators.dwc import StreamingDataWidthConverter
from estimators.fifo import StreamingFIFO
from estimators.streaming import DuplicateStreams, FMPadding, LabelSelect, Pool, Reshape
from estimators.swg import ConvolutionInputGenerator
from estimators.thresholding import Thresholding

PARTS = ("xcu280-fsvh2892-2L-e", "xcvc1902-vsva2197-2MP-e-S")
CASES = 150  # random draws per op type (each checked on both parts)
RECORDS = (ConvolutionInputGenerator, Thresholding, Pool, LabelSelect, FMPadding, Reshape,
           DuplicateStreams, StreamingDataWidthConverter, StreamingFIFO)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# --- fidelity against FINN ---------------------------------------------------------------------

def _dtype(rng: np.random.Generator, max_bits: int = 8, signed: bool | None = None) -> str:
    bits = int(rng.integers(1, max_bits + 1))
    if bits == 1:
        return str(rng.choice(["BIPOLAR", "BINARY"]))
    if signed is None:
        signed = bool(rng.integers(2))
    return f"{'INT' if signed else 'UINT'}{bits}"


def _single_node_model(op_type: str, impl: str, inputs: list[tuple[str, list[int], str]],
                       outputs: list[tuple[str, list[int], str]], inits: dict[str, np.ndarray] | None = None,
                       **attrs: Any) -> tuple[Any, Any]:
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    inits = inits or {}
    node = helper.make_node(f"{op_type}_{impl}", [n for n, _, _ in inputs], [n for n, _, _ in outputs],
                            domain=f"finn.custom_op.fpgadataflow.{impl}", backend="fpgadataflow",
                            name=f"{op_type}_{impl}_0", **attrs)
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    graph = helper.make_graph([node], "single", [vi(n, s) for n, s, _ in inputs if n not in inits],
                              [vi(n, s) for n, s, _ in outputs])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="test"))
    for n, _, dt in inputs + outputs:
        model.set_tensor_datatype(n, DataType[dt])
    for n, v in inits.items():
        model.set_initializer(n, v)
    return model.graph.node[0], model


def _finn_cost(node: Any, part: str) -> NodeCost:
    from qonnx.custom_op.registry import getCustomOp

    op = getCustomOp(node)
    return NodeCost(cycles=int(op.get_exp_cycles()), lut=float(op.lut_estimation(part)),
                    bram18=float(op.bram_estimation(part)), uram=float(op.uram_estimation(part)),
                    dsp=float(op.dsp_estimation(part)))


def _check_all(cases: Iterator[tuple[Any, Any]], convert: Callable[[Any, Any], object]) -> None:
    mismatches, lut_inexact, n = [], 0, 0
    for node, model in cases:
        layer = convert(node, model)
        for part in PARTS:
            # a structural model (NodeCost.finn set) keeps FINN's figures beside its own LUTs
            model, finn = node_cost(layer, part), _finn_cost(node, part)
            ours = model.finn_figures
            assert (model.cycles, model.bram18, model.uram) == (ours.cycles, ours.bram18, ours.uram)
            assert model.lut >= ours.lut
            n += 1
            exact = (ours.cycles, ours.bram18, ours.uram, ours.dsp) == (finn.cycles, finn.bram18, finn.uram, finn.dsp)
            if not exact or abs(ours.lut - finn.lut) > 0.01 * max(1.0, finn.lut):
                mismatches.append((part, layer, ours, finn))
            lut_inexact += ours.lut != finn.lut
    assert n >= 2 * 100
    assert not mismatches, f"{len(mismatches)}/{n} differ, e.g. {mismatches[:3]}"
    assert lut_inexact == 0, f"LUT within 1% but not exact in {lut_inexact}/{n}"


def _swg_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        big = rng.random() < 0.1  # reach the >16384-deep BRAM cascade
        c = int(rng.choice([256, 512])) if big else int(rng.integers(1, 65))
        simd = 1 if big else int(rng.choice(divisors(c)))
        one_d = rng.random() < 0.25
        k_h, k_w, d_h, d_w, s_h, s_w = (int(rng.integers(1, hi)) for hi in (6, 6, 3, 3, 4, 4))
        span_h, span_w = (k_h - 1) * d_h + 1, (k_w - 1) * d_w + 1
        h = max(span_h, s_h) + int(rng.integers(0, 64 if big else 20))
        w = max(span_w, s_w) + int(rng.integers(0, 64 if big else 20))
        if one_d:  # (1, D) or (D, 1)
            k_h = d_h = s_h = h = 1
            if rng.random() < 0.5:
                k_h, k_w, d_h, d_w, s_h, s_w, h, w = k_w, k_h, d_w, d_h, s_w, s_h, w, h
        depthwise = int(rng.integers(2))
        parallel = int(rng.random() < 0.3)
        if parallel and not depthwise and k_h * k_w > 1:
            simd = c
        ifm = [h, w]
        ofm = [(h - d_h * (k_h - 1) - 1) // s_h + 1, (w - d_w * (k_w - 1) - 1) // s_w + 1]
        dt = _dtype(rng)
        yield _single_node_model(
            "ConvolutionInputGenerator", "rtl",
            [("inp", [1, h, w, c], dt)], [("out", [1, *ofm, k_h * k_w * c], dt)],
            ConvKernelDim=[k_h, k_w], IFMChannels=c, IFMDim=ifm, OFMDim=ofm, SIMD=simd,
            Stride=[s_h, s_w], Dilation=[d_h, d_w], inputDataType=dt, outputDataType=dt,
            depthwise=depthwise, parallel_window=parallel,
            ram_style=str(rng.choice(["auto", "block", "distributed", "ultra"])),
        )


def _threshold_cases(seed: int, impl: str) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        nc = int(rng.choice([int(rng.integers(1, 300)), 1024, 2048, 4096]))
        pe = int(rng.choice(divisors(nc)))
        odt = _dtype(rng)
        out_bits = 1 if odt in ("BIPOLAR", "BINARY") else int(odt.lstrip("UINT"))
        steps = 2**out_bits - 1
        wdt = f"INT{int(rng.integers(2, 25))}" if rng.random() < 0.7 else "FLOAT32"
        idt = _dtype(rng) if wdt != "FLOAT32" else "FLOAT32"
        vecs = [1] if rng.random() < 0.5 else [1, int(rng.integers(1, 33)), int(rng.integers(1, 33))]
        attrs: dict[str, Any] = {}
        if impl == "hls":
            attrs = {"ram_style": str(rng.choice(["distributed", "block", "ultra"])),
                     "mem_mode": str(rng.choice(["internal_embedded", "internal_decoupled"]))}
        else:
            trig = rng.random()
            if trig < 0.5:
                attrs = {"depth_trigger_bram": 0, "depth_trigger_uram": 0}
            else:  # includes FINN's bram-only trigger quirk
                attrs = {"depth_trigger_bram": int(rng.choice([0, 16, 64, 256, 1024])),
                         "depth_trigger_uram": int(rng.choice([0, 512, 4096, 65536]))}
            attrs["uniform_thres"] = int(rng.random() < 0.2)
            if rng.random() < 0.1:
                attrs["mlo_max_iter"] = int(rng.integers(2, 5))
        yield _single_node_model(
            "Thresholding", impl,
            [("inp", [*vecs, nc], idt), ("thr", [nc, steps], wdt)], [("out", [*vecs, nc], odt)],
            inits={"thr": np.zeros((nc, steps), dtype=np.float32)},
            NumChannels=nc, PE=pe, numSteps=steps, inputDataType=idt, weightDataType=wdt,
            outputDataType=odt, numInputVectors=vecs, ActVal=0, **attrs,
        )


def _pool_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        c, k = int(rng.integers(1, 257)), int(rng.integers(1, 5))
        pe = int(rng.choice(divisors(c)))
        oh, ow, batch = int(rng.integers(1, 33)), int(rng.integers(1, 33)), int(rng.integers(1, 3))
        fn = str(rng.choice(["MaxPool", "AvgPool", "AccPool", "QuantAvgPool"]))
        idt = _dtype(rng, signed=bool(rng.integers(2))) if fn != "QuantAvgPool" else "UINT4"
        odt = idt if fn == "MaxPool" else ("UINT8" if fn == "QuantAvgPool" else "INT16")
        yield _single_node_model(
            "Pool", "hls", [("inp", [batch, oh, ow, k * k * c], idt)], [("out", [batch, oh, ow, c], odt)],
            Channels=c, PE=pe, KernelSize=[k, k], Function=fn, OutImgDims=[oh, ow],
            InputDataType=idt, OutputDataType=odt, BatchSize=batch,
        )


def _labelselect_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        labels = int(rng.integers(2, 1001))
        pe, k = int(rng.choice(divisors(labels))), int(rng.integers(1, min(labels, 5) + 1))
        idt, odt = _dtype(rng, 16), f"UINT{max(1, (labels - 1).bit_length())}"
        yield _single_node_model(
            "LabelSelect", "hls", [("inp", [1, labels], idt)], [("out", [1, k], odt)],
            Labels=labels, PE=pe, K=k, inputDataType=idt, outputDataType=odt,
        )


def _fmpadding_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        c, h, w = int(rng.integers(1, 129)), int(rng.integers(1, 65)), int(rng.integers(1, 65))
        simd = int(rng.choice(divisors(c)))
        pad = [int(v) for v in rng.integers(0, 4, size=4)]
        dt = _dtype(rng).replace("BIPOLAR", "BINARY")  # FINN pads with 0, which BIPOLAR lacks
        yield _single_node_model(
            "FMPadding", "rtl", [("inp", [1, h, w, c], dt)],
            [("out", [1, h + pad[0] + pad[2], w + pad[1] + pad[3], c], dt)],
            ImgDim=[h, w], Padding=pad, NumChannels=c, SIMD=simd, inputDataType=dt,
            numInputVectors=int(rng.integers(1, 3)),
        )


def _reshape_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        h, w, c = (int(rng.integers(1, 17)) for _ in range(3))
        pe = int(rng.choice([p for p in divisors(c) if (h * w * c) % p == 0]))
        dt = _dtype(rng)
        yield _single_node_model(
            "Reshape", "rtl", [("inp", [1, h, w, c], dt)], [("out", [1, h * w * c], dt)],
            inp_shape=[1, h, w, c], out_shape=[1, h * w * c], dtype=dt, PE=pe,
        )


def _duplicate_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(CASES):
        c, n_out = int(rng.integers(1, 257)), int(rng.integers(2, 4))
        pe = int(rng.choice(divisors(c)))
        vecs = [1] if rng.random() < 0.3 else [1, int(rng.integers(1, 33)), int(rng.integers(1, 33))]
        dt = _dtype(rng)
        yield _single_node_model(
            "DuplicateStreams", "hls", [("inp", [*vecs, c], dt)], [(f"out{i}", [*vecs, c], dt) for i in range(n_out)],
            NumChannels=c, PE=pe, NumOutputStreams=n_out, inputDataType=dt, numInputVectors=vecs,
        )


def _dwc_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    for i in range(CASES):
        impl = ("hls", "rtl")[i % 2]
        shape = [1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 257))]
        dt = _dtype(rng)
        bits = 1 if dt in ("BIPOLAR", "BINARY") else int(dt.lstrip("UINT"))
        total = int(np.prod(shape))
        elem_choices = divisors(shape[-1]) + [d for d in divisors(total) if d <= 4 * shape[-1]]
        e_in, e_out = (int(rng.choice(elem_choices)) for _ in range(2))
        yield _single_node_model(
            "StreamingDataWidthConverter", impl, [("inp", shape, dt)], [("out", shape, dt)],
            inShape=shape, outShape=shape, inWidth=e_in * bits, outWidth=e_out * bits, dataType=dt,
        )


def _fifo_cases(seed: int) -> Iterator[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    edges = [0, 1, 2, 3, 4, 5, 32, 33, 34, 64, 65, 128, 257, 258, 512, 513, 1024, 2028, 2029, 4096, 4113, 8192]
    for i in range(CASES * 2):
        depth = int(rng.choice(edges)) if rng.random() < 0.4 else int(np.exp(rng.uniform(0, np.log(300000))))
        dt = _dtype(rng, 16)
        pe = int(rng.choice([1, 2, 3, 4, 8, 16, 32, 64]))
        folded = [1, int(rng.integers(1, 50)), pe]
        yield _single_node_model(
            "StreamingFIFO", "rtl" if i % 4 else "hls", [("inp", folded, dt)], [("out", folded, dt)],
            depth=depth, folded_shape=folded, normal_shape=[1, folded[1] * pe], dataType=dt,
            ram_style=str(rng.choice(["auto", "auto", "srl", "block", "distributed", "ultra"])),
        )


@pytest.fixture(scope="module")
def conv() -> Any:
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()
    from dse.finn.graph import streaming

    return streaming


@pytest.mark.finn
def test_swg_matches_finn(conv: Any) -> None:
    _check_all(_swg_cases(1), conv.convolutioninputgenerator_from_finn)


@pytest.mark.finn
@pytest.mark.parametrize("impl", ["hls", "rtl"])
def test_thresholding_matches_finn(conv: Any, impl: str) -> None:
    _check_all(_threshold_cases(2, impl), conv.thresholding_from_finn)


@pytest.mark.finn
def test_pool_matches_finn(conv: Any) -> None:
    _check_all(_pool_cases(3), conv.pool_from_finn)


@pytest.mark.finn
def test_labelselect_matches_finn(conv: Any) -> None:
    _check_all(_labelselect_cases(4), conv.labelselect_from_finn)


@pytest.mark.finn
def test_fmpadding_matches_finn(conv: Any) -> None:
    _check_all(_fmpadding_cases(5), conv.fmpadding_from_finn)


@pytest.mark.finn
def test_reshape_matches_finn(conv: Any) -> None:
    _check_all(_reshape_cases(6), conv.reshape_from_finn)


@pytest.mark.finn
def test_duplicatestreams_matches_finn(conv: Any) -> None:
    _check_all(_duplicate_cases(7), conv.duplicatestreams_from_finn)


@pytest.mark.finn
def test_dwc_matches_finn(conv: Any) -> None:
    _check_all(_dwc_cases(8), conv.streamingdatawidthconverter_from_finn)


@pytest.mark.finn
def test_fifo_matches_finn(conv: Any) -> None:
    _check_all(_fifo_cases(9), conv.streamingfifo_from_finn)


@pytest.mark.finn
def test_converters_cover_every_op_type(conv: Any) -> None:
    assert {t.rsplit("_", 1)[0] for t in conv.CONVERTERS} == {r.op_type for r in RECORDS}


@pytest.mark.finn
def test_converter_rejects_unspecialized_node(conv: Any) -> None:
    from onnx import helper

    node = helper.make_node("Pool", ["a"], ["b"], domain="finn.custom_op.fpgadataflow", name="p")
    with pytest.raises(ValueError, match="SpecializeLayers"):
        conv.pool_from_finn(node, None)


# --- registry and purity -----------------------------------------------------------------------

def test_every_record_is_registered() -> None:
    assert set(RECORDS) <= set(known_layer_types())


def test_modules_stay_pure() -> None:
    code = ("import sys, estimators.swg, estimators.thresholding, estimators.streaming, estimators.dwc, "
            "estimators.fifo; bad = {'torch', 'finn', 'qonnx', 'onnx', 'optuna'} & set(sys.modules); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- invariants (hypothesis) ------------------------------------------------------------------

PART = PARTS[0]


@st.composite
def swg_layers(draw: st.DrawFn) -> ConvolutionInputGenerator:
    c = draw(st.integers(1, 64))
    k_h, k_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    d_h, d_w, s_h, s_w = (draw(st.integers(1, 3)) for _ in range(4))
    h = max((k_h - 1) * d_h + 1, s_h) + draw(st.integers(0, 16))
    w = max((k_w - 1) * d_w + 1, s_w) + draw(st.integers(0, 16))
    depthwise, parallel = draw(st.booleans()), draw(st.booleans())
    simd = c if parallel and not depthwise else draw(st.sampled_from(divisors(c)))
    return ConvolutionInputGenerator(
        name="swg", ifm_channels=c, ifm_dim=(h, w), conv_kernel_dim=(k_h, k_w), simd=simd,
        input_bits=draw(st.integers(1, 8)), stride=(s_h, s_w), dilation=(d_h, d_w), depthwise=depthwise,
        parallel_window=parallel, ram_style=draw(st.sampled_from(["auto", "block", "distributed", "ultra"])),
    )


@st.composite
def threshold_layers(draw: st.DrawFn) -> Thresholding:
    nc = draw(st.integers(1, 512))
    out_bits = draw(st.integers(1, 8))
    return Thresholding(
        name="thr", impl=draw(st.sampled_from(["hls", "rtl"])), num_channels=nc,
        pe=draw(st.sampled_from(divisors(nc))), num_steps=2**out_bits - 1, input_bits=draw(st.integers(1, 16)),
        weight_bits=draw(st.integers(1, 32)), output_bits=out_bits,
        num_input_vectors=(1, draw(st.integers(1, 32)), draw(st.integers(1, 32))),
        ram_style=draw(st.sampled_from(["distributed", "block", "ultra"])),
        depth_trigger_bram=draw(st.sampled_from([0, 64, 1024])), depth_trigger_uram=draw(st.sampled_from([0, 4096])),
        uniform_thres=draw(st.booleans()),
    )


@st.composite
def simple_layers(draw: st.DrawFn) -> Any:
    c = draw(st.integers(1, 256))
    p = draw(st.sampled_from(divisors(c)))
    b = draw(st.integers(1, 8))
    return draw(st.sampled_from([
        Pool(name="pool", channels=c, pe=p, kernel_size=(2, 2), out_img_dims=(8, 8), input_bits=b, output_bits=b),
        LabelSelect(name="ls", labels=c, pe=p, k=1, input_bits=b, output_bits=8),
        FMPadding(name="pad", img_dim=(8, 9), padding=(1, 1, 1, 1), num_channels=c, simd=p, input_bits=b),
        Reshape(name="rs", inp_shape=(1, 4, c), out_shape=(1, 4 * c), dtype_bits=b, pe=p),
        DuplicateStreams(name="dup", num_channels=c, pe=p, num_output_streams=2, input_bits=b),
    ]))


FOLD_ATTR = {ConvolutionInputGenerator: ("simd", "ifm_channels"), Thresholding: ("pe", "num_channels"),
             Pool: ("pe", "channels"), LabelSelect: ("pe", "labels"), FMPadding: ("simd", "num_channels"),
             Reshape: ("pe", "inp_shape"), DuplicateStreams: ("pe", "num_channels")}


def _fold_total(layer: Any) -> int:
    total = getattr(layer, FOLD_ATTR[type(layer)][1])
    return total[-1] if isinstance(total, tuple) else total


@settings(max_examples=150, deadline=None)
@given(st.one_of(swg_layers(), threshold_layers(), simple_layers()))
def test_more_parallelism_never_more_cycles(layer: Any) -> None:
    attr = FOLD_ATTR[type(layer)][0]
    base = node_cost(layer, PART)
    assert min(base.cycles, base.lut, base.bram18, base.uram, base.dsp) >= 0
    for p in divisors(_fold_total(layer)):
        if p <= getattr(layer, attr):
            continue
        try:
            wider = replace(layer, **{attr: p})
        except FoldingError:
            continue  # e.g. Reshape's PE must divide both axes
        assert node_cost(wider, PART).cycles <= base.cycles


@settings(max_examples=100, deadline=None)
@given(st.one_of(swg_layers(), threshold_layers(), simple_layers()), st.integers(2, 1000))
def test_invalid_folding_raises(layer: Any, p: int) -> None:
    attr = FOLD_ATTR[type(layer)][0]
    if _fold_total(layer) % p == 0:
        p = _fold_total(layer) + 1 if _fold_total(layer) > 1 else 0
    with pytest.raises(FoldingError, match=attr.upper()):
        replace(layer, **{attr: p})


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(0, 300_000), width=st.integers(1, 300), bits=st.integers(1, 16),
       style=st.sampled_from(["auto", "srl", "block", "distributed", "ultra"]), part=st.sampled_from(PARTS))
def test_fifo_resources_nonnegative(depth: int, width: int, bits: int, style: Any, part: str) -> None:
    fifo = StreamingFIFO(name="f", depth=depth, folded_shape=(1, width), data_bits=bits, ram_style=style)
    cost = node_cost(fifo, part)
    assert cost.cycles == 0 and min(cost.lut, cost.bram18, cost.uram) >= 0


@settings(max_examples=100, deadline=None)
@given(c=st.integers(1, 128), bits=st.integers(1, 8), data=st.data())
def test_dwc_lut_nonnegative_and_identity_free(c: int, bits: int, data: st.DataObject) -> None:
    e_in, e_out = data.draw(st.sampled_from(divisors(c))), data.draw(st.sampled_from(divisors(c)))
    dwc = StreamingDataWidthConverter(name="d", impl="rtl", in_shape=(1, c), out_shape=(1, c),
                                      in_width=e_in * bits, out_width=e_out * bits, data_bits=bits)
    cost = node_cost(dwc, PART)
    assert cost.lut >= 0 and (cost.lut == 0) == (e_in == e_out)


def test_swg_parallel_window_needs_full_simd() -> None:
    with pytest.raises(FoldingError, match="SIMD == IFMChannels"):
        ConvolutionInputGenerator(name="s", ifm_channels=8, ifm_dim=(8, 8), conv_kernel_dim=(3, 3), simd=4,
                                  input_bits=4, parallel_window=True)
    # depthwise and 1x1 windows may keep SIMD < IFMChannels
    ConvolutionInputGenerator(name="s", ifm_channels=8, ifm_dim=(8, 8), conv_kernel_dim=(3, 3), simd=4,
                              input_bits=4, parallel_window=True, depthwise=True)
    ConvolutionInputGenerator(name="s", ifm_channels=8, ifm_dim=(8, 8), conv_kernel_dim=(1, 1), simd=4, input_bits=4)


def test_dwc_rejects_width_not_multiple_of_element() -> None:
    with pytest.raises(FoldingError, match="inWidth"):
        StreamingDataWidthConverter(name="d", impl="hls", in_shape=(1, 8), out_shape=(1, 8), in_width=6,
                                    out_width=8, data_bits=4)
