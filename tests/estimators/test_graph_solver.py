"""Network-level invariants of the estimators, the batch evaluator and the folding solver."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators as est
from estimators.mvau import MVAU
from estimators.families import tfc_graph
from estimators.folding import apply_choice
from estimators.front import hardware_front
from estimators.solver import _select
from estimators.streaming import LabelSelect

PART = "xcu280-fsvh2892-2L-e"
BOARD = est.get_board("U280")


@st.composite
def mlp_graphs(draw: st.DrawFn) -> est.DataflowGraph:
    widths = [draw(st.sampled_from([784, 256, 100, 64]))]
    widths += draw(st.lists(st.sampled_from([8, 16, 24, 32, 64, 96]), min_size=1, max_size=3))
    widths.append(10)
    wbits, abits = draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 4]))
    layers = []
    for i, (mw, mh) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        layers.append(MVAU(name=f"MVAU_hls_{i}", impl="hls", mw=mw, mh=mh, pe=1, simd=1,
                           input_bits=8 if i == 0 else abits, input_signed=False, weight_bits=wbits,
                           output_bits=16 if last else abits, acc_bits=16, no_activation=last))
    layers.append(LabelSelect(name="LabelSelect_hls_0", labels=10, pe=1, k=1, input_bits=16, output_bits=4))
    return est.DataflowGraph.chain(layers)


@settings(max_examples=25, deadline=None)
@given(mlp_graphs(), st.integers(0, 2**31))
def test_batch_equals_scalar_and_totals_are_sums(graph: est.DataflowGraph, seed: int) -> None:
    tables = est.option_tables(graph, PART)
    rng = np.random.default_rng(seed)
    choice = np.stack([rng.integers(len(t), size=8) for t in tables], axis=1)
    batch = est.evaluate_batch(graph, tables, choice)
    for k in range(8):
        net = est.estimate_graph(est.folding.apply_choice(graph, tables, choice[k]), PART, clock_ns=5.0)
        assert net.lut == sum(c.lut for c in net.costs) == batch.lut[k]
        assert net.bram18 == batch.bram18[k] and net.dsp == batch.dsp[k] and net.uram == batch.uram[k]
        assert net.max_cycles == max(c.cycles for c in net.costs) == batch.max_cycles[k]
        assert net.critical_path_cycles == sum(c.cycles for c in net.costs) == batch.critical_path_cycles[k]
        assert all(c.lut >= 0 and c.bram18 >= 0 and c.uram >= 0 and c.dsp >= 0 for c in net.costs)


@settings(max_examples=25, deadline=None)
@given(mlp_graphs(), st.floats(1e3, 1e8), st.integers(0, 2**31))
def test_target_solution_is_valid_and_cheapest(graph: est.DataflowGraph, target: float, seed: int) -> None:
    weights = est.device_weights(BOARD)
    tables = est.option_tables(graph, PART)
    sol = est.solve_for_target(graph, PART, target_fps=target, clock_ns=5.0, weights=weights, tables=tables)
    net = est.estimate_graph(sol.graph, PART, clock_ns=5.0)  # records re-validated by construction
    cycles = int(1e9 / 5.0 / target)
    assert net.max_cycles == sol.max_cycles and net.lut == sol.lut
    if sol.met:
        assert all(c.cycles <= cycles for c in net.costs)
        score = lambda r: r.lut * weights["lut"] + r.bram18 * weights["bram18"] + r.uram * weights["uram"] + r.dsp * weights["dsp"]  # noqa: E731
        rng = np.random.default_rng(seed)
        choice = np.stack([rng.integers(len(t), size=200) for t in tables], axis=1)
        others = est.evaluate_batch(graph, tables, choice)
        meeting = others.max_cycles <= cycles
        assert np.all(score(others)[meeting] >= score(net) - 1e-6)
    else:
        assert sol.limiting_layers and sol.best_reachable_fps < target


@settings(max_examples=15, deadline=None)
@given(mlp_graphs())
def test_budget_solution_fits_and_beats_unfolded(graph: est.DataflowGraph) -> None:
    sol = est.solve_for_budget(graph, PART, board=BOARD, clock_ns=5.0)
    used = est.Resources(lut=sol.lut, bram18=sol.bram18, uram=sol.uram, dsp=sol.dsp)
    assert sol.met and est.check_fit(used, BOARD).fits
    assert sol.max_cycles <= est.estimate_graph(graph, PART, clock_ns=5.0).max_cycles


@settings(max_examples=10, deadline=None)
@given(mlp_graphs())
def test_folding_config_round_trips(graph: est.DataflowGraph) -> None:
    tables = est.option_tables(graph, PART)
    folded = est.folding.apply_choice(graph, tables, [len(t) - 1 for t in tables])
    assert est.apply_folding_config(graph, est.folding_config(folded)) == folded


def test_the_simd_times_weight_bits_cap_is_named_when_it_limits() -> None:
    # 784 inputs at 2-bit weights: SIMD x 2 <= 36 allows SIMD 16 at most (49 cycles per output row).
    layers = [MVAU(name="MVAU_hls_0", impl="hls", mw=784, mh=64, pe=1, simd=1, input_bits=8, input_signed=False,
                   weight_bits=2, output_bits=2, acc_bits=16),
              MVAU(name="MVAU_hls_1", impl="hls", mw=64, mh=10, pe=1, simd=1, input_bits=2, input_signed=False,
                   weight_bits=2, output_bits=16, acc_bits=16, no_activation=True)]
    graph, capped, free = est.DataflowGraph.chain(layers), est.FoldingLimits(), est.FoldingLimits(wwidth_max=None)
    weights = est.device_weights(BOARD)
    sol = est.solve_for_target(graph, PART, target_fps=1e7, clock_ns=5.0, weights=weights, limits=capped)
    assert not sol.met and sol.wwidth_limited == ("MVAU_hls_0",) and "MVAU_hls_0" in sol.limiting_layers
    assert est.solve_for_target(graph, PART, target_fps=1e7, clock_ns=5.0, weights=weights, limits=free).met
    fit = est.solve_for_budget(graph, PART, board=BOARD, clock_ns=5.0, limits=capped)
    assert fit.met and fit.wwidth_limited == ("MVAU_hls_0",)  # the board has room; the cap holds it back
    assert est.solve_for_budget(graph, PART, board=BOARD, clock_ns=5.0, limits=free).fps > fit.fps
    # A target met, or no cap: nothing to name.
    assert est.solve_for_target(graph, PART, target_fps=1e5, clock_ns=5.0, weights=weights, limits=capped).wwidth_limited == ()
    assert est.solve_for_budget(graph, PART, board=BOARD, clock_ns=5.0, limits=free).wwidth_limited == ()


def test_the_budget_solution_fits_every_slr_not_only_the_device() -> None:
    """12 x 1024 w2a2 MLP: the cheapest folding at 512 cycles fits the U280's totals but cannot be
    placed (the last layer needs more LUTs than SLR2 has left). The solver, like the exact front,
    judges a folding on the device and every SLR (the verdict `estimate` gives) and, where the
    cheapest one does not fit, re-selects it with the over-used resource weighed up: at 512
    cycles weights in BRAM and DSPs instead of LUTs place in the SLRs."""
    board = est.get_board("U280")
    graph = tfc_graph((1024,) * 12, 2, 2, part=board.part)
    sol = est.solve_for_budget(graph, board.part, board=board, clock_ns=5.0)
    e = est.estimate_graph(sol.graph, board.part, clock_ns=5.0)
    per_layer = [est.Resources(lut=c.lut, bram18=c.bram18, uram=c.uram, dsp=c.dsp) for c in e.costs]
    used = est.Resources(lut=e.lut, bram18=e.bram18, uram=e.uram, dsp=e.dsp)
    assert sol.met and est.check_fit(used, board, layers=per_layer, names=e.names).fits
    assert sol.max_cycles == 512 and sol.bram18 > 0  # (the LUT-only selection used no BRAM)
    # At 512 cycles the cheapest folding fits the device's totals but not its SLRs.
    tables = est.option_tables(graph, board.part)
    choice = _select(tables, 512, est.device_weights(board))
    assert choice is not None
    fast = est.estimate_graph(apply_choice(graph, tables, choice), board.part, clock_ns=5.0)
    fast_used = est.Resources(lut=fast.lut, bram18=fast.bram18, uram=fast.uram, dsp=fast.dsp)
    fast_layers = [est.Resources(lut=c.lut, bram18=c.bram18, uram=c.uram, dsp=c.dsp) for c in fast.costs]
    assert est.check_fit(fast_used, board).fits and fast.bram18 == 0
    assert not est.check_fit(fast_used, board, layers=fast_layers, names=fast.names).fits
    front = hardware_front(graph, board, tables=tables)
    assert max(d.fps for d in front.designs) == sol.fps
    assert all(d.fit.slr_placement is not None and d.fit.slr_placement.fits for d in front.designs)
