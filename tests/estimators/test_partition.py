"""Partitioning a folded graph over a chain of cards: the DP is exact, links and budgets bind."""
from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from estimators.core import node_cost
from estimators.devices import Board, Resources, get_board
from estimators.families import cnv_graph
from estimators.graph import DataflowGraph
from estimators.mvau import MVAU
from estimators.partition import AURORAFLOW, Link, assess, partition, single_stream_cuts, stream_bits_per_frame
from estimators.power import U280_POWER, power_w

U280 = get_board("U280")
PART = U280.part


def _divisor(rng: random.Random, n: int) -> int:
    return rng.choice([d for d in range(1, n + 1) if n % d == 0])


def _chain(rng: random.Random, n: int, *, skips: bool) -> DataflowGraph:
    layers, width = [], rng.choice([16, 32, 64])
    for i in range(n):
        mh = rng.choice([16, 32, 64, 128])
        layers.append(MVAU(name=f"fc{i}", impl="hls", mw=width, mh=mh, pe=_divisor(rng, mh), simd=_divisor(rng, width),
                           input_bits=rng.choice([1, 2, 4]), input_signed=False, weight_bits=rng.choice([1, 2, 4]),
                           output_bits=2, num_input_vectors=rng.choice([1, 16, 64])))
        width = mh
    preds = [() if i == 0 else (i - 1,) for i in range(n)]
    if skips and n > 2:  # extra streams that make some positions multi-stream (FINN would need a join there)
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(2, n) if n > 2 else 1
            p = rng.randrange(0, i)
            preds[i] = tuple(sorted({*preds[i], p}))
    return DataflowGraph(tuple(layers), tuple(preds))


def _tiny_board(graph: DataflowGraph, rng: random.Random, cap: float) -> Board:
    """A two-SLR board sized so the graph needs about 1-4 cards (a layer never spans SLRs)."""
    costs = [node_cost(layer, PART) for layer in graph.layers]
    share = rng.uniform(1.2, 4.5) * 2  # cards x SLRs

    def size(kind: str) -> float:
        values = [getattr(c, kind) for c in costs]
        return max(sum(values) / share, max(values) * rng.uniform(1.01, 1.4), 1.0) / cap

    slr = Resources(lut=size("lut") / 0.7, ff=1e9, bram18=size("bram18") / 0.8, uram=1e6, dsp=1e6)
    return Board(name="tiny", part=PART, slrs=(slr, slr), shell=Resources(), shell_slr=0)


def _crossing(graph: DataflowGraph, j: int) -> int:
    return sum(1 for i, ps in enumerate(graph.preds) for p in ps if p < j <= i)


def _brute_force(graph: DataflowGraph, board: Board, *, cards: int, exact: bool, link: Link,
                 max_utilization: float) -> tuple[int, float] | None:
    """Every cut set of up to cards-1 single-stream positions, judged by `assess`: (cards, fullest card)."""
    found: tuple[int, float] | None = None
    for k in range(1, cards + 1):
        if exact and k != cards:
            continue
        for cuts in itertools.combinations(range(1, len(graph)), k - 1):
            if any(_crossing(graph, j) != 1 for j in cuts):
                continue
            p = assess(graph, board, cuts, clock_ns=5.0, link=link, max_utilization=max_utilization)
            if p.feasible and (found is None or (k, p.utilization) < found):
                found = (k, p.utilization)
    return found


@pytest.mark.parametrize("seed", range(100))
def test_dp_equals_brute_force_on_random_small_chains(seed: int) -> None:
    rng = random.Random(seed)
    graph = _chain(rng, rng.randint(1, 7), skips=seed % 3 == 0 and seed > 0)
    cards, exact, cap = rng.randint(1, 4), rng.random() < 0.3, rng.choice([1.0, 0.8])
    board = _tiny_board(graph, rng, cap)
    fps = (1e9 / 5.0) / max(node_cost(layer, PART).cycles for layer in graph.layers)
    need = [stream_bits_per_frame(layer) * fps / 1e9 for layer in graph.layers[:-1]]
    # Some runs with a link that carries only some of the streams.
    link = Link(gbit_per_s=rng.choice(need)) if need and seed % 2 else AURORAFLOW
    got = partition(graph, board, cards=cards, clock_ns=5.0, link=link, max_utilization=cap, exact=exact)
    want = _brute_force(graph, board, cards=cards, exact=exact, link=link, max_utilization=cap)
    if want is None:
        assert not got.feasible and got.reason and not got.cards
        return
    assert got.feasible and got.reason is None, got.reason
    assert (got.n_cards, got.utilization) == want
    # The chosen cuts are single-stream, contiguous, and within budget and link.
    assert all(_crossing(graph, c.position) == 1 and c.fits_link for c in got.cuts)
    assert list(got.card_of) == sorted(got.card_of) and len(got.card_of) == len(graph)
    assert all(c.fit.fits and c.utilization <= 1.0 for c in got.cards)


def _two_big_layers() -> DataflowGraph:
    big = MVAU(name="a", impl="hls", mw=1024, mh=1024, pe=64, simd=64, input_bits=4, input_signed=False,
               weight_bits=4, output_bits=4, num_input_vectors=64, ram_style="distributed", res_type="lut")
    return DataflowGraph.chain([big, replace(big, name="b")])


def test_link_bound_cut_is_refused() -> None:
    graph = _two_big_layers()
    lut = node_cost(graph.layers[0], PART).lut
    # A one-SLR card holds one of the two layers, not both.
    slr = Resources(lut=lut / 0.7 * 1.5, ff=1e9, bram18=1e6, uram=1e6, dsp=1e6)
    board = Board(name="half", part=PART, slrs=(slr,), shell=Resources(), shell_slr=0)
    assert not partition(graph, board, cards=1, clock_ns=5.0).feasible
    ok = partition(graph, board, cards=2, clock_ns=5.0)
    assert ok.feasible and ok.n_cards == 2 and ok.cuts[0].producer == "a"
    need = ok.cuts[0].gbit_per_s
    assert need == pytest.approx(stream_bits_per_frame(graph.layers[0]) * ok.fps / 1e9)
    slow = Link(name="slow", gbit_per_s=need * 0.99)
    refused = partition(graph, board, cards=2, clock_ns=5.0, link=slow)
    assert not refused.feasible and not refused.cards
    assert "needs" in str(refused.reason) and "Gbit/s" in str(refused.reason) and "'a' -> 'b'" in str(refused.reason)
    assert [c.position for c in refused.refused_cuts] == [1]
    judged = assess(graph, board, [1], clock_ns=5.0, link=slow)
    assert not judged.feasible and not judged.cuts[0].fits_link
    # The same link at exactly the needed bandwidth carries it.
    assert partition(graph, board, cards=2, clock_ns=5.0, link=Link(gbit_per_s=need)).feasible


def test_infeasible_says_why() -> None:
    graph = _two_big_layers()
    lut = node_cost(graph.layers[0], PART).lut
    small = Resources(lut=lut / 0.7 * 0.9, ff=1e9, bram18=1e6, uram=1e6, dsp=1e6)
    board = Board(name="small", part=PART, slrs=(small, small), shell=Resources(), shell_slr=0)
    p = partition(graph, board, cards=4, clock_ns=5.0)
    assert not p.feasible and str(p.reason).startswith("layer 'a' alone does not fit small: layer 'a' needs lut")
    board = replace(board, slrs=(replace(small, lut=lut / 0.7 * 1.5),))
    p = partition(graph, board, cards=1, clock_ns=5.0)
    assert p.reason == "needs 2 cards, more than the 1 allowed"
    p = partition(graph, board, cards=3, clock_ns=5.0, exact=True)
    assert p.reason == "3 cards need 2 cuts, but only 1 single-stream cut within the link's bandwidth exist"
    assert "no partition over small cards" in p.describe()


def test_fork_region_stays_on_one_card() -> None:
    rng = random.Random(7)
    chain = _chain(rng, 5, skips=False)
    graph = DataflowGraph(chain.layers, ((), (0,), (1,), (1, 2), (3,)))  # a stream 1 -> 3 skips layer 2
    assert single_stream_cuts(graph) == (1, 4)
    p = assess(graph, U280, [2], clock_ns=5.0)
    assert not p.feasible and "more than one stream crosses the cut before 'fc2'" in str(p.reason)


def test_cnv_on_two_and_three_u280s() -> None:
    graph = cnv_graph((64, 64, 128, 128, 256, 256), (512, 512), 2, 2)
    from estimators.folding import FoldingLimits
    from estimators.solver import solve_for_budget

    folded = solve_for_budget(graph, PART, board=U280, clock_ns=5.0, limits=FoldingLimits(wwidth_max=None)).graph
    one = partition(folded, U280, cards=3, clock_ns=5.0)
    assert one.feasible and one.n_cards == 1 and not one.cuts  # it fits one card: fewest cards win
    for k in (2, 3):
        p = partition(folded, U280, cards=k, clock_ns=5.0, exact=True)
        assert p.feasible and p.n_cards == k and len(p.cuts) == k - 1
        assert p.fps == one.fps  # the folding fixes the rate; cuts only add hops
        assert p.latency_ns == pytest.approx(one.latency_ns + (k - 1) * AURORAFLOW.latency_ns)
        assert p.utilization < one.utilization  # spreading lowers the fullest card
        total = sum((c.used for c in p.cards), Resources())
        dynamic = power_w(lut=total.lut, bram18=total.bram18, uram=total.uram, dsp=total.dsp,
                          clock_ns=5.0) - U280_POWER.static_w
        assert p.power_w == pytest.approx(k * U280_POWER.static_w + dynamic)
        assert p.energy_uj == pytest.approx(p.power_w / p.fps * 1e6)
    # Lower caps need more cards (or none suffices).
    counts = [partition(folded, U280, cards=3, clock_ns=5.0, max_utilization=cap).n_cards or 4
              for cap in (1.0, 0.6, 0.4, 0.3, 0.2, 0.1)]
    assert counts == sorted(counts) and counts[0] == 1 and max(counts) > 1


def test_link_record_is_validated_and_cited() -> None:
    assert (AURORAFLOW.latency_ns, AURORAFLOW.gbit_per_s) == (510.0, 95.03)
    assert "AuroraFlow" in (Link.__doc__ or "") and "HEART 2025" in (Link.__doc__ or "")
    for bad in ({"gbit_per_s": 0.0}, {"latency_ns": -1.0}, {"gbit_per_s": float("nan")}):
        with pytest.raises(ValueError, match="link"):
            Link(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cards must be an integer >= 1"):
        partition(_two_big_layers(), U280, cards=0, clock_ns=5.0)
