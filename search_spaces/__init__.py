"""Search spaces: what a study may propose, as validated data (pydantic) plus Optuna distributions."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from search_spaces.base import DesignPoint, FoldingPoint, FoldingSpace, PruningSpace, SpaceBase
from search_spaces.cnv import CNVSpace
from search_spaces.mobilenet import MobileNetSpace
from search_spaces.schema import FloatRange, UnitRange
from search_spaces.tfc import TFCSpace
from search_spaces.user import UserSpace

# The `family` key picks the schema; errors then name only that family's keys.
Space = Annotated[Union[TFCSpace, CNVSpace, MobileNetSpace, UserSpace], Field(discriminator="family")]

__all__ = ["CNVSpace", "DesignPoint", "FloatRange", "FoldingPoint", "FoldingSpace", "MobileNetSpace",
           "PruningSpace", "Space", "SpaceBase", "TFCSpace", "UnitRange", "UserSpace"]
