"""The build.log of a trained trial holds FINN's and torch's output, not logging tracebacks."""
from __future__ import annotations

from pathlib import Path


def test_no_logging_error_in_trained_trial_logs(smoke_workdir: Path) -> None:
    logs = sorted((smoke_workdir / "trials").glob("*/build.log"))
    trained = [p for p in logs if (p.parent / "weights.pt").exists()]
    assert len(trained) >= 2, logs  # a second trial is where a handler bound to the first log failed
    for log in logs:
        text = log.read_text()
        assert "Logging error" not in text, f"{log}:\n{text[:2000]}"
        assert "I/O operation on closed file" not in text, log
