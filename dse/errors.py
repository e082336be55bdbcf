"""Errors FINN-DSE raises. The CLI prints a DSEError as one line (traceback only with --debug)."""
from __future__ import annotations

from pathlib import Path


class DSEError(Exception):
    """Base class: something the user or the environment must fix."""


class ConfigError(DSEError):
    """A study file, option or input the user can fix."""


class EnvironmentFailure(DSEError):
    """The machine is in the way, not the input: a missing tool or driver, a work directory held by
    another process (the CLI exits 1 for these and 2 for a ConfigError)."""


class DataError(DSEError):
    """A dataset is missing or corrupt."""


class InfeasibleCandidate(DSEError):
    """A design breaks a hard constraint; the trial ends without training."""


class BackendError(DSEError):
    """An external tool failed; points at its log."""

    def __init__(self, msg: str, log_path: Path | None = None) -> None:
        super().__init__(msg if log_path is None else f"{msg} (log: {log_path})")
        self.log_path = log_path


def shorten(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters: error messages echo user input, and a
    huge value (a YAML alias bomb, a pasted blob) must not become a huge line."""
    # Containers are cut before repr so an enormous (or alias-shared) structure is never rendered whole.
    if isinstance(value, (list, tuple)) and len(value) > limit:
        value = type(value)(value[:limit]) if isinstance(value, list) else tuple(value[:limit])
    if isinstance(value, dict) and len(value) > limit:
        value = dict(list(value.items())[:limit])
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"<integer of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 20]}...({len(text)} chars)"


def cut(text: str, limit: int = 2000) -> str:
    """A message cut to ``limit`` characters (the CLI's last guard against huge echoed input)."""
    return text if len(text) <= limit else f"{text[: limit - 30]}... ({len(text) - limit + 30} more chars)"
