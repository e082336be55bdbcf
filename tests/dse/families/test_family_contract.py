"""Every registered model family keeps the ModelFamily contract (dse/families/_base.py), the way
scikit-learn's parametrize_with_checks runs one suite over every estimator: a family is tested
here the moment it is registered. The torch parts build small networks only."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import optuna
import pytest

from dse.families import ModelIO, family_names, family_of_config, get_family
from dse.pruning import kept_widths, plan_for, plan_pruning
from search_spaces import DesignPoint, Space

ROOT = Path(__file__).resolve().parents[3]
# A small network of each family's space (what a study file's space: section would hold).
SPACES: dict[str, dict[str, Any]] = {
    "tfc": {"hidden_width": [32, 64], "hidden_layers": [2], "weight_bits": [2], "act_bits": [2]},
    "cnv": {"channels": [16, 16, 32, 32, 64, 64], "fc": [64], "weight_bits": [2], "act_bits": [2]},
    "mobilenet": {"channels": [8, 16, 16, 32, 32], "strides": [2, 2, 2, 2, 2], "weight_bits": [4], "act_bits": [4]},
    "user": {"model": f"{ROOT}/examples/user_models/small_mlp.py:small_mlp", "weight_bits": [2], "act_bits": [2]},
}
# Families whose graph is FINN's conversion of the model rather than an estimators fast path.
FINN_GRAPH = {"user"}
FAMILIES = [pytest.param(n, marks=pytest.mark.finn) if n in FINN_GRAPH else n for n in family_names()]
PART = "xcu280-fsvh2892-2L-e"


def _point(name: str, *, prune: float = 0.0, seed: int = 0) -> DesignPoint:
    args = dict(SPACES.get(name, {}))
    if prune:
        args["pruning"] = {"ratio": [prune]}
    space = get_family(name).space.model_validate(args)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return space.suggest(study.ask(), clock_ns=5.0)


def test_the_registered_families_are_the_study_files_families() -> None:
    spaces = get_args(get_args(Space)[0])
    assert {get_family(n).space for n in family_names()} == set(spaces)
    assert all(get_family(n).space.model_fields["family"].default == n for n in family_names())


@pytest.mark.parametrize("name", family_names())
def test_config_from_a_point_is_pure_and_frozen(name: str) -> None:
    family = get_family(name)
    point = _point(name)
    io = ModelIO(num_classes=7)
    config = family.config(point, io=io)
    assert config == family.config(point, io=io) and hash(config) == hash(family.config(point, io=io))
    assert dataclasses.is_dataclass(config)
    field = dataclasses.fields(config)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, field, getattr(config, field))
    assert config.num_classes == 7
    assert family_of_config(config) is family
    assert family.widths(config) == point.widths  # a point's widths are the prunable widths
    assert family.with_widths(config, point.widths) == config


@pytest.mark.parametrize("name", [n for n in family_names() if n not in FINN_GRAPH])
def test_the_graph_builds_without_torch_or_finn(name: str) -> None:
    code = (f"import sys, optuna; from tests.dse.families.test_family_contract import _point, PART;"
            f"from dse.families import get_family; p = _point({name!r});"
            f"g = get_family({name!r}).graph(p, p.widths, PART); assert len(g.layers) > 1, g;"
            "bad = {'torch', 'brevitas', 'finn', 'qonnx'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("name", FAMILIES)
def test_input_shape_and_graph(name: str) -> None:
    family = get_family(name)
    point = _point(name)
    shape = family.input_shape(point)
    assert shape[0] == 1 and len(shape) in (2, 4) and all(d > 0 for d in shape)
    graph = family.graph(point, point.widths, PART)
    assert graph.layers and graph.layers[-1] is not None


@pytest.mark.parametrize("name", [n for n in family_names() if SPACES.get(n, {}).get("model") is None])
def test_pruning_plan_matches_the_kept_widths_and_the_graph(name: str) -> None:
    family = get_family(name)
    point = _point(name, prune=0.5)
    assert point.pruned and len(point.prune_ratios) == len(point.widths)
    plan = plan_for(point, multiple=4)
    keep = kept_widths(point, multiple=4)
    assert plan.keep == keep and plan.original == point.widths and keep != point.widths
    assert all(k % 4 == 0 and k <= w for k, w in zip(keep, point.widths))
    config = family.config(point)
    assert plan_pruning(config, ratios=point.prune_ratios) == plan
    assert family.widths(family.with_widths(config, keep)) == keep == family.widths(family.config(point, keep))
    family.graph(point, keep, PART)  # the estimators take the pruned widths


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_the_builder_matches_the_config_and_prunes_to_the_plan(name: str) -> None:
    import torch

    from dse._quiet import captured
    from dse.pruning import prune, pruned_config, rebuild

    family = get_family(name)
    point = _point(name)
    io = ModelIO(num_classes=5)
    config = family.config(point, io=io)
    with captured(None):
        torch.manual_seed(0)
        model = family.build(config)
    x = torch.randint(0, 256, (4, *family.input_shape(point)[1:])).float()
    model.train()  # as if trained: BatchNorm and activation-quantizer statistics set
    with torch.no_grad():
        for _ in range(2):
            model(x)
        assert tuple(model.eval()(x).shape) == (4, 5)
    if not point.widths:  # nothing to prune (a user model)
        return
    units = family.prune_units(model)
    assert tuple(int(u.layer.weight.shape[0]) for u in units) == family.widths(config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    plan = plan_pruning(config, ratio=0.5)
    result = prune(model, plan, example_input=x[:1])
    assert result.config == pruned_config(config, plan) and family.widths(result.config) == plan.keep
    assert tuple(int(u.layer.weight.shape[0]) for u in family.prune_units(model)) == plan.keep
    replay = rebuild(config, plan, result.kept_indices, state)
    with torch.no_grad():
        assert torch.allclose(replay(x), model.eval()(x))
