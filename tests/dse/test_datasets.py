"""Fashion-MNIST (Debian package), CIFAR-10 (fake python-pickle batches), as_rgb32 and load_dataset."""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from dse import data
from dse.data import (
    CIFAR10_TRAIN_FILES,
    FASHION_MNIST_SYSTEM_DIR,
    MNIST,
    MNIST_FILES,
    Dataset,
    Split,
    as_rgb32,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
)
from dse.errors import ConfigError, DataError



def make_mnist(root: Path, n_train: int = 100, n_test: int = 20, gz: bool = False) -> Path:
    """Tiny IDX set in <root>/mnist: image i is filled with i % 256 and labelled i % 10."""
    d = root / "mnist"
    d.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        ids = (np.arange(n) % 256).astype(np.uint8)
        images = np.ascontiguousarray(np.broadcast_to(ids[:, None, None], (n, 28, 28)))
        for kind, arr in (("images-idx3", images), ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
            header = {1: 0x801, 3: 0x803}[arr.ndim].to_bytes(4, "big")
            header += b"".join(x.to_bytes(4, "big") for x in arr.shape)
            raw = header + arr.tobytes()
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (d / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (d / name).write_bytes(raw)
    return d

# --- Fashion-MNIST ---------------------------------------------------------------------------------

_SYSTEM_FILES_PRESENT = all((FASHION_MNIST_SYSTEM_DIR / f"{n}.gz").is_file() for n in MNIST_FILES)
needs_fashion = pytest.mark.skipif(
    not _SYSTEM_FILES_PRESENT,
    reason=f"Fashion-MNIST IDX files absent from {FASHION_MNIST_SYSTEM_DIR}: "
    "run scripts/install-datasets.sh (apt-get install dataset-fashion-mnist)",
)


@needs_fashion
def test_fashion_mnist_real(tmp_path: Path) -> None:
    ds = load_fashion_mnist()
    assert (len(ds.train), len(ds.val), len(ds.test)) == (55000, 5000, 10000)
    for split in (ds.train, ds.val, ds.test):
        assert split.images.shape[1:] == (28, 28) and split.images.dtype == np.uint8
        assert split.labels.dtype == np.int64
        assert split.labels.min() == 0 and split.labels.max() == 9
    assert sorted(np.unique(ds.test.labels).tolist()) == list(range(10))
    # Deterministic: same seed -> same split (also through an empty root), other seed -> another split.
    again = load_fashion_mnist(tmp_path, val_size=5000, seed=0)
    assert np.array_equal(ds.val.images, again.val.images)
    assert np.array_equal(ds.train.labels, again.train.labels)
    other = load_fashion_mnist(seed=1)
    assert not np.array_equal(ds.val.labels, other.val.labels)
    assert isinstance(ds, Dataset) and isinstance(ds, MNIST)


@needs_fashion
def test_fashion_mnist_bad_val_size() -> None:
    with pytest.raises(ConfigError):
        load_fashion_mnist(val_size=60000)
    with pytest.raises(ConfigError):
        load_fashion_mnist(val_size=0)


def test_fashion_mnist_root_copy_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    src = make_mnist(tmp_path / "build", n_train=30, n_test=7, gz=True)
    (tmp_path / "root").mkdir()
    src.rename(tmp_path / "root" / "fashion-mnist")
    ds = load_fashion_mnist(tmp_path / "root", val_size=5, seed=0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (25, 5, 7)
    assert np.array_equal(ds.test.images[:, 0, 0], np.arange(7))


def test_fashion_mnist_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "usr-share"
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIR", system)
    with pytest.raises(DataError) as e:
        load_fashion_mnist(tmp_path / "root")
    msg = str(e.value)
    assert "\n" not in msg
    assert str(system) in msg and str(tmp_path / "root" / "fashion-mnist") in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()
    assert not (tmp_path / "root").exists()  # never creates or downloads anything


# --- CIFAR-10 --------------------------------------------------------------------------------------


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes str/bytes as Python 2 str opcodes, like the official batches (read back as bytes)."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(raw)
        self.write((b"U" + bytes([n]) if n < 256 else b"T" + struct.pack("<i", n)) + raw)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    # numpy 1.x (what pickled CIFAR-10) lives at numpy.core; GLOBAL is newline-terminated, so this is safe.
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_images(start: int, n: int) -> np.ndarray:
    """Image k (global index) is plane c filled with (k + c) % 256, so rows and channels can be traced."""
    k = np.arange(start, start + n)[:, None, None]
    return ((k + np.arange(3)[None, :, None]) % 256).astype(np.uint8).repeat(1024, axis=2).reshape(n, 3072)


def make_cifar(
    root: Path, per_batch: int = 4, n_test: int = 3, nested: bool = False, py3: bool = False
) -> Path:
    d = (root / "cifar10" if nested else root) / "cifar-10-batches-py"
    d.mkdir(parents=True)
    dump = (lambda o: pickle.dumps(o, protocol=5)) if py3 else py2_pickle
    names = [*CIFAR10_TRAIN_FILES, "test_batch"]
    for b, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        start = 100 if name == "test_batch" else b * per_batch
        batch = {
            b"batch_label": f"batch {b}".encode(),
            b"labels": [int(i % 10) for i in range(start, start + n)],
            b"data": cifar_images(start, n),
            b"filenames": [f"img_{i}.png".encode() for i in range(start, start + n)],
        }
        (d / name).write_bytes(dump(batch))
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [b"airplane", b"automobile", b"bird", b"cat",
            b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"], b"num_vis": 3072}
    (d / "batches.meta").write_bytes(dump(meta))
    return d


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("py3", [False, True])
def test_cifar10_round_trip(tmp_path: Path, nested: bool, py3: bool) -> None:
    make_cifar(tmp_path, nested=nested, py3=py3)
    ds = load_cifar10(tmp_path, val_size=5, seed=3)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (15, 5, 3)
    for split in (ds.train, ds.val, ds.test):
        assert split.images.shape[1:] == (3, 32, 32) and split.images.dtype == np.uint8
        assert split.labels.dtype == np.int64
        # Channel-major layout: plane c of image k is all (k + c) % 256.
        k = split.images[:, 0, 0, 0].astype(np.int64)
        assert np.array_equal(split.images[:, 2, 31, 31], (k + 2) % 256)
        assert (split.images == split.images[:, :, :1, :1]).all()
        assert np.array_equal(split.labels, k % 10)
    ids = np.concatenate([ds.train.images[:, 0, 0, 0], ds.val.images[:, 0, 0, 0]])
    assert sorted(ids.tolist()) == list(range(20))  # train + val cover all five batches, disjointly
    assert np.array_equal(ds.test.images[:, 0, 0, 0], np.arange(100, 103))
    again = load_cifar10(tmp_path, val_size=5, seed=3)
    assert np.array_equal(again.val.images, ds.val.images)
    other = load_cifar10(tmp_path, val_size=5, seed=4)
    assert not np.array_equal(other.val.images, ds.val.images)


@pytest.mark.parametrize("val_size", [0, 20, 2.5, True])
def test_cifar10_bad_val_size(tmp_path: Path, val_size) -> None:
    make_cifar(tmp_path)
    with pytest.raises(ConfigError):
        load_cifar10(tmp_path, val_size=val_size)


def test_cifar10_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_cifar10(tmp_path / "root")
    msg = str(e.value)
    assert "\n" not in msg
    assert "cifar-10-python.tar.gz" in msg
    assert str(tmp_path / "root" / "cifar-10-batches-py" / "data_batch_1") in msg
    assert str(tmp_path / "root" / "cifar10" / "cifar-10-batches-py") in msg
    assert not (tmp_path / "root").exists()  # never downloads or creates anything


def test_cifar10_incomplete_dir(tmp_path: Path) -> None:
    d = make_cifar(tmp_path)
    (d / "data_batch_4").unlink()
    (d / "test_batch").unlink()
    with pytest.raises(DataError, match="missing data_batch_4, test_batch") as e:
        load_cifar10(tmp_path)
    assert "\n" not in str(e.value)


def _batch(n: int = 2, **over: object) -> dict:
    b: dict = {b"data": np.zeros((n, 3072), np.uint8), b"labels": [0] * n}
    b.update({k.encode(): v for k, v in over.items()})
    return b


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # empty file
        b"\x80\x02}q\x00(U\x04data",  # truncated pickle
        b"not a pickle at all",
        pickle.dumps([1, 2, 3], protocol=2),  # not a dict
        py2_pickle({b"labels": [0]}),  # no b"data"
        py2_pickle({b"data": np.zeros((1, 3072), np.uint8)}),  # no b"labels"
        py2_pickle(_batch(data=np.zeros((2, 3072), np.float32))),  # wrong dtype
        py2_pickle(_batch(data=np.zeros((2, 3071), np.uint8))),  # wrong row size
        py2_pickle(_batch(data=np.zeros((2, 3, 32, 32), np.uint8))),  # wrong rank
        py2_pickle(_batch(data=b"\0" * 6144)),  # not an array
        py2_pickle(_batch(labels=[0])),  # label count mismatch
        py2_pickle(_batch(labels=[0, 10])),  # label out of range
        py2_pickle(_batch(labels=[b"a", b"b"])),  # non-integer labels
        pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0]}, protocol=2),  # str keys
    ],
)
def test_cifar10_corrupt_batch(tmp_path: Path, raw: bytes) -> None:
    d = make_cifar(tmp_path)
    (d / "data_batch_3").write_bytes(raw)
    with pytest.raises(DataError, match="data_batch_3") as e:
        load_cifar10(tmp_path)
    assert "\n" not in str(e.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_cifar10_refuses_arbitrary_callables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_cifar(tmp_path)
    (d / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}, protocol=2))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"test_batch.*refusing to load (posix|os)\.system"):
        load_cifar10(tmp_path, val_size=5)
    assert not (tmp_path / "pwned").exists()


def test_cifar10_replaced_file_is_reread(tmp_path: Path) -> None:
    d = make_cifar(tmp_path)
    first = load_cifar10(tmp_path, val_size=5)
    assert not first.test.images.flags.writeable  # shared through the cache
    (d / "test_batch").write_bytes(py2_pickle(_batch(n=6, labels=[9] * 6)))
    assert len(load_cifar10(tmp_path, val_size=5).test) == 6


# --- as_rgb32 / load_dataset -----------------------------------------------------------------------


def test_as_rgb32() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(4, 28, 28), dtype=np.uint8)  # no zeros, so padding is visible
    labels = np.arange(4, dtype=np.int64)
    out = as_rgb32(Split(images, labels))
    assert out.images.shape == (4, 3, 32, 32) and out.images.dtype == np.uint8
    assert out.labels is labels
    for c in range(3):
        assert np.array_equal(out.images[:, c, 2:30, 2:30], images)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (out.images[:, :, border] == 0).all() and border.sum() == 32 * 32 - 28 * 28
    assert as_rgb32(out) is out  # already 3 x 32 x 32: unchanged
    assert len(as_rgb32(Split(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)))) == 0


def test_as_rgb32_bad_shape() -> None:
    with pytest.raises(DataError, match="28 x 28"):
        as_rgb32(Split(np.zeros((2, 32, 32), np.uint8), np.zeros(2, np.int64)))


def test_load_dataset_mnist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="MNIST not found"):
        load_dataset("mnist", tmp_path, val_size=10, seed=0)
    assert not (tmp_path / "mnist").exists()  # no implicit fetch
    make_mnist(tmp_path)
    ds = load_dataset("mnist", tmp_path, val_size=10, seed=3)
    ref = data.load_mnist(tmp_path, val_size=10, seed=3)
    assert np.array_equal(ds.val.images, ref.val.images) and ds.train.images.shape == (90, 28, 28)
    rgb = load_dataset("mnist", tmp_path, val_size=10, seed=3, rgb32=True)
    assert rgb.train.images.shape == (90, 3, 32, 32) and rgb.test.images.shape == (20, 3, 32, 32)
    assert np.array_equal(rgb.val.images[:, 1, 2:30, 2:30], ref.val.images)
    assert np.array_equal(rgb.val.labels, ref.val.labels)


def test_load_dataset_fashion_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion_mnist", tmp_path, val_size=5, seed=0)
    src = make_mnist(tmp_path / "build", n_train=30, n_test=7)
    src.rename(tmp_path / "fashion-mnist")
    ds = load_dataset("fashion_mnist", tmp_path, val_size=5, seed=0, rgb32=True)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (25, 5, 7)
    assert ds.train.images.shape == (25, 3, 32, 32)


def test_load_dataset_cifar10(tmp_path: Path) -> None:
    make_cifar(tmp_path)
    ds = load_dataset("cifar10", tmp_path, val_size=5, seed=1)
    ref = load_cifar10(tmp_path, val_size=5, seed=1)
    assert np.array_equal(ds.val.images, ref.val.images)
    rgb = load_dataset("cifar10", tmp_path, val_size=5, seed=1, rgb32=True)
    assert rgb.train.images.shape == (15, 3, 32, 32) and np.array_equal(rgb.train.images, ref.train.images)


@pytest.mark.parametrize("name", ["cifar100", "MNIST", "fashion-mnist", ""])
def test_load_dataset_bad_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="mnist, fashion_mnist, cifar10") as e:
        load_dataset(name, tmp_path, val_size=5, seed=0)  # type: ignore[arg-type]
    assert repr(name) in str(e.value)
