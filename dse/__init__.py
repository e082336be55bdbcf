"""FINN-DSE: multi-objective design-space exploration for FINN dataflow accelerators.

From Python (see :mod:`dse.api`; every `finn-dse` command has its function there)::

    import dse

    study = dse.create_study("studies/smoke.yaml", workdir="runs/smoke")
    study.run(n_trials=4, timeout_s=600)
    study.pareto()                      # pandas DataFrame
    study.pareto_figure()               # plotly figure
    study.export(0, "bundle/")          # model.onnx + folding_config.json + build.yaml

Importing this package is cheap: names load on first use, and torch, Brevitas, FINN, optuna and
plotly only when something needs them.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dse.api import Study, create_study, estimate_model, fetch_data, load_study
    from dse.errors import DSEError
    from dse.spec import StudySpec, load_spec
    from dse.study import run_study

__all__ = ["DSEError", "Study", "StudySpec", "create_study", "estimate_model", "fetch_data", "load_study"]

# name -> module that defines it; imported on first access (PEP 562).
_LAZY = {
    "Study": "dse.api", "create_study": "dse.api", "load_study": "dse.api", "estimate_model": "dse.api",
    "fetch_data": "dse.api", "DSEError": "dse.errors", "StudySpec": "dse.spec",
    # Lower-level building blocks, kept for existing callers.
    "load_spec": "dse.spec", "run_study": "dse.study",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dse' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
