"""The FINN room: the only package of dse/ that imports finn or qonnx (tests/test_import_graph.py).

- ``qonnx_export``: a Brevitas network -> the QONNX file FINN starts from (the bundle's model.onnx);
- ``hw_graph``: QONNX -> FINN's specialized dataflow graph (FINN's steps up to specialize_layers);
- ``folding``: a target throughput (SetFolding) or a folding config (ApplyConfig) applied to it;
- ``estimate_reports``: FINN's estimate reports of a folded graph as a HardwareEstimate;
- ``flow``: the three in a row, as finn-plus 1.6.1's estimate-only build runs them;
- ``graph``: FINN's HW graph read into the estimators' records;
- ``build_config``: a bundle's build.yaml checked by finn-plus's DataflowBuildConfig;
- ``user_model``: the user-model checks that need FINN (dse.models.user calls them).

FINN, QONNX, torch and Brevitas are imported inside the functions, so ``import dse`` stays light.
"""
from __future__ import annotations

from dse.finn.build_config import check_build_config
from dse.finn.estimate_reports import FinnResult, HardwareEstimate, LayerEstimate, analyse
from dse.finn.flow import estimate
from dse.finn.folding import FOLDING_ATTRS, fold
from dse.finn.graph import graph_from_finn
from dse.finn.hw_graph import load_hw_graph, to_hw_graph
from dse.finn.qonnx_export import export_qonnx, output_width

__all__ = ["FOLDING_ATTRS", "FinnResult", "HardwareEstimate", "LayerEstimate", "analyse", "check_build_config",
           "estimate", "export_qonnx", "fold", "graph_from_finn", "load_hw_graph", "output_width", "to_hw_graph"]
