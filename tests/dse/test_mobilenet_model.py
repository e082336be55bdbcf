"""The MobileNet-style family: PyTorch behaviour, FINN's mapping (VVAU path), and that our
estimators match FINN's own per-node estimates on random foldings of it."""
from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from tests.fidelity import assert_matches_finn

N_FOLDINGS = 30
SMALL = {"channels": (8, 16, 16, 32), "strides": (2, 2, 2, 2), "image_size": 16}
Bits = int | tuple[int, ...]
# Per-layer bits for the default 4-block net (conv0, dw1, pw1, ..., dw4, pw4, classifier): 1-bit
# weights on integer inputs (INT2), a 1-bit depthwise activation into an XNOR pointwise conv, 8-bit
# activations, and a bipolar input to the classifier.
MIXED = ((4, 2, 1, 1, 1, 4, 2, 2, 2, 8), (4, 1, 2, 1, 4, 2, 2, 8, 1))


def _id(bits: Bits) -> str:
    return "".join(map(str, bits)) if isinstance(bits, tuple) else str(bits)


def _seed(weight_bits: Bits, act_bits: Bits) -> int:
    if isinstance(weight_bits, int) and isinstance(act_bits, int):
        return weight_bits * 10 + act_bits
    return zlib.crc32(repr((weight_bits, act_bits)).encode())


def _expected_ops(classifier_bits: tuple[int, int], blocks: int) -> list[str]:
    """FINN's HW node sequence: every 3x3 conv is padded (FMPadding_rtl + sliding window); the
    first conv and the 1x1 pointwise convs are MVAUs (a 1x1 stride-1 conv is lowered straight
    to a MatMul, with no sliding window), each depthwise conv a VVAU. The classifier has no
    activation, so FINN picks the DSP-based MVAU_rtl for it at >= 4-bit inputs and weights.
    The first NCHW->NHWC Transpose stays outside the partition. ``classifier_bits``: the
    classifier's weight bits and the bits of the activation it reads."""
    padded = ["FMPadding_rtl", "ConvolutionInputGenerator_rtl"]
    last = "MVAU_rtl" if min(classifier_bits) >= 4 else "MVAU_hls"
    block = [*padded, "VVAU_hls", "MVAU_hls"]
    return [*padded, "MVAU_hls", *block * blocks, last, "LabelSelect_hls"]


def _model(weight_bits: Bits, act_bits: Bits, **shape: object) -> object:
    import torch

    from dse.models.mobilenet import MobileNetConfig, build_mobilenet

    torch.manual_seed(_seed(weight_bits, act_bits))
    return build_mobilenet(MobileNetConfig(weight_bits=weight_bits, act_bits=act_bits, **shape))


def test_forward_shape_and_gradients() -> None:
    import torch

    model = _model(2, 2, num_classes=7, **SMALL)
    x = torch.randint(0, 256, (4, 3, 16, 16)).float()
    logits = model(x)
    assert logits.shape == (4, 7)
    torch.nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["features.0.weight"].abs().sum() > 0 and grads["log_out_scale"].abs() > 0
    depthwise = model.features[3]
    assert depthwise.groups == depthwise.in_channels == depthwise.out_channels == 8
    assert depthwise.padding == (1, 1) and depthwise.stride == (2, 2)


def test_config_validation() -> None:
    from dse.models.mobilenet import MobileNetConfig

    cfg = MobileNetConfig(weight_bits=2, act_bits=2)
    assert cfg.blocks == 4 and cfg.sizes == (16, 8, 4, 2, 1) and cfg.final_size == 1
    assert MobileNetConfig(weight_bits=1, act_bits=2, channels=(8, 8, 8, 8, 8, 8), strides=(2, 1, 2, 2, 2, 2)).final_size == 1
    mixed = MobileNetConfig(weight_bits=(2, 2, 1, 2, 2, 2, 2, 2, 2, 4), act_bits=(2, 1, 2, 2, 2, 2, 2, 2, 1))
    assert mixed.layer_weight_bits[2] == 1 and mixed.layer_act_bits[-1] == 1
    for bad in ({"weight_bits": 3}, {"act_bits": 1}, {"act_bits": 3}, {"channels": (16,), "strides": (2,)},
                {"weight_bits": (2,) * 9}, {"act_bits": (2,) * 10}, {"act_bits": (2, 2, 1, 2, 2, 2, 2, 2, 2)},
                {"act_bits": (2, 1, 2, 2, 2, 2, 2, 2, 2)},
                {"channels": (16, 0, 32, 32, 64)}, {"strides": (2, 2, 2, 2)}, {"strides": (2, 2, 3, 2, 2)},
                {"strides": (2, 2, 2, 2, 1)}, {"image_size": 64}, {"num_classes": 0}):
        with pytest.raises(ValueError):
            MobileNetConfig(**{"weight_bits": 2, "act_bits": 2, **bad})


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("bits", [(2, 2), (4, 4), (1, 2), MIXED], ids=lambda b: f"w{_id(b[0])}a{_id(b[1])}")
def test_maps_to_vvau_and_estimators_match_finn(bits: tuple[Bits, Bits], tmp_path: Path) -> None:
    from dse.finn import estimate as finn_estimate, export_qonnx
    from dse.models.mobilenet import MobileNetConfig

    w, a = bits
    cfg = MobileNetConfig(weight_bits=w, act_bits=a)
    blocks, classifier_bits = cfg.blocks, (cfg.layer_weight_bits[-1], cfg.layer_act_bits[-1])
    path = export_qonnx(_model(w, a), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32),
                        log_path=tmp_path / "export.log")
    # The whole flow (one dataflow partition, else estimate raises BackendError).
    hw_est = finn_estimate(path, clock_ns=5.0, target_fps=10_000, log_path=tmp_path / "finn.log").estimate
    assert [layer.op_type for layer in hw_est.layers] == _expected_ops(classifier_bits, blocks)
    assert all(layer.cycles > 0 for layer in hw_est.layers)
    assert hw_est.fps == pytest.approx(2e8 / hw_est.max_cycles)

    # Fidelity: random foldings applied to our records and, through ApplyConfig, to FINN.
    assert_matches_finn(path, tmp_path, n_foldings=N_FOLDINGS, seed=_seed(w, a))
