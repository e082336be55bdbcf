"""Build and measurement jobs for promoted Pareto candidates, their records, and ingestion.

    from dse import jobs

    promotion = jobs.promote("runs/tfc_mnist", top=3, backend="slurm",
                             profile="studies/clusters/noctua2.yaml")     # bundles + one build job each
    jobs.wait_jobs("runs/tfc_mnist")                   # follow them; results go to the trials
    jobs.measure("runs/tfc_mnist", trial=12, backend="slurm", profile=...)   # board measurement
    jobs.list_jobs("runs/tfc_mnist"); jobs.cancel_job("runs/tfc_mnist", 4)
    print(jobs.calibration_report("runs/tfc_mnist").to_text())

Modules: ``store`` (job table), ``backends`` (local, slurm), ``runner`` (what a job runs),
``tools`` (Vivado/Vitis/XRT/U280 checks), ``reports`` (parsers of FINN's and XRT's files),
``ingest`` (results -> trial attributes), ``calibration`` (dataset and report), ``board``
(board measurement), ``controller`` and ``promotion`` (the functions above). Names load on first use.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dse.jobs.calibration import calibration_report, load_calibration
    from dse.jobs.controller import cancel_job, ingest_build_dir, list_jobs, refresh_jobs, wait_jobs
    from dse.jobs.promotion import measure, promote

__all__ = ["calibration_report", "cancel_job", "ingest_build_dir", "list_jobs", "load_calibration", "measure", "promote",
           "refresh_jobs", "wait_jobs"]

_LAZY = {"promote": "dse.jobs.promotion", "measure": "dse.jobs.promotion", "list_jobs": "dse.jobs.controller",
         "refresh_jobs": "dse.jobs.controller", "cancel_job": "dse.jobs.controller", "wait_jobs": "dse.jobs.controller",
         "ingest_build_dir": "dse.jobs.controller", "calibration_report": "dse.jobs.calibration",
         "load_calibration": "dse.jobs.calibration"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dse.jobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
