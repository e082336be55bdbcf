"""Search spaces: what a study may propose, as validated data (pydantic) plus Optuna distributions."""
from __future__ import annotations

from search_spaces.schema import FloatRange
from search_spaces.tfc import TFCPoint, TFCSpace

__all__ = ["FloatRange", "TFCPoint", "TFCSpace"]
