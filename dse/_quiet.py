"""Keep third-party console noise (FINN prints, torch C++ logs, ONNX warnings) in a log file."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def captured(log_path: Path | None) -> Iterator[None]:
    """Send FINN's, torch's and ONNX's output (Python prints, warnings, C++ logs written to the
    file descriptors 1 and 2) to a log file, or drop it, instead of the user's console."""
    target = str(log_path) if log_path else os.devnull
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    sink = open(target, "a", encoding="utf-8")  # noqa: SIM115
    handler = logging.StreamHandler(sink)
    finn_logs = [logging.getLogger(name) for name in ("finn", "finn_logger")]  # FINN uses both names
    propagate = [log.propagate for log in finn_logs]
    for log in finn_logs:
        log.addHandler(handler)
        log.propagate = False
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("always")
            yield
        for w in caught:
            sink.write(f"warning: {w.category.__name__}: {w.message}\n")
    finally:
        sink.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for log, prop in zip(finn_logs, propagate):
            log.removeHandler(handler)
            log.propagate = prop
        sink.close()
