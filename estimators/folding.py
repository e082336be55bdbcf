"""Folding as data: every valid option per layer, evaluated once, then combined with numpy.

FINN's cost of a node depends only on that node's own attributes, so a network's totals are
sums over nodes and its throughput is the slowest node. That makes folding separable: build, per
layer (or per group of layers FINN ties together), a table of every valid option with its cost,
then (a) evaluate any number of foldings as array gathers and sums, and (b) solve for the
cheapest folding meeting a throughput target, or the fastest one fitting a device, exactly over
those options.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from estimators.core import FoldingError, node_cost
from estimators.graph import DataflowGraph


@dataclass(frozen=True, slots=True)
class FoldingLimits:
    """Limits a folding must respect besides FINN's divisibility rules."""

    # FINN SetFolding's cap on SIMD x weight bits (mvau_wwidth_max, default 36). None: no cap.
    wwidth_max: int | None = 36
    # HLS MVAU weight streams wider than this do not compile (MAX_ALLOWED_AP_INT_W).
    stream_width_max: int = 8191
    # Also choose memory styles and resType (not only PE/SIMD).
    memory_styles: bool = True


# op_type -> function(layer, limits) -> candidate attribute changes (validated by the record).
Knobs = Callable[[Any, FoldingLimits], Iterable[dict[str, Any]]]
_KNOBS: dict[str, Knobs] = {}


def register_knobs(op_type: str) -> Callable[[Knobs], Knobs]:
    def decorate(fn: Knobs) -> Knobs:
        if op_type in _KNOBS:
            raise ValueError(f"folding knobs for {op_type} are already registered")
        _KNOBS[op_type] = fn
        return fn

    return decorate


def divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small])))


@dataclass(frozen=True, slots=True)
class OptionTable:
    """All valid options of one group of layers (usually one layer) and their costs."""

    members: tuple[int, ...]  # layer indices in the graph
    options: tuple[tuple[Any, ...], ...]  # per option, one record per member
    cycles: np.ndarray  # (n_options, n_members)
    lut: np.ndarray  # (n_options,) summed over members
    bram18: np.ndarray
    uram: np.ndarray
    dsp: np.ndarray
    # Per option and member, (lut, bram18, uram, dsp): the chain's per-layer figures, which the
    # per-SLR placement of the fit check needs (the totals above are their sums over members).
    member_resources: np.ndarray  # (n_options, n_members, 4)

    def __len__(self) -> int:
        return len(self.options)

    @property
    def max_cycles(self) -> np.ndarray:
        out: np.ndarray = self.cycles.max(axis=1)
        return out

    def take(self, keep: Sequence[int] | np.ndarray) -> OptionTable:
        """The table with only the options at ``keep`` (in that order)."""
        idx = np.asarray(keep, dtype=np.int64)
        return OptionTable(members=self.members, options=tuple(self.options[int(i)] for i in idx),
                           cycles=self.cycles[idx], lut=self.lut[idx], bram18=self.bram18[idx],
                           uram=self.uram[idx], dsp=self.dsp[idx], member_resources=self.member_resources[idx])


def layer_options(layer: Any, limits: FoldingLimits) -> list[Any]:
    """Every valid variant of ``layer`` under ``limits`` (the layer itself if it has no knobs)."""
    knobs = _KNOBS.get(type(layer).op_type)
    if knobs is None:
        return [layer]
    out, seen = [], set()
    for change in knobs(layer, limits):
        try:
            variant = replace(layer, **change)
        except FoldingError:
            continue
        if variant not in seen:
            seen.add(variant)
            out.append(variant)
    return out or [layer]


def _table(graph: DataflowGraph, members: tuple[int, ...], combos: Sequence[tuple[Any, ...]], part: str) -> OptionTable:
    costs = [[node_cost(layer, part) for layer in combo] for combo in combos]
    return OptionTable(
        members=members, options=tuple(combos),
        cycles=np.array([[c.cycles for c in row] for row in costs], dtype=np.int64),
        lut=np.array([sum(c.lut for c in row) for row in costs], dtype=np.float64),
        bram18=np.array([sum(c.bram18 for c in row) for row in costs], dtype=np.float64),
        uram=np.array([sum(c.uram for c in row) for row in costs], dtype=np.float64),
        dsp=np.array([sum(c.dsp for c in row) for row in costs], dtype=np.float64),
        member_resources=np.array([[(c.lut, c.bram18, c.uram, c.dsp) for c in row] for row in costs],
                                  dtype=np.float64).reshape(len(costs), len(members), 4),
    )


# Pairs FINN ties together: (producer op, consumer op, producer field, consumer field) whose
# values must be equal, e.g. a depthwise sliding window's SIMD equals the Pool's PE.
TIES: list[tuple[str, str, str, str, Callable[[Any], bool]]] = [
    ("ConvolutionInputGenerator", "Pool", "simd", "pe", lambda swg: bool(swg.depthwise)),
    ("ConvolutionInputGenerator", "VVAU", "simd", "pe", lambda swg: bool(swg.depthwise)),
]


def option_tables(graph: DataflowGraph, part: str, limits: FoldingLimits = FoldingLimits()) -> list[OptionTable]:
    """One option table per independent group of layers."""
    tables: list[OptionTable] = []
    i, n = 0, len(graph)
    while i < n:
        layer = graph.layers[i]
        tie = None
        if i + 1 < n and graph.preds[i + 1] == (i,):
            nxt = graph.layers[i + 1]
            for prod, cons, pf, cf, applies in TIES:
                if type(layer).op_type == prod and type(nxt).op_type == cons and applies(layer):
                    tie = (pf, cf)
        if tie is None:
            tables.append(_table(graph, (i,), [(v,) for v in layer_options(layer, limits)], part))
            i += 1
            continue
        pf, cf = tie
        firsts, seconds = layer_options(layer, limits), layer_options(graph.layers[i + 1], limits)
        combos = [(a, b) for a in firsts for b in seconds if getattr(a, pf) == getattr(b, cf)]
        tables.append(_table(graph, (i, i + 1), combos or [(layer, graph.layers[i + 1])], part))
        i += 2
    return tables


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Network figures for N foldings at once (arrays of length N)."""

    max_cycles: np.ndarray
    critical_path_cycles: np.ndarray
    lut: np.ndarray
    bram18: np.ndarray
    uram: np.ndarray
    dsp: np.ndarray

    def fps(self, clock_ns: float) -> np.ndarray:
        return (1e9 / clock_ns) / self.max_cycles


def evaluate_batch(graph: DataflowGraph, tables: Sequence[OptionTable], choice: np.ndarray) -> BatchResult:
    """Evaluate N foldings given as option indices, ``choice`` of shape (N, len(tables))."""
    choice = np.asarray(choice)
    n_points = choice.shape[0]
    node_cycles = np.zeros((len(graph), n_points), dtype=np.int64)
    totals = {k: np.zeros(n_points) for k in ("lut", "bram18", "uram", "dsp")}
    for g, table in enumerate(tables):
        idx = choice[:, g]
        node_cycles[list(table.members)] = table.cycles[idx].T
        for k in totals:
            totals[k] += getattr(table, k)[idx]
    latency = np.zeros_like(node_cycles)
    for i, ps in enumerate(graph.preds):
        latency[i] = node_cycles[i] + (latency[list(ps)].max(axis=0) if ps else 0)
    return BatchResult(max_cycles=node_cycles.max(axis=0), critical_path_cycles=latency.max(axis=0), **totals)


def layer_resources(graph: DataflowGraph, tables: Sequence[OptionTable], choice: np.ndarray) -> np.ndarray:
    """Per-layer (lut, bram18, uram, dsp) of N foldings, shape (N, len(graph), 4), layers in graph
    order (the chain order the per-SLR placement walks)."""
    choice = np.asarray(choice)
    out = np.zeros((choice.shape[0], len(graph), 4))
    for g, table in enumerate(tables):
        out[:, list(table.members), :] = table.member_resources[choice[:, g]]
    return out


def apply_choice(graph: DataflowGraph, tables: Sequence[OptionTable], choice: Sequence[int]) -> DataflowGraph:
    """The graph with the chosen option of every table."""
    layers = list(graph.layers)
    for table, c in zip(tables, choice):
        for member, record in zip(table.members, table.options[int(c)]):
            layers[member] = record
    return DataflowGraph(tuple(layers), graph.preds)


# FINN attribute names of the record fields a folding config carries.
FINN_ATTRS: Mapping[str, str] = {
    "pe": "PE", "simd": "SIMD", "parallel_window": "parallel_window", "ram_style": "ram_style",
    "ram_style_thresholds": "ram_style_thresholds", "res_type": "resType", "mem_mode": "mem_mode",
    "depth_trigger_uram": "depth_trigger_uram", "depth_trigger_bram": "depth_trigger_bram",
}


# Record fields one FINN variant lacks (ApplyConfig refuses an attribute the node does not have):
# Thresholding_hls has no depth triggers, Thresholding_rtl no ram_style/mem_mode.
VARIANT_LACKS: Mapping[tuple[str, str], frozenset[str]] = {
    ("Thresholding", "hls"): frozenset({"depth_trigger_uram", "depth_trigger_bram"}),
    ("Thresholding", "rtl"): frozenset({"ram_style", "mem_mode"}),
}


def folding_config(graph: DataflowGraph, finn_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A FINN folding config (ApplyConfig format) for the graph's folding attributes.

    ``finn_names`` maps record names to FINN node names where they differ (they normally match).
    """
    config: dict[str, Any] = {"Defaults": {}}
    for layer in graph.layers:
        attrs = {}
        lacks = VARIANT_LACKS.get((type(layer).op_type, str(getattr(layer, "impl", ""))), frozenset())
        for f in fields(layer):
            if f.name in FINN_ATTRS and f.name not in lacks:
                value = getattr(layer, f.name)
                attrs[FINN_ATTRS[f.name]] = int(value) if isinstance(value, bool) else value
        if attrs:
            name = (finn_names or {}).get(layer.name, layer.name)
            config[name] = attrs
    return config


def apply_folding_config(graph: DataflowGraph, config: Mapping[str, Any]) -> DataflowGraph:
    """Set the graph's folding attributes from a FINN folding config (ApplyConfig format).

    Like FINN's ApplyConfig, "Defaults" entries {attr: [value, [op types]]} apply to every
    listed op type first; per-node entries win. Unknown node names are an error here (FINN
    only warns), because a silently ignored entry is a design the user did not ask for.
    """
    to_field = {v: k for k, v in FINN_ATTRS.items()}
    layers = list(graph.layers)
    names = {layer.name: i for i, layer in enumerate(layers)}
    unknown = [n for n in config if n != "Defaults" and n not in names]
    if unknown:
        raise KeyError(f"folding config names nodes the graph does not have: {unknown}; "
                       f"nodes: {sorted(names)}")
    for attr, (value, op_types) in dict(config.get("Defaults", {})).items():
        for i, layer in enumerate(layers):
            if attr in to_field and any(layer.name.startswith(t) or type(layer).op_type == t for t in op_types):
                layers[i] = replace(layer, **{to_field[attr]: value})
    for name, attrs in config.items():
        if name == "Defaults":
            continue
        i = names[name]
        own = {f.name for f in fields(layers[i])}
        change = {to_field[a]: v for a, v in attrs.items() if a in to_field and to_field[a] in own}
        if "parallel_window" in change:
            change["parallel_window"] = bool(change["parallel_window"])
        layers[i] = replace(layers[i], **change)
    return DataflowGraph(tuple(layers), graph.preds)


WEIGHT_OPS = ("MVAU", "VVAU")


def weight_member(graph: DataflowGraph, table: OptionTable) -> int | None:
    """Position in ``table.members`` of its MVAU/VVAU, if it has one."""
    for pos, i in enumerate(table.members):
        if type(graph.layers[i]).op_type in WEIGHT_OPS:
            return pos
    return None


def restrict_styles(graph: DataflowGraph, tables: Sequence[OptionTable], *, ram_style: str = "auto",
                    res_type: str = "auto") -> list[OptionTable]:
    """Keep only the MVAU/VVAU options with this weight memory style / resType ("auto": any).

    A table with no option of the asked style (e.g. URAM for a tiny layer) is kept whole.
    """
    out = []
    for table in tables:
        pos = weight_member(graph, table)
        if pos is None or (ram_style == "auto" and res_type == "auto"):
            out.append(table)
            continue
        keep = [k for k, option in enumerate(table.options)
                if (ram_style == "auto" or getattr(option[pos], "ram_style", ram_style) == ram_style)
                and (res_type == "auto" or getattr(option[pos], "res_type", res_type) == res_type)]
        out.append(table.take(keep) if keep else table)
    return out
