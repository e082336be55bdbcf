"""The exact hardware front of one network graph: every non-dominated folding, before any training.

Folding reaches a discrete set of throughputs: the network's bottleneck is the slowest node, so
the reachable bottleneck cycle counts are the distinct per-option cycle counts of the option
tables (``estimators.folding``; built once per network, every legal PE/SIMD x memory style x
resType, costed by the per-node models). For each such level L and each declared memory-style /
resType restriction, the cheapest design whose every node takes <= L cycles is, because FINN's
costs are per node, the per-table cheapest option within L (weighted as the solver weighs
resources, ``device_weights``; among equals the fastest). That is the solver's selection
(``solver._select``), done here for all levels at once: options sorted by cycles, a running
minimum of the cost, one ``searchsorted`` per level.

Designs that break the fit check at their level get a repair pass: the over-used resource's
weight is raised (x4 per round, a few rounds) and the level re-selected, so a level that fits
with more LUTs and fewer BRAMs is not lost. The union over levels x restrictions x clocks is then
filtered by the study's limits (min fps, max latency, ``check_fit`` on the device and per SLR) and reduced to the designs
non-dominated over fps, latency, LUT, BRAM18, URAM, DSP and energy per inference.

Deterministic (sorted levels, stable sorts and ties, ids from the folding config) and timed.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from estimators.devices import Board, FitReport, get_board
from estimators.folding import (FoldingLimits, OptionTable, apply_choice, evaluate_batch, folding_config,
                                option_tables, restrict_styles)
from estimators.graph import DataflowGraph
from estimators.power import energy_per_inference_uj
from estimators.solver import RESOURCES, chain_fits, device_weights, repair_selections

# Figures a design is judged on, as losses (fps is maximised).
OBJECTIVES = ("fps", "latency_us", "lut", "bram18", "uram", "dsp", "energy_uj")
_SIGNS = np.array([-1.0, 1, 1, 1, 1, 1, 1])


@dataclass(frozen=True, slots=True)
class HardwareDesign:
    """One design of the front: the folded graph and its figures (estimators, FINN-faithful)."""

    id: str  # stable: hash of the folding config and the clock
    graph: DataflowGraph  # folded
    clock_ns: float
    ram_style: str  # the restriction it was selected under ("auto": free per layer)
    res_type: str
    fps: float
    latency_us: float
    lut: float
    bram18: float
    uram: float
    dsp: float
    energy_uj: float
    max_cycles: int
    fit: FitReport

    def figures(self) -> dict[str, Any]:
        return {"id": self.id, "clock_ns": self.clock_ns, "ram_style": self.ram_style, "res_type": self.res_type,
                "max_cycles": self.max_cycles, **{k: getattr(self, k) for k in OBJECTIVES},
                "limiting_resource": self.fit.limiting, "utilization": dict(self.fit.utilization)}


@dataclass(frozen=True, slots=True)
class HardwareFront:
    """The non-dominated designs (fastest first) and how they were found."""

    designs: tuple[HardwareDesign, ...]
    seconds: float = 0.0
    levels: int = 0  # distinct reachable bottleneck cycle counts swept (summed over restrictions)
    candidates: int = 0  # distinct (folding, clock) designs judged
    feasible: int = 0  # of those, within the limits and the fit check
    settings: Mapping[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """What a study or a report stores about the sweep (JSON-ready)."""
        return {"seconds": self.seconds, "levels": self.levels, "candidates": self.candidates,
                "feasible": self.feasible, "n_designs": len(self.designs), "settings": dict(self.settings or {}),
                "designs": [d.figures() for d in self.designs]}


def _scores(table: OptionTable, weights: Mapping[str, float]) -> np.ndarray:
    # Same expression (and float order) as solver._select, so ties resolve identically.
    out: np.ndarray = sum(weights.get(r, 0.0) * getattr(table, r) for r in RESOURCES)
    return out


def reachable_levels(tables: Sequence[OptionTable]) -> np.ndarray:
    """The bottleneck cycle counts folding can reach: distinct option cycles >= the fastest floor."""
    floor = max(int(t.max_cycles.min()) for t in tables)
    levels = np.unique(np.concatenate([t.max_cycles for t in tables]))
    out: np.ndarray = levels[levels >= floor]
    return out


def select_levels(tables: Sequence[OptionTable], levels: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """Per level (rows) and table (columns): the cheapest option within the level, the fastest among equals.

    Equals ``solver._select(tables, level, weights)`` for every level (tests check it); levels must be
    reachable (>= every table's fastest option).
    """
    out = np.empty((len(levels), len(tables)), dtype=np.int64)
    for g, table in enumerate(tables):
        cycles = table.max_cycles
        order = np.lexsort((np.arange(len(cycles)), cycles))  # by cycles, then index
        s = _scores(table, weights)[order]
        prev = np.concatenate(([np.inf], np.minimum.accumulate(s)[:-1]))
        improves = s < prev  # strict: the first (fastest) of equally cheap options stays
        best = np.maximum.accumulate(np.where(improves, np.arange(len(s)), 0))
        k = np.searchsorted(cycles[order], levels, side="right") - 1
        out[:, g] = order[best[k]]
    return out


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``points`` (losses) that no other row dominates; equal rows all stay."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, 256):
        block = points[start:start + 256]
        le = np.all(points[None, :, :] <= block[:, None, :], axis=2)
        lt = np.any(points[None, :, :] < block[:, None, :], axis=2)
        keep[start:start + 256] = ~np.any(le & lt, axis=1)
    out: np.ndarray = np.flatnonzero(keep)
    return out


def design_id(graph: DataflowGraph, clock_ns: float) -> str:
    return hashlib.sha256(json.dumps([folding_config(graph), clock_ns]).encode()).hexdigest()[:12]


def hardware_front(graph: DataflowGraph, board: Board | str, *, clock_ns: Sequence[float] = (5.0,),
                   ram_styles: Sequence[str] = ("auto",), res_types: Sequence[str] = ("auto",),
                   limits: FoldingLimits = FoldingLimits(), fit_margin: float = 0.0,
                   min_fps: float | None = None, max_latency_us: float | None = None,
                   tables: Sequence[OptionTable] | None = None) -> HardwareFront:
    """Every non-dominated design of ``graph`` over the reachable folding levels x ``ram_styles`` x
    ``res_types`` x ``clock_ns`` (see the module doc), within the limits and the fit check.

    ``ram_styles``/``res_types``: weight-memory restrictions ("auto": each layer picks its own).
    ``tables``: the graph's option tables, if already built (``option_tables(graph, part, limits)``).
    """
    start = time.perf_counter()
    board = get_board(board) if isinstance(board, str) else board
    if not clock_ns:
        raise ValueError("clock_ns needs at least one clock period")
    if any(c <= 0 for c in clock_ns):
        raise ValueError(f"clock periods must be > 0 ns, got {list(clock_ns)}")
    weights = device_weights(board)
    base = list(tables) if tables is not None else option_tables(graph, board.part, limits)
    n_levels = 0
    groups: list[tuple[str, str, list[OptionTable], np.ndarray]] = []
    for ram_style in dict.fromkeys(ram_styles):
        for res_type in dict.fromkeys(res_types):
            tabs = restrict_styles(graph, base, ram_style=ram_style, res_type=res_type)
            levels = reachable_levels(tabs)
            n_levels += len(levels)
            choice = select_levels(tabs, levels, weights)
            choice = np.concatenate([choice, repair_selections(graph, tabs, levels, choice, weights, board, fit_margin)])
            groups.append((ram_style, res_type, tabs, np.unique(choice, axis=0)))

    rows: list[tuple[int, int, int, float]] = []  # (group, row, cycles, clock)
    figs: list[np.ndarray] = []
    fits: list[FitReport] = []
    for g, (_, _, tabs, choice) in enumerate(groups):
        res = evaluate_batch(graph, tabs, choice)
        fit = chain_fits(graph, tabs, choice, board, safety_margin=fit_margin)
        for clk in dict.fromkeys(float(c) for c in clock_ns):
            fps = (1e9 / clk) / res.max_cycles
            lat = res.critical_path_cycles * clk / 1e3
            for r in range(len(choice)):
                rows.append((g, r, int(res.max_cycles[r]), clk))
                fits.append(fit[r])
                figs.append(np.array([fps[r], lat[r], res.lut[r], res.bram18[r], res.uram[r], res.dsp[r], 0.0]))
    ok = np.array([f.fits and (min_fps is None or x[0] >= min_fps) and
                   (max_latency_us is None or x[1] <= max_latency_us) for f, x in zip(fits, figs)], dtype=bool)
    idx = np.flatnonzero(ok)
    for j in idx:
        x = figs[j]
        x[6] = energy_per_inference_uj(fps=x[0], lut=x[2], bram18=x[3], uram=x[4], dsp=x[5], clock_ns=rows[j][3])

    designs: dict[str, HardwareDesign] = {}
    if len(idx):
        pts = np.stack([figs[i] for i in idx]) * _SIGNS
        for k in non_dominated(pts):
            i = int(idx[int(k)])
            g, r, cycles, clk = rows[i]
            ram_style, res_type, tabs, choice = groups[g]
            folded = apply_choice(graph, tabs, choice[r])
            ident = design_id(folded, clk)
            if ident in designs:  # the same folding under another restriction: keep the first
                continue
            x = figs[i]
            designs[ident] = HardwareDesign(
                id=ident, graph=folded, clock_ns=clk, ram_style=ram_style, res_type=res_type, fps=float(x[0]),
                latency_us=float(x[1]), lut=float(x[2]), bram18=float(x[3]), uram=float(x[4]), dsp=float(x[5]),
                energy_uj=float(x[6]), max_cycles=cycles, fit=fits[i])
    front = sorted(designs.values(), key=lambda d: (-d.fps, d.lut, d.energy_uj, d.id))
    settings = {"board": board.name, "clock_ns": list(dict.fromkeys(float(c) for c in clock_ns)),
                "ram_styles": list(dict.fromkeys(ram_styles)), "res_types": list(dict.fromkeys(res_types)),
                "wwidth_max": limits.wwidth_max, "stream_width_max": limits.stream_width_max,
                "fit_margin": fit_margin, "min_fps": min_fps, "max_latency_us": max_latency_us}
    return HardwareFront(designs=tuple(front), seconds=time.perf_counter() - start, levels=n_levels,
                         candidates=len(rows), feasible=int(ok.sum()), settings=settings)
