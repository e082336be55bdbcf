"""STAND-IN for ``estimators.front.hardware_front`` (branch front-sweep), same signature.

Removed when the real one lands on main: only dse/networks.py imports it. It sweeps the option
tables' distinct bottleneck cycle counts (the levels folding can reach) per memory-style
restriction and clock, folds each level with the solver's cheapest selection, and keeps the
non-dominated designs over fps, latency, LUT, BRAM18, URAM, DSP and energy.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import estimators as est
from estimators.devices import Board, FitReport
from estimators.folding import FoldingLimits, apply_choice, evaluate_batch
from estimators.graph import DataflowGraph
from estimators.solver import _select  # noqa: PLC2701 - stand-in only


@dataclass(frozen=True, slots=True)
class HardwareDesign:
    id: str
    graph: DataflowGraph  # folded
    clock_ns: float
    ram_style: str
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


@dataclass(frozen=True, slots=True)
class HardwareFront:
    designs: tuple[HardwareDesign, ...]
    seconds: float = 0.0


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def hardware_front(graph: DataflowGraph, board: Board | str, *, clock_ns: Sequence[float] = (5.0,),
                   ram_styles: Sequence[str] = ("auto",), res_types: Sequence[str] = ("auto",),
                   limits: FoldingLimits = FoldingLimits(), fit_margin: float = 0.0,
                   min_fps: float | None = None, max_latency_us: float | None = None) -> HardwareFront:
    import time

    start = time.perf_counter()
    board = est.get_board(board) if isinstance(board, str) else board
    weights = est.device_weights(board)
    base = est.option_tables(graph, board.part, limits)
    candidates: dict[tuple[int, ...], HardwareDesign] = {}
    for ram_style in ram_styles:
        for res_type in res_types:
            tables = est.restrict_styles(graph, base, ram_style=ram_style, res_type=res_type)
            floor = max(int(t.max_cycles.min()) for t in tables)
            levels = np.unique(np.concatenate([t.max_cycles for t in tables]))
            choices = {tuple(c) for lvl in levels[levels >= floor] if (c := _select(tables, int(lvl), weights))}
            for choice in sorted(choices):
                res = evaluate_batch(graph, tables, np.array([choice]))
                folded = apply_choice(graph, tables, choice)
                key = tuple(int(c) for c in choice)
                for clk in clock_ns:
                    e = est.estimate_graph(folded, board.part, clock_ns=clk)
                    if min_fps is not None and e.fps < min_fps:
                        continue
                    if max_latency_us is not None and e.latency_ns / 1e3 > max_latency_us:
                        continue
                    fit = est.check_fit(est.Resources(lut=e.lut, bram18=e.bram18, uram=e.uram, dsp=e.dsp), board,
                                        safety_margin=fit_margin)
                    if not fit.fits:
                        continue
                    energy = est.energy_per_inference_uj(fps=e.fps, lut=e.lut, bram18=e.bram18, uram=e.uram,
                                                         dsp=e.dsp, clock_ns=clk)
                    ident = hashlib.sha256(json.dumps([est.folding_config(folded), clk]).encode()).hexdigest()[:12]
                    candidates[(*key, hash(clk))] = HardwareDesign(
                        id=ident, graph=folded, clock_ns=clk, ram_style=ram_style, res_type=res_type, fps=e.fps,
                        latency_us=e.latency_ns / 1e3, lut=e.lut, bram18=e.bram18, uram=e.uram, dsp=e.dsp,
                        energy_uj=energy, max_cycles=int(res.max_cycles[0]), fit=fit)
    unique = {d.id: d for d in candidates.values()}
    pts = {i: (-d.fps, d.latency_us, d.lut, d.bram18, d.uram, d.dsp, d.energy_uj) for i, d in unique.items()}
    front = [d for i, d in unique.items() if not any(_dominates(pts[j], pts[i]) for j in pts if j != i)]
    front.sort(key=lambda d: (-d.fps, d.lut, d.id))
    return HardwareFront(designs=tuple(front), seconds=time.perf_counter() - start)
