"""Errors FINN-DSE raises. The CLI prints a DSEError as one line (traceback only with --debug)."""
from __future__ import annotations

from pathlib import Path


class DSEError(Exception):
    """Base class: something the user or the environment must fix."""


class ConfigError(DSEError):
    """A study file, option or input the user can fix."""


class DataError(DSEError):
    """A dataset is missing or corrupt."""


class InfeasibleCandidate(DSEError):
    """A design breaks a hard constraint; the trial ends without training."""


class BackendError(DSEError):
    """An external tool failed; points at its log."""

    def __init__(self, msg: str, log_path: Path | None = None) -> None:
        super().__init__(msg if log_path is None else f"{msg} (log: {log_path})")
        self.log_path = log_path
