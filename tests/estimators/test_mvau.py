"""MVAU cost model: exact agreement with finn-plus 1.6.1 on random single-node models, and invariants."""
from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.core import FoldingError, node_cost
from estimators.mvau import MVAU

PARTS = ("xcu280-fsvh2892-2L-e", "xcvc1902-vsva2197-2MP-e-S")
SIZES = (1, 2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 32, 36, 48, 64, 72, 96, 128, 144, 192, 256, 288, 384, 512,
         576, 768, 1024)
VECS = ([1], [4], [1, 3, 3], [1, 7, 7], [2, 4, 4], [1, 16, 16])
MEM_MODES = ("internal_embedded", "internal_decoupled", "external", "external_mem", "dynamic")


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _fold(rng: random.Random, n: int) -> int:
    """A divisor of n, biased to small ones so that narrow and deep memories occur often."""
    options = divisors(n)
    return rng.choice(options[:2] if rng.random() < 0.3 else options)


def _dtype(rng: random.Random, *, min_bits: int = 1, signed: bool | None = None) -> str:
    signed = rng.random() < 0.5 if signed is None else signed
    bits = rng.randint(min_bits, 8)
    if bits == 1:
        return "BIPOLAR" if signed else "BINARY"
    if bits == 2 and signed and rng.random() < 0.3:
        return "TERNARY"
    return f"{'INT' if signed else 'UINT'}{bits}"


def _finn_mvau(seed: int) -> Any:
    """A one-node FINN model holding a random, FINN-legal MVAU_hls or MVAU_rtl."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    rng = random.Random(seed)
    impl = "rtl" if rng.random() < 0.3 else "hls"
    while True:
        mw, mh = rng.choice(SIZES), rng.choice(SIZES)
        if mw * mh <= 1 << 18:
            break
    pe, simd = _fold(rng, mh), _fold(rng, mw)
    vecs = rng.choice(VECS)
    attrs: dict[str, Any] = {
        "MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "numInputVectors": vecs,
        "mem_mode": rng.choice(MEM_MODES),
        "ram_style": rng.choice(("auto", "block", "distributed", "ultra")),
        "ram_style_thresholds": rng.choice(("auto", "block", "distributed")),
    }
    if impl == "rtl":  # what SpecializeLayers allows: no thresholds, signed weights, >= 2-bit operands
        idt, wdt = _dtype(rng, min_bits=2), _dtype(rng, min_bits=2, signed=True)
        attrs["resType"] = rng.choice(("auto", "dsp"))
        n_vecs = math.prod(vecs)
        attrs["TH"] = rng.choice(divisors(math.gcd(pe * simd, n_vecs)))
        no_act = True
    else:
        xnor = rng.random() < 0.15
        idt = "BINARY" if xnor else _dtype(rng)
        wdt = "BINARY" if xnor else _dtype(rng)
        attrs["binaryXnorMode"] = int(xnor)
        attrs["resType"] = rng.choice(("auto", "lut", "dsp"))
        no_act = rng.random() < 0.4
    acc_bits = rng.randint(2, 32)
    adt = f"{'INT' if rng.random() < 0.7 else 'UINT'}{acc_bits}"
    if no_act:
        odt = adt
    else:
        odt = _dtype(rng, min_bits=1)
        if DataType[odt].bitwidth() > 4 and mh > 64:  # keep threshold tensors small
            odt = "UINT4"
    attrs.update(noActivation=int(no_act), inputDataType=idt, weightDataType=wdt, outputDataType=odt,
                 accDataType=adt)

    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, [*vecs, mw])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [*vecs, mh])
    inputs = ["inp", "weights"] + ([] if no_act else ["thresholds"])
    node = helper.make_node(f"MVAU_{impl}", inputs, ["out"], name=f"MVAU_{impl}_{seed}",
                            domain=f"finn.custom_op.fpgadataflow.{impl}", backend="fpgadataflow", **attrs)
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "mvau", [inp], [out])))
    nprng = np.random.default_rng(seed)
    w = DataType[wdt]
    model.set_initializer("weights", nprng.integers(w.min(), w.max() + 1, (mw, mh)).astype(np.float32))
    model.set_tensor_datatype("weights", w)
    if not no_act:
        n_thr = 2 ** DataType[odt].bitwidth() - 1
        thr = np.sort(nprng.integers(-100, 100, (mh, n_thr)), axis=1).astype(np.float32)
        model.set_initializer("thresholds", thr)
        model.set_tensor_datatype("thresholds", DataType["INT8"])
    model.set_tensor_datatype("inp", DataType[idt])
    model.set_tensor_datatype("out", DataType[odt])
    return model


@pytest.mark.finn
@pytest.mark.parametrize("seed", range(240))
def test_matches_finn(seed: int) -> None:
    from qonnx.custom_op.registry import getCustomOp

    from dse.finn.graph.mvau import mvau_from_finn

    model = _finn_mvau(seed)
    node = model.graph.node[0]
    layer = mvau_from_finn(node, model)
    finn = getCustomOp(node)
    for part in PARTS:
        cost = node_cost(layer, part)
        expected = (finn.get_exp_cycles(), finn.lut_estimation(part), finn.bram_estimation(part),
                    finn.uram_estimation(part), finn.dsp_estimation(part))
        assert (cost.cycles, cost.lut, cost.bram18, cost.uram, cost.dsp) == expected, (layer, part)


def test_converter_rejects_unspecialized_node() -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    from dse.finn.graph.mvau import mvau_from_finn

    node = helper.make_node("MVAU", ["x", "w"], ["y"], name="fc0")
    with pytest.raises(ValueError, match="SpecializeLayers"):
        mvau_from_finn(node, None)  # type: ignore[arg-type]


# --- invariants ----------------------------------------------------------------------------------

@st.composite
def mvau_specs(draw: st.DrawFn) -> MVAU:
    impl: Literal["hls", "rtl"] = draw(st.sampled_from(("hls", "rtl")))
    mw, mh = draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES))
    pe, simd = draw(st.sampled_from(divisors(mh))), draw(st.sampled_from(divisors(mw)))
    n_vecs = draw(st.sampled_from((1, 4, 9, 49, 256)))
    return MVAU(
        name="fc", impl=impl, mw=mw, mh=mh, pe=pe, simd=simd, num_input_vectors=n_vecs,
        input_bits=draw(st.integers(1, 8)), input_signed=draw(st.booleans()),
        weight_bits=draw(st.integers(1, 8)), output_bits=draw(st.integers(1, 8)),
        acc_bits=draw(st.integers(2, 32)),
        no_activation=True if impl == "rtl" else draw(st.booleans()),
        mem_mode=draw(st.sampled_from(MEM_MODES)),
        ram_style=draw(st.sampled_from(("auto", "block", "distributed", "ultra"))),
        ram_style_thresholds=draw(st.sampled_from(("auto", "block", "distributed"))),
        res_type=draw(st.sampled_from(("auto", "dsp") if impl == "rtl" else ("auto", "lut", "dsp"))),
    )


@given(mvau_specs(), st.sampled_from(PARTS))
def test_resources_non_negative_and_cycles_closed_form(layer: MVAU, part: str) -> None:
    cost = node_cost(layer, part)
    assert min(cost.lut, cost.bram18, cost.uram, cost.dsp) >= 0
    assert cost.cycles == (layer.mh // layer.pe) * (layer.mw // layer.simd) * layer.num_input_vectors


@settings(max_examples=50)
@given(mvau_specs(), st.sampled_from(PARTS))
def test_more_pe_or_simd_never_more_cycles(layer: MVAU, part: str) -> None:
    base = node_cost(layer, part).cycles
    for pe in divisors(layer.mh):
        if pe > layer.pe:
            assert node_cost(replace(layer, pe=pe), part).cycles <= base
    for simd in divisors(layer.mw):
        if simd > layer.simd:
            assert node_cost(replace(layer, simd=simd), part).cycles <= base
    unfolded = replace(layer, pe=layer.mh, simd=layer.mw)
    assert node_cost(unfolded, part).cycles == layer.num_input_vectors


@given(mvau_specs(), st.integers(-3, 2000))
def test_invalid_folding_raises(layer: MVAU, pe: int) -> None:
    if pe >= 1 and layer.mh % pe == 0:
        return
    with pytest.raises(FoldingError, match=rf"pe={pe} of 'fc'"):
        replace(layer, pe=pe)
    with pytest.raises(FoldingError, match="simd"):
        replace(layer, simd=layer.mw + 1)


def test_error_message_lists_allowed_values() -> None:
    with pytest.raises(FoldingError) as err:
        MVAU(name="MVAU_hls_0", impl="hls", mw=32, mh=64, pe=6, simd=1, input_bits=2, input_signed=False,
             weight_bits=2, output_bits=2)
    assert str(err.value) == ("pe=6 of 'MVAU_hls_0' must divide mh=64 "
                              "(allowed: [1, 2, 4, 8, 16, 32, 64])")


@pytest.mark.parametrize("change", [{"res_type": "lut"}, {"no_activation": False}, {"th": 3},
                                    {"mem_mode": "internal_decoupledd"}])
def test_rtl_rules(change: dict[str, Any]) -> None:
    ok = MVAU(name="m", impl="rtl", mw=8, mh=8, pe=2, simd=2, input_bits=4, input_signed=True,
              weight_bits=4, output_bits=16, no_activation=True, num_input_vectors=4)
    with pytest.raises(FoldingError):
        replace(ok, **change)


def test_tiling_height_slows_rtl_down() -> None:
    layer = MVAU(name="m", impl="rtl", mw=8, mh=8, pe=2, simd=2, input_bits=4, input_signed=True,
                 weight_bits=4, output_bits=16, no_activation=True, num_input_vectors=4, th=2)
    assert node_cost(layer, PARTS[0]).cycles == 4 * 4 * 4 * 2
