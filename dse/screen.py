"""Estimator-first screening: judge a sampled design with the fast graph path, before training.

design point -> pruned widths -> FINN's unfolded graph (estimators.families, no FINN) -> folding
(solved or sampled) -> per-node estimate -> board fit, throughput, latency, energy -> hard limits.
Microseconds to milliseconds per design; nothing here imports torch or FINN.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import estimators as est
from dse.families import PIXELS, ModelIO, family_of
from dse.pruning import kept_widths
from search_spaces import DesignPoint

if TYPE_CHECKING:
    from dse.spec import HardwareSpec, LimitsSpec
    from estimators.graph import DataflowGraph, NetworkEstimate


@dataclass(frozen=True, slots=True)
class Screening:
    """What the estimators say about one design, and whether it may go on to training."""

    widths: tuple[int, ...]  # prunable widths after pruning
    graph: DataflowGraph  # folded
    estimate: NetworkEstimate
    fit: est.FitReport
    energy_uj: float
    target_met: bool
    # hard limit -> violation, normalized; > 0 means broken (Optuna's constraint convention)
    violations: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    limits: LimitsSpec | None = None  # the limits checked, so the reason can name the numbers
    # Over several cards (hardware.fpgas): the chain partition; ``fit`` is then its fullest card's,
    # ``energy_uj`` counts every card's static power, latency adds a link hop per cut.
    partition: est.Partition | None = None

    @property
    def fpgas(self) -> int:
        return 1 if self.partition is None else self.partition.n_cards

    @property
    def latency_us(self) -> float:
        return (self.estimate.latency_ns if self.partition is None else self.partition.latency_ns) / 1000.0

    @property
    def reason(self) -> str | None:
        """The broken hardware limits, in words (None: all met)."""
        broken = [_WORDS[name](self) for name, v in self.violations.items() if v > 0 and name in _WORDS]
        return "; ".join(broken) or None

    def figures(self) -> dict[str, Any]:
        """Flat figures, as stored with the trial."""
        e = self.estimate
        out: dict[str, Any] = {"fps": e.fps, "latency_us": self.latency_us, "lut": e.lut, "bram18": e.bram18, "uram": e.uram,
                "dsp": e.dsp, "max_cycles": e.max_cycles, "bottleneck": e.bottleneck, "fits": self.fit.fits,
                "limiting_resource": self.fit.limiting, "utilization": dict(self.fit.utilization),
                "energy_uj": self.energy_uj}
        if self.partition is not None:  # per card: resources, share of its budget, layers
            out["cards"] = [{"lut": c.used.lut, "bram18": c.used.bram18, "uram": c.used.uram, "dsp": c.used.dsp,
                             "utilization": c.utilization, "fits": c.fit.fits, "layers": len(c.layers)}
                            for c in self.partition.cards]
        return out

    def layers(self) -> list[dict[str, Any]]:
        """Per node, in estimate.json's layer shape (as FINN's figures are stored)."""
        out = []
        for layer, name, op, cost in zip(self.graph.layers, self.estimate.names, self.estimate.op_types,
                                         self.estimate.costs):
            out.append({"name": name, "op_type": op, "cycles": int(cost.cycles), "lut": float(cost.lut),
                        "bram18": float(cost.bram18), "uram": float(cost.uram), "dsp": float(cost.dsp),
                        "pe": getattr(layer, "pe", None), "simd": getattr(layer, "simd", None)})
        return out


_WORDS = {
    "fit": lambda s: s.fit.reason or f"does not fit {s.fit.board}",
    "min_fps": lambda s: (f"throughput {s.estimate.fps:,.0f} fps is below the minimum"
                          + (f" {s.limits.min_fps:,.0f} fps" if s.limits and s.limits.min_fps is not None else "")),
    "max_latency_us": lambda s: (f"latency {s.latency_us:,.1f} us is above the maximum"
                                 + (f" {s.limits.max_latency_us:,.1f} us"
                                    if s.limits and s.limits.max_latency_us is not None else "")),
}


def fold(graph: DataflowGraph, point: DesignPoint, hardware: HardwareSpec, *,
         fit_margin: float = 0.0) -> est.Solution:
    """PE/SIMD and memory styles for ``graph`` as the design point asks."""
    board = est.get_board(hardware.board)
    limits = est.FoldingLimits(wwidth_max=hardware.mvau_wwidth_max)
    f = point.folding
    tables = est.restrict_styles(graph, est.option_tables(graph, board.part, limits),
                                 ram_style=f.ram_style, res_type=f.res_type)
    weights = est.device_weights(board)
    if f.mode == "sampled":
        return est.solve_sampled(graph, tables, pe=f.pe, simd=f.simd, weights=weights, clock_ns=point.clock_ns)
    if f.target_fps is not None:
        return est.solve_for_target(graph, board.part, target_fps=f.target_fps, clock_ns=point.clock_ns,
                                    weights=weights, limits=limits, tables=tables)
    assert f.budget is not None
    # A budget b keeps (1 - b) of the (margin-reduced) usable device free.
    margin = 1.0 - f.budget * (1.0 - fit_margin)
    return est.solve_for_budget(graph, board.part, board=board, clock_ns=point.clock_ns, limits=limits,
                                safety_margin=min(margin, 0.999), tables=tables)


def screen(point: DesignPoint, hardware: HardwareSpec, limits: LimitsSpec, *, multiple: int = 4,
           io: ModelIO = PIXELS) -> Screening:
    """Estimate ``point`` with the fast graph path and check the hard hardware limits."""
    start = time.perf_counter()
    family = family_of(point)
    board = est.get_board(hardware.board)
    widths = kept_widths(point, multiple=multiple)
    graph = family.graph(point, widths, board.part, io=io)
    solution = fold(graph, point, hardware, fit_margin=limits.fit_margin)
    estimate = est.estimate_graph(solution.graph, board.part, clock_ns=point.clock_ns)
    used = est.Resources(lut=estimate.lut, bram18=estimate.bram18, uram=estimate.uram, dsp=estimate.dsp)
    # Per SLR as well as the whole device: one full SLR will not close timing.
    fit = est.check_fit(used, board, safety_margin=limits.fit_margin, names=estimate.names,
                        layers=[est.Resources(lut=c.lut, bram18=c.bram18, uram=c.uram, dsp=c.dsp)
                                for c in estimate.costs])
    energy = est.energy_per_inference_uj(fps=estimate.fps, lut=estimate.lut, bram18=estimate.bram18,
                                         uram=estimate.uram, dsp=estimate.dsp, clock_ns=point.clock_ns)
    return Screening(widths=widths, graph=solution.graph, estimate=estimate, fit=fit, energy_uj=energy,
                     target_met=solution.met, violations=hardware_violations(estimate.fps, estimate.latency_ns / 1e3,
                                                                             fit.margin, limits),
                     seconds=time.perf_counter() - start, limits=limits)


def hardware_violations(fps: float, latency_us: float, fit_margin: float, limits: LimitsSpec) -> dict[str, float]:
    """Normalized violations of the hardware limits (> 0: broken)."""
    out = {"fit": fit_margin}
    if limits.min_fps is not None:
        out["min_fps"] = (limits.min_fps - fps) / limits.min_fps
    if limits.max_latency_us is not None:
        out["max_latency_us"] = (latency_us - limits.max_latency_us) / limits.max_latency_us
    return {k: (v if math.isfinite(v) else 1e9) for k, v in out.items()}
