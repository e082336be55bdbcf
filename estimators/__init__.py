"""Closed-form FINN cost models, device data, folding options and solver. Pure: stdlib + numpy.

Importing the package registers one cost model per FINN node type (see estimators.core).
"""
from __future__ import annotations

from estimators import dwc, fifo, mvau, streaming, swg, thresholding, vvau  # noqa: F401  (registration)
from estimators import elementwise, globalaccpool, requant  # noqa: F401  (registration)
from estimators import knobs  # noqa: F401  (folding options per node type)
from estimators.calibration import Calibration, Sample, fit_calibration
from estimators.core import FoldingError, NodeCost, UnknownLayerError, known_layer_types, node_cost
from estimators.devices import BOARDS, Board, FitReport, Resources, SLRPlacement, check_fit, get_board, place_in_slrs
from estimators.folding import (FoldingLimits, apply_folding_config, evaluate_batch, folding_config, option_tables,
                                restrict_styles)
from estimators.graph import DataflowGraph, NetworkEstimate, estimate_graph
from estimators.multi_fpga import MultiCardDesign, cheapest_meeting, designs_per_card_count, fastest_on_cards
from estimators.partition import AURORAFLOW, Link, Partition, assess, partition
from estimators.power import PowerModel, energy_per_inference_uj, power_w
from estimators.solver import Solution, device_weights, solve_for_budget, solve_for_target, solve_sampled

__all__ = [
    "AURORAFLOW", "Link", "MultiCardDesign", "Partition", "assess", "cheapest_meeting", "designs_per_card_count",
    "fastest_on_cards", "partition",
    "BOARDS", "Board", "Calibration", "DataflowGraph", "FitReport", "FoldingError", "FoldingLimits", "NetworkEstimate",
    "NodeCost", "PowerModel", "Resources", "SLRPlacement", "Solution", "UnknownLayerError", "apply_folding_config", "check_fit",
    "device_weights", "energy_per_inference_uj", "estimate_graph", "evaluate_batch", "folding_config", "get_board", "known_layer_types",
    "node_cost", "option_tables", "place_in_slrs", "power_w", "restrict_styles", "Sample", "fit_calibration", "solve_for_budget", "solve_for_target",
    "solve_sampled",
]
