"""The estimator contract: one frozen layer record per FINN node type, one registered cost model each.

A cost model is a pure function ``(layer, part) -> NodeCost``. ``register`` refuses duplicates and
``node_cost`` refuses unknown layer types (naming the known ones): a layer without a model must
never look free, the way FINN's HWCustomOp base class reports 0 for anything unimplemented.

Each model restates FINN's own analytical estimate (finn-plus 1.6.1) for that node type, so the
FINN-faithful sum over a graph equals what FINN's estimate reports say.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar


class UnknownLayerError(KeyError):
    """No cost model is registered for this layer type."""


class Layer(Protocol):
    """What every layer record provides: FINN's op type (without _hls/_rtl) and a node name."""

    op_type: ClassVar[str]
    name: str


@dataclass(frozen=True, slots=True)
class NodeCost:
    """FINN's figures for one node: expected cycles per frame and resources.

    ``finn`` is set only where our figures deliberately differ from FINN's own estimate: FINN
    reports 0 for a node that costs LUTs (e.g. DuplicateStreams_hls, ElementwiseAdd_hls), so the
    model counts it from the node's structure and keeps FINN's figures here. ``finn_figures``
    gives FINN's estimate either way.
    """

    cycles: int
    lut: float = 0.0
    bram18: float = 0.0
    uram: float = 0.0
    dsp: float = 0.0
    finn: NodeCost | None = None

    def __post_init__(self) -> None:
        for name in ("cycles", "lut", "bram18", "uram", "dsp"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.finn is not None and self.finn.finn is not None:
            raise ValueError("FINN's own figures cannot themselves carry a 'finn' figure")

    @property
    def finn_figures(self) -> NodeCost:
        """FINN's own estimate of this node (``self`` where the model is FINN's)."""
        return self if self.finn is None else self.finn


L = TypeVar("L")
CostModel = Callable[[L, str], NodeCost]
_REGISTRY: dict[type, Callable[[object, str], NodeCost]] = {}


def register(layer_type: type[L]) -> Callable[[CostModel[L]], CostModel[L]]:
    """Decorator: ``@register(MVAU)`` makes the function MVAU's cost model. Duplicates raise."""

    def decorate(fn: CostModel[L]) -> CostModel[L]:
        if layer_type in _REGISTRY:
            raise ValueError(f"a cost model for {layer_type.__name__} is already registered")
        _REGISTRY[layer_type] = fn  # type: ignore[assignment]
        return fn

    return decorate


def known_layer_types() -> tuple[type, ...]:
    return tuple(_REGISTRY)


def node_cost(layer: object, part: str) -> NodeCost:
    """The cost of one layer on FPGA ``part`` (e.g. "xcu280-fsvh2892-2L-e")."""
    try:
        model = _REGISTRY[type(layer)]
    except KeyError:
        known = ", ".join(sorted(t.__name__ for t in _REGISTRY))
        raise UnknownLayerError(f"No cost model for {type(layer).__name__!r}; known: {known}") from None
    return model(layer, part)


# --- helpers shared by the cost models ----------------------------------------------------------

def is_versal(part: str) -> bool:
    """Same rule as finn.util.basic.is_versal."""
    return part[0:4] in ("xcvc", "xcve", "xcvp", "xcvm", "xqvc", "xqvm") or part[0:5] in ("xqrvc", "xcv80")


def dsp_block(part: str) -> str:
    """Same rule as finn.util.basic.get_dsp_block."""
    if is_versal(part):
        return "DSP58"
    if part[2] == "7":
        return "DSP48E1"
    return "DSP48E2"


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def clog2(x: int) -> int:
    return 0 if x <= 1 else math.ceil(math.log2(x))


class FoldingError(ValueError):
    """A folding attribute breaks FINN's rules for that layer (e.g. PE does not divide MH)."""


def require_divides(what: str, value: int, of: str, total: int, *, layer: str) -> None:
    """FINN's divisibility rules, with a message that lists what would be allowed."""
    if value < 1 or total % value != 0:
        allowed = [d for d in range(1, total + 1) if total % d == 0]
        shown = allowed if len(allowed) <= 16 else [*allowed[:8], "...", *allowed[-4:]]
        raise FoldingError(f"{what}={value} of {layer!r} must divide {of}={total} (allowed: {shown})")
