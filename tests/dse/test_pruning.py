"""Structured pruning: plan arithmetic, torch-pruning on Brevitas models, and the FINN round trip."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from dse.pruning import PruningPlan, plan_pruning, pruned_config

SMALL_CHANNELS = (16, 16, 32, 32, 64, 64)
SMALL_FC = (64, 64)


def _tfc_config(hidden: tuple[int, ...] = (64, 64, 64), w: int = 2, a: int = 2) -> Any:
    from dse.models.tfc import TFCConfig

    return TFCConfig(hidden=hidden, weight_bits=w, act_bits=a)


def _cnv_config(w: int = 2, a: int = 2) -> Any:
    from dse.models.cnv import CNVConfig

    return CNVConfig(channels=SMALL_CHANNELS, fc=SMALL_FC, weight_bits=w, act_bits=a)


# --- plan arithmetic --------------------------------------------------------------------------


def test_global_ratio_halves_tfc() -> None:
    plan = plan_pruning(_tfc_config(), ratio=0.5)
    assert plan.family == "tfc"
    assert plan.original == (64, 64, 64)
    assert plan.keep == (32, 32, 32)
    assert pruned_config(_tfc_config(), plan) == _tfc_config((32, 32, 32))


def test_rounding_to_multiple_and_bounds() -> None:
    cfg = _tfc_config((100, 30, 8, 4, 10))
    plan = plan_pruning(cfg, ratio=0.3)
    # 70 -> 72 (nearest multiple of 4), 21 -> 20, 5.6 -> 4, 4 stays (never below multiple), 7 -> 8
    assert plan.keep == (72, 20, 4, 4, 8)
    assert all(k % 4 == 0 for k in plan.keep)
    # Almost everything removed: still at least `multiple` per layer.
    assert plan_pruning(cfg, ratio=0.99).keep == (4, 4, 4, 4, 4)
    # Almost nothing removed: at most the largest multiple not above the width.
    assert plan_pruning(_tfc_config((10,)), ratio=0.01).keep == (8,)
    assert plan_pruning(cfg, ratio=0.3, multiple=8).keep == (72, 24, 8, 4, 8)
    for k, orig in zip(plan.keep, plan.original):
        assert 4 <= k <= orig


def test_ratio_zero_is_unchanged() -> None:
    cfg = _tfc_config((64, 30, 10))
    plan = plan_pruning(cfg, ratio=0.0)
    assert plan.keep == plan.original == (64, 30, 10)
    assert pruned_config(cfg, plan) == cfg
    cnv = _cnv_config()
    assert pruned_config(cnv, plan_pruning(cnv, ratio=0)) == cnv


def test_per_layer_ratios_cnv() -> None:
    cnv = _cnv_config()
    plan = plan_pruning(cnv, ratios=[0.0, 0.5, 0.25, 0.5, 0.5, 0.75, 0.5, 0.0])
    assert plan.family == "cnv"
    assert plan.original == (16, 16, 32, 32, 64, 64, 64, 64)
    assert plan.keep == (16, 8, 24, 16, 32, 16, 32, 64)
    new: Any = pruned_config(cnv, plan)
    assert new.channels == (16, 8, 24, 16, 32, 16) and new.fc == (32, 64)
    assert (new.weight_bits, new.act_bits, new.num_classes, new.in_channels) == (2, 2, 10, 3)


@pytest.mark.parametrize("kwargs", [
    {"ratio": 1.0}, {"ratio": -0.1}, {"ratio": 1.5}, {"ratio": math.nan}, {"ratio": "half"},
    {}, {"ratio": 0.5, "ratios": [0.5, 0.5, 0.5]}, {"ratios": [0.5, 0.5]}, {"ratios": [0.5, 0.5, 1.0]},
    {"ratio": 0.5, "multiple": 0},
])
def test_invalid_ratios_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        plan_pruning(_tfc_config(), **kwargs)


def test_plan_json_round_trip_and_validation() -> None:
    plan = plan_pruning(_cnv_config(), ratio=0.5)
    again = PruningPlan.from_json(plan.to_json())
    assert again == plan and isinstance(again.keep, tuple)
    with pytest.raises(ValueError):
        PruningPlan("tfc", (64,), (30,))  # not a multiple of 4
    with pytest.raises(ValueError):
        PruningPlan("tfc", (64,), (68,))  # wider than the layer
    with pytest.raises(ValueError):
        pruned_config(_tfc_config((64, 64)), plan_pruning(_tfc_config(), ratio=0.5))


# --- torch-pruning on Brevitas ------------------------------------------------------------------


def _trained_like(model: Any, x: Any) -> Any:
    """Give the model non-trivial BatchNorm and activation-quantizer statistics."""
    import torch

    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


@pytest.fixture()
def tfc_model() -> tuple[Any, Any, Any]:
    import torch

    from dse.models.tfc import build_tfc

    torch.manual_seed(0)
    cfg = _tfc_config()
    x = torch.randint(0, 256, (16, 784)).float()
    return cfg, _trained_like(build_tfc(cfg), x), x


def _linears(model: Any) -> list[Any]:
    from torch import nn

    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_prune_tfc_half(tfc_model: tuple[Any, Any, Any]) -> None:
    from dse.pruning import prune

    cfg, model, x = tfc_model
    plan = plan_pruning(cfg, ratio=0.5)
    result = prune(model, plan, example_input=x[:1])
    assert id(result.model) == id(model)  # pruned in place
    assert [m.out_features for m in _linears(model)] == [*plan.keep, 10]
    assert [m.in_features for m in _linears(model)] == [784, *plan.keep]
    assert [m.num_features for m in model.features if hasattr(m, "num_features")] == list(plan.keep)
    assert result.config == pruned_config(cfg, plan) == model.config
    assert [len(k) for k in result.kept_indices] == list(plan.keep)
    assert model(x).shape == (16, 10)
    assert not model.training
    assert "kept_indices" in result.to_json()


def test_rebuild_round_trip(tfc_model: tuple[Any, Any, Any]) -> None:
    import torch

    from dse.models.tfc import build_tfc
    from dse.pruning import prune, rebuild

    cfg, model, x = tfc_model
    original_state = {k: v.clone() for k, v in model.state_dict().items()}
    plan = plan_pruning(cfg, ratios=[0.5, 0.25, 0.75])
    result = prune(model, plan, example_input=x[:1])
    with torch.no_grad():
        expected = model(x)
        rebuilt = rebuild(cfg, plan, result.kept_indices, original_state)
        assert torch.equal(rebuilt(x), expected)
        # The pruned state dict loads as it is into a fresh model of the pruned config.
        fresh = build_tfc(pruned_config(cfg, plan))
        fresh.load_state_dict(model.state_dict())
        assert torch.equal(fresh.eval()(x), expected)


@pytest.mark.parametrize("fixture", ["tfc_model", "mobilenet_model"])
def test_history_replays(fixture: str, request: pytest.FixtureRequest) -> None:
    import torch
    import torch_pruning as tp

    from dse.families import family_of_config
    from dse.pruning import prune

    cfg, model, x = request.getfixturevalue(fixture)
    original_state = {k: v.clone() for k, v in model.state_dict().items()}
    result = prune(model, plan_pruning(cfg, ratio=0.5), example_input=x[:1])
    replay = family_of_config(cfg).build(cfg)
    replay.load_state_dict(original_state)
    replay.eval()
    graph = tp.DependencyGraph().build_dependency(replay, example_inputs=x[:1], verbose=False)
    graph.load_pruning_history(result.history)
    with torch.no_grad():
        assert torch.equal(replay(x), model(x))


def test_magnitude_keeps_largest_norm_channels(tfc_model: tuple[Any, Any, Any]) -> None:
    import torch

    from dse.pruning import prune

    cfg, model, x = tfc_model
    with torch.no_grad():  # make the norms clearly distinct: channel c scaled by (c % 7 + 1)
        for m in _linears(model)[:3]:
            m.weight.mul_(torch.arange(m.out_features).remainder(7).add(1).float()[:, None])
    weights = [m.weight.detach().clone() for m in _linears(model)[:3]]
    plan = plan_pruning(cfg, ratio=0.75)
    result = prune(model, plan, example_input=x[:1], importance="magnitude")
    for i, (w, kept, k) in enumerate(zip(weights, result.kept_indices, plan.keep)):
        norms = w.norm(dim=1)
        assert sorted(kept) == sorted(torch.topk(norms, k).indices.tolist())
        assert norms[list(kept)].min() >= norms[[j for j in range(len(norms)) if j not in kept]].max()
    # The kept rows are the original rows (columns of earlier layers' kept channels).
    assert torch.equal(_linears(model)[0].weight, weights[0][list(result.kept_indices[0])])
    assert torch.equal(_linears(model)[1].weight,
                       weights[1][list(result.kept_indices[1])][:, list(result.kept_indices[0])])


def test_taylor_uses_data_and_needs_it(tfc_model: tuple[Any, Any, Any]) -> None:
    import torch

    from dse.pruning import prune

    cfg, model, x = tfc_model
    plan = plan_pruning(cfg, ratio=0.5)
    with pytest.raises(ValueError, match="data"):
        prune(model, plan, example_input=x[:1], importance="taylor")
    y = torch.randint(0, 10, (16,))
    result = prune(model, plan, example_input=x[:1], importance="taylor", data=(x, y))
    assert [m.out_features for m in _linears(model)] == [*plan.keep, 10]
    assert all(p.grad is None for p in model.parameters())
    assert model(x).shape == (16, 10)
    assert len(result.kept_indices) == 3


def test_prune_cnv_shapes_and_rebuild() -> None:
    import torch
    from torch import nn

    from dse.models.cnv import build_cnv
    from dse.pruning import prune, rebuild

    torch.manual_seed(1)
    cfg = _cnv_config()
    x = torch.randint(0, 256, (4, 3, 32, 32)).float()
    model = _trained_like(build_cnv(cfg), x)
    original_state = {k: v.clone() for k, v in model.state_dict().items()}
    plan = plan_pruning(cfg, ratio=0.5)
    result = prune(model, plan, example_input=x[:1])
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == list(plan.keep[:6])
    assert [m.out_features for m in _linears(model)] == [*plan.keep[6:], 10]
    with torch.no_grad():
        assert torch.equal(rebuild(cfg, plan, result.kept_indices, original_state)(x), model(x))


MOBILENET_SMALL = {"channels": (8, 16, 16, 32), "strides": (2, 2, 2, 2), "image_size": 16}


def _mobilenet_config(w: int = 2, a: int = 2) -> Any:
    from dse.models.mobilenet import MobileNetConfig

    return MobileNetConfig(weight_bits=w, act_bits=a, **MOBILENET_SMALL)


def test_mobilenet_plan_covers_channels() -> None:
    cfg = _mobilenet_config()
    plan = plan_pruning(cfg, ratio=0.5)
    assert plan.family == "mobilenet"
    assert plan.original == cfg.channels == (8, 16, 16, 32)
    assert plan.keep == (4, 8, 8, 16)
    new: Any = pruned_config(cfg, plan)
    assert new.channels == plan.keep and new.strides == cfg.strides and new.image_size == 16
    assert PruningPlan.from_json(plan.to_json()) == plan
    assert plan_pruning(cfg, ratios=[0.0, 0.25, 0.5, 0.75]).keep == (8, 12, 8, 8)
    with pytest.raises(ValueError, match="first conv"):
        plan_pruning(cfg, ratios=[0.5, 0.5])


@pytest.fixture()
def mobilenet_model() -> tuple[Any, Any, Any]:
    import torch

    from dse.models.mobilenet import build_mobilenet

    torch.manual_seed(3)
    cfg = _mobilenet_config()
    x = torch.randint(0, 256, (8, 3, 16, 16)).float()
    return cfg, _trained_like(build_mobilenet(cfg), x), x


def test_prune_mobilenet_depthwise_follows(mobilenet_model: tuple[Any, Any, Any]) -> None:
    import torch
    from torch import nn

    from dse.models.mobilenet import build_mobilenet
    from dse.pruning import prune, rebuild

    cfg, model, x = mobilenet_model
    original_state = {k: v.clone() for k, v in model.state_dict().items()}
    plan = plan_pruning(cfg, ratios=[0.5, 0.25, 0.5, 0.5])
    result = prune(model, plan, example_input=x[:1])
    assert plan.keep == (4, 12, 8, 16)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    # first conv, then (depthwise, pointwise) per block; each depthwise follows its input width
    assert [(c.in_channels, c.out_channels, c.groups) for c in convs] == [
        (3, 4, 1), (4, 4, 4), (4, 12, 1), (12, 12, 12), (12, 8, 1), (8, 8, 8), (8, 16, 1)]
    bns = [m.num_features for m in model.features if isinstance(m, nn.BatchNorm2d)]
    assert bns == [4, 4, 12, 12, 8, 8, 16]
    assert model.classifier.in_features == 16 and model(x).shape == (8, 10)
    assert result.config == model.config == pruned_config(cfg, plan)
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(rebuild(cfg, plan, result.kept_indices, original_state)(x), expected)
        fresh = build_mobilenet(pruned_config(cfg, plan))
        fresh.load_state_dict(model.state_dict())
        assert torch.equal(fresh.eval()(x), expected)


def test_prune_rejects_mismatched_plan(tfc_model: tuple[Any, Any, Any]) -> None:
    from dse.pruning import prune

    _, model, x = tfc_model
    with pytest.raises(ValueError):
        prune(model, plan_pruning(_tfc_config((64, 64)), ratio=0.5), example_input=x[:1])


# --- FINN: pruned models export, estimate, and match the fast path ------------------------------
# (MobileNet, and every family x precision, is covered by tests/dse/test_family_matrix.py.)


def _mvau_shapes(graph: Any) -> list[tuple[int, int]]:
    from estimators.mvau import MVAU

    return [(layer.mw, layer.mh) for layer in graph.layers if isinstance(layer, MVAU)]


@pytest.mark.finn
@pytest.mark.slow
@pytest.mark.parametrize("family", ["tfc", "cnv"])
def test_pruned_model_through_finn(family: str, tmp_path: Path) -> None:
    import torch

    from dse._quiet import captured
    from dse.finn import estimate as finn_estimate, export_qonnx, to_hw_graph
    from dse.finn.graph import graph_from_finn
    from dse.pruning import prune
    from estimators.devices import get_board
    from estimators.families import cnv_graph, tfc_graph

    torch.manual_seed(2)
    cfg: Any
    model: Any
    shape: tuple[int, ...]
    if family == "tfc":
        from dse.models.tfc import build_tfc

        cfg, shape, fps = _tfc_config(), (1, 784), 100_000
        model = build_tfc(cfg)
    else:
        from dse.models.cnv import build_cnv

        cfg, shape, fps = _cnv_config(), (1, 3, 32, 32), 10_000
        model = build_cnv(cfg)
    x = torch.randint(0, 256, (8, *shape[1:])).float()
    model = _trained_like(model, x)
    plan = plan_pruning(cfg, ratio=0.5)
    result = prune(model, plan, example_input=x[:1])
    small: Any = pruned_config(cfg, plan)

    path = export_qonnx(result.model, tmp_path / "pruned.onnx", input_shape=shape,
                        log_path=tmp_path / "export.log")
    estimate = finn_estimate(path, clock_ns=5.0, target_fps=fps, log_path=tmp_path / "finn.log")
    assert estimate.estimate.fps > 0 and estimate.estimate.lut > 0

    with captured(tmp_path / "hw.log"):
        hw = to_hw_graph(path, part=get_board("U280").part, work_dir=tmp_path / "hw")
    finn_shapes = _mvau_shapes(graph_from_finn(hw))
    if family == "tfc":
        fast = tfc_graph(small.hidden, small.weight_bits, small.act_bits)
    else:
        fast = cnv_graph(small.channels, small.fc, small.weight_bits, small.act_bits)
    assert finn_shapes == _mvau_shapes(fast)
    # The FINN graph really is the pruned one: MH of every hidden MVAU is a kept width.
    assert [mh for _, mh in finn_shapes] == [*plan.keep, 10]
