"""The work-directory layout of a study. Every path a study writes is named here."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write into; on success it is renamed over ``path``
    (mode 0644), on any failure removed. So a killed process or a full disk never leaves half a
    file under ``path``, and an OSError names ``path``, not the temporary name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise naming(err, path) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)  # also gives a full disk its space back
        if isinstance(err, OSError):
            raise naming(err, path) from None
        raise


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` through :func:`replacing`."""
    with replacing(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
    return path


def naming(err: OSError, path: Path) -> OSError:
    """``err`` naming ``path`` (a temporary file's name means nothing to a user; a write's ENOSPC
    names no file at all). OSError(errno, ...) is rebuilt as its subclass (PermissionError, ...)."""
    return err if err.errno is None else OSError(err.errno, err.strerror, str(path))


def save_torch(path: Path, obj: Any) -> Path:
    """``torch.save`` through :func:`write_atomic`: serialized in memory (models here are MBs), so a
    full disk is an OSError naming ``path`` rather than torch's "file write failed" RuntimeError."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_atomic(path, buf.getvalue())


def write_json(path: Path, data: Any) -> Path:
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True, slots=True)
class StudyLayout:
    """runs/<study>/ by default: the database, the study file used, one folder per trial."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "study.db"

    @property
    def default_storage(self) -> str:
        return f"sqlite:///{self.database.resolve()}"

    @property
    def meta(self) -> Path:
        return self.root / "study.json"  # study name + storage URL, so later commands find the study

    def storage_to_meta(self, url: str) -> str:
        """The storage URL as study.json keeps it: without a password; a SQLite file inside the
        work directory relative to it (``sqlite:///study.db``), any other one absolute."""
        from sqlalchemy.engine import make_url

        from dse.storage.urls import without_password

        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return without_password(url)
        path = Path(parsed.database).resolve()
        try:
            return parsed.set(database=str(path.relative_to(self.root.resolve()))).render_as_string()
        except ValueError:
            return parsed.set(database=str(path)).render_as_string()

    def storage_from_meta(self, stored: str) -> str:
        """The URL to open for what study.json keeps (also the absolute paths of older versions)."""
        from sqlalchemy.engine import make_url

        try:
            parsed = make_url(stored)
        except Exception:  # noqa: BLE001 - let the storage say what is wrong with it
            return stored
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return stored
        path = Path(parsed.database)
        if not path.is_absolute():
            return parsed.set(database=str((self.root / path).resolve())).render_as_string()
        own = self.database.resolve()
        # Older study.json files name the work directory's own study.db absolutely: a copied or
        # moved work directory has its own file, which is the study's.
        if path.name == own.name and path != own and own.exists():
            return self.default_storage
        return stored

    @property
    def spec_copy(self) -> Path:
        return self.root / "study.yaml"

    @property
    def lock(self) -> Path:
        return self.root / ".run.lock"

    @property
    def pareto_html(self) -> Path:
        return self.root / "pareto.html"

    @property
    def parents(self) -> Path:
        """Trained parent networks, shared by the pruned trials (and workers) of the study."""
        return self.root / "parents"

    def trial_dir(self, number: int) -> Path:
        return self.root / "trials" / f"{number:05d}"


@dataclass(frozen=True, slots=True)
class TrialFiles:
    """What one trial leaves behind; `finn-dse export` reads these and never retrains."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model.onnx"  # QONNX with trained weights, UINT8 input, TopK

    @property
    def weights(self) -> Path:
        return self.root / "weights.pt"  # PyTorch state dict (for comparisons with the QONNX model)

    @property
    def folding(self) -> Path:
        return self.root / "folding_config.json"

    @property
    def estimate(self) -> Path:
        return self.root / "estimate.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def finn_reports(self) -> Path:
        return self.root / "finn_reports"

    @property
    def log(self) -> Path:
        return self.root / "build.log"

    @property
    def pruning(self) -> Path:
        """The pruning plan and kept channel indices (dse.pruning.PrunedModel.to_json)."""
        return self.root / "pruning.json"

    @property
    def design(self) -> Path:
        """The sampled design point, widths after pruning, bits per layer, folding."""
        return self.root / "design.json"
