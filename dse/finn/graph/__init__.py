"""Read a folded or unfolded FINN dataflow graph (after SpecializeLayers) into estimator records.

Each node's attributes are read once through FINN's custom-op objects; from then on the
estimators work on plain numbers (no protobuf access per design point).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from estimators.graph import DataflowGraph


def _converters() -> dict[str, Callable[[Any, Any], Any]]:
    from dse.finn.graph import mvau, residual, streaming

    return {
        **{t.rsplit("_", 1)[0]: f for t, f in residual.CONVERTERS.items()},
        "MVAU": mvau.mvau_from_finn,
        "VVAU": mvau.vvau_from_finn,
        "ConvolutionInputGenerator": streaming.convolutioninputgenerator_from_finn,
        "Thresholding": streaming.thresholding_from_finn,
        "Pool": streaming.pool_from_finn,
        "LabelSelect": streaming.labelselect_from_finn,
        "FMPadding": streaming.fmpadding_from_finn,
        "Reshape": streaming.reshape_from_finn,
        "DuplicateStreams": streaming.duplicatestreams_from_finn,
        "StreamingDataWidthConverter": streaming.streamingdatawidthconverter_from_finn,
        "StreamingFIFO": streaming.streamingfifo_from_finn,
    }


def base_op_type(op_type: str) -> str:
    return op_type.removesuffix("_hls").removesuffix("_rtl")


def graph_from_finn(model: Any) -> DataflowGraph:
    """DataflowGraph of a FINN HW model (a qonnx ModelWrapper of the dataflow partition)."""
    converters = _converters()
    layers, index, preds = [], {}, []
    for node in model.graph.node:
        base = base_op_type(node.op_type)
        if base not in converters:
            raise KeyError(f"FINN node {node.name!r} has op type {node.op_type!r}, which FINN-DSE cannot read; "
                           f"known: {', '.join(sorted(converters))}")
        layers.append(converters[base](node, model))
        index[node.name] = len(layers) - 1
        producers = model.find_direct_predecessors(node) or []
        preds.append(tuple(index[p.name] for p in producers if p.name in index))
    return DataflowGraph(tuple(layers), tuple(preds))
