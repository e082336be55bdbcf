"""Model families as plug-ins: the ModelFamily protocol, one module per family, one registry.

Every stage asks ``family_of(point)`` (or ``get_family(name)``) and calls the family; none
compares a family's name with a string. Importing this package stays light: torch, Brevitas and
FINN load inside the methods that build or convert a model.
"""
from __future__ import annotations

from dse.families._base import PIXELS, ModelFamily, ModelIO, PruneUnit
from dse.families.registry import family_names, family_of, family_of_config, get_family, register, unregister

__all__ = ["PIXELS", "ModelFamily", "ModelIO", "PruneUnit", "family_names", "family_of", "family_of_config",
           "get_family", "register", "unregister"]
