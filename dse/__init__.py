"""FINN-DSE: multi-objective design-space exploration for FINN dataflow accelerators.

Importing this package is cheap: torch, Brevitas and FINN load only when a trial runs.
"""
from __future__ import annotations

from dse.errors import DSEError
from dse.results import load_study
from dse.spec import StudySpec, load_spec
from dse.study import run_study

__all__ = ["DSEError", "StudySpec", "load_spec", "load_study", "run_study"]
