"""The CNV family: PyTorch behaviour, and that FINN maps every layer to hardware."""
from __future__ import annotations

from pathlib import Path

import pytest

SMALL = {"channels": (16, 16, 32, 32, 64, 64), "fc": (64, 64)}


def _expected_ops(weight_bits: int, act_bits: int) -> list[str]:
    """FINN's HW node sequence for CNV: one sliding window + MVAU per conv, a depthwise
    sliding window + Pool_hls per max-pool (finn-plus has no StreamingMaxPool), then FC MVAUs.
    The last FC has no activation: FINN picks the DSP-based MVAU_rtl for it at >= 4-bit
    inputs and weights. The first NCHW->NHWC Transpose stays outside the partition."""
    conv = ["ConvolutionInputGenerator_rtl", "MVAU_hls"]
    pool = ["ConvolutionInputGenerator_rtl", "Pool_hls"]
    last = "MVAU_rtl" if min(weight_bits, act_bits) >= 4 else "MVAU_hls"
    return conv * 2 + pool + conv * 2 + pool + conv * 2 + ["MVAU_hls"] * 2 + [last, "LabelSelect_hls"]


def _estimate(tmp: Path, weight_bits: int, act_bits: int, **shape: tuple[int, ...]) -> object:
    import torch

    from dse.finn import estimate as finn_estimate, export_qonnx
    from dse.models.cnv import CNVConfig, build_cnv

    torch.manual_seed(0)
    model = build_cnv(CNVConfig(weight_bits=weight_bits, act_bits=act_bits, **shape))
    path = tmp / "cnv.onnx"
    export_qonnx(model, path, input_shape=(1, 3, 32, 32), log_path=tmp / "export.log")
    est = finn_estimate(path, clock_ns=5.0, target_fps=10_000, log_path=tmp / "finn.log").estimate
    assert [layer.op_type for layer in est.layers] == _expected_ops(weight_bits, act_bits)
    assert sum(layer.op_type.startswith("MVAU") for layer in est.layers) == 9
    assert all(layer.cycles > 0 for layer in est.layers)
    assert est.max_cycles == max(layer.cycles for layer in est.layers) > 0
    assert est.lut > 0 and est.fps == pytest.approx(2e8 / est.max_cycles)
    return est


def test_forward_shape_and_gradients() -> None:
    import torch

    from dse.models.cnv import CNVConfig, build_cnv

    torch.manual_seed(0)
    model = build_cnv(CNVConfig(weight_bits=2, act_bits=2, num_classes=7, **SMALL))
    x = torch.randint(0, 256, (4, 3, 32, 32)).float()
    logits = model(x)
    assert logits.shape == (4, 7)
    torch.nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["features.0.weight"].abs().sum() > 0 and grads["log_out_scale"].abs() > 0


def test_config_validation() -> None:
    from dse.models.cnv import CNVConfig

    assert CNVConfig(weight_bits=1, act_bits=1).final_size == 1
    mixed = CNVConfig(weight_bits=(4, 2, 2, 4, 1, 2, 4, 2, 4), act_bits=(4, 2, 1, 1, 2, 8, 1, 2))
    assert mixed.layer_weight_bits[4] == 1 and mixed.layer_act_bits[5] == 8
    for bad in ({"weight_bits": 3}, {"channels": (64, 64, 128)}, {"channels": (0, 64, 128, 128, 256, 256)},
                {"fc": ()}, {"image_size": 16}, {"weight_bits": (2,) * 8}, {"act_bits": (2,) * 9},
                {"act_bits": (2,) * 7 + (16,)}):
        with pytest.raises(ValueError):
            CNVConfig(**{"weight_bits": 2, "act_bits": 2, **bad})


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("bits", [(1, 1), (2, 2), (4, 4), (1, 2), (2, 1)], ids=lambda b: f"w{b[0]}a{b[1]}")
def test_small_cnv_maps_to_hardware(bits: tuple[int, int], tmp_path: Path) -> None:
    _estimate(tmp_path, *bits, **SMALL)


@pytest.mark.finn
@pytest.mark.slow
def test_full_and_pruned_cnv_map_to_hardware(tmp_path: Path) -> None:
    full = _estimate(tmp_path / "full", 2, 2)
    pruned = _estimate(tmp_path / "pruned", 2, 2, channels=(32, 48, 64, 96, 128, 192))
    assert pruned.lut < full.lut and pruned.bram18 < full.bram18
