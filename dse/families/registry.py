"""The model families FINN-DSE knows, by name: the one place a family's name is looked up.

A new family is its module here (dse/families/<name>.py, satisfying ModelFamily), its builder in
dse/models/, and one line below. ``register`` refuses a second family of the same name.
"""
from __future__ import annotations

from typing import Any

from dse.errors import ConfigError
from dse.families._base import ModelFamily
from dse.families.cnv import CNV
from dse.families.mobilenet import MobileNet
from dse.families.tfc import TFC
from dse.families.user import User
from search_spaces import DesignPoint

_REGISTRY: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    """Add ``family`` under its name (a ValueError if the name is taken)."""
    if family.name in _REGISTRY:
        raise ValueError(f"a model family named {family.name!r} is already registered "
                         f"({type(_REGISTRY[family.name]).__name__})")
    _REGISTRY[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove a family registered earlier (a test's own, say)."""
    del _REGISTRY[name]


def family_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_family(name: str) -> ModelFamily:
    """The family called ``name``; a ConfigError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model family {name!r}; known: {', '.join(_REGISTRY)}") from None


def family_of(point: DesignPoint) -> ModelFamily:
    return get_family(point.family)


def family_of_config(config: Any) -> ModelFamily:
    """The family whose model configuration ``config`` is (by its class, never by its fields)."""
    kind = f"{type(config).__module__}.{type(config).__qualname__}"
    for family in _REGISTRY.values():
        if family.config_type == kind:
            return family
    raise TypeError(f"{type(config).__name__} is no registered family's model configuration "
                    f"(families: {', '.join(_REGISTRY)})")


for _family in (TFC(), CNV(), MobileNet(), User()):
    register(_family)
