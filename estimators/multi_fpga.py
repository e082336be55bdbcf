"""Folding and partition together: the fastest design on up to K cards, the cheapest meeting a target.

Both search the folding exactly as the one-card solver does (``estimators.solver``): a folding is
the cheapest option of every node within a bottleneck level, resources weighed by
``device_weights(board)``; the levels are the reachable per-option cycle counts
(``front.reachable_levels``). Each folding is then partitioned exactly over the cards
(``estimators.partition``: fewest cards, then the most balanced), so per-card budgets, SLRs and
link bandwidth at the design's rate all bind.

* ``fastest_on_cards``: the fastest level whose folding partitions over at most K cards. Slower
  levels select cheaper nodes and need less link bandwidth, so feasibility flips once along the
  levels and a bisection finds it (the same assumption ``solve_for_budget`` makes). Among the
  partitions of that folding, the fewest cards win: a design that fits one card is not spread.
* ``cheapest_meeting``: the cheapest folding reaching the target (``solve_for_target``), on the
  fewest cards. Cheapest means fewest cards first (each card brings its static power), then the
  weighted resources of the folding.

Energy per inference counts every card's static power plus the dynamic power of its share
(``Partition.power_w``), at the design's full rate.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from estimators.devices import Board
from estimators.folding import FoldingLimits, OptionTable, apply_choice, option_tables
from estimators.front import reachable_levels, select_levels
from estimators.graph import DataflowGraph
from estimators.partition import AURORAFLOW, Card, Link, Partition, partition
from estimators.power import U280_POWER, PowerModel
from estimators.solver import device_weights, solve_for_target, wwidth_limited


@dataclass(frozen=True, slots=True)
class MultiCardDesign:
    """A folded graph, its partition over cards, and whether it is what was asked for."""

    graph: DataflowGraph  # folded
    partition: Partition
    max_cards: int
    met: bool  # fits on at most max_cards cards (fastest) / also reaches the target (cheapest)
    reason: str | None  # why not (None: met)
    target_fps: float | None = None
    best_reachable_fps: float = 0.0  # the fastest folding, ignoring resources and cards
    limiting_layers: tuple[str, ...] = ()  # target out of reach: the layers whose fastest option is too slow
    wwidth_limited: tuple[str, ...] = ()  # layers held back by the SIMD x weight bits cap, where speed limits

    @property
    def fps(self) -> float:
        return self.partition.fps

    @property
    def latency_ns(self) -> float:
        return self.partition.latency_ns

    @property
    def n_cards(self) -> int:
        return self.partition.n_cards

    @property
    def cards(self) -> tuple[Card, ...]:
        return self.partition.cards

    @property
    def power_w(self) -> float | None:
        return self.partition.power_w

    @property
    def energy_uj(self) -> float | None:
        return self.partition.energy_uj


def _check_cards(cards: int) -> None:
    if isinstance(cards, bool) or not isinstance(cards, int) or cards < 1:
        raise ValueError(f"cards must be an integer >= 1, got {cards!r}")


def fastest_on_cards(graph: DataflowGraph, board: Board, *, cards: int, clock_ns: float,
                     limits: FoldingLimits = FoldingLimits(), link: Link = AURORAFLOW, max_utilization: float = 1.0,
                     power: PowerModel = U280_POWER, tables: Sequence[OptionTable] | None = None) -> MultiCardDesign:
    """The highest-throughput folding that partitions over at most ``cards`` cards (module docstring).

    If even the slowest folding does not, the result has ``met=False``, the slowest folding, and
    the partitioner's reason."""
    _check_cards(cards)
    tables = list(tables) if tables is not None else option_tables(graph, board.part, limits)
    weights = device_weights(board)
    levels = reachable_levels(tables)
    best_fps = (1e9 / clock_ns) / int(levels[0])

    def at(k: int) -> tuple[DataflowGraph, Partition]:
        choice = select_levels(tables, levels[k:k + 1], weights)[0]
        folded = apply_choice(graph, tables, [int(c) for c in choice])
        return folded, partition(folded, board, cards=cards, clock_ns=clock_ns, link=link,
                                 max_utilization=max_utilization, power=power)

    lo, hi, best = 0, len(levels) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        folded, p = at(mid)
        if p.feasible:
            best, hi = (mid, folded, p), mid - 1
        else:
            lo = mid + 1
    if best is None:
        folded, p = at(len(levels) - 1)
        return MultiCardDesign(folded, p, cards, met=False, best_reachable_fps=best_fps,
                               reason=f"not even the slowest folding fits {cards} card{'s' if cards > 1 else ''}: "
                                      f"{p.reason}")
    k, folded, p = best
    floor = int(levels[0])
    capped = (wwidth_limited(graph, tables, board.part, limits, lambda t: bool(t.max_cycles.min() == floor))
              if k == 0 else ())
    return MultiCardDesign(folded, p, cards, met=True, reason=None, best_reachable_fps=best_fps, wwidth_limited=capped)


def cheapest_meeting(graph: DataflowGraph, board: Board, *, target_fps: float, cards: int, clock_ns: float,
                     limits: FoldingLimits = FoldingLimits(), link: Link = AURORAFLOW, max_utilization: float = 1.0,
                     power: PowerModel = U280_POWER, tables: Sequence[OptionTable] | None = None) -> MultiCardDesign:
    """The cheapest design reaching ``target_fps`` on at most ``cards`` cards: fewest cards, then resources.

    Out of reach (the folding's fastest is too slow, or it does not partition over the cards):
    ``met=False`` with the reason; the design shown is the cheapest folding for the target (the
    fastest one where the target is out of folding's reach)."""
    _check_cards(cards)
    sol = solve_for_target(graph, board.part, target_fps=target_fps, clock_ns=clock_ns,
                           weights=device_weights(board), limits=limits, tables=tables)
    p = partition(sol.graph, board, cards=cards, clock_ns=clock_ns, link=link, max_utilization=max_utilization,
                  power=power)
    reason = None
    if not sol.met:
        reason = (f"target {target_fps:,.0f} fps cannot be met: limited by {', '.join(sol.limiting_layers)}; "
                  f"best reachable {sol.best_reachable_fps:,.0f} fps")
    elif not p.feasible:
        reason = f"the cheapest folding for {target_fps:,.0f} fps does not fit {cards} card{'s' if cards > 1 else ''}: {p.reason}"
    return MultiCardDesign(sol.graph, p, cards, met=reason is None, reason=reason, target_fps=target_fps,
                           best_reachable_fps=sol.best_reachable_fps, limiting_layers=sol.limiting_layers,
                           wwidth_limited=sol.wwidth_limited)


def designs_per_card_count(graph: DataflowGraph, board: Board, *, max_cards: int, clock_ns: float,
                           limits: FoldingLimits = FoldingLimits(), link: Link = AURORAFLOW,
                           max_utilization: float = 1.0, power: PowerModel = U280_POWER) -> list[MultiCardDesign]:
    """The fastest design on up to 1, 2, ..., ``max_cards`` cards (option tables built once)."""
    _check_cards(max_cards)
    tables = option_tables(graph, board.part, limits)
    return [fastest_on_cards(graph, board, cards=k, clock_ns=clock_ns, limits=limits, link=link,
                             max_utilization=max_utilization, power=power, tables=tables)
            for k in range(1, max_cards + 1)]
