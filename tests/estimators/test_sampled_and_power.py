from __future__ import annotations

import pytest

import estimators as est
from estimators.families import tfc_graph
from estimators.folding import divisors, weight_member

PART = est.get_board("U280").part


def _setup() -> tuple[est.DataflowGraph, list[est.folding.OptionTable], dict[str, float]]:
    graph = tfc_graph((64, 64, 64), 2, 2)
    return graph, est.option_tables(graph, PART), est.device_weights(est.get_board("U280"))


def test_sampled_positions_pick_those_divisors() -> None:
    graph, tables, weights = _setup()
    sol = est.solve_sampled(graph, tables, pe=[0.0, 1.0, 0.5, 0.0], simd=[0.0, 0.0, 1.0, 0.0], weights=weights,
                            clock_ns=5.0)
    mvaus = [layer for layer in sol.graph.layers if type(layer).op_type == "MVAU"]
    assert [m.pe for m in mvaus][:2] == [1, 64]
    assert mvaus[2].pe == divisors(64)[round(0.5 * (len(divisors(64)) - 1))]
    # SIMD 64 x 2 bits exceeds FINN's default cap of 36 bits: the closest valid SIMD is taken.
    assert mvaus[2].simd == max(d for d in divisors(64) if d * 2 <= 36)
    assert mvaus[0].simd == 1


def test_other_nodes_keep_up_with_the_slowest_weight_layer() -> None:
    graph, tables, weights = _setup()
    sol = est.solve_sampled(graph, tables, pe=[1.0] * 4, simd=[1.0] * 4, weights=weights, clock_ns=5.0)
    estimate = est.estimate_graph(sol.graph, PART, clock_ns=5.0)
    assert estimate.op_types[estimate.names.index(estimate.bottleneck)] == "MVAU"
    assert sol.fps == pytest.approx(estimate.fps)


def test_wrong_number_of_proposals_is_an_error() -> None:
    graph, tables, weights = _setup()
    with pytest.raises(ValueError, match="4"):
        est.solve_sampled(graph, tables, pe=[0.5] * 3, simd=[0.5] * 3, weights=weights, clock_ns=5.0)


def test_restrict_styles_keeps_only_the_asked_weight_memory() -> None:
    graph, tables, _ = _setup()
    only = est.restrict_styles(graph, tables, ram_style="block", res_type="lut")
    for table in only:
        pos = weight_member(graph, table)
        if pos is not None:
            assert {o[pos].ram_style for o in table.options} == {"block"}
            assert {o[pos].res_type for o in table.options} == {"lut"}
    assert est.restrict_styles(graph, tables) == tables


def test_energy_is_power_over_throughput() -> None:
    p = est.power_w(lut=1e5, bram18=100, uram=0, dsp=0, clock_ns=5.0)
    assert p > est.PowerModel().static_w
    e1 = est.energy_per_inference_uj(fps=1e5, lut=1e5, bram18=100, uram=0, dsp=0, clock_ns=5.0)
    e2 = est.energy_per_inference_uj(fps=2e5, lut=1e5, bram18=100, uram=0, dsp=0, clock_ns=5.0)
    assert e1 == pytest.approx(p / 1e5 * 1e6) and e2 == pytest.approx(e1 / 2)
    with pytest.raises(ValueError):
        est.energy_per_inference_uj(fps=0, lut=1, bram18=0, uram=0, dsp=0, clock_ns=5.0)
