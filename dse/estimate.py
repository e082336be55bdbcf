"""`finn-dse estimate`: FINN converts a model once; our estimators fold and judge it.

The JSON form (``EstimateReport.to_json``) is stable; its keys are documented in the README:
  model, board, part, clock_ns, mode ("given" | "target" | "fit" | "unfolded"),
  nodes: [{name, op_type, pe, simd, cycles, lut, bram18, uram, dsp}],
  totals: {lut, bram18, uram, dsp}, max_cycles, bottleneck, critical_path_cycles, fps, latency_ns,
  fits, limiting_resource, utilization, slr_placement {fits, slr_of, message}, target_fps, target_met, limiting_layers, best_reachable_fps,
  wwidth_limited_layers (layers the SIMD x weight bits cap holds back: target out of reach, or --fit already fastest),
  folding (FINN folding config), finn (FINN's own figures, only with --compare-finn),
  full_design {fifo_depth, inserted: [{name, op_type, lut, bram18, uram, dsp}], totals} (only with --full-design),
  multi_fpga (only with --fpgas K) {fpgas, exact, feasible, reason, n_cards, fps, latency_ns, power_w, energy_uj,
    max_utilization, link {name, latency_ns, gbit_per_s},
    cards: [{index, layers, lut, bram18, uram, dsp, utilization, fits, power_w}],
    cuts: [{producer, consumer, bits_per_frame, gbit_per_s, link_share}]}.
"""
from __future__ import annotations

import json
import math
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.errors import ConfigError, shorten

if TYPE_CHECKING:
    from estimators.core import NodeCost

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EstimateReport:
    data: dict[str, Any]
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2)


def _check_folding_types(folding: dict[str, Any]) -> None:
    """PE/SIMD must be integers (FINN's own JSON); a string or float would fail deep in the solver."""
    for node, attrs in folding.items():
        if not isinstance(attrs, dict):
            raise ConfigError(f"folding config: {shorten(node)} must map to attributes, got {shorten(attrs)}")
        for key in ("PE", "SIMD"):
            value = attrs.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"folding config: {node}.{key} must be a positive integer, got {shorten(value)}")


def _cap_words(layers: tuple[str, ...], wwidth_max: int | None) -> str:
    """' (... capped ...)' naming the layers the SIMD x weight bits cap holds back; '' if none."""
    if not layers:
        return ""
    return (f" ({', '.join(layers)}: SIMD x weight bits capped at {wwidth_max}, FINN's mvau_wwidth_max; "
            "--wwidth-max N or --no-wwidth-cap lifts it, the build must use the same value)")


def estimate_model(model_path: Path, *, board: str = "U280", clock_ns: float = 5.0,
                   folding: dict[str, Any] | None = None, target_fps: float | None = None, fit: bool = False,
                   wwidth_max: int | None = 36, compare_finn: bool = False, full_design: bool = False,
                   fifo_depth: int | None = None, log_path: Path | None = None,
                   calibration: Any = None, fpgas: int | None = None) -> EstimateReport:
    """Estimate a QONNX (or FINN HW) model with a given folding, a solved target, or the fastest fit.

    ``calibration`` (estimators.calibration.Calibration) corrects each node's resources.
    ``fpgas`` K: also partition the design over a chain of K cards (estimators.partition): a given
    (or the unfolded) folding over exactly K cards; with ``fit`` the fastest design on up to K
    cards, with ``target_fps`` the cheapest one on up to K (estimators.multi_fpga)."""
    import tempfile

    import estimators as est
    from dse._quiet import captured
    from dse.finn.estimate_reports import analyse
    from dse.finn.folding import fold
    from dse.finn.graph import graph_from_finn
    from dse.finn.hw_graph import load_hw_graph

    if sum(x is not None and x is not False for x in (folding, target_fps, fit or None)) > 1:
        raise ConfigError("give at most one of --folding, --target-fps and --fit")
    if clock_ns <= 0:
        raise ConfigError(f"--clock-ns must be > 0, got {clock_ns}")
    check_fpgas(fpgas)
    try:
        dev = est.get_board(board)
    except KeyError as err:
        raise ConfigError(str(err.args[0])) from None
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="finn-dse-est-") as tmp:
        log = log_path or Path(tmp) / "finn.log"
        hw = load_hw_graph(Path(model_path), dev.part, Path(tmp), log)
        graph = graph_from_finn(hw)
        limits = est.FoldingLimits(wwidth_max=wwidth_max)
        placed: Any = None  # estimators.Partition over the cards, with --fpgas
        extra: dict[str, Any] = {"target_fps": target_fps, "target_met": None, "limiting_layers": [],
                                 "best_reachable_fps": None, "wwidth_limited_layers": []}
        if folding is not None:
            mode = "given"
            _check_folding_types(folding)
            try:
                graph = est.apply_folding_config(graph, folding)
            except (KeyError, ValueError) as err:
                raise ConfigError(f"folding config does not fit this model: {err.args[0]}") from None
        elif target_fps is not None:
            mode = "target"
            if not math.isfinite(target_fps) or target_fps <= 0:
                raise ConfigError(f"--target-fps must be > 0, got {target_fps}")
            sol = est.solve_for_target(graph, dev.part, target_fps=target_fps, clock_ns=clock_ns,
                                       weights=est.device_weights(dev), limits=limits)
            graph = sol.graph
            extra.update(target_met=sol.met, limiting_layers=list(sol.limiting_layers),
                         best_reachable_fps=sol.best_reachable_fps, wwidth_limited_layers=list(sol.wwidth_limited))
            if not sol.met:
                notes.append(f"target {target_fps:,.0f} fps cannot be met: limited by {', '.join(sol.limiting_layers)}"
                             f"{_cap_words(sol.wwidth_limited, wwidth_max)}; best reachable "
                             f"{sol.best_reachable_fps:,.0f} fps (shown)")
        elif fit:
            mode = "fit"
            if fpgas is not None:
                multi = est.fastest_on_cards(graph, dev, cards=fpgas, clock_ns=clock_ns, limits=limits)
                graph = multi.graph
                extra.update(best_reachable_fps=multi.best_reachable_fps,
                             wwidth_limited_layers=list(multi.wwidth_limited))
                placed = multi.partition
                if not multi.met:
                    notes.append(f"{multi.reason}; the slowest folding is shown")
                elif multi.wwidth_limited:
                    notes.append(f"the fastest folding fits {multi.n_cards} {board} card"
                                 f"{'s' if multi.n_cards > 1 else ''}: its throughput is limited by the SIMD x weight "
                                 f"bits cap, not the cards{_cap_words(multi.wwidth_limited, wwidth_max)}")
            else:
                sol = est.solve_for_budget(graph, dev.part, board=dev, clock_ns=clock_ns, limits=limits)
                graph = sol.graph
                extra.update(best_reachable_fps=sol.best_reachable_fps, wwidth_limited_layers=list(sol.wwidth_limited))
                if not sol.met:
                    notes.append(f"no folding fits the {board}; the cheapest one is shown")
                elif sol.wwidth_limited:
                    notes.append(f"the fastest folding fits the {board}: its throughput is limited by the SIMD x "
                                 f"weight bits cap, not the board{_cap_words(sol.wwidth_limited, wwidth_max)}")
        else:
            mode = "unfolded"
            notes.append("no folding given: this is FINN's default, the slowest design (PE=SIMD=1); "
                         "use --target-fps X or --fit")
        net = est.estimate_graph(graph, dev.part, clock_ns=clock_ns, calibration=calibration)
        if calibration is not None:
            notes.append("resources corrected with the study's calibration (finn-dse calibration); the folding "
                         "was chosen on the uncorrected estimates")
        structural = sorted({type(layer).op_type for layer, c in zip(graph.layers, net.costs) if c.finn is not None})
        if structural:
            notes.append(f"{', '.join(structural)}: FINN's estimate counts no logic for these, so their LUTs (and "
                         f"Requant's DSPs) come from their structure; the totals and fit use ours (FINN's LUT "
                         f"total: {net.finn_lut:,.0f})")
        used = est.Resources(lut=net.lut, bram18=net.bram18, uram=net.uram, dsp=net.dsp)
        # One verdict: the whole device and every SLR within budget.
        fit_report = est.check_fit(
            used, dev, layers=[est.Resources(lut=c.lut, bram18=c.bram18, uram=c.uram, dsp=c.dsp) for c in net.costs],
            names=[layer.name for layer in graph.layers])
        placement = fit_report.slr_placement
        assert placement is not None
        config = est.folding_config(graph)
        data: dict[str, Any] = {
            "model": str(model_path), "board": board, "part": dev.part, "clock_ns": clock_ns, "mode": mode,
            "nodes": [{"name": layer.name, "op_type": f"{type(layer).op_type}", "pe": getattr(layer, "pe", None),
                       "simd": getattr(layer, "simd", None), "cycles": c.cycles, "lut": c.lut, "bram18": c.bram18,
                       "uram": c.uram, "dsp": c.dsp, **_finn_beside(c)} for layer, c in zip(graph.layers, net.costs)],
            "totals": {"lut": net.lut, "bram18": net.bram18, "uram": net.uram, "dsp": net.dsp,
                       "finn_lut": net.finn_lut, "finn_dsp": sum(c.finn_figures.dsp for c in net.costs)},
            "max_cycles": net.max_cycles, "bottleneck": net.bottleneck,
            "critical_path_cycles": net.critical_path_cycles, "fps": net.fps, "latency_ns": net.latency_ns,
            "fits": fit_report.fits, "limiting_resource": fit_report.limiting,
            "utilization": dict(fit_report.utilization),
            "slr_placement": {"fits": placement.fits, "slr_of": dict(zip(net.names, placement.slr_of)),
                              "message": placement.describe()},
            **extra, "folding": config, "calibrated": calibration is not None,
        }
        if fpgas is not None:
            # --fit chose folding and cards together; a target's folding goes on the fewest of up to K
            # cards; a given (or the unfolded) design on exactly K, as finn-plus's num_fpgas.
            exact = mode in ("given", "unfolded")
            if placed is None:
                placed = est.partition(graph, dev, cards=fpgas, clock_ns=clock_ns, exact=exact)
                if not placed.feasible:
                    notes.append(placed.describe())
            data["multi_fpga"] = multi_fpga_record(placed, fpgas=fpgas, exact=exact)
        if full_design:
            # What hardware generation adds: width converters (exact) and FIFOs (only at a depth the
            # user gives: FINN sizes real FIFOs by simulation, which no closed form predicts).
            from estimators.full_design import estimate_full_design

            full = estimate_full_design(graph, dev.part, clock_ns=clock_ns, fifo_depths=fifo_depth)
            data["full_design"] = {
                "fifo_depth": fifo_depth,
                "inserted": [{"name": n, "op_type": o, "lut": c.lut, "bram18": c.bram18, "uram": c.uram, "dsp": c.dsp}
                             for n, o, c in zip(full.names, full.op_types, full.costs) if n not in set(net.names)],
                "totals": {"lut": full.lut, "bram18": full.bram18, "uram": full.uram, "dsp": full.dsp},
            }
        if compare_finn:
            with captured(log):
                folded, _ = fold(hw, clock_ns=clock_ns, folding=config)
                finn_est, _ = analyse(folded, board_name=board, clock_ns=clock_ns)
            data["finn"] = {
                "nodes": [{"name": n.name, "cycles": n.cycles, "lut": n.lut, "bram18": n.bram18, "uram": n.uram,
                           "dsp": n.dsp} for n in finn_est.layers],
                "totals": {"lut": finn_est.lut, "bram18": finn_est.bram18, "uram": finn_est.uram, "dsp": finn_est.dsp},
                "max_cycles": finn_est.max_cycles, "fps": finn_est.fps, "latency_ns": finn_est.latency_ns,
            }
    return EstimateReport(data, tuple(notes))


def parse_fpgas(text: str | None) -> int | None:
    """--fpgas as typed: a whole number >= 1, else one ConfigError line (exit 2)."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit():
        raise ConfigError(f"--fpgas must be a whole number of cards >= 1, got {shorten(text)}")
    value = int(stripped)
    check_fpgas(value)
    return value


def check_fpgas(fpgas: object) -> None:
    """--fpgas K: a whole number of cards, at least 1 (bool is not a count)."""
    if fpgas is None:
        return
    if isinstance(fpgas, bool) or not isinstance(fpgas, int) or fpgas < 1:
        raise ConfigError(f"--fpgas must be a whole number of cards >= 1, got {shorten(fpgas)}")


def _finn_beside(cost: NodeCost) -> dict[str, float]:
    """FINN's own figures of a node whose LUTs/DSPs are counted from its structure (else nothing)."""
    return {} if cost.finn is None else {"finn_lut": cost.finn.lut, "finn_dsp": cost.finn.dsp}


def multi_fpga_record(p: Any, *, fpgas: int, exact: bool) -> dict[str, Any]:
    """The JSON form of an estimators.Partition (see the module docstring)."""
    return {
        "fpgas": fpgas, "exact": exact, "feasible": p.feasible, "reason": p.reason, "n_cards": p.n_cards,
        "fps": p.fps, "latency_ns": p.latency_ns, "power_w": p.power_w, "energy_uj": p.energy_uj,
        "max_utilization": p.max_utilization,
        "link": {"name": p.link.name, "latency_ns": p.link.latency_ns, "gbit_per_s": p.link.gbit_per_s},
        "cards": [{"index": c.index, "layers": list(c.layers), "lut": c.used.lut, "bram18": c.used.bram18,
                   "uram": c.used.uram, "dsp": c.used.dsp, "utilization": c.utilization, "fits": c.fit.fits,
                   "power_w": c.power_w} for c in p.cards],
        "cuts": [{"producer": c.producer, "consumer": c.consumer, "bits_per_frame": c.bits_per_frame,
                  "gbit_per_s": c.gbit_per_s, "link_share": c.link_share} for c in p.cuts],
    }
