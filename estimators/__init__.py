"""Closed-form FINN cost models and device data. Pure: stdlib and numpy only."""
from __future__ import annotations

from estimators.devices import BOARDS, Board, FitReport, Resources, check_fit, get_board

__all__ = ["BOARDS", "Board", "FitReport", "Resources", "check_fit", "get_board"]
