"""FINN's estimate reports (step_generate_estimate_reports) of a folded graph, as a HardwareEstimate
with the board fit check, and the records they are held in."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from dse.finn.json_values import plain
from estimators.devices import Resources, check_fit, get_board


@dataclass(frozen=True, slots=True)
class LayerEstimate:
    """FINN's figures for one hardware node."""

    name: str
    op_type: str
    cycles: int
    lut: float
    bram18: float
    uram: float
    dsp: float
    pe: int | None = None
    simd: int | None = None


@dataclass(frozen=True, slots=True)
class HardwareEstimate:
    """FINN's estimate for a folded design, plus the board fit check."""

    board: str
    clock_ns: float
    layers: tuple[LayerEstimate, ...]
    lut: float
    bram18: float
    uram: float
    dsp: float
    max_cycles: int
    bottleneck: str
    critical_path_cycles: int
    fps: float
    latency_ns: float
    fits: bool
    limiting_resource: str
    utilization: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layers"] = [asdict(layer) for layer in self.layers]  # JSON shape: lists, not tuples
        out["utilization"] = dict(self.utilization)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareEstimate:
        fields = dict(data)
        fields["layers"] = tuple(LayerEstimate(**layer) for layer in data["layers"])
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class FinnResult:
    estimate: HardwareEstimate
    folding: dict[str, Any]  # FINN folding config (ApplyConfig format)
    reports: dict[str, Any]  # FINN's raw analysis outputs, as its estimate reports hold them


def analyse(model: Any, *, board_name: str, clock_ns: float) -> tuple[HardwareEstimate, dict[str, Any]]:
    """FINN's estimate analyses (step_generate_estimate_reports) turned into a HardwareEstimate."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.op_and_param_counts import aggregate_dict_keys
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    from qonnx.custom_op.registry import getCustomOp

    board = get_board(board_name)
    cycles = plain(model.analysis(exp_cycles_per_layer))
    resources = plain(model.analysis(partial(res_estimation, fpgapart=board.part)))
    totals = plain(aggregate_dict_keys(resources))
    model = model.transform(AnnotateCycles())
    perf = plain(dict(model.analysis(dataflow_performance)))
    fps = (1e9 / clock_ns) / perf["max_cycles"]
    latency_ns = perf["critical_path_cycles"] * clock_ns
    perf["estimated_throughput_fps"] = fps
    perf["estimated_latency_ns"] = latency_ns

    layers = []
    for node in model.graph.node:
        inst = getCustomOp(node)
        attrs = {a.name for a in node.attribute}
        res = resources.get(node.name, {})
        layers.append(LayerEstimate(
            name=node.name, op_type=node.op_type, cycles=int(cycles.get(node.name, 0)),
            lut=float(res.get("LUT", 0)), bram18=float(res.get("BRAM_18K", 0)),
            uram=float(res.get("URAM", 0)), dsp=float(res.get("DSP", 0)),
            pe=int(inst.get_nodeattr("PE")) if "PE" in attrs else None,
            simd=int(inst.get_nodeattr("SIMD")) if "SIMD" in attrs else None,
        ))
    used = Resources(lut=totals.get("LUT", 0), bram18=totals.get("BRAM_18K", 0),
                     uram=totals.get("URAM", 0), dsp=totals.get("DSP", 0))
    # One verdict, as for our estimates: the whole device and every SLR of the chain's placement.
    fit = check_fit(used, board, names=[la.name for la in layers],
                    layers=[Resources(lut=la.lut, bram18=la.bram18, uram=la.uram, dsp=la.dsp) for la in layers])
    estimate = HardwareEstimate(
        board=board.name, clock_ns=clock_ns, layers=tuple(layers), lut=used.lut, bram18=used.bram18,
        uram=used.uram, dsp=used.dsp, max_cycles=int(perf["max_cycles"]),
        bottleneck=str(perf["max_cycles_node_name"]), critical_path_cycles=int(perf["critical_path_cycles"]),
        fps=fps, latency_ns=latency_ns, fits=fit.fits, limiting_resource=fit.limiting,
        utilization=dict(fit.utilization),
    )
    reports = {
        "estimate_layer_cycles.json": cycles,
        "estimate_layer_resources.json": {**resources, "total": totals},
        "estimate_network_performance.json": perf,
    }
    return estimate, reports
