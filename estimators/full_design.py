"""Full-design mode: the graph FINN actually builds, with its data width converters and FIFOs.

The FINN-faithful mode (``estimators.graph``) reports what FINN's estimate reports say, i.e. the
graph before hardware generation. FINN's step_set_fifo_depths then runs (finn-plus 1.6.1)

    InsertDWC() -> InsertFIFO(create_shallow_fifos=True) -> SpecializeLayers(part)
    -> GiveUniqueNodeNamesRecursive()

and the nodes it adds cost LUTs and memory too. ``full_design_graph`` replays those passes on
the records, in FINN's node order, so the result is the graph FINN would estimate after them:

* InsertDWC: a StreamingDataWidthConverter wherever the producer's folded output and the
  consumer's folded input differ in their last axis (elements per word), inserted right after
  the producer. SpecializeLayers picks the RTL variant: InsertDWC sets no preferred_impl_style
  and an RTL DWC exists, for every part.
* InsertFIFO: a StreamingFIFO (ram_style "auto", RTL variant) on every edge, also either side of a
  DWC, plus one before each graph input and after each graph output. Depths are not predicted:
  FINN sizes FIFOs by simulation, so they are given (``fifo_depths``) or no FIFOs are inserted.
* Every FINN transformation ends by sorting the graph (qonnx SortGraph, level by level); the
  replay sorts after each pass in the same way, which only matters around forks and joins.
* GiveUniqueNodeNamesRecursive: inserted nodes are named ``{op_type}_{k}`` with k counting that
  op type in graph order (e.g. "StreamingDataWidthConverter_rtl_0", "StreamingFIFO_rtl_3"), as
  FINN names them; the original layers keep their names.

A consumer's stream on an edge is its ``in_streams`` entry for that input (its predecessors are
in FINN's input order; only ElementwiseBinary has two); a DuplicateStreams output i feeds its
i-th consumer in graph order.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from estimators.dwc import StreamingDataWidthConverter
from estimators.fifo import StreamingFIFO
from estimators.graph import DataflowGraph, NetworkEstimate, estimate_graph
from estimators.streaming import DuplicateStreams
from estimators.streams import Stream, in_stream, in_streams, out_stream

# SpecializeLayers' choice for the nodes hardware generation inserts (no preferred_impl_style
# is set on them and both have an RTL variant, which FINN prefers for "simple" layers).
DWC_IMPL: Final[Literal["rtl"]] = "rtl"
FIFO_IMPL: Final[Literal["rtl"]] = "rtl"
# InsertFIFO never creates a graph input/output FIFO shallower than this.
MIN_END_FIFO_DEPTH = 2

FifoDepths = int | Mapping[str, int]


@dataclass(slots=True)
class _Node:
    """One node of the replayed FINN graph: a record, or a FIFO still waiting for its depth."""

    layer: Any
    inputs: list[int]  # tensor ids
    outputs: list[int]
    fifo: _PendingFifo | None = None


@dataclass(frozen=True, slots=True)
class _PendingFifo:
    stream: Stream
    at_graph_end: bool  # graph input/output FIFO (FINN floors these at depth 2)


@dataclass(slots=True)
class _Design:
    nodes: list[_Node]
    graph_inputs: list[int]
    graph_outputs: list[int]
    next_tensor: int = 0

    def new_tensor(self) -> int:
        self.next_tensor += 1
        return self.next_tensor - 1

    def consumer(self, tensor: int) -> _Node | None:
        return next((n for n in self.nodes if tensor in n.inputs), None)

    def producer(self, tensor: int) -> int | None:
        return next((i for i, n in enumerate(self.nodes) if tensor in n.outputs), None)


def _is_dwc(node: _Node) -> bool:
    return isinstance(node.layer, StreamingDataWidthConverter)


def _is_fifo(node: _Node) -> bool:
    return node.fifo is not None or isinstance(node.layer, StreamingFIFO)


def _from_graph(graph: DataflowGraph) -> _Design:
    """Tensors between the records: one per edge, one per graph input and output."""
    for layer in graph.layers:
        if isinstance(layer, (StreamingDataWidthConverter, StreamingFIFO)):
            raise ValueError(f"{layer.name!r} is a {type(layer).__name__}: the graph already is a full design")
    consumers: list[list[int]] = [[] for _ in graph.layers]
    for i, preds in enumerate(graph.preds):
        for p in preds:
            consumers[p].append(i)
    design = _Design([], [], [])
    edge: dict[tuple[int, int], int] = {}
    for i, layer in enumerate(graph.layers):
        if len(consumers[i]) > 1 and not isinstance(layer, DuplicateStreams):
            raise ValueError(f"{layer.name!r} feeds {len(consumers[i])} layers: FINN cannot stitch fan-out "
                             "without DuplicateStreams")
        outputs = [design.new_tensor() for _ in range(max(len(consumers[i]), 1))]
        edge.update({(i, c): t for c, t in zip(consumers[i], outputs)})
        if not consumers[i]:
            design.graph_outputs.extend(outputs)
        inputs = [edge[(p, i)] for p in graph.preds[i]]
        if not inputs:
            inputs = [design.new_tensor()]
            design.graph_inputs.extend(inputs)
        design.nodes.append(_Node(layer, inputs, outputs))
    return design


def _edge_type(src: Stream, dst: Stream, producer: str, consumer: str) -> tuple[int, bool]:
    """(bits, signed) of the tensor between two layers; both sides must agree."""
    if src.elem_bits != dst.elem_bits or src.num_elems != dst.num_elems:
        raise ValueError(f"{producer!r} -> {consumer!r}: output {src.num_elems} x {src.elem_bits}-bit elements "
                         f"but input {dst.num_elems} x {dst.elem_bits}-bit")
    # MVAU/VVAU records do not keep their output sign; the consumer's input is the same tensor
    signed = src.elem_signed if src.elem_signed is not None else dst.elem_signed
    return src.elem_bits, bool(signed)


def _input_stream(consumer: _Node, tensor: int) -> Stream:
    return in_streams(consumer.layer)[consumer.inputs.index(tensor)]


def _insert_dwcs(design: _Design) -> None:
    """finn.transformation.fpgadataflow.insert_dwc.InsertDWC (one pass suffices)."""
    i = 0
    while i < len(design.nodes):
        node = design.nodes[i]
        for tensor in list(node.outputs) if not _is_dwc(node) else []:
            consumer = design.consumer(tensor)
            if consumer is None or _is_dwc(consumer):
                continue
            src, dst = out_stream(node.layer), _input_stream(consumer, tensor)
            if src.folded_shape[-1] == dst.folded_shape[-1]:
                continue
            bits, signed = _edge_type(src, dst, node.layer.name, consumer.layer.name)
            dwc = StreamingDataWidthConverter(
                name="", impl=DWC_IMPL, in_shape=src.normal_shape, out_shape=dst.normal_shape,
                in_width=src.width_bits, out_width=dst.width_bits, data_bits=bits, data_signed=signed)
            new = design.new_tensor()
            consumer.inputs[consumer.inputs.index(tensor)] = new
            design.nodes.insert(i + 1, _Node(dwc, [tensor], [new]))  # FINN: right after the producer
        i += 1


def _fifo_stream(stream: Stream, other: Stream | None) -> Stream:
    signed = stream.elem_signed if stream.elem_signed is not None else (other.elem_signed if other else False)
    return Stream(stream.normal_shape, stream.folded_shape, stream.width_bits, stream.elem_bits, bool(signed))


def _insert_fifos(design: _Design) -> None:
    """finn.transformation.fpgadataflow.insert_fifo.InsertFIFO(create_shallow_fifos=True): a first
    pass puts a FIFO on every edge, the next (finding none left) adds the graph-end FIFOs."""
    i = 0
    while i < len(design.nodes):
        node = design.nodes[i]
        for tensor in list(node.outputs) if not _is_fifo(node) else []:
            consumer = design.consumer(tensor)
            if consumer is None or _is_fifo(consumer):
                continue
            src, dst = out_stream(node.layer), _input_stream(consumer, tensor)
            _edge_type(src, dst, node.layer.name, consumer.layer.name)
            new = design.new_tensor()
            consumer.inputs[consumer.inputs.index(tensor)] = new
            pending = _PendingFifo(_fifo_stream(src, dst), at_graph_end=False)
            design.nodes.insert(i + 1, _Node(None, [tensor], [new], pending))
        i += 1
    for tensor in design.graph_inputs:
        first = design.consumer(tensor)
        assert first is not None
        if not _is_fifo(first):
            new = design.new_tensor()
            first.inputs[first.inputs.index(tensor)] = new
            pending = _PendingFifo(_fifo_stream(in_stream(first.layer), None), at_graph_end=True)
            design.nodes.insert(0, _Node(None, [tensor], [new], pending))
    for tensor in design.graph_outputs:
        index = design.producer(tensor)
        assert index is not None
        last = design.nodes[index]
        if not _is_fifo(last):
            new = design.new_tensor()
            last.outputs[last.outputs.index(tensor)] = new
            pending = _PendingFifo(_fifo_stream(out_stream(last.layer), None), at_graph_end=True)
            design.nodes.append(_Node(None, [new], [tensor], pending))


def _sort_like_finn(design: _Design) -> None:
    """qonnx's SortGraph, which every FINN transformation runs when it ends: level by level
    (toposort_flatten), a level being the nodes whose producers are all in earlier levels, in
    list order within a level. A chain keeps its order; around a fork and join the nodes of
    both branches interleave by depth."""
    producer = {t: i for i, node in enumerate(design.nodes) for t in node.outputs}
    pending = {i: {producer[t] for t in node.inputs if t in producer} for i, node in enumerate(design.nodes)}
    order: list[int] = []
    while pending:
        level = sorted(i for i, deps in pending.items() if not deps)
        if not level:
            raise ValueError("the design has a cycle")
        order.extend(level)
        pending = {i: deps.difference(level) for i, deps in pending.items() if i not in level}
    design.nodes[:] = [design.nodes[i] for i in order]


def _unique_names(design: _Design) -> list[str]:
    """GiveUniqueNodeNamesRecursive for the inserted nodes: {op_type}_{count of that op type}."""
    counts: dict[str, int] = {}
    names = []
    for node in design.nodes:
        if node.fifo is not None:
            op_type = f"StreamingFIFO_{FIFO_IMPL}"
        elif _is_dwc(node):
            op_type = f"StreamingDataWidthConverter_{DWC_IMPL}"
        else:
            names.append(node.layer.name)
            continue
        names.append(f"{op_type}_{counts.get(op_type, 0)}")
        counts[op_type] = counts.get(op_type, 0) + 1
    return names


def _depth(name: str, pending: _PendingFifo, fifo_depths: FifoDepths) -> int:
    if isinstance(fifo_depths, int):
        # as if every node's inFIFODepths/outFIFODepths were [fifo_depths]
        return max(fifo_depths, MIN_END_FIFO_DEPTH) if pending.at_graph_end else fifo_depths
    return int(fifo_depths[name])


def _check_depth_names(fifo_names: list[str], fifo_depths: FifoDepths) -> None:
    if isinstance(fifo_depths, bool) or not isinstance(fifo_depths, (int, Mapping)):
        raise TypeError(f"fifo_depths must be an int, a mapping of FIFO names to depths, or None; got {fifo_depths!r}")
    if isinstance(fifo_depths, int):
        if fifo_depths < 0:
            raise ValueError(f"fifo_depths must be >= 0, got {fifo_depths}")
        return
    missing = [n for n in fifo_names if n not in fifo_depths]
    unknown = [n for n in fifo_depths if n not in fifo_names]
    if missing or unknown:
        raise KeyError(f"fifo_depths must name exactly the design's FIFOs {fifo_names}; "
                       f"missing: {missing}, unknown: {unknown}")


def full_design_graph(graph: DataflowGraph, *, fifo_depths: FifoDepths | None = None, part: str) -> DataflowGraph:
    """The full design of a (folded) FINN-faithful graph: with the StreamingDataWidthConverters
    FINN's InsertDWC adds and, if ``fifo_depths`` is given, the StreamingFIFOs of
    InsertFIFO(create_shallow_fifos=True), named and specialized as FINN does.

    ``fifo_depths``: None inserts no FIFOs (their real depths come from FINN's FIFO sizing);
    an int gives every FIFO that depth (graph input/output FIFOs at least 2, as FINN has it);
    a mapping gives each FIFO's depth by its FINN name ("StreamingFIFO_rtl_<k>", graph order),
    as FINN's final_hw_config.json lists them, and must name every FIFO of the design.
    ``part``: the FPGA part; SpecializeLayers picks RTL DWCs and FIFOs on every part in
    finn-plus 1.6.1, so it does not change the structure today.
    """
    if not part:
        raise ValueError("part must name an FPGA part")
    design = _from_graph(graph)
    _insert_dwcs(design)
    _sort_like_finn(design)
    if fifo_depths is not None:
        _insert_fifos(design)
        _sort_like_finn(design)
    names = _unique_names(design)
    if fifo_depths is not None:
        _check_depth_names([n for n, node in zip(names, design.nodes) if node.fifo], fifo_depths)

    layers = []
    for name, node in zip(names, design.nodes):
        if node.fifo is not None:
            s = node.fifo.stream
            assert fifo_depths is not None
            layers.append(StreamingFIFO(
                name=name, depth=_depth(name, node.fifo, fifo_depths), folded_shape=s.folded_shape,
                data_bits=s.elem_bits, normal_shape=s.normal_shape, data_signed=bool(s.elem_signed),
                ram_style="auto", impl=FIFO_IMPL, impl_style="rtl"))
        elif _is_dwc(node) and not node.layer.name:
            layers.append(replace(node.layer, name=name))
        else:
            layers.append(node.layer)
    producer_of = {t: i for i, node in enumerate(design.nodes) for t in node.outputs}
    preds = tuple(tuple(producer_of[t] for t in node.inputs if t in producer_of) for node in design.nodes)
    return DataflowGraph(tuple(layers), preds)


def estimate_full_design(graph: DataflowGraph, part: str, *, clock_ns: float,
                         fifo_depths: FifoDepths | None = None) -> NetworkEstimate:
    """Estimate of the full design (FINN-faithful layers plus the inserted DWCs and FIFOs).

    DWCs and FIFOs have 0 expected cycles in FINN, so throughput and latency equal the
    FINN-faithful figures; the resource totals include the inserted nodes.
    """
    return estimate_graph(full_design_graph(graph, fifo_depths=fifo_depths, part=part), part, clock_ns=clock_ns)
