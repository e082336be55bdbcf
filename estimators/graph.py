"""A FINN dataflow graph as plain records, and its network-level estimate.

The network figures follow FINN's `dataflow_performance` analysis: throughput is set by the
slowest node (max cycles, first such node in graph order is the bottleneck), latency by the
critical path, i.e. the largest sum of node cycles from an input to an output.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from estimators.core import NodeCost, node_cost

if TYPE_CHECKING:
    from estimators.calibration import Calibration


@dataclass(frozen=True, slots=True)
class DataflowGraph:
    """Layer records in topological order; ``preds[i]`` lists the producers of layer i."""

    layers: tuple[Any, ...]
    preds: tuple[tuple[int, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.preds:
            # A chain: each layer feeds the next (MLPs, CNV).
            object.__setattr__(self, "preds", tuple(() if i == 0 else (i - 1,) for i in range(len(self.layers))))
        if len(self.preds) != len(self.layers):
            raise ValueError(f"preds has {len(self.preds)} entries for {len(self.layers)} layers")
        for i, ps in enumerate(self.preds):
            if any(not 0 <= p < i for p in ps):
                raise ValueError(f"layer {i} has predecessors {ps}: layers must be in topological order")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be unique")

    @classmethod
    def chain(cls, layers: Sequence[Any]) -> DataflowGraph:
        return cls(tuple(layers))

    def __len__(self) -> int:
        return len(self.layers)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(f"no layer named {name!r}")

    def with_layer(self, i: int, **changes: Any) -> DataflowGraph:
        """A copy with layer i's attributes changed (validated by the layer record)."""
        layers = list(self.layers)
        layers[i] = replace(layers[i], **changes)
        return DataflowGraph(tuple(layers), self.preds)


@dataclass(frozen=True, slots=True)
class NetworkEstimate:
    """Per-node costs and the network totals at one clock."""

    names: tuple[str, ...]
    op_types: tuple[str, ...]
    costs: tuple[NodeCost, ...]
    clock_ns: float
    lut: float
    bram18: float
    uram: float
    dsp: float
    max_cycles: int
    bottleneck: str
    critical_path_cycles: int
    calibrated: bool = False  # resources corrected by a Calibration (learned from synthesized designs)
    # FINN's own LUT total: differs from ``lut`` where a node's model counts LUTs FINN reports as 0
    # (NodeCost.finn; e.g. DuplicateStreams_hls, ElementwiseAdd_hls). ``lut`` is what studies use.
    finn_lut: float | None = None

    @property
    def fps(self) -> float:
        return (1e9 / self.clock_ns) / self.max_cycles

    @property
    def latency_ns(self) -> float:
        return self.critical_path_cycles * self.clock_ns


def network_figures(cycles: Sequence[int], preds: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """(max_cycles, index of the bottleneck, critical-path cycles), as FINN's dataflow_performance."""
    max_cycles, bottleneck = 0, 0
    latency: list[int] = []
    for i, c in enumerate(cycles):
        if c > max_cycles:  # strict: the first slowest node is FINN's bottleneck
            max_cycles, bottleneck = c, i
        latency.append(c + max((latency[p] for p in preds[i]), default=0))
    return max_cycles, bottleneck, max(latency, default=0)


def estimate_graph(graph: DataflowGraph, part: str, *, clock_ns: float,
                   calibration: Calibration | None = None) -> NetworkEstimate:
    """FINN-faithful estimate of every node and of the network.

    With ``calibration`` (see estimators.calibration) each node's resources are corrected towards
    what synthesis gave for that node type; cycles, throughput and latency are not changed.
    """
    if clock_ns <= 0:
        raise ValueError(f"clock_ns must be > 0, got {clock_ns}")
    costs = tuple(node_cost(layer, part) for layer in graph.layers)
    if calibration is not None:
        costs = tuple(calibration.correct_cost(getattr(type(layer), "op_type", type(layer).__name__), cost)
                      for layer, cost in zip(graph.layers, costs))
    max_cycles, bottleneck, critical = network_figures([c.cycles for c in costs], graph.preds)
    return NetworkEstimate(
        names=tuple(layer.name for layer in graph.layers),
        op_types=tuple(type(layer).__name__ for layer in graph.layers),
        costs=costs, clock_ns=clock_ns,
        lut=sum(c.lut for c in costs), bram18=sum(c.bram18 for c in costs),
        uram=sum(c.uram for c in costs), dsp=sum(c.dsp for c in costs),
        max_cycles=max_cycles, bottleneck=graph.layers[bottleneck].name if graph.layers else "",
        critical_path_cycles=critical, calibrated=calibration is not None,
        finn_lut=sum(c.finn_figures.lut for c in costs),
    )
