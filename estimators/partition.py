"""One folded dataflow graph over a chain of FPGA cards: where to cut it, exactly.

The model is finn-plus 1.6.1's multi-FPGA flow with its chain topology and
``single_stream_network=True`` (`finn/transformation/fpgadataflow/multifpga/`): the graph's layers,
in topological order, are cut into contiguous segments, segment c on card c, card c's output
stream going to card c + 1 over one link. A cut is allowed only where exactly one stream crosses
it (a fork-to-join region stays on one card), as finn-plus's single-stream rule.

A partition is feasible when

* every card holds its segment within ``max_utilization`` of its usable budget, whole device and
  per SLR (``devices.check_fit`` with the segment's layers, i.e. ``place_in_slrs``, safety margin
  ``1 - max_utilization``; the budget already applies finn-plus's usable fractions);
* every cut's stream fits one link at the design's full rate: its words per frame, each padded
  to whole bytes as FINN's AXI-Stream interfaces are, times the design's fps, at most the link's
  bandwidth. A cut that would throttle the design is refused rather than priced: a design run
  below its compute rate is better refolded slower, which is cheaper (``estimators.multi_fpga``).

Throughput is then the folded graph's own (the slowest node); latency adds the link's latency
once per cut (every input-to-output path crosses each single-stream cut).

Objective (``partition``), exact by a dynamic programme over the cut points: the fewest cards
(each card costs its static power, each cut a hop of latency), then the most balanced, i.e. the
lowest utilization of the fullest card (its most used resource as a fraction of its capped
whole-device budget; the SLRs constrain but do not score, see ``Card.utilization``). ``exact=True`` asks for exactly ``cards`` cards, as finn-plus's
``num_fpgas`` does. Ties resolve deterministically (graph order). Throughput is not an objective here because the
folding fixes it; choosing folding and partition together is ``estimators.multi_fpga``.

finn-plus's own partitioner solves a MIP that only balances utilization (no link or throughput
terms); both agree on what fits, since the budgets are the same.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from estimators.core import NodeCost, node_cost
from estimators.devices import Board, FitReport, Resources, check_fit
from estimators.graph import DataflowGraph, network_figures
from estimators.power import U280_POWER, PowerModel, power_w
from estimators.streams import out_stream


@dataclass(frozen=True, slots=True)
class Link:
    """One card-to-card link of the chain: its latency and usable bandwidth.

    Default: AuroraFlow, the Aurora link kernel finn-plus's multi-FPGA flow uses (Paderborn
    University, HEART 2025; FINN_FACTS.md section 9): 0.51 us average latency and 95.03 Gbit/s
    average throughput measured for 1 MiB messages between U280s. Smaller messages see less; give
    a measured record (``Link(latency_ns=..., gbit_per_s=...)``) where that matters.
    """

    name: str = "AuroraFlow"
    latency_ns: float = 510.0
    gbit_per_s: float = 95.03

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latency_ns) and self.latency_ns >= 0):
            raise ValueError(f"link latency_ns must be >= 0, got {self.latency_ns}")
        if not (math.isfinite(self.gbit_per_s) and self.gbit_per_s > 0):
            raise ValueError(f"link gbit_per_s must be > 0, got {self.gbit_per_s}")


AURORAFLOW = Link()


@dataclass(frozen=True, slots=True)
class Cut:
    """The stream between two cards: cut before layer ``position`` (graph order)."""

    position: int
    producer: str
    consumer: str
    bits_per_frame: int  # words per frame x word width padded to whole bytes
    gbit_per_s: float  # needed at the design's fps
    link_gbit_per_s: float

    @property
    def link_share(self) -> float:
        return self.gbit_per_s / self.link_gbit_per_s

    @property
    def fits_link(self) -> bool:
        return self.gbit_per_s <= self.link_gbit_per_s


@dataclass(frozen=True, slots=True)
class Card:
    """One card's segment of the graph, its resources, fit verdict and power at full rate."""

    index: int
    layers: tuple[str, ...]
    used: Resources
    fit: FitReport  # against the board, safety margin 1 - max_utilization, with SLR placement
    power_w: float

    @property
    def utilization(self) -> float:
        """The card's most used resource, as a fraction of its capped whole-device budget.

        The balance objective. The SLRs are a constraint only (``fit.fits``): their greedy
        placement fills SLR0 first, so its fullest SLR says more about the greedy than the load."""
        return _device_utilization(self.fit)


@dataclass(frozen=True, slots=True)
class Partition:
    """A folded graph over a chain of cards, and its figures (or why no partition exists)."""

    board: str
    feasible: bool
    reason: str | None  # why not (None: feasible)
    cards: tuple[Card, ...]  # empty when no feasible partition was found
    cuts: tuple[Cut, ...]
    fps: float
    max_cycles: int
    latency_ns: float  # critical path + one link latency per cut
    clock_ns: float
    link: Link
    max_utilization: float
    refused_cuts: tuple[Cut, ...] = ()  # single-stream cut points the link cannot carry at this fps

    @property
    def n_cards(self) -> int:
        return len(self.cards)

    @property
    def card_of(self) -> tuple[int, ...]:
        """The card of each layer, in graph order."""
        return tuple(c.index for c in self.cards for _ in c.layers)

    @property
    def utilization(self) -> float:
        """The fullest card's utilization (the balance objective)."""
        return max((c.utilization for c in self.cards), default=0.0)

    @property
    def power_w(self) -> float | None:
        """All cards at full rate: each card's static power plus the dynamic power of its share."""
        return sum(c.power_w for c in self.cards) if self.feasible else None

    @property
    def energy_uj(self) -> float | None:
        """Energy per inference at full rate (µJ): all cards' power / fps."""
        p = self.power_w
        return None if p is None else p / self.fps * 1e6

    def describe(self) -> str:
        if not self.feasible:
            return f"no partition over {self.board} cards: {self.reason}"
        cards = ", ".join(f"card {c.index} {len(c.layers)} layers {c.utilization:.0%}" for c in self.cards)
        links = ", ".join(f"{c.producer}->{c.consumer} {c.link_share:.0%}" for c in self.cuts)
        return (f"{self.n_cards} {self.board} card{'s' if self.n_cards > 1 else ''} ({cards}"
                f"{' of each capped budget' if self.cards else ''})" + (f"; links {links}" if links else ""))


def _device_utilization(fit: FitReport) -> float:
    return fit.utilization[fit.limiting]


def _check_args(graph: DataflowGraph, clock_ns: float, max_utilization: float) -> None:
    if len(graph) == 0:
        raise ValueError("the graph has no layers")
    if not clock_ns > 0:
        raise ValueError(f"clock_ns must be > 0, got {clock_ns}")
    if not 0 < max_utilization <= 1:
        raise ValueError(f"max_utilization must be in (0, 1], got {max_utilization}")


def single_stream_cuts(graph: DataflowGraph) -> tuple[int, ...]:
    """Positions j (1..n-1) where exactly one stream runs from a layer before j to one at or after j."""
    n = len(graph)
    crossing = [0] * (n + 1)  # crossing[j]: edges (p, i) with p < j <= i
    for i, preds in enumerate(graph.preds):
        for p in preds:
            crossing[p + 1] += 1
            crossing[i + 1] -= 1
    out, running = [], 0
    for j in range(1, n):
        running += crossing[j]
        if running == 1:
            out.append(j)
    return tuple(out)


def _crossing_edge(graph: DataflowGraph, j: int) -> tuple[int, int]:
    return next((p, i) for i in range(j, len(graph)) for p in graph.preds[i] if p < j)


def stream_bits_per_frame(layer: Any) -> int:
    """What one frame puts on a link after ``layer``: its output words, each padded to whole bytes."""
    s = out_stream(layer)
    words = math.prod(s.folded_shape[:-1])
    return words * (-(-s.width_bits // 8) * 8)


def _cut(graph: DataflowGraph, j: int, fps: float, link: Link) -> Cut:
    p, i = _crossing_edge(graph, j)
    bits = stream_bits_per_frame(graph.layers[p])
    return Cut(position=j, producer=graph.layers[p].name, consumer=graph.layers[i].name, bits_per_frame=bits,
               gbit_per_s=bits * fps / 1e9, link_gbit_per_s=link.gbit_per_s)


def _resources(costs: Sequence[NodeCost]) -> list[Resources]:
    return [Resources(lut=c.lut, bram18=c.bram18, uram=c.uram, dsp=c.dsp) for c in costs]


def _total(res: Sequence[Resources]) -> Resources:
    out = Resources()
    for r in res:
        out = out + r
    return out


@dataclass(frozen=True, slots=True)
class _Setting:
    """What every evaluation of one (graph, board, clock, link, cap) shares."""

    graph: DataflowGraph
    board: Board
    clock_ns: float
    link: Link
    max_utilization: float
    power: PowerModel
    res: tuple[Resources, ...]
    max_cycles: int
    critical_cycles: int

    @property
    def fps(self) -> float:
        return (1e9 / self.clock_ns) / self.max_cycles

    def fit(self, i: int, j: int) -> FitReport:
        seg = self.res[i:j]
        return check_fit(_total(seg), self.board, safety_margin=1.0 - self.max_utilization, layers=seg,
                         names=[layer.name for layer in self.graph.layers[i:j]])

    def result(self, cuts: Sequence[Cut], *, feasible: bool, reason: str | None, refused: Sequence[Cut] = (),
               cards: Sequence[Card] = ()) -> Partition:
        return Partition(board=self.board.name, feasible=feasible, reason=reason, cards=tuple(cards),
                         cuts=tuple(cuts), fps=self.fps, max_cycles=self.max_cycles,
                         latency_ns=self.critical_cycles * self.clock_ns + len(cuts) * self.link.latency_ns,
                         clock_ns=self.clock_ns, link=self.link, max_utilization=self.max_utilization,
                         refused_cuts=tuple(refused))


def _setting(graph: DataflowGraph, board: Board, clock_ns: float, link: Link, max_utilization: float,
             power: PowerModel) -> _Setting:
    _check_args(graph, clock_ns, max_utilization)
    costs = [node_cost(layer, board.part) for layer in graph.layers]
    max_cycles, _, critical = network_figures([c.cycles for c in costs], graph.preds)
    return _Setting(graph, board, clock_ns, link, max_utilization, power, tuple(_resources(costs)), max_cycles,
                    critical)


def _cards(s: _Setting, bounds: Sequence[int]) -> list[Card]:
    out = []
    for c, (i, j) in enumerate(zip(bounds, bounds[1:])):
        used = _total(s.res[i:j])
        out.append(Card(index=c, layers=tuple(layer.name for layer in s.graph.layers[i:j]), used=used,
                        fit=s.fit(i, j), power_w=power_w(lut=used.lut, bram18=used.bram18, uram=used.uram,
                                                         dsp=used.dsp, clock_ns=s.clock_ns, model=s.power)))
    return out


def assess(graph: DataflowGraph, board: Board, cuts: Sequence[int], *, clock_ns: float, link: Link = AURORAFLOW,
           max_utilization: float = 1.0, power: PowerModel = U280_POWER) -> Partition:
    """Figures of the partition that cuts before each layer index in ``cuts``, and whether it is feasible."""
    s = _setting(graph, board, clock_ns, link, max_utilization, power)
    return _assess(s, cuts)


def _assess(s: _Setting, cuts: Sequence[int]) -> Partition:
    positions = sorted(set(cuts))
    n = len(s.graph)
    if any(not 0 < j < n for j in positions):
        raise ValueError(f"cut positions must lie in 1..{n - 1}, got {list(cuts)}")
    allowed = set(single_stream_cuts(s.graph))
    not_single = [j for j in positions if j not in allowed]
    if not_single:
        j = not_single[0]
        return s.result((), feasible=False, reason=(
            f"more than one stream crosses the cut before {s.graph.layers[j].name!r} (a single stream must)"))
    made = [_cut(s.graph, j, s.fps, s.link) for j in positions]
    cards = _cards(s, [0, *positions, n])
    problems = [f"card {c.index} ({c.layers[0]}..{c.layers[-1]}): {c.fit.reason}" for c in cards if not c.fit.fits]
    problems += [_link_words(c, s.link) for c in made if not c.fits_link]
    return s.result(made, feasible=not problems, reason="; ".join(problems) or None, cards=cards)


def _link_words(cut: Cut, link: Link) -> str:
    return (f"the stream {cut.producer!r} -> {cut.consumer!r} needs {cut.gbit_per_s:.4g} Gbit/s at the design's "
            f"fps ({cut.bits_per_frame:,} bits per frame), more than one {link.name} link's {link.gbit_per_s:.4g}")


def partition(graph: DataflowGraph, board: Board, *, cards: int, clock_ns: float, link: Link = AURORAFLOW,
              max_utilization: float = 1.0, exact: bool = False, power: PowerModel = U280_POWER) -> Partition:
    """The best partition of the folded ``graph`` over at most (``exact``: exactly) ``cards`` cards.

    Best: the fewest cards, then the lowest utilization of the fullest card (module docstring).
    Exact by dynamic programme over the allowed cut points: ``best[c][j]`` is the lowest fullest-
    card utilization of layers ``0..j-1`` on ``c`` cards, over segment ends ``j`` that are allowed
    cuts. A segment that overflows a card stays overflowing when extended (the SLR placement is
    greedy in graph order: appending a layer never moves the earlier ones), so for each start a
    bisection finds the last end that fits, and the segments up to it need only their totals.
    When nothing is feasible, ``reason`` says what stops it.
    """
    if isinstance(cards, bool) or not isinstance(cards, int) or cards < 1:
        raise ValueError(f"cards must be an integer >= 1, got {cards!r}")
    s = _setting(graph, board, clock_ns, link, max_utilization, power)
    n = len(graph)
    single = single_stream_cuts(graph)
    refused = [c for c in (_cut(graph, j, s.fps, link) for j in single) if not c.fits_link]
    allowed = [j for j in single if j not in {c.position for c in refused}]
    ends = [*allowed, n]
    segment: dict[tuple[int, int], float] = {}
    for i in [0, *allowed]:
        # Fitting is monotone in the end (see above): bisect for the last end that fits, with SLRs.
        later = [e for e in ends if e > i]
        lo, hi, last = 0, len(later) - 1, -1
        while lo <= hi:
            mid = (lo + hi) // 2
            if s.fit(i, later[mid]).fits:
                last, lo = mid, mid + 1
            else:
                hi = mid - 1
        total, at = Resources(), i
        for j in later[:last + 1]:  # the balance score needs only the totals (summed as _total sums)
            for r in s.res[at:j]:
                total = total + r
            at = j
            segment[(i, j)] = _device_utilization(check_fit(total, board, safety_margin=1.0 - max_utilization))
    inf = float("inf")
    best: list[dict[int, tuple[float, int]]] = [{0: (0.0, -1)}]  # per card count: end -> (value, start)
    for c in range(1, min(cards, len(ends)) + 1):
        row: dict[int, tuple[float, int]] = {}
        for j in ends:
            cand = (inf, -1)
            for i, (prev, _) in best[c - 1].items():
                if i < j and (i, j) in segment:
                    v = max(prev, segment[(i, j)])
                    if v < cand[0]:
                        cand = (v, i)
            if cand[1] >= 0:
                row[j] = cand
        best.append(row)
        if n in row and not exact:
            break
    used = len(best) - 1
    if n not in best[used] or (exact and used != cards):
        return s.result((), feasible=False, reason=_why_not(s, cards, exact, allowed, refused, segment, best),
                        refused=refused)
    bounds, j = [n], n
    for c in range(used, 0, -1):
        j = best[c][j][1]
        bounds.append(j)
    return replace(_assess(s, bounds[-2:0:-1]), refused_cuts=tuple(refused))


def _why_not(s: _Setting, cards: int, exact: bool, allowed: Sequence[int], refused: Sequence[Cut],
             segment: dict[tuple[int, int], float], best: Sequence[dict[int, tuple[float, int]]]) -> str:
    """Say what prevents a partition: a block no cut can split that overflows a card, or too few cards/cuts."""
    n, names = len(s.graph), [layer.name for layer in s.graph.layers]
    bounds = [0, *allowed, n]
    for i, j in zip(bounds, bounds[1:]):
        if (i, j) not in segment:
            fit = s.fit(i, j)
            if j == i + 1:
                return f"layer {names[i]!r} alone {fit.reason}"
            inside = [c for c in refused if i < c.position < j]
            why = ("; ".join(_link_words(c, s.link) for c in inside[:2]) if inside else
                   "no single-stream cut between them")
            return f"layers {names[i]!r}..{names[j - 1]!r} must share one card ({why}) and {fit.reason}"
    if exact and cards > len(allowed) + 1:
        return (f"{cards} cards need {cards - 1} cuts, but only {len(allowed)} single-stream cut"
                f"{'s' if len(allowed) != 1 else ''} within the link's bandwidth exist")
    fewest = next((c for c in range(1, len(best)) if n in best[c]), None)
    if exact and fewest is not None:  # fewer cards work; exactly `cards` cannot be balanced into budget
        return f"no {cards}-card split keeps every card within budget (fewest cards that work: {fewest})"
    # Every block fits alone, so as many cards as blocks always work.
    need = _fewest_cards(segment, bounds)
    return f"needs {need} cards, more than the {cards} allowed"


def _fewest_cards(segment: dict[tuple[int, int], float], bounds: Sequence[int]) -> int:
    fewest: dict[int, int] = {0: 0}
    for j in bounds[1:]:
        fewest[j] = min(fewest[i] + 1 for i in bounds if i < j and i in fewest and (i, j) in segment)
    return fewest[bounds[-1]]
