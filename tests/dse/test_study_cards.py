"""hardware.fpgas in front-mode studies: a network's designs on K cards join its one-card front."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dse.networks import network_front
from dse.spec import parse_spec
from search_spaces import DesignPoint
from search_spaces.base import FoldingPoint
from tests.dse.test_networks import _data

# 16 x 1024 w4a4 TFC without the SIMD x W cap: its fastest folding needs two U280s
# (benchmarks/results/multi_fpga.txt: 2.00x on 2 cards); one card caps it at half that.
W, LAYERS, BITS = 1024, 16, 4


def _spec(fpgas: list[int] | None, **over: Any) -> Any:
    hardware: dict[str, Any] = {"board": "U280", "clock_ns": 5.0, "mvau_wwidth_max": 8191}
    if fpgas is not None:
        hardware["fpgas"] = fpgas
    d = _data("cards", [W], hardware=hardware, **over)
    d["space"].update(weight_bits=[BITS], act_bits=[BITS], hidden_layers=[LAYERS],
                      folding={"target_fps": {"low": 1e3, "high": 1e7, "log": True}})
    return parse_spec(d)


POINT = DesignPoint(family="tfc", widths=(W,) * LAYERS, weight_bits=(BITS,) * (LAYERS + 1),
                    act_bits=(BITS,) * LAYERS, prune_ratios=(0.0,) * LAYERS, folding=FoldingPoint(mode="solved"),
                    clock_ns=5.0)


def test_one_card_front_is_unchanged_and_two_cards_add_a_faster_design() -> None:
    default, ids_default, _ = network_front(POINT, _spec(None))
    one, ids_one, _ = network_front(POINT, _spec([1]))
    assert ids_one == ids_default and [s.figures() for s in one] == [s.figures() for s in default]
    assert all(s.fpgas == 1 and s.partition is None for s in one)

    two, ids_two, _ = network_front(POINT, _spec([1, 2]))
    multi = [(s, i) for s, i in zip(two, ids_two) if s.fpgas == 2]
    assert multi and all(i.endswith("-2fpga") for _, i in multi)
    s, _ = multi[0]
    fastest_one = max(x.estimate.fps for x in one)
    assert s.estimate.fps > fastest_one and ids_two[0] == multi[0][1]  # the fastest design, listed first
    # Fitting is per card: the whole design is over one card's budget, each card's share is not.
    assert s.partition is not None and s.partition.feasible and s.fit.fits
    f = s.figures()
    assert len(f["cards"]) == 2 and all(c["fits"] for c in f["cards"])
    assert sum(c["lut"] for c in f["cards"]) == pytest.approx(f["lut"])
    assert f["lut"] > max(x.estimate.lut for x in one)
    # Energy counts both cards' static power; latency one link hop more than the layers' own.
    assert s.energy_uj == pytest.approx(s.partition.power_w / s.estimate.fps * 1e6)
    assert f["latency_us"] == pytest.approx((s.estimate.latency_ns + s.partition.link.latency_ns) / 1e3)
    # The one-card designs still on the study's front are those of fpgas [1], same ids and figures.
    same = {i: x.figures() for x, i in zip(one, ids_one)}
    assert all(same[i] == x.figures() for x, i in zip(two, ids_two) if x.fpgas == 1)


@pytest.mark.slow
def test_front_study_on_one_or_two_cards_records_the_two_card_designs(tmp_path: Path, mnist_root: Path) -> None:
    from dse.study import run_study

    study = run_study(_spec([1, 2], n_trials=1), tmp_path / "w", data_root=mnist_root, write_report=False)
    designs = [t for t in study.get_trials() if t.state.name == "COMPLETE" and "fpgas" in t.user_attrs]
    multi = [t for t in designs if t.user_attrs["fpgas"] == 2]
    single = [t for t in designs if t.user_attrs["fpgas"] == 1]
    assert multi and single
    assert min(t.user_attrs["fps"] for t in multi) > max(t.user_attrs["fps"] for t in single)
    for t in multi:
        a = t.user_attrs
        assert a["estimate_source"] == "estimators" and len(a["cards"]) == 2 and all(c["fits"] for c in a["cards"])
        estimate = json.loads((tmp_path / "w" / a["artifact_dir"] / "estimate.json").read_text())
        m = estimate["multi_fpga"]
        assert m["n_cards"] == 2 and m["feasible"] and len(m["cuts"]) == 1 and m["fps"] == a["fps"]
