"""Every built-in family x precision x pruning ratio goes through FINN.

Each cell builds a small model of the family, gives it BatchNorm/quantizer statistics (a few
forward passes in train mode), optionally prunes it with torch-pruning (magnitude importance)
through dse.pruning, exports it to QONNX once and converts it with FINN once; the converted
graph is then both compared with the plan and the estimators' fast path, and folded and
estimated (FINN's estimate flow without a second conversion). MobileNet with bipolar
activations is rejected by design (dse/models/mobilenet.py): that cell asserts the rejection.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from tests.dse.test_pruning import MOBILENET_SMALL, _cnv_config, _mobilenet_config, _tfc_config, _trained_like

PART = "xcu280-fsvh2892-2L-e"
FAMILIES = ("tfc", "cnv", "mobilenet")
BITS = ((1, 1), (2, 2), (4, 4))
RATIOS = (0.0, 0.5)
# Per family: input shape without batch, and the target throughput SetFolding aims at.
INPUT = {"tfc": ((784,), 100_000), "cnv": ((3, 32, 32), 10_000),
         "mobilenet": ((3, MOBILENET_SMALL["image_size"], MOBILENET_SMALL["image_size"]), 10_000)}
# The fields of an estimator record that are widths/shapes (not folding or datatypes).
WIDTH_FIELDS = ("mw", "mh", "num_input_vectors", "channels", "k_h", "k_w", "dim_h", "dim_w", "ifm_channels",
                "ifm_dim", "conv_kernel_dim", "stride", "depthwise", "kernel_size", "out_img_dims", "labels",
                "num_channels", "img_dim", "padding")


def _config(family: str, w: int, a: int) -> Any:
    return {"tfc": _tfc_config, "cnv": _cnv_config, "mobilenet": _mobilenet_config}[family](w=w, a=a)


def _build(family: str, cfg: Any) -> Any:
    if family == "tfc":
        from dse.models.tfc import build_tfc

        return build_tfc(cfg)
    if family == "cnv":
        from dse.models.cnv import build_cnv

        return build_cnv(cfg)
    from dse.models.mobilenet import build_mobilenet

    return build_mobilenet(cfg)


def _fast_graph(family: str, cfg: Any) -> Any:
    """The estimators' fast path for ``cfg``, its arguments taken from the config's fields by
    name; None where the family has no fast path (yet)."""
    from estimators import families

    fn = getattr(families, f"{family}_graph", None)
    if fn is None:
        return None
    kwargs = {name: getattr(cfg, name) for name in inspect.signature(fn).parameters if hasattr(cfg, name)}
    return fn(**kwargs)


def _widths(graph: Any) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    return [(type(layer).__name__, tuple((f, getattr(layer, f)) for f in WIDTH_FIELDS if hasattr(layer, f)))
            for layer in graph.layers]


def _model_widths(family: str, model: Any) -> tuple[int, ...]:
    """The model's prunable widths, read from its layers (not its config)."""
    from torch import nn

    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    if family == "mobilenet":
        depthwise = convs[1::2]
        # each depthwise conv follows its input width: in = out = groups = previous width
        assert [(d.in_channels, d.out_channels, d.groups) for d in depthwise] == \
            [(c.out_channels,) * 3 for c in convs[0:-1:2]]
        return tuple(c.out_channels for c in convs[0::2])
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]  # not the classifier
    return (*(c.out_channels for c in convs), *(m.out_features for m in linears))


def _cells() -> list[Any]:
    cells = []
    for family in FAMILIES:
        for w, a in BITS:
            for ratio in RATIOS:
                cells.append(pytest.param(family, w, a, ratio, id=f"{family}-w{w}a{a}-prune{ratio:g}"))
    return cells


@pytest.mark.finn
@pytest.mark.parametrize(("family", "w", "a", "ratio"), _cells())
def test_family_cell_through_finn(family: str, w: int, a: int, ratio: float, tmp_path: Path) -> None:
    if family == "mobilenet" and a == 1:
        # Rejected by design: bipolar activations cannot be zero-padded and would turn each
        # depthwise conv into a dense XNOR MVAU (see dse/models/mobilenet.py).
        with pytest.raises(ValueError, match="bipolar activations cannot be zero-padded"):
            _config(family, w, a)
        return

    import torch

    from dse._quiet import captured
    from dse.finn import analyse, export_qonnx, fold, to_hw_graph
    from dse.finn.graph import graph_from_finn
    from dse.pruning import plan_pruning, prune, pruned_config
    from estimators.mvau import MVAU
    from estimators.vvau import VVAU

    torch.manual_seed(w * 10 + a)
    shape, fps = INPUT[family]
    cfg = _config(family, w, a)
    x = torch.randint(0, 256, (8, *shape)).float()
    model = _trained_like(_build(family, cfg), x)
    plan = plan_pruning(cfg, ratio=ratio)
    if ratio:
        result = prune(model, plan, example_input=x[:1], importance="magnitude")
        assert result.config == pruned_config(cfg, plan) == model.config
        assert plan.keep != plan.original
    assert _model_widths(family, model) == plan.keep
    small = pruned_config(cfg, plan)

    # One export and one conversion per cell; folding and the estimate analyses reuse it.
    path = export_qonnx(model, tmp_path / "m.onnx", input_shape=(1, *shape),
                        log_path=tmp_path / "export.log")
    with captured(tmp_path / "finn.log"):
        hw = to_hw_graph(path, part=PART, work_dir=tmp_path)
        folded, _ = fold(hw, clock_ns=5.0, target_fps=fps)
        estimate, _ = analyse(folded, board_name="U280", clock_ns=5.0)
    assert estimate.lut > 0 and estimate.fps > 0 and all(layer.cycles > 0 for layer in estimate.layers)
    assert estimate.layers[-1].op_type == "LabelSelect_hls"

    graph = graph_from_finn(hw)
    # The FINN graph is the planned one: every MVAU but the classifier outputs a kept width,
    # every (MobileNet) depthwise VVAU runs on the width before it.
    assert [layer.mh for layer in graph.layers if isinstance(layer, MVAU)] == [*plan.keep, cfg.num_classes]
    if family == "mobilenet":
        assert [layer.channels for layer in graph.layers if isinstance(layer, VVAU)] == list(plan.keep[:-1])
    fast = _fast_graph(family, small)
    if fast is not None:
        assert _widths(graph) == _widths(fast)
