"""The contract every registered FINN node type keeps (issue 14 item 6): a cost model (the
registry itself), stream shapes, folding knobs (or a stated reason FINN does not fold it), a
reader from FINN's graph, and a fidelity test against FINN's own estimate. Parametrized over the
registry, so a node type registered tomorrow is held to it without editing this file."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

import estimators  # noqa: F401  (registers every cost model)
from estimators import streams
from estimators.core import known_layer_types
from estimators.folding import _KNOBS

# FINN inserts these after folding (step_set_fifo_depths / InsertDWC): nothing to fold in them.
NOT_FOLDED = {
    "StreamingDataWidthConverter": "inserted by FINN after folding; its widths follow its neighbours",
    "StreamingFIFO": "inserted and sized by FINN's FIFO sizing, after folding",
}
TESTS = Path(__file__).parent
TYPES = sorted(known_layer_types(), key=lambda t: t.__name__)


@functools.cache
def _fidelity_sources() -> str:
    """The test files that compare our figures with FINN's (marked finn)."""
    return "\n".join(text for path in sorted(TESTS.glob("test_*.py"))
                     if "pytest.mark.finn" in (text := path.read_text()) and path.name != Path(__file__).name)


@functools.cache
def _readers() -> frozenset[str]:
    from dse.finn.graph import _converters  # FINN's modules load only when a node is read

    return frozenset(_converters())


@pytest.mark.parametrize("layer_type", TYPES, ids=lambda t: t.__name__)
def test_node_type_has_every_piece(layer_type: type) -> None:
    op = getattr(layer_type, "op_type", None)
    assert isinstance(op, str) and op, f"{layer_type.__name__} has no op_type"
    fallback_in, fallback_out = streams.in_stream.dispatch(object), streams.out_stream.dispatch(object)
    assert streams.in_stream.dispatch(layer_type) is not fallback_in, f"{op}: no input stream shape"
    assert streams.out_stream.dispatch(layer_type) is not fallback_out, f"{op}: no output stream shape"
    assert (op in _KNOBS) != (op in NOT_FOLDED), f"{op}: needs folding knobs (register_knobs) or a reason in NOT_FOLDED"
    # ElementwiseBinary is one record for FINN's ElementwiseAdd, ElementwiseMul, ... readers.
    assert any(r == op or r.startswith(op.removesuffix("Binary")) for r in _readers()), f"{op}: no reader from FINN"
    assert f'"{op}' in _fidelity_sources() or f"{layer_type.__name__}(" in _fidelity_sources(), \
        f"{op}: no fidelity test against FINN (a test file marked finn naming it)"


def test_the_contract_sees_a_type_missing_its_pieces() -> None:
    """A record type with a cost model but nothing else fails every check above."""
    class Lonely:
        op_type = "Lonely"

    assert streams.in_stream.dispatch(Lonely) is streams.in_stream.dispatch(object)
    assert "Lonely" not in _KNOBS and "Lonely" not in NOT_FOLDED
    assert not any(r == "Lonely" or r.startswith("Lonely") for r in _readers())
