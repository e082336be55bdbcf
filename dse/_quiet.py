"""Keep third-party console noise (FINN prints, torch C++ logs, ONNX warnings) in a log file."""
from __future__ import annotations

import contextlib
import errno
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
    console = sys.stderr
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
        sink.flush()  # here, so that a full disk is this block's error (naming the log), not lost
    except OSError as err:
        # A buffered print into the log failing on a full disk names no file: it is the log's.
        if err.errno in (errno.ENOSPC, errno.EDQUOT) and err.filename is None and log_path:
            raise OSError(err.errno, err.strerror, str(log_path)) from err
        raise
    finally:
        # The console first: an error raised here or in the block must reach the user, and nothing
        # after this point may replace it (closing a log on a full disk fails again).
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for log, prop in zip(finn_logs, propagate):
            log.removeHandler(handler)
            log.propagate = prop
        _rebind_handlers(sink, console)
        with contextlib.suppress(OSError):
            sink.close()


def _rebind_handlers(sink: object, console: object) -> None:
    """Point logging handlers created inside the block at the console stream again.

    Libraries imported inside `captured` (torch, brevitas) make `StreamHandler()`s bound to the
    `sys.stderr` of that moment, i.e. this block's log file; once it is closed, their next record
    prints a "Logging error ... I/O operation on closed file" traceback into the next trial's log.
    Bound to the console stream instead, a later `captured` block still collects their output,
    since it redirects file descriptor 2."""
    loggers = [logging.getLogger(), *(log for log in logging.Logger.manager.loggerDict.values()
                                      if isinstance(log, logging.Logger))]
    for log in loggers:
        for h in log.handlers:
            if type(h) is logging.StreamHandler and h.stream is sink:
                h.setStream(console)  # type: ignore[arg-type]
