"""estimators.front: one network's exact hardware front over every reachable folding level."""
from __future__ import annotations

import dataclasses
import itertools
import json
from types import MappingProxyType

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators as est
from estimators.families import cnv_graph, tfc_graph
from estimators.front import OBJECTIVES, hardware_front, non_dominated, reachable_levels, select_levels
from estimators.solver import _select  # noqa: PLC2701 - the reference the vectorised selection must equal
from tests.estimators.test_graph_solver import mlp_graphs

PART = "xcu280-fsvh2892-2L-e"
BOARD = est.get_board("U280")
CNV = cnv_graph((64, 64, 128, 128, 256, 256), (512, 512), 2, 2)


def _losses(d: object) -> tuple[float, ...]:
    return tuple((-1 if k == "fps" else 1) * getattr(d, k) for k in OBJECTIVES)


@settings(max_examples=25, deadline=None)
@given(mlp_graphs(), st.sampled_from(["auto", "block", "distributed", "ultra"]))
def test_level_selection_is_the_solvers_at_every_level(graph: est.DataflowGraph, ram_style: str) -> None:
    weights = est.device_weights(BOARD)
    tables = est.restrict_styles(graph, est.option_tables(graph, PART), ram_style=ram_style)
    levels = reachable_levels(tables)
    assert levels[0] == max(int(t.max_cycles.min()) for t in tables)
    choice = select_levels(tables, levels, weights)
    for row, level in zip(choice, levels):
        assert list(row) == _select(tables, int(level), weights)


def test_cnv_front_designs_are_what_the_estimators_say_and_non_dominated() -> None:
    front = hardware_front(CNV, BOARD, ram_styles=("block", "distributed", "ultra"), clock_ns=(5.0, 4.0))
    assert len(front.designs) > 50 and front.seconds > 0 and front.levels > 100
    # The same folding at the faster clock is faster, quicker and cheaper per inference, same size.
    assert {d.clock_ns for d in front.designs} == {4.0}
    assert {d.ram_style for d in front.designs} == {"block", "distributed", "ultra"}
    for d in front.designs:
        e = est.estimate_graph(d.graph, PART, clock_ns=d.clock_ns)
        assert e.max_cycles == d.max_cycles and np.isclose(e.fps, d.fps, rtol=1e-12)
        assert np.isclose(e.latency_ns / 1e3, d.latency_us, rtol=1e-12)
        for k in ("lut", "bram18", "uram", "dsp"):
            assert np.isclose(getattr(e, k), getattr(d, k), rtol=1e-9), k
        used = est.Resources(lut=e.lut, bram18=e.bram18, uram=e.uram, dsp=e.dsp)
        # One verdict: the whole device and every SLR of the chain's placement, as `estimate` gives it.
        per_layer = [est.Resources(lut=c.lut, bram18=c.bram18, uram=c.uram, dsp=c.dsp) for c in e.costs]
        assert d.fit == est.check_fit(used, BOARD, layers=per_layer, names=e.names) and d.fit.fits
        assert d.fit.slr_placement is not None and d.fit.slr_placement.fits
        assert np.isclose(d.energy_uj, est.energy_per_inference_uj(fps=e.fps, lut=e.lut, bram18=e.bram18,
                                                                    uram=e.uram, dsp=e.dsp, clock_ns=d.clock_ns))
        # Weight memories follow the restriction the design was selected under.
        styles = {layer.ram_style for layer in d.graph.layers if type(layer).op_type == "MVAU"}
        assert styles <= {d.ram_style, "auto"} or d.ram_style == "auto"
    pts = np.array([_losses(d) for d in front.designs])
    assert len(non_dominated(pts)) == len(pts)
    assert len({d.id for d in front.designs}) == len(front.designs)
    fps = [d.fps for d in front.designs]
    assert fps == sorted(fps, reverse=True)


def test_front_is_deterministic_and_recorded() -> None:
    a = hardware_front(CNV, BOARD, ram_styles=("auto", "block"))
    b = hardware_front(CNV, BOARD, ram_styles=("auto", "block"))
    assert [d.figures() for d in a.designs] == [d.figures() for d in b.designs]
    rec = json.loads(json.dumps(a.record()))
    assert rec["n_designs"] == len(a.designs) and rec["levels"] == a.levels and rec["seconds"] == a.seconds
    assert rec["settings"]["ram_styles"] == ["auto", "block"] and rec["designs"][0]["id"] == a.designs[0].id


def test_no_folding_beats_the_front_in_throughput_and_weighted_cost() -> None:
    """Exactness, brute force: every folding of a small net (all PE/SIMD x memory styles x resType)
    is matched by a front design at least as fast and at most as expensive in every resource's
    weighted sum (the front keeps, per level, the cheapest folding; a dominated level design is
    replaced by one that is better in every figure)."""
    graph = tfc_graph((32,), 2, 2, in_features=64, num_classes=10)
    tables = est.option_tables(graph, PART)
    combos = np.array(list(itertools.product(*[range(len(t)) for t in tables])))
    assert len(combos) > 10_000
    res = est.evaluate_batch(graph, tables, combos)
    front = hardware_front(graph, BOARD, tables=tables)
    w = est.device_weights(BOARD)
    cost = lambda x: sum(w[k] * getattr(x, k) for k in ("lut", "bram18", "uram", "dsp"))  # noqa: E731
    f_cycles = np.array([d.max_cycles for d in front.designs])
    f_cost = np.array([cost(d) for d in front.designs])
    all_cost = sum(w[k] * getattr(res, k) for k in ("lut", "bram18", "uram", "dsp"))
    for c, k in zip(res.max_cycles, all_cost):
        assert ((f_cycles <= c) & (f_cost <= k * (1 + 1e-12) + 1e-9)).any()


def test_limits_clock_and_a_tight_board() -> None:
    front = hardware_front(CNV, BOARD, min_fps=2_000, max_latency_us=3_000)
    assert front.designs and all(d.fps >= 2_000 and d.latency_us <= 3_000 for d in front.designs)
    assert not hardware_front(CNV, BOARD, min_fps=1e9).designs
    # A board with few LUTs: the fastest design that fits is found by re-weighting the over-used
    # resource (LUT traded for BRAM); the budget solver repairs the same way and finds it too.
    tight = dataclasses.replace(BOARD, limits=MappingProxyType({**BOARD.limits, "bram18": 0.1, "lut": 0.04}))
    sol = est.solve_for_budget(CNV, PART, board=tight, clock_ns=5.0)
    small = hardware_front(CNV, tight)
    assert small.designs and all(d.fit.fits for d in small.designs)
    assert sol.met and small.designs[0].fps == sol.fps
    margin = hardware_front(CNV, BOARD, fit_margin=0.5)
    assert all(max(d.fit.utilization.values()) <= 1.0 for d in margin.designs)
