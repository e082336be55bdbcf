"""Errors FINN-DSE raises. The CLI prints a DSEError as one line (traceback only with --debug)."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


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


class StudyStopped(DSEError):
    """Every trial of a study failed the same way: the run stopped with that reason (exit 1)."""


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


def disk_full_cause(err: BaseException | None) -> OSError | None:
    """The full-disk OSError behind ``err`` (itself, its cause or context), if there is one: such a
    trial must end the run (every later trial would hit it too) and be retried, not count as failed."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def describe_os_error(err: OSError) -> str:
    """An OSError as the one line the CLI prints: what failed and the path (a full or read-only
    disk also names its file system, so the user knows which disk to free or remount)."""
    path = err.filename2 if err.filename2 is not None else err.filename
    if err.errno in DISK_FULL:
        return f"no space left on device{f' writing {path}' if path else ''}{_file_system(path)}"
    if err.errno == errno.EROFS:
        return f"read-only file system{f': cannot write {path}' if path else ''}{_file_system(path)}"
    return f"{err.strerror or err}{f': {path}' if path is not None else ''}"


def _file_system(path: object) -> str:
    """' (file system MOUNT: N MiB free of M MiB)' for the disk holding ``path``, or '' if unknown."""
    if not isinstance(path, (str, Path)):
        return ""
    where = Path(os.path.abspath(path))
    while not where.exists() and where != where.parent:
        where = where.parent
    mount = where
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        usage = shutil.disk_usage(where)
    except OSError:
        return f" (file system {mount})"
    return f" (file system {mount}: {_size(usage.free)} free of {_size(usage.total)})"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} TiB"
