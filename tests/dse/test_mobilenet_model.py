"""The MobileNet-style family: PyTorch behaviour, FINN's mapping (VVAU path), and that our
estimators match FINN's own per-node estimates on random foldings of it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PART = "xcu280-fsvh2892-2L-e"
N_FOLDINGS = 30
SMALL = {"channels": (8, 16, 16, 32), "strides": (2, 2, 2, 2), "image_size": 16}


def _expected_ops(weight_bits: int, act_bits: int, blocks: int) -> list[str]:
    """FINN's HW node sequence: every 3x3 conv is padded (FMPadding_rtl + sliding window); the
    first conv and the 1x1 pointwise convs are MVAUs (a 1x1 stride-1 conv is lowered straight
    to a MatMul, with no sliding window), each depthwise conv a VVAU. The classifier has no
    activation, so FINN picks the DSP-based MVAU_rtl for it at >= 4-bit inputs and weights.
    The first NCHW->NHWC Transpose stays outside the partition."""
    padded = ["FMPadding_rtl", "ConvolutionInputGenerator_rtl"]
    last = "MVAU_rtl" if min(weight_bits, act_bits) >= 4 else "MVAU_hls"
    block = [*padded, "VVAU_hls", "MVAU_hls"]
    return [*padded, "MVAU_hls", *block * blocks, last, "LabelSelect_hls"]


def _model(weight_bits: int, act_bits: int, **shape: object) -> object:
    import torch

    from dse.models.mobilenet import MobileNetConfig, build_mobilenet

    torch.manual_seed(weight_bits * 10 + act_bits)
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
    for bad in ({"weight_bits": 3}, {"act_bits": 1}, {"act_bits": 3}, {"channels": (16,), "strides": (2,)},
                {"channels": (16, 0, 32, 32, 64)}, {"strides": (2, 2, 2, 2)}, {"strides": (2, 2, 3, 2, 2)},
                {"strides": (2, 2, 2, 2, 1)}, {"image_size": 64}, {"num_classes": 0}):
        with pytest.raises(ValueError):
            MobileNetConfig(**{"weight_bits": 2, "act_bits": 2, **bad})


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("bits", [(2, 2), (4, 4), (1, 2)], ids=lambda b: f"w{b[0]}a{b[1]}")
def test_maps_to_vvau_and_estimators_match_finn(bits: tuple[int, int], tmp_path: Path) -> None:
    import estimators as est
    from dse import finn_flow
    from dse.finn_graph import graph_from_finn
    from dse.models.mobilenet import MobileNetConfig

    w, a = bits
    blocks = MobileNetConfig(weight_bits=w, act_bits=a).blocks
    path = finn_flow.export_qonnx(_model(w, a), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32),
                                  log_path=tmp_path / "export.log")
    # The whole flow (one dataflow partition, else estimate raises BackendError).
    hw_est = finn_flow.estimate(path, clock_ns=5.0, target_fps=10_000, log_path=tmp_path / "finn.log").estimate
    assert [layer.op_type for layer in hw_est.layers] == _expected_ops(w, a, blocks)
    assert all(layer.cycles > 0 for layer in hw_est.layers)
    assert hw_est.fps == pytest.approx(2e8 / hw_est.max_cycles)

    # Fidelity: random foldings applied to our records and, through ApplyConfig, to FINN.
    with finn_flow._captured(tmp_path / "finn.log"):
        hw = finn_flow.to_hw_graph(path, part=PART, work_dir=tmp_path)
        base, _ = finn_flow.fold(hw, clock_ns=5.0, target_fps=1000)
    graph = graph_from_finn(base)
    tables = est.option_tables(graph, PART, est.FoldingLimits(wwidth_max=None))
    rng = np.random.default_rng(w * 10 + a)
    mismatches: list[str] = []
    for _ in range(N_FOLDINGS):
        choice = [int(rng.integers(len(t))) for t in tables]
        ours = est.folding.apply_choice(graph, tables, choice)
        mine = est.estimate_graph(ours, PART, clock_ns=5.0)
        with finn_flow._captured(tmp_path / "finn.log"):
            folded, _ = finn_flow.fold(hw, clock_ns=5.0, folding=est.folding_config(ours))
            finn, _ = finn_flow.analyse(folded, board_name="U280", clock_ns=5.0)
        assert list(mine.names) == [layer.name for layer in finn.layers]
        for name, cost, theirs in zip(mine.names, mine.costs, finn.layers):
            exact = (cost.cycles, cost.bram18, cost.uram, cost.dsp) == (theirs.cycles, theirs.bram18, theirs.uram, theirs.dsp)
            lut_ok = abs(cost.lut - theirs.lut) <= 0.01 * max(theirs.lut, 1.0)
            if not (exact and lut_ok):
                mismatches.append(f"{name} {ours.layers[mine.names.index(name)]}: ours {cost} FINN {theirs}")
        assert mine.max_cycles == finn.max_cycles and mine.critical_path_cycles == finn.critical_path_cycles
        assert mine.bottleneck == finn.bottleneck
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:5])
