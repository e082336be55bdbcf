"""User-supplied models: the loading contract, its one-line errors, and FINN on the examples."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from dse.errors import ConfigError
from dse.models.user import check_user_model, load_user_model, resolve_user_model

ROOT = Path(__file__).resolve().parents[2]
SMALL_MLP = f"{ROOT}/examples/user_models/small_mlp.py:small_mlp"
SMALL_CNN = f"{ROOT}/examples/user_models/small_cnn.py:small_cnn"
BITS = {"weight_bits": 2, "act_bits": 2, "num_classes": 10}

# Models that each break one point of the contract (or that FINN cannot map).
BROKEN = textwrap.dedent('''
    import torch
    from torch import nn
    from brevitas.nn import QuantLinear, QuantReLU, QuantConv2d, QuantIdentity
    from brevitas.quant import Uint8ActPerTensorFloat

    NOT_CALLABLE = 42


    class Net(nn.Module):
        input_shape = (16,)

        def __init__(self, n, first=None, act=None, out=None):
            super().__init__()
            self.first = first or QuantLinear(16, 8, bias=False, weight_bit_width=2)
            self.act = act or QuantReLU(bit_width=2, return_quant_tensor=False)
            self.fc = QuantLinear(8, n if out is None else out, bias=False, weight_bit_width=2)

        def forward(self, x):
            return self.fc(self.act(self.first(x * (1 / 255))))


    def no_keywords():
        return Net(10)

    def raises(*, weight_bits, act_bits, num_classes):
        raise ValueError(f"{weight_bits}-bit weights are not supported")

    def not_a_module(*, weight_bits, act_bits, num_classes):
        return "a string"

    def no_input_shape(*, weight_bits, act_bits, num_classes):
        model = nn.Sequential(QuantLinear(16, num_classes, bias=False))
        return model

    def batch_in_shape(*, weight_bits, act_bits, num_classes):
        model = Net(num_classes)
        model.input_shape = (1, 16)
        return model

    def plain_linear(*, weight_bits, act_bits, num_classes):
        return Net(num_classes, first=nn.Linear(16, 8, bias=False))

    def unquantized(*, weight_bits, act_bits, num_classes):
        return Net(num_classes, first=QuantLinear(16, 8, bias=False, weight_quant=None))

    def float_relu(*, weight_bits, act_bits, num_classes):
        return Net(num_classes, act=nn.ReLU())

    def wide_act(*, weight_bits, act_bits, num_classes):
        return Net(num_classes, act=QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=16))

    def wrong_output(*, weight_bits, act_bits, num_classes):
        return Net(num_classes, out=num_classes + 1)

    def one_logit(*, weight_bits, act_bits, num_classes):
        return Net(num_classes, out=1)

    def forward_fails(*, weight_bits, act_bits, num_classes):
        model = Net(num_classes)
        model.input_shape = (17,)
        return model

    def global_pool(*, weight_bits, act_bits, num_classes):
        model = nn.Sequential(QuantConv2d(3, 8, 3, bias=False), nn.AdaptiveAvgPool2d(1))
        model.input_shape = (3, 8, 8)
        return model


    class MeanPool(nn.Module):
        """A global average pool as a tensor op (no module to spot): only FINN finds it."""
        input_shape = (3, 8, 8)

        def __init__(self, n):
            super().__init__()
            self.conv = QuantConv2d(3, 8, 3, bias=False, weight_bit_width=2)
            self.bn = nn.BatchNorm2d(8)
            self.act = QuantReLU(bit_width=2, return_quant_tensor=False)
            self.fc = QuantLinear(8, n, bias=False, weight_bit_width=2)

        def forward(self, x):
            return self.fc(self.act(self.bn(self.conv(x * (1 / 255)))).mean((2, 3)))

    def mean_pool(*, weight_bits, act_bits, num_classes):
        return MeanPool(num_classes)

    def biased_classifier(*, weight_bits, act_bits, num_classes):
        model = Net(num_classes)
        model.fc = QuantLinear(8, num_classes, bias=True, weight_bit_width=2)
        return model

    def input_quantizer(*, weight_bits, act_bits, num_classes):
        quant = QuantIdentity(act_quant=Uint8ActPerTensorFloat, bit_width=8, return_quant_tensor=False)
        return Net(num_classes, first=nn.Sequential(quant, QuantLinear(16, 8, bias=False, weight_bit_width=2)))
''')


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user") / "broken_models.py"
    path.write_text(BROKEN)
    return path


def _error(ref: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_user_model(ref, **BITS)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"user model {ref!r}: "), message
    return message


# --- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [SMALL_MLP, SMALL_CNN])
def test_examples_load(ref: str) -> None:
    import torch

    model = load_user_model(ref, weight_bits=4, act_bits=4, num_classes=7)
    assert check_user_model(model, 7) == model.input_shape
    assert model(torch.zeros(3, *model.input_shape)).shape == (3, 7)
    # Loading again reuses the imported file (as `import` would).
    assert type(load_user_model(ref, **BITS)) is type(model)


def test_module_ref(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    model = load_user_model("user_models.small_mlp:small_mlp", weight_bits=1, act_bits=1, num_classes=10)
    assert model.input_shape == (784,)
    assert resolve_user_model("user_models.small_mlp:SmallMLP") is type(model)


@pytest.mark.parametrize(("ref", "expected"), [
    ("small_mlp", "expected 'package.module:function'"),
    ("small_mlp:", "expected 'package.module:function'"),
    (":small_mlp", "expected 'package.module:function'"),
    ("user_models.small_mlp:1st", "expected 'package.module:function'"),
    ("my models:build", "neither a dotted module name nor a path"),
    ("finn_dse_no_such_package.models:build", "no module named 'finn_dse_no_such_package'"),
    ("no/such/file.py:build", "does not exist"),
], ids=lambda v: v if " " not in v else "")
def test_bad_refs(ref: str, expected: str) -> None:
    assert expected in _error(ref)


@pytest.mark.parametrize(("name", "expected"), [
    ("missing", "has no attribute 'missing'"),
    ("NOT_CALLABLE", "NOT_CALLABLE is not callable (int)"),
    ("no_keywords", "must accept the keywords weight_bits, act_bits, num_classes"),
    ("raises", "raised ValueError: 2-bit weights are not supported"),
    ("not_a_module", "returned a str, expected a torch.nn.Module"),
    ("no_input_shape", "no input_shape attribute"),
    ("batch_in_shape", "without the batch dimension, got (1, 16)"),
    ("plain_linear", "float weight layers FINN cannot map: first (nn.Linear, use brevitas.nn.QuantLinear)"),
    ("unquantized", "weight quantization is disabled on first (QuantLinear)"),
    ("float_relu", "float activations FINN cannot map: act (nn.ReLU)"),
    ("wide_act", "activations above 8 bits FINN cannot map: act (QuantReLU, 16 bits)"),
    ("wrong_output", "returned shape (2, 11), expected (2, 10) logits"),
    ("one_logit", "returned shape (2, 1), expected (2, 10) logits"),  # one logit: binary only
    ("forward_fails", "forward on a (2, 17) batch of pixel values raised RuntimeError"),
    ("global_pool", "global pools FINN's estimate flow cannot map: 1 (nn.AdaptiveAvgPool2d)"),
], ids=lambda v: v if " " not in v else "")
def test_contract_breaches(broken: Path, name: str, expected: str) -> None:
    assert expected in _error(f"{broken}:{name}")


def test_one_logit_is_a_binary_classifier(broken: Path) -> None:
    model = load_user_model(f"{broken}:one_logit", weight_bits=2, act_bits=2, num_classes=2)
    assert model.fc.out_features == 1
    with pytest.raises(ConfigError, match=r"returned shape \(2, 1\), expected \(2, 3\) logits$"):
        load_user_model(f"{broken}:one_logit", weight_bits=2, act_bits=2, num_classes=3)
    with pytest.raises(ConfigError, match=r"returned shape \(2, 3\), expected \(2, 2\) logits or \(2, 1\) \(one logit\)"):
        load_user_model(f"{broken}:wrong_output", weight_bits=2, act_bits=2, num_classes=2)


def test_import_error_in_user_file(tmp_path: Path) -> None:
    path = tmp_path / "bad_import.py"
    path.write_text("import finn_dse_no_such_dependency\n\ndef build(**kw):\n    pass\n")
    assert "raised ModuleNotFoundError: No module named 'finn_dse_no_such_dependency'" in _error(f"{path}:build")


# --- FINN ----------------------------------------------------------------------------------------


@pytest.mark.finn
def test_small_mlp_through_finn(tmp_path: Path) -> None:
    from dse.models.user import estimate_user_model
    from estimators.families import tfc_graph
    from estimators.mvau import MVAU

    model = load_user_model(SMALL_MLP, **BITS)
    result = estimate_user_model(model, tmp_path, ref=SMALL_MLP)
    assert result.qonnx_path.is_file()
    assert [layer.op_type for layer in result.finn.estimate.layers] == ["MVAU_hls"] * 3 + ["LabelSelect_hls"]
    assert result.finn.estimate.lut > 0 and result.finn.estimate.fps > 0
    # The same MLP as a TFC with hidden (64, 64): the fast path predicts FINN's layer shapes.
    shapes = [(layer.mw, layer.mh) for layer in result.graph.layers if isinstance(layer, MVAU)]
    fast = tfc_graph((64, 64), 2, 2)
    assert shapes == [(layer.mw, layer.mh) for layer in fast.layers if isinstance(layer, MVAU)]


@pytest.mark.finn
@pytest.mark.slow
def test_small_cnn_through_finn(tmp_path: Path) -> None:
    from dse.models.user import estimate_user_model

    model = load_user_model(SMALL_CNN, **BITS)
    ops = [layer.op_type for layer in estimate_user_model(model, tmp_path, ref=SMALL_CNN).finn.estimate.layers]
    assert ops.count("MVAU_hls") == 5 and ops.count("Pool_hls") == 2 and ops[-1] == "LabelSelect_hls"


@pytest.mark.finn
@pytest.mark.parametrize(("name", "expected"), [
    ("mean_pool", "ReduceMean: no global average pool"),
    ("input_quantizer", "the first hardware layer is a Thresholding on the raw input"),
    ("biased_classifier", "the classifier fc has a bias, a per-class Add FINN cannot absorb into the TopK: drop it"),
])
def test_finn_rejections(broken: Path, name: str, expected: str, tmp_path: Path) -> None:
    from dse.models.user import estimate_user_model

    ref = f"{broken}:{name}"
    model: Any = load_user_model(ref, **BITS)  # passes the PyTorch checks
    with pytest.raises(ConfigError) as info:
        estimate_user_model(model, tmp_path, ref=ref)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"user model {ref!r}: ") and expected in message, message
