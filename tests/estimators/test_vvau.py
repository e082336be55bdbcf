"""VVAU cost model: exact agreement with finn-plus 1.6.1 on random single-node models, and invariants."""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.core import FoldingError, node_cost
from estimators.vvau import VVAU

U280, VERSAL = "xcu280-fsvh2892-2L-e", "xcvc1902-vsva2197-2MP-e-S"
CHANNELS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
KERNELS = ((1, 1), (3, 3), (5, 5), (7, 7), (1, 3), (3, 1), (1, 5), (2, 2), (4, 4))
DIMS = ((1, 1), (4, 4), (7, 7), (8, 8), (16, 16), (32, 32), (1, 32))
MEM_MODES = ("internal_embedded", "internal_decoupled", "external")
RAM_STYLES = ("auto", "block", "distributed", "ultra")


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _fold(rng: random.Random, n: int) -> int:
    """A divisor of n, biased to small ones so that deep memories (BRAM/URAM ladders) occur often."""
    options = divisors(n)
    return rng.choice(options[:2] if rng.random() < 0.4 else options)


def _dtype(rng: random.Random, *, min_bits: int = 1, signed: bool | None = None) -> str:
    signed = rng.random() < 0.5 if signed is None else signed
    bits = rng.randint(min_bits, 8)
    if bits == 1:
        return "BIPOLAR" if signed else "BINARY"
    return f"{'INT' if signed else 'UINT'}{bits}"


def _finn_vvau(seed: int) -> tuple[Any, tuple[str, ...]]:
    """A one-node FINN model with a random VVAU_hls/VVAU_rtl, and the parts FINN builds it for."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    rng = random.Random(seed)
    impl = "rtl" if rng.random() < 0.3 else "hls"
    ch = rng.choice(CHANNELS)
    (k_h, k_w), (dim_h, dim_w) = rng.choice(KERNELS), rng.choice(DIMS)
    pe, simd = _fold(rng, ch), _fold(rng, k_h * k_w)
    attrs: dict[str, Any] = {
        "Channels": ch, "Kernel": [k_h, k_w], "Dim": [dim_h, dim_w], "PE": pe, "SIMD": simd,
        "mem_mode": rng.choice(MEM_MODES), "ram_style": rng.choice(RAM_STYLES),
    }
    parts: tuple[str, ...]
    if impl == "rtl":  # SpecializeLayers: Versal only, no thresholds, signed weights <= 8 bits
        idt, wdt = _dtype(rng, min_bits=2), _dtype(rng, min_bits=2, signed=True)
        attrs["resType"] = rng.choice(("auto", "dsp"))
        no_act, parts = True, (VERSAL,)
    else:
        idt, wdt = _dtype(rng), _dtype(rng)
        attrs["resType"] = rng.choice(("auto", "lut", "dsp"))
        no_act, parts = rng.random() < 0.4, (U280, VERSAL)
    adt = f"{'INT' if rng.random() < 0.7 else 'UINT'}{rng.randint(2, 32)}"
    odt = adt if no_act else _dtype(rng)
    attrs.update(noActivation=int(no_act), inputDataType=idt, weightDataType=wdt, outputDataType=odt,
                 accDataType=adt)

    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, dim_h, dim_w, k_h * k_w * ch])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, dim_h, dim_w, ch])
    inputs = ["inp", "weights"] + ([] if no_act else ["thresholds"])
    node = helper.make_node(f"VVAU_{impl}", inputs, ["out"], name=f"VVAU_{impl}_{seed}",
                            domain=f"finn.custom_op.fpgadataflow.{impl}", backend="fpgadataflow", **attrs)
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "vvau", [inp], [out])))
    nprng = np.random.default_rng(seed)
    w = DataType[wdt]
    model.set_initializer("weights", nprng.integers(w.min(), w.max() + 1, (ch, 1, k_h, k_w)).astype(np.float32))
    model.set_tensor_datatype("weights", w)
    if not no_act:
        n_thr = 2 ** DataType[odt].bitwidth() - 1
        thr = np.sort(nprng.integers(-100, 100, (ch, n_thr)), axis=1).astype(np.float32)
        model.set_initializer("thresholds", thr)
        model.set_tensor_datatype("thresholds", DataType["INT8"])
    model.set_tensor_datatype("inp", DataType[idt])
    model.set_tensor_datatype("out", DataType[odt])
    return model, parts


@pytest.mark.finn
@pytest.mark.parametrize("seed", range(240))
def test_matches_finn(seed: int) -> None:
    from qonnx.custom_op.registry import getCustomOp

    from dse.finn.graph.mvau import vvau_from_finn

    model, parts = _finn_vvau(seed)
    node = model.graph.node[0]
    layer = vvau_from_finn(node, model)
    finn = getCustomOp(node)
    for part in parts:
        cost = node_cost(layer, part)
        expected = (finn.get_exp_cycles(), finn.lut_estimation(part), finn.bram_estimation(part),
                    finn.uram_estimation(part), finn.dsp_estimation(part))
        assert (cost.cycles, cost.lut, cost.bram18, cost.uram, cost.dsp) == expected, (layer, part)


# --- invariants ----------------------------------------------------------------------------------

@st.composite
def vvau_specs(draw: st.DrawFn) -> VVAU:
    impl: Literal["hls", "rtl"] = draw(st.sampled_from(("hls", "rtl")))
    ch = draw(st.sampled_from(CHANNELS))
    (k_h, k_w), (dim_h, dim_w) = draw(st.sampled_from(KERNELS)), draw(st.sampled_from(DIMS))
    return VVAU(
        name="dw", impl=impl, channels=ch, k_h=k_h, k_w=k_w, dim_h=dim_h, dim_w=dim_w,
        pe=draw(st.sampled_from(divisors(ch))), simd=draw(st.sampled_from(divisors(k_h * k_w))),
        input_bits=draw(st.integers(1, 8)), input_signed=draw(st.booleans()),
        weight_bits=draw(st.integers(1, 8)), output_bits=draw(st.integers(1, 8)),
        acc_bits=draw(st.integers(2, 32)),
        no_activation=True if impl == "rtl" else draw(st.booleans()),
        mem_mode=draw(st.sampled_from(MEM_MODES)), ram_style=draw(st.sampled_from(RAM_STYLES)),
        res_type=draw(st.sampled_from(("auto", "dsp") if impl == "rtl" else ("auto", "lut", "dsp"))),
    )


@given(vvau_specs(), st.sampled_from((U280, VERSAL)))
def test_resources_non_negative_and_cycles_closed_form(layer: VVAU, part: str) -> None:
    cost = node_cost(layer, part)
    assert min(cost.lut, cost.bram18, cost.uram, cost.dsp) >= 0
    folds = (layer.channels // layer.pe) * (layer.kernel_area // layer.simd)
    assert cost.cycles == folds * layer.dim_h * layer.dim_w


@settings(max_examples=50)
@given(vvau_specs())
def test_more_pe_or_simd_never_more_cycles(layer: VVAU) -> None:
    base = node_cost(layer, VERSAL).cycles
    for pe in divisors(layer.channels):
        if pe > layer.pe:
            assert node_cost(replace(layer, pe=pe), VERSAL).cycles <= base
    for simd in divisors(layer.kernel_area):
        if simd > layer.simd:
            assert node_cost(replace(layer, simd=simd), VERSAL).cycles <= base
    unfolded = replace(layer, pe=layer.channels, simd=layer.kernel_area)
    assert node_cost(unfolded, VERSAL).cycles == layer.dim_h * layer.dim_w


@given(vvau_specs(), st.integers(-3, 2000))
def test_invalid_folding_raises(layer: VVAU, pe: int) -> None:
    if pe >= 1 and layer.channels % pe == 0:
        return
    with pytest.raises(FoldingError, match=rf"pe={pe} of 'dw'"):
        replace(layer, pe=pe)
    with pytest.raises(FoldingError, match="simd"):
        replace(layer, simd=layer.kernel_area + 1)


@pytest.mark.parametrize("change", [{"res_type": "lut"}, {"no_activation": False}, {"ram_style": "bram"}])
def test_rtl_rules(change: dict[str, Any]) -> None:
    ok = VVAU(name="dw", impl="rtl", channels=8, k_h=3, k_w=3, dim_h=4, dim_w=4, pe=2, simd=3,
              input_bits=4, input_signed=False, weight_bits=4, output_bits=16, no_activation=True)
    assert node_cost(ok, VERSAL).dsp == 2
    with pytest.raises(FoldingError):
        replace(ok, **change)
