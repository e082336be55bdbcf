"""FINN's estimate flow on a QONNX model: convert, fold, estimate (finn-plus 1.6.1's
`estimate_only_dataflow_steps`, step by step in dse.finn.hw_graph, folding and estimate_reports)."""
from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dse._quiet import captured
from dse.artifacts import write_atomic
from dse.errors import DISK_FULL, BackendError, ConfigError
from dse.finn.estimate_reports import FinnResult, analyse
from dse.finn.folding import fold
from dse.finn.hw_graph import to_hw_graph
from estimators.devices import get_board

logger = logging.getLogger(__name__)


def estimate(qonnx_path: Path, *, board: str = "U280", clock_ns: float = 5.0,
             target_fps: float | None = None, folding: Mapping[str, Any] | None = None,
             mvau_wwidth_max: int = 36, log_path: Path | None = None,
             reports_dir: Path | None = None) -> FinnResult:
    """Run FINN's estimate flow on a QONNX model: convert, fold, estimate.

    With ``reports_dir`` the folding config and FINN's report files are written there under
    the names FINN's builder uses (auto_folding_config.json, estimate_*.json).
    """
    part = get_board(board).part
    start = time.perf_counter()
    try:
        with captured(log_path), tempfile.TemporaryDirectory(prefix="finn-dse-") as tmp:
            hw = to_hw_graph(qonnx_path, part=part, work_dir=Path(tmp))
            folded, config = fold(hw, clock_ns=clock_ns, target_fps=target_fps, folding=folding,
                                  mvau_wwidth_max=mvau_wwidth_max)
            hw_estimate, reports = analyse(folded, board_name=board, clock_ns=clock_ns)
    except (ConfigError, BackendError):
        raise
    except OSError as exc:
        if exc.errno in DISK_FULL:  # not FINN's failure: the run stops and the trial is retried
            raise
        raise BackendError(f"FINN estimate flow failed on {qonnx_path.name}: {exc}", log_path) from exc
    except Exception as exc:  # FINN raises plain exceptions; keep the study alive and point at the log
        raise BackendError(f"FINN estimate flow failed on {qonnx_path.name}: {exc}", log_path) from exc
    logger.debug("FINN estimate of %s took %.2f s", qonnx_path, time.perf_counter() - start)
    if reports_dir is not None:
        reports_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(reports_dir / "auto_folding_config.json", json.dumps(config, indent=2))
        for name, data in reports.items():
            write_atomic(reports_dir / name, json.dumps(data, indent=2))
    return FinnResult(hw_estimate, config, reports)
