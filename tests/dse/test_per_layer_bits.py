"""Per-layer weight/activation bits in the model families (TFC, CNV, MobileNet): an int means every
layer, a tuple one entry per layer; the Brevitas nets use each layer's own bits. That FINN maps
such nets, record for record as the fast path predicts, is tested in tests/estimators/test_families.py
(MIXED_CASES)."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

MOBILENET_SMALL = {"channels": (8, 16, 16, 32), "strides": (2, 2, 2, 2), "image_size": 16}


def _configs() -> dict[str, tuple[Any, dict[str, Any], int]]:
    """family -> (config class, shape keywords, number of weight layers)."""
    from dse.models.cnv import CNVConfig
    from dse.models.mobilenet import MobileNetConfig
    from dse.models.tfc import TFCConfig

    return {
        "tfc": (TFCConfig, {"hidden": (32, 32, 32)}, 4),
        "cnv": (CNVConfig, {"channels": (8, 8, 16, 16, 32, 32), "fc": (32, 32)}, 9),
        "mobilenet": (MobileNetConfig, MOBILENET_SMALL, 8),
    }


def _bits_in_model(model: Any) -> tuple[list[int], list[int]]:
    """Weight bits of every quantized conv/linear and bits of every quantized activation, in order."""
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU

    weights, acts = [], []
    for module in model.modules():
        if isinstance(module, (QuantConv2d, QuantLinear)):
            weights.append(int(module.quant_weight().bit_width))
        elif isinstance(module, (QuantReLU, QuantIdentity)):
            acts.append(int(module.act_quant.bit_width()))
    return weights, acts


@pytest.mark.parametrize("family", ["tfc", "cnv", "mobilenet"])
def test_int_means_every_layer(family: str) -> None:
    cls, shape, n = _configs()[family]
    cfg = cls(weight_bits=2, act_bits=4, **shape)
    assert (cfg.layer_weight_bits, cfg.layer_act_bits) == ((2,) * n, (4,) * (n - 1))
    assert cfg.weight_bits == 2 and cfg.act_bits == 4  # stored as given
    per_layer = cls(weight_bits=(2,) * n, act_bits=[4] * (n - 1), **shape)
    assert per_layer.act_bits == (4,) * (n - 1) and hash(per_layer)  # lists are stored as tuples


@pytest.mark.parametrize(("family", "weight_bits", "act_bits"), [
    ("tfc", (4, 2, 1, 8), (4, 1, 1)),
    ("cnv", (1, 1, 2, 2, 8, 8, 1, 1, 8), (1, 2, 4, 4, 8, 1, 1, 8)),
    ("mobilenet", (4, 2, 1, 1, 1, 4, 2, 8), (4, 1, 2, 1, 4, 2, 1)),
])
def test_models_use_each_layers_bits(family: str, weight_bits: tuple[int, ...], act_bits: tuple[int, ...]) -> None:
    import torch

    from dse.models.cnv import build_cnv
    from dse.models.mobilenet import build_mobilenet
    from dse.models.tfc import build_tfc

    cls, shape, _ = _configs()[family]
    cfg = cls(weight_bits=weight_bits, act_bits=act_bits, **shape)
    model = {"tfc": build_tfc, "cnv": build_cnv, "mobilenet": build_mobilenet}[family](cfg)
    assert _bits_in_model(model) == (list(weight_bits), list(act_bits))
    size = shape.get("image_size", 32)
    x = torch.randint(0, 256, (2, 784) if family == "tfc" else (2, 3, size, size)).float()
    assert model(x).shape == (2, 10)


def test_replacing_widths_keeps_per_layer_bits() -> None:
    """dse.pruning changes widths with dataclasses.replace; the layer count (and bits) stay."""
    cls, shape, _ = _configs()["tfc"]
    cfg = cls(weight_bits=(4, 2, 2, 4), act_bits=(4, 2, 1), **shape)
    pruned = dataclasses.replace(cfg, hidden=(16, 24, 8))
    assert pruned.layer_weight_bits == (4, 2, 2, 4) and pruned.layer_act_bits == (4, 2, 1)
    with pytest.raises(ValueError, match=r"3 entries, one per weight layer \(fc0, fc1, classifier\), got 4"):
        dataclasses.replace(cfg, hidden=(16, 24))


@pytest.mark.parametrize(("family", "bits", "message"), [
    ("tfc", {"weight_bits": (2, 2, 2)}, r"4 entries, one per weight layer \(fc0, fc1, fc2, classifier\), got 3"),
    ("tfc", {"act_bits": (2, 2, 2, 2)}, r"3 entries, one per activation"),
    ("tfc", {"act_bits": (2, 3, 2)}, r"act_bits\[1\] \(layer fc1\) must be one of \(1, 2, 4, 8\), got 3"),
    ("tfc", {"weight_bits": 16}, r"weight_bits must be one of \(1, 2, 4, 8\)"),
    ("cnv", {"weight_bits": (2,) * 8}, r"9 entries, one per weight layer \(conv0, .*, fc1, classifier\)"),
    ("cnv", {"weight_bits": (2,) * 8 + (0,)}, r"weight_bits\[8\] \(layer classifier\)"),
    ("mobilenet", {"act_bits": 1}, r"act_bits\[0\] \(layer conv0\).*padded depthwise conv dw1"),
    ("mobilenet", {"act_bits": (2, 2, 1, 2, 2, 2, 2)}, r"layer pw1.*zero-padded"),
    ("mobilenet", {"act_bits": (2, 1, 2, 2, 2, 2, 2)}, r"layer dw1.*1-bit weights in pw1"),
    ("mobilenet", {"weight_bits": (2,) * 7}, r"8 entries, one per weight layer \(conv0, dw1, pw1, .*classifier\)"),
])
def test_invalid_bits_say_what_is_expected(family: str, bits: dict[str, Any], message: str) -> None:
    cls, shape, _ = _configs()[family]
    with pytest.raises(ValueError, match=message):
        cls(**{"weight_bits": 2, "act_bits": 2, **bits, **shape})


def test_mobilenet_allows_one_bit_where_finn_maps_it() -> None:
    """1-bit activations after a depthwise conv feeding an XNOR pointwise conv, and after the last
    pointwise conv (into the classifier)."""
    cls, shape, _ = _configs()["mobilenet"]
    cfg = cls(weight_bits=(2, 2, 1, 2, 1, 2, 2, 2), act_bits=(2, 1, 2, 1, 2, 2, 1), **shape)
    assert cfg.layer_act_bits.count(1) == 3
