"""Datasets the user brings (``dataset: {kind: npz | function | image_folder, ...}`` in a study
file, declared in dse/spec.py): loaded into the same train/val/test Splits as the built-in ones.

Everything is checked on load, against what the study file declares (the classes, the input's FINN
datatype): a breach is one ConfigError line naming the file or function, the key and what was
expected, so the CLI ends with exit 2 before a study is created. ``shape_split`` shapes any
dataset's samples to a user model's input.
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dse.data import Dataset, Split, _split_off_val, as_rgb32
from dse.errors import ConfigError, shorten
from dse.spec import FunctionDataset, ImageFolderDataset, NpzDataset, datatype_range

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_KEYS = ("x_val", "y_val")
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm", ".tif", ".tiff", ".webp")


def _storage(datatype: str) -> type[np.generic]:
    # Kept integer and small, as the built-in uint8 images are; training casts each batch to float.
    rng = datatype_range(datatype)
    if rng is None:
        return np.float32
    lo, hi = rng
    if lo < 0:
        return np.int8 if hi < 2**7 else np.int16
    return np.uint8 if hi < 2**8 else np.int32


def check_inputs(where: str, key: str, x: Any, datatype: str) -> np.ndarray:
    """``x`` as stored for training, after checking it is N samples of the declared datatype."""
    try:
        x = np.asarray(x)
    except Exception as err:  # ragged lists, objects numpy cannot stack
        raise ConfigError(f"{where}: {key}: not an array of equally shaped samples ({type(err).__name__}: {err})") from None
    if x.dtype.kind not in "biuf":
        raise ConfigError(f"{where}: {key}: expected a numeric array, got dtype {x.dtype}")
    if x.ndim < 2 or len(x) == 0:
        raise ConfigError(f"{where}: {key}: expected samples as N x features or N x C x H x W (N >= 1), "
                          f"got shape {x.shape}")
    rng = datatype_range(datatype)
    if rng is None:
        if not np.isfinite(x).all():
            raise ConfigError(f"{where}: {key}: FLOAT32 inputs must be finite, found NaN or infinity")
        return x.astype(np.float32)
    lo, hi = rng
    allowed = "-1 and +1" if datatype == "BIPOLAR" else f"integers {lo}..{hi}"
    if x.dtype.kind == "f":
        raise ConfigError(f"{where}: {key}: dtype {x.dtype}, but input_datatype {datatype} needs an integer array "
                          f"({allowed}); declare FLOAT32 for float features the model quantizes itself")
    if datatype == "BIPOLAR":
        bad = x[(x != 1) & (x != -1)]
        if bad.size:
            raise ConfigError(f"{where}: {key}: value {bad.flat[0]} is not BIPOLAR (expected -1 and +1 only)")
    elif x.size and (int(x.min()) < lo or int(x.max()) > hi):
        raise ConfigError(f"{where}: {key}: values {int(x.min())}..{int(x.max())} do not fit {datatype} "
                          f"(expected {allowed})")
    return x.astype(_storage(datatype))


def check_labels(where: str, key: str, y: Any, n: int, num_classes: int) -> np.ndarray:
    """``y`` as int64 class indices, after checking there is one in 0..num_classes-1 per sample."""
    try:
        y = np.asarray(y)
    except Exception as err:
        raise ConfigError(f"{where}: {key}: not an array of class labels ({type(err).__name__}: {err})") from None
    if y.ndim != 1 or y.dtype.kind not in "biu":
        raise ConfigError(f"{where}: {key}: expected {n} integer class labels (shape ({n},)), "
                          f"got dtype {y.dtype} shape {y.shape}")
    if len(y) != n:
        raise ConfigError(f"{where}: {key}: {len(y)} labels for {n} samples (expected one label per sample)")
    out_of_range = y[(y < 0) | (y >= num_classes)]
    if out_of_range.size:
        raise ConfigError(f"{where}: {key}: label {int(out_of_range.flat[0])} is out of range "
                          f"(num_classes {num_classes}: expected 0..{num_classes - 1})")
    return y.astype(np.int64)


def assemble(where: str, arrays: Mapping[str, Any], *, num_classes: int, datatype: str,
             val_size: int, seed: int) -> Dataset:
    """The checked Dataset from the .npz's keys; without x_val/y_val, ``val_size`` samples of the
    training split become the validation split (seeded, as for the built-in datasets)."""
    names = sorted(map(str, arrays))
    unknown = [k for k in names if k not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(REQUIRED_KEYS)}, "
                          f"optionally {', '.join(OPTIONAL_KEYS)})")
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise ConfigError(f"{where}: no key {missing[0]!r} (expected {', '.join(REQUIRED_KEYS)}, optionally "
                          f"{', '.join(OPTIONAL_KEYS)}; found {', '.join(names) or 'none'})")
    if ("x_val" in arrays) != ("y_val" in arrays):
        given, absent = ("x_val", "y_val") if "x_val" in arrays else ("y_val", "x_val")
        raise ConfigError(f"{where}: {given} without {absent} (give both, or neither to carve the validation "
                          "split out of the training split)")
    splits: dict[str, Split] = {}
    for split in SPLITS:
        if f"x_{split}" not in arrays:
            continue
        x = check_inputs(where, f"x_{split}", arrays[f"x_{split}"], datatype)
        y = check_labels(where, f"y_{split}", arrays[f"y_{split}"], len(x), num_classes)
        if splits and x.shape[1:] != splits["train"].images.shape[1:]:
            raise ConfigError(f"{where}: x_{split}: samples of shape {x.shape[1:]}, but x_train's are "
                              f"{splits['train'].images.shape[1:]} (expected the same shape in every split)")
        splits[split] = Split(images=x, labels=y)
    train = splits["train"]
    if "val" not in splits:
        if val_size >= len(train):
            raise ConfigError(f"{where}: x_train: {len(train)} samples, too few to carve training.val_size "
                              f"{val_size} validation samples out of them (give x_val and y_val, or lower val_size)")
        train, splits["val"] = _split_off_val(train, val_size, seed)
    return Dataset(train=train, val=splits["val"], test=splits["test"])


def load_npz(decl: NpzDataset, *, val_size: int, seed: int) -> Dataset:
    path = Path(decl.path).expanduser()
    where = f"dataset {path}"
    if not path.is_file():
        raise ConfigError(f"{where}: {'is a directory' if path.is_dir() else 'file not found'} "
                          "(expected an .npz file written by numpy.savez)")
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
    except OSError as err:
        raise ConfigError(f"{where}: cannot read it: {err.strerror or err}") from None
    if head.startswith(b"\x93NUMPY"):
        raise ConfigError(f"{where}: a single .npy array, not an .npz archive (save the splits with "
                          "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...))")
    if not head.startswith(b"PK"):
        raise ConfigError(f"{where}: not an .npz archive (expected the zip file numpy.savez writes; "
                          f"it starts with {shorten(head)})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ConfigError(f"{where}: not an .npz archive of plain arrays (numpy.savez): {err}") from None
    return assemble(where, arrays, num_classes=decl.num_classes, datatype=decl.input_datatype,
                    val_size=val_size, seed=seed)


def _as_arrays(where: str, split: str, value: Any) -> tuple[Any, Any]:
    """(x, y) from an (x, y) pair or a torch-style Dataset of (x, y) items."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        xs, ys = [], []
        for i in range(len(value)):
            item = value[i]
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ConfigError(f"{where}: {split}[{i}]: expected an (x, y) item, got {type(item).__name__}")
            xs.append(np.asarray(item[0]))
            ys.append(int(item[1]))
        try:
            return np.stack(xs), np.asarray(ys)
        except ValueError as err:
            raise ConfigError(f"{where}: {split}: items of different shapes ({err})") from None
    raise ConfigError(f"{where}: {split}: expected an (x, y) pair of arrays or a torch Dataset of (x, y) items, "
                      f"got {type(value).__name__}")


def load_function(decl: FunctionDataset, *, val_size: int, seed: int) -> Dataset:
    from dse.models.user import resolve_user_model

    ref = decl.function
    where = f"dataset function {ref!r}"
    fn = resolve_user_model(ref, role="dataset function")
    try:
        out = fn()
    except SystemExit as err:
        raise ConfigError(f"{where}: called sys.exit({err.code!r})") from None
    except Exception as err:
        raise ConfigError(f"{where}: calling it raised {type(err).__name__}: {shorten(str(err), 300)}") from err
    expected = "a dict of x_train, y_train, x_test, y_test (optionally x_val, y_val) or of train, test (optionally val)"
    if not isinstance(out, Mapping):
        raise ConfigError(f"{where}: returned a {type(out).__name__}, expected {expected}")
    if "train" in out or "test" in out:
        unknown = [str(k) for k in out if k not in SPLITS]
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected train, test, optionally val)")
        missing = [k for k in ("train", "test") if k not in out]
        if missing:
            raise ConfigError(f"{where}: no key {missing[0]!r} (expected train, test, optionally val)")
        arrays: dict[str, Any] = {}
        for split in SPLITS:
            if split in out:
                arrays[f"x_{split}"], arrays[f"y_{split}"] = _as_arrays(where, split, out[split])
        out = arrays
    return assemble(where, out, num_classes=decl.num_classes, datatype=decl.input_datatype,
                    val_size=val_size, seed=seed)


def _read_image(where: str, root: Path, path: Path, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert(mode), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ConfigError(f"{where}: {path.relative_to(root)}: not an image Pillow can read ({err})") from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)  # C x H x W


def load_image_folder(decl: ImageFolderDataset, *, val_size: int, seed: int) -> Dataset:
    root = Path(decl.path).expanduser()
    where = f"dataset folder {root}"
    if not root.is_dir():
        raise ConfigError(f"{where}: not a directory (expected {root}/train/<class>/*.png and {root}/test/<class>/...)")
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise ConfigError(f"{where}: no train/ folder (expected train/<class>/<image> and test/<class>/<image>)")
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) != decl.num_classes:
        raise ConfigError(f"{where}: train/ has {len(classes)} class folders ({shorten(classes, 120)}), "
                          f"the study file declares num_classes {decl.num_classes}")
    index = {name: i for i, name in enumerate(classes)}
    arrays: dict[str, Any] = {}
    first: tuple[Path, tuple[int, ...]] | None = None
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            if split == "test":
                raise ConfigError(f"{where}: no test/ folder (expected test/<class>/<image>, classes as in train/)")
            continue
        images, labels = [], []
        for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")):
            if class_dir.name not in index:
                raise ConfigError(f"{where}: {split}/{class_dir.name}: a class that train/ does not have "
                                  f"(expected one of {shorten(classes, 120)})")
            files = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if split == "train" and not files:
                raise ConfigError(f"{where}: train/{class_dir.name}: no images ({', '.join(IMAGE_SUFFIXES)})")
            for path in files:
                pixels = _read_image(where, root, path, decl.mode)
                if first is None:
                    first = (path, pixels.shape)
                elif pixels.shape != first[1]:
                    raise ConfigError(f"{where}: {path.relative_to(root)}: {pixels.shape[2]}x{pixels.shape[1]} "
                                      f"pixels, but {first[0].relative_to(root)} is {first[1][2]}x{first[1][1]} "
                                      "(expected one image size throughout)")
                images.append(pixels)
                labels.append(index[class_dir.name])
        if not images:
            raise ConfigError(f"{where}: {split}/: no images in its class folders")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = np.stack(images), np.asarray(labels)
    return assemble(where, arrays, num_classes=decl.num_classes, datatype=decl.input_datatype,
                    val_size=val_size, seed=seed)


LOADERS: dict[str, Callable[..., Dataset]] = {"npz": load_npz, "function": load_function,
                                              "image_folder": load_image_folder}


def load_user_dataset(decl: NpzDataset | FunctionDataset | ImageFolderDataset, *, val_size: int,
                      seed: int) -> Dataset:
    """Load and check the dataset a study file declares (see the module docstring)."""
    return LOADERS[decl.kind](decl, val_size=val_size, seed=seed)


__all__ = ["LOADERS", "assemble", "check_inputs", "check_labels", "datatype_range", "load_user_dataset"]


def shape_split(split: Split, input_shape: tuple[int, ...]) -> Split:
    """``split`` with its images shaped as a model's input (without batch): flat, 28x28 or 3x32x32
    (a user model's ``input_shape``; dse/families/user.py)."""
    images = split.images
    if tuple(images.shape[1:]) == tuple(input_shape):
        return split
    if tuple(input_shape) == (3, 32, 32):
        return as_rgb32(split)
    if int(np.prod(images.shape[1:])) == int(np.prod(input_shape)):
        return Split(images.reshape(len(images), *input_shape), split.labels)
    raise ConfigError(f"the model takes inputs of shape {tuple(input_shape)}; the dataset's images are "
                      f"{tuple(images.shape[1:])} (supported: the same size, or 3x32x32 for 28x28 images)")
