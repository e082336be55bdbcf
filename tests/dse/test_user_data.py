"""Users' own datasets in a study file: .npz files of INT4, BIPOLAR or FLOAT32 features through whole studies (screen,
train, FINN confirmation, export, the exported QONNX run by qonnx), a function returning torch
Datasets, an image-folder tree, and bad dataset files each ending in one line and exit 2."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dse.errors import ConfigError
from dse.spec import parse_spec
from dse.user_data import load_user_dataset
from tests.conftest import finn_dse

FEATURES, CLASSES = 32, 4
TINY = {"epochs": 2, "val_size": 100, "batch_size": 50, "lr": 0.02}

# A TFC-style MLP over integer features: no input quantizer, the integers scaled inside the model;
# 1 bit means bipolar weights and activations (with BIPOLAR inputs: FINN's XNOR-popcount layers).
FEATURE_MLP = textwrap.dedent(f'''
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (Int8ActPerTensorFloat, Int8WeightPerTensorFloat, SignedBinaryActPerTensorConst,
                                SignedBinaryWeightPerTensorConst, Uint8ActPerTensorFloat)
    from torch import nn

    SCALE = 1.0  # set per dataset: 1 / 8 for INT4
    BIAS, ONE_LOGIT = False, False  # True, True: a binary classifier with biases and one output
    INPUT_QUANT = False  # True for FLOAT32 features: the model's own 4-bit input quantizer


    def linear(i, o, bits):
        if bits == 1:
            return QuantLinear(i, o, bias=BIAS, weight_quant=SignedBinaryWeightPerTensorConst)
        return QuantLinear(i, o, bias=BIAS, weight_quant=Int8WeightPerTensorFloat, weight_bit_width=bits)


    class FeatureMLP(nn.Module):
        input_shape = ({FEATURES},)

        def __init__(self, *, weight_bits, act_bits, num_classes):
            super().__init__()
            self.inp = (QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=4, return_quant_tensor=False)
                        if INPUT_QUANT else nn.Identity())
            self.fc = linear({FEATURES}, 32, weight_bits)
            self.bn = nn.BatchNorm1d(32)
            self.act = (QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)
                        if act_bits == 1 else
                        QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=act_bits, return_quant_tensor=False))
            self.out = linear(32, 1 if ONE_LOGIT else num_classes, weight_bits)

        def forward(self, x):
            return self.out(self.act(self.bn(self.fc(self.inp(x * SCALE)))))


    def feature_mlp(*, weight_bits, act_bits, num_classes):
        return FeatureMLP(weight_bits=weight_bits, act_bits=act_bits, num_classes=num_classes)
''')


def _features(n: int, seed: int, datatype: str = "INT4", classes: int = CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """``n`` feature vectors around one fixed centroid per class (separable, but noisy): INT4
    values, or BIPOLAR ones with a quarter of the signs flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    if datatype == "BIPOLAR":
        centroids = np.random.default_rng(0).choice([-1, 1], size=(classes, FEATURES))
        flip = np.where(rng.random((n, FEATURES)) < 0.25, -1, 1)
        return (centroids[y] * flip).astype(np.int8), y.astype(np.int64)
    centroids = np.random.default_rng(0).integers(-6, 7, size=(classes, FEATURES))
    if datatype == "FLOAT32":
        return (centroids[y] / 8 + rng.normal(0, 0.6, size=(n, FEATURES))).astype(np.float32), y.astype(np.int64)
    x = np.clip(centroids[y] + rng.integers(-7, 8, size=(n, FEATURES)), -8, 7).astype(np.int8)
    return x, y.astype(np.int64)


def _npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def _good_arrays(datatype: str = "INT4", classes: int = CLASSES) -> dict[str, np.ndarray]:
    (x_train, y_train), (x_test, y_test) = _features(500, 1, datatype, classes), _features(200, 2, datatype, classes)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _study(path: Path, dataset: dict[str, Any], space: dict[str, Any], **over: Any) -> Path:
    data = {"name": "own-data", "dataset": dataset, "space": space, "training": TINY, "sampler": "random",
            "n_trials": 1, "seed": 0, "objectives": ["accuracy", "fps", "lut"], **over}
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
@pytest.mark.finn
@pytest.mark.parametrize(("datatype", "bits", "scale", "classes", "binary"), [
    ("INT4", 4, "1 / 8", CLASSES, False),
    ("BIPOLAR", 1, "1.0", CLASSES, False),  # FINN's XNOR-popcount path
    ("BIPOLAR", 2, "1.0", 2, True),  # biases everywhere and one output: a binary classifier
    ("FLOAT32", 2, "1.0", CLASSES, False),  # the model's own input quantizer: FINN's Thresholding first
], ids=["int4-4-classes", "bipolar-w1a1-4-classes", "bipolar-biased-binary-output", "float32-input-quantizer"])
def test_npz_features_through_a_user_model_study(datatype: str, bits: int, scale: str, classes: int,
                                                    binary: bool, tmp_path: Path) -> None:
    import torch
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    import dse

    model_file = tmp_path / "feature_mlp.py"
    source = FEATURE_MLP.replace("SCALE = 1.0", f"SCALE = {scale}")
    source = source.replace("INPUT_QUANT = False", f"INPUT_QUANT = {datatype == 'FLOAT32'}")
    model_file.write_text(source.replace("BIAS, ONE_LOGIT = False, False", f"BIAS, ONE_LOGIT = {binary}, {binary}"))
    arrays = _good_arrays(datatype, classes)
    npz = _npz(tmp_path / "features.npz", **arrays)
    study = _study(tmp_path / "study.yaml", {"kind": "npz", "path": str(npz), "num_classes": classes,
                                             "input_datatype": datatype},
                   {"family": "user", "model": f"{model_file}:feature_mlp", "weight_bits": [bits], "act_bits": [bits],
                    "folding": {"target_fps": {"low": 1e5, "high": 1e6, "log": True}}})
    work = tmp_path / "w"
    finn_dse("run", str(study), "--workdir", str(work))

    trials = dse.load_study(work).trials()
    done = trials[trials["state"] == "COMPLETE"]
    assert len(done) >= 1
    row = done.iloc[0]
    # screened by the estimators on FINN's graph of the INT4-input model, trained, confirmed by FINN
    assert row["estimate_source"] == "finn" and row["est_lut"] > 0 and row["lut"] > 0
    assert row["val_accuracy"] > 0.75 and row["test_accuracy"] > 0.75  # chance: 0.25 (4 classes), 0.5 (binary)
    number = int(row["number"])
    layers = json.loads((work / row["artifact_dir"] / "estimate.json").read_text())["layers"]
    assert layers[0]["op_type"].startswith("Thresholding") == (datatype == "FLOAT32")  # its input quantizer

    out = tmp_path / "bundle"
    finn_dse("export", "--workdir", str(work), "--trial", str(number), "--out", str(out))
    estimates = json.loads((out / "estimates.json").read_text())
    assert estimates["provenance"]["dataset"] == f"npz {npz}"
    assert estimates["provenance"]["input_datatype"] == datatype
    readme = (out / "README.md").read_text()
    assert f"input: {datatype}, shape 1x32; output: {'BIPOLAR class' if binary else 'class index'}" in readme
    onnx_model = ModelWrapper(str(out / "model.onnx"))
    iname, oname = onnx_model.graph.input[0].name, onnx_model.graph.output[0].name
    assert onnx_model.get_tensor_datatype(iname) == DataType[datatype]
    ops = [n.op_type for n in onnx_model.graph.node]
    assert ("TopK" in ops) != binary  # a binary classifier's one logit gets a sign instead

    # The exported QONNX, run by qonnx's executor, predicts what the trained PyTorch network does.
    from dse.models.user import load_user_model

    net = load_user_model(f"{model_file}:feature_mlp", weight_bits=bits, act_bits=bits, num_classes=classes,
                          input_datatype=datatype)
    net.load_state_dict(torch.load(work / "networks" / estimates["network_id"] / "weights.pt"))
    net.eval()
    # The test split, then random inputs of the datatype (where the classes are far less clear-cut).
    rng = np.random.default_rng(5)
    noise = {"BIPOLAR": lambda: rng.choice([-1, 1], (100, FEATURES)), "FLOAT32": lambda: rng.normal(0, 1, (100, FEATURES)),
             "INT4": lambda: rng.integers(-8, 8, (100, FEATURES))}[datatype]()
    x = np.concatenate([arrays["x_test"][:100], noise])
    x = x.astype(np.float32)
    with torch.no_grad():
        logits = net(torch.from_numpy(x)).numpy()
    got = np.array([execute_onnx(onnx_model, {iname: x[i:i + 1]})[oname].flatten()[0] for i in range(len(x))])
    got = (got > 0).astype(int) if binary else got.astype(int)  # the sign's +1 is class 1
    # Quantized logits tie exactly, and either side may break a tie its own way: the class QONNX picks
    # must be one of PyTorch's top classes (the one logit's sign, unless it is 0), within float rounding.
    if binary:
        agree = (got == (logits[:, 0] >= 0)) | (np.abs(logits[:, 0]) < 1e-5)
    else:
        top = logits.max(axis=1)
        agree = logits[np.arange(len(x)), got] >= top - 1e-5 * np.maximum(1.0, np.abs(top))
    # A float input on a quantizer's step may still round the other way on one side: 1 in 100.
    assert agree.mean() >= 0.99, [(i, got[i], logits[i].round(4).tolist()) for i in np.flatnonzero(~agree)[:5]]
    assert (got[:100] == arrays["y_test"][:100]).mean() > 0.6


@pytest.mark.slow
@pytest.mark.finn
@pytest.mark.parametrize(("datatype", "bits"), [("INT4", 2), ("BIPOLAR", 1), ("BIPOLAR", 2)],
                         ids=["int4-w2a2", "bipolar-w1a1", "bipolar-w2a2"])
def test_npz_features_through_a_tfc_study(datatype: str, bits: int, tmp_path: Path) -> None:
    """The built-in TFC family on 32 features: its first layer takes them in the declared datatype,
    and the estimators' fast path predicts FINN's graph of it (FINN's confirmation agrees)."""
    import dse

    npz = _npz(tmp_path / "features.npz", **_good_arrays(datatype))
    study = _study(tmp_path / "study.yaml", {"kind": "npz", "path": str(npz), "num_classes": CLASSES,
                                             "input_datatype": datatype},
                   {"family": "tfc", "weight_bits": [bits], "act_bits": [bits], "hidden_width": [32],
                    "hidden_layers": [1], "folding": {"target_fps": {"low": 1e5, "high": 1e6, "log": True}}})
    work = tmp_path / "w"
    finn_dse("run", str(study), "--workdir", str(work))
    trials = dse.load_study(work).trials()
    done = trials[trials["state"] == "COMPLETE"]
    assert len(done) >= 1
    for _, row in done.iterrows():
        assert row["estimate_source"] == "finn" and row["val_accuracy"] > 0.75
        assert row["est_lut"] == pytest.approx(row["lut"], rel=0.02) and row["est_fps"] == row["fps"]
    estimate = json.loads((work / done.iloc[0]["artifact_dir"] / "estimate.json").read_text())
    first = estimate["layers"][0]
    assert first["op_type"] == "MVAU_hls" and estimate["layers"][-1]["op_type"] == "LabelSelect_hls"
    saved = yaml.safe_load((work / "study.yaml").read_text())
    assert saved["dataset"]["input_shape"] == [FEATURES]  # filled in from the data


DATASET_FN = textwrap.dedent('''
    import numpy as np
    import torch
    from torch.utils.data import TensorDataset


    def splits():
        rng = np.random.default_rng(0)
        x = rng.choice([-1, 1], size=(300, 12)).astype(np.int8)
        y = (x[:, 0] > 0).astype(np.int64)
        train = TensorDataset(torch.from_numpy(x[:200]), torch.from_numpy(y[:200]))
        return {"train": train, "val": (x[200:250], y[200:250]), "test": (x[250:], y[250:])}


    def broken():
        return [1, 2, 3]
''')


@pytest.mark.parametrize(("dataset", "expected"), [
    ({"kind": "csv", "path": "a.csv"}, "dataset.kind: unknown dataset kind 'csv'; allowed: npz, function, image_folder"),
    ({"path": "a.npz"}, "dataset.kind: missing; allowed: npz, function, image_folder"),
    ({"kind": "npz", "path": "a.npz", "num_classes": 4}, "dataset.input_datatype: Field required"),
    ({"kind": "npz", "path": "a.npz", "num_classes": 4, "input_datatype": "INT1"},
     "dataset.input_datatype: expected a FINN datatype: UINT8, BIPOLAR, BINARY, INT2..INT16, UINT1..UINT16 or FLOAT32"),
    ({"kind": "npz", "path": "a.npz", "num_classes": 1, "input_datatype": "INT4"}, "dataset.num_classes: Input should be greater than or equal to 2"),
    ({"kind": "npz", "path": "a.npz", "num_classes": 4, "input_datatype": "INT4", "x_train": 1}, "dataset.x_train: unknown key"),
    ({"kind": "image_folder", "path": "imgs", "num_classes": 4, "input_datatype": "INT4"},
     "dataset: image folders hold 8-bit pixels: input_datatype must be UINT8, got INT4"),
    ({"kind": "function", "function": "no_colon", "num_classes": 4, "input_datatype": "INT4"},
     "dataset.function: expected 'package.module:function' or 'path/to/file.py:function'"),
    ("imagenet", "dataset: Input should be 'mnist', 'fashion_mnist' or 'cifar10' (got 'imagenet')"),
])
def test_dataset_declarations_are_validated(dataset: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec({"name": "x", "dataset": dataset})
    assert str(info.value).startswith(f"study: {expected}"), str(info.value)


def test_declared_datatypes_read_case_insensitively() -> None:
    spec = parse_spec({"name": "x", "dataset": {"kind": "npz", "path": "a.npz", "num_classes": 3,
                                                "input_datatype": "uint4"}})
    assert (spec.input_datatype, spec.num_classes, spec.dataset_label) == ("UINT4", 3, "npz a.npz")
    assert parse_spec({"name": "x"}).input_datatype == "UINT8"  # the built-in datasets: pixels


def test_function_dataset_of_torch_datasets(tmp_path: Path) -> None:
    (tmp_path / "my_data.py").write_text(DATASET_FN)
    spec = parse_spec({"name": "fn", "dataset": {"kind": "function", "function": f"{tmp_path}/my_data.py:splits",
                                                 "num_classes": 2, "input_datatype": "BIPOLAR"}})
    ds = load_user_dataset(spec.dataset, val_size=100, seed=0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (200, 50, 50)  # its own val split is kept
    assert ds.train.images.shape == (200, 12) and ds.train.images.dtype == np.int8
    assert set(np.unique(ds.train.images)) == {-1, 1}
    np.testing.assert_array_equal(ds.train.labels, (ds.train.images[:, 0] > 0).astype(np.int64))
    assert spec.num_classes == 2 and spec.input_datatype == "BIPOLAR"


def _image_folder(root: Path, classes: int = 3, per_class: int = 40, size: tuple[int, int] = (28, 28)) -> Path:
    """Grey images whose class is where a bright square sits (left, middle, right)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", per_class // 2)):
        for c in range(classes):
            folder = root / split / f"class_{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, size=size[::-1], dtype=np.uint8)
                img[10:18, 2 + 9 * c: 10 + 9 * c] = 255
                Image.fromarray(img, mode="L").save(folder / f"{i:03d}.png")
    return root


def test_image_folder_dataset_loads_classes_in_name_order(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "imgs")
    spec = parse_spec({"name": "img", "dataset": {"kind": "image_folder", "path": str(root), "num_classes": 3,
                                                  "input_datatype": "UINT8", "mode": "L"},
                       "training": {"val_size": 100}})
    ds = load_user_dataset(spec.dataset, val_size=20, seed=0)
    assert ds.train.images.shape == (100, 1, 28, 28) and ds.train.images.dtype == np.uint8
    assert (len(ds.val), len(ds.test)) == (20, 60)
    # class_1's square sits in columns 11..18
    ones = ds.test.images[ds.test.labels == 1]
    assert len(ones) == 20 and (ones[:, 0, 10:18, 11:19] == 255).all()


@pytest.mark.slow
@pytest.mark.finn
def test_image_folder_through_a_tfc_study(tmp_path: Path) -> None:
    import dse

    root = _image_folder(tmp_path / "imgs", per_class=100)
    study = _study(tmp_path / "study.yaml", {"kind": "image_folder", "path": str(root), "num_classes": 3,
                                             "input_datatype": "UINT8", "mode": "L"},
                   {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [32], "hidden_layers": [1],
                    "folding": {"target_fps": {"low": 1e5, "high": 1e6, "log": True}}})
    work = tmp_path / "w"
    finn_dse("run", str(study), "--workdir", str(work))
    trials = dse.load_study(work).trials()
    done = trials[trials["state"] == "COMPLETE"]
    assert len(done) >= 1
    row = done.iloc[0]
    assert row["estimate_source"] == "finn" and row["val_accuracy"] > 0.6  # 3 classes
    estimate = json.loads((work / row["artifact_dir"] / "estimate.json").read_text())
    labels = [layer for layer in estimate["layers"] if layer["op_type"].startswith("LabelSelect")]
    assert labels, estimate["layers"]  # FINN's graph ends in a LabelSelect over the 3 classes


def _cases(tmp: Path) -> list[tuple[dict[str, Any], str]]:
    """(dataset declaration, what its one-line error must say) for every way a file can be wrong."""
    good = _good_arrays()
    no_key = {k: v for k, v in good.items() if k != "y_test"}
    wrong_shape = {**good, "x_test": good["x_test"][:, :5]}
    out_of_range = {**good, "y_train": np.where(good["y_train"] == 3, 4, good["y_train"])}
    floats = {**good, "x_train": good["x_train"].astype(np.float32) + 0.5}
    too_wide = {**good, "x_test": good["x_test"].astype(np.int16) * 4}
    (tmp / "not.npz").write_text("x_train,y_train\n1,2\n")
    np.save(tmp / "one.npy", good["x_train"])
    (tmp / "my_data.py").write_text(DATASET_FN)
    npz = {"kind": "npz", "num_classes": CLASSES, "input_datatype": "INT4"}
    imgs = _image_folder(tmp / "imgs", per_class=2)
    odd = _image_folder(tmp / "odd", per_class=2)
    _image_folder(tmp / "odd_one", classes=1, per_class=2, size=(30, 28))
    (tmp / "odd_one" / "train" / "class_0" / "000.png").rename(odd / "train" / "class_2" / "zzz.png")
    folder = {"kind": "image_folder", "num_classes": 3, "input_datatype": "UINT8", "mode": "L"}

    def f(name: str, arrays: dict[str, Any]) -> str:
        return str(_npz(tmp / name, **arrays))

    return [
        ({**npz, "path": f("no_key.npz", no_key)}, "no_key.npz: no key 'y_test' (expected x_train, y_train, x_test, y_test"),
        ({**npz, "path": f("shape.npz", wrong_shape)}, "shape.npz: x_test: samples of shape (5,), but x_train's are (32,)"),
        ({**npz, "path": f("label.npz", out_of_range)}, "label.npz: y_train: label 4 is out of range (num_classes 4: expected 0..3)"),
        ({**npz, "path": str(tmp / "not.npz")}, "not.npz: not an .npz archive (expected the zip file numpy.savez writes"),
        ({**npz, "path": str(tmp / "one.npy")}, "one.npy: a single .npy array, not an .npz archive"),
        ({**npz, "path": f("floats.npz", floats)}, "floats.npz: x_train: dtype float32, but input_datatype INT4 needs an integer array (integers -8..7)"),
        ({**npz, "path": f("wide.npz", too_wide)}, "wide.npz: x_test: values -32..28 do not fit INT4 (expected integers -8..7)"),
        ({**npz, "input_datatype": "BIPOLAR", "path": f("bip.npz", good)}, "bip.npz: x_train: value"),
        ({**npz, "path": f("val.npz", {**good, "x_val": good["x_test"]})}, "val.npz: x_val without y_val"),
        ({**npz, "path": f("extra.npz", {**good, "x_valid": good["x_test"]})}, "extra.npz: unknown key 'x_valid'"),
        ({**npz, "path": str(tmp / "absent.npz")}, "absent.npz: file not found"),
        ({**folder, "path": str(imgs), "num_classes": 4}, "imgs: train/ has 3 class folders (['class_0', 'class_1', "
         "'class_2']), the study file declares num_classes 4"),
        ({**folder, "path": str(odd)}, "odd: train/class_2/zzz.png: 30x28 pixels, but train/class_0/000.png is 28x28"),
        ({"kind": "function", "function": f"{tmp}/my_data.py:broken", "num_classes": 2, "input_datatype": "BIPOLAR"},
         "my_data.py:broken': returned a list, expected a dict of x_train"),
        ({"kind": "function", "function": f"{tmp}/my_data.py:absent", "num_classes": 2, "input_datatype": "BIPOLAR"},
         "dataset function"),
    ]


def test_bad_dataset_files_end_in_one_line_and_exit_2(tmp_path: Path) -> None:
    """One table, each case through the real CLI: exit 2, one line on stderr naming file, key and expectation."""
    failures = []
    space = {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [32], "hidden_layers": [1]}
    for i, (dataset, expected) in enumerate(_cases(tmp_path)):
        study = _study(tmp_path / f"s{i}.yaml", dataset, space)
        proc = finn_dse("run", str(study), "--workdir", str(tmp_path / f"w{i}"), check=False)
        lines = proc.stderr.strip().splitlines()
        if proc.returncode != 2 or len(lines) != 1 or expected not in lines[0]:
            failures.append((expected, proc.returncode, proc.stderr[-600:]))
        assert not (tmp_path / f"w{i}" / "study.db").exists()  # refused before a study is created
    assert not failures, failures


def test_a_dataset_that_does_not_fit_the_family_is_one_line(tmp_path: Path) -> None:
    from dse.study import preflight

    arrays = _good_arrays()
    npz = _npz(tmp_path / "f.npz", **arrays)
    floats = _npz(tmp_path / "floats.npz", **{k: v.astype(np.float32) if k.startswith("x") else v
                                                for k, v in arrays.items()})

    def spec(path: Path, datatype: str, **over: Any) -> Any:
        return parse_spec({"name": "x", "dataset": {"kind": "npz", "path": str(path), "num_classes": CLASSES,
                                                    "input_datatype": datatype, **over},
                           "training": {"val_size": 100}, **({"space": {"family": "cnv"}} if "cnv" in str(path) else {})})

    with pytest.raises(ConfigError, match=r"the tfc family takes integer inputs .* for FLOAT32 use space.family: user"):
        preflight(spec(floats, "FLOAT32"), tmp_path)
    with pytest.raises(ConfigError, match=r"x_train: samples of shape \(32,\), the study file declares input_shape \(16,\)"):
        preflight(spec(npz, "INT4", input_shape=[16]), tmp_path)
    cnv = tmp_path / "cnv"
    cnv.mkdir()
    with pytest.raises(ConfigError, match=r"the cnv family takes UINT8 images of 3x32x32 or 28x28, these samples are "
                                          r"\(32,\) INT4; use space.family: user"):
        preflight(spec(_npz(cnv / "f.npz", **arrays), "INT4"), tmp_path)
