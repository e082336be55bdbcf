"""User-supplied model families: load a Brevitas network from ``module:function`` and check it.

The contract (docs/user-models.md has the long form): ``ref`` names a callable as
``package.module:function`` (importable) or ``path/to/file.py:function``, and

    fn(*, weight_bits: int, act_bits: int, num_classes: int) -> torch.nn.Module

returns a network that

* has ``input_shape``: the input without the batch dimension, ``(features,)`` or ``(C, H, W)``;
* takes raw pixel values 0..255 as float (FINN sees a UINT8 input; scale inside the model, e.g.
  ``x * (1 / 255)``, and put no input quantizer on it), or the values of the datatype the study's
  own dataset declares (e.g. INT4 features, BIPOLAR);
* returns logits of shape ``(N, num_classes)``, or ``(N, 1)`` for num_classes 2 (a binary
  classifier: class 1 where the logit is >= 0; at export a sign goes on it instead of the TopK);
* has only Brevitas weight layers with quantized weights (QuantLinear/QuantConv2d, no plain
  nn.Linear/nn.Conv2d) and only Brevitas quant activations of at most 8 bits (no float ReLU).

`load_user_model` imports and calls the function, then `check_user_model` verifies the result
in PyTorch (milliseconds); `estimate_user_model` exports it and runs FINN's estimate flow
(seconds, in dse.finn.user_model), which is where unsupported topologies show up. Every breach
is a `dse.errors.ConfigError` of one line naming the ref and what is broken: the user fixes the
model, so it is the user's error, not the tool's. In particular a model FINN cannot map is a
ConfigError and not a BackendError: a study catches BackendError per trial and carries on, which
for a model that can never map would only fail every trial.

torch, Brevitas and FINN are imported inside the functions, so this module stays light.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.errors import ConfigError
from dse.finn.user_model import UserModelEstimate

if TYPE_CHECKING:
    from torch import nn

USER_MODEL_KEYWORDS = ("weight_bits", "act_bits", "num_classes")
MAX_ACT_BITS = 8  # FINN turns quantized activations of up to 8 bits into thresholds
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_IDENT}(\.{_IDENT})*")
# Float layers FINN has no hardware for; the Brevitas quantized counterpart to use instead.
_PLAIN_WEIGHT = {"Linear": "QuantLinear", "Conv1d": "QuantConv1d", "Conv2d": "QuantConv2d",
                 "ConvTranspose2d": "QuantConvTranspose2d"}
_PLAIN_ACT = ("ReLU", "ReLU6", "LeakyReLU", "Hardtanh", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU",
              "Softmax", "LogSoftmax", "Hardswish", "Mish")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fail(ref: str, what: str) -> ConfigError:
    return ConfigError(_one_line(f"user model {ref!r}: {what}"))


def _exited(ref: str, err: SystemExit, when: str) -> ConfigError:
    # SystemExit is no Exception: uncaught, it would end `finn-dse` with the model's status, silently.
    return _fail(ref, f"the user model called sys.exit({err.code!r}) while {when}")


def _split_ref(ref: str) -> tuple[str, str]:
    if not isinstance(ref, str) or ":" not in ref:
        raise _fail(str(ref), "expected 'package.module:function' or 'path/to/file.py:function'")
    module, _, attr = ref.rpartition(":")
    if not module or not _DOTTED.fullmatch(attr):
        raise _fail(ref, "expected 'package.module:function' or 'path/to/file.py:function'")
    if not _is_path(module) and not _DOTTED.fullmatch(module):
        raise _fail(ref, f"{module!r} is neither a dotted module name nor a path to a .py file")
    return module, attr


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def _import_file(ref: str, module: str) -> Any:
    path = Path(module).expanduser().resolve()
    if not path.is_file():
        raise _fail(ref, f"file {path} does not exist")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"_finn_dse_user_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest}"
    if name in sys.modules:  # imported before: reuse it, as `import` would
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _fail(ref, f"cannot load {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    sys.path.insert(0, str(path.parent))  # so the file can import its siblings while it loads
    try:
        spec.loader.exec_module(mod)
    except BaseException as err:
        del sys.modules[name]
        if isinstance(err, KeyboardInterrupt):
            raise
        if isinstance(err, SystemExit):
            raise _exited(ref, err, f"importing {path}") from None
        raise _fail(ref, f"importing {path} raised {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(str(path.parent))
    return mod


def _import_module(ref: str, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and (module == err.name or module.startswith(err.name + ".")):  # ref's own module
            raise _fail(ref, f"no module named {err.name!r} (install it, put its folder on PYTHONPATH, "
                             "or give a file path: path/to/file.py:function)") from None
        raise _fail(ref, f"importing {module} raised ModuleNotFoundError: {err}") from err
    except SystemExit as err:
        raise _exited(ref, err, f"importing {module}") from None
    except Exception as err:
        raise _fail(ref, f"importing {module} raised {type(err).__name__}: {err}") from err


def resolve_user_model(ref: str, *, role: str = "user model") -> Any:
    """The callable ``ref`` names (imported, not called). Raises ConfigError, its message starting
    with ``role`` and the ref (a dataset function is imported the same way)."""
    if role != "user model":
        try:
            return resolve_user_model(ref)
        except ConfigError as err:
            raise ConfigError(f"{role} {ref!r}: {str(err).removeprefix(f'user model {ref!r}: ')}") from err.__cause__
    module, attr = _split_ref(ref)
    obj = _import_file(ref, module) if _is_path(module) else _import_module(ref, module)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _fail(ref, f"{module} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise _fail(ref, f"{attr} is not callable ({type(obj).__name__})")
    return obj


def load_user_model(ref: str, *, weight_bits: int, act_bits: int, num_classes: int,
                    input_datatype: str = "UINT8") -> nn.Module:
    """Import ``ref``, call it with the keyword contract and check the model it returns on inputs
    of the study's ``input_datatype``."""
    fn = resolve_user_model(ref)
    kwargs = {"weight_bits": weight_bits, "act_bits": act_bits, "num_classes": num_classes}
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as err:
        raise _fail(ref, f"must accept the keywords {', '.join(USER_MODEL_KEYWORDS)} ({err})") from None
    except ValueError:
        pass  # no signature to inspect (a builtin): let the call tell
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    try:
        model: nn.Module = fn(**kwargs)
    except SystemExit as err:
        raise _exited(ref, err, f"calling it with {args}") from None
    except Exception as err:
        raise _fail(ref, f"calling it with {args} raised {type(err).__name__}: {err}") from err
    try:
        check_user_model(model, num_classes, ref=ref, input_datatype=input_datatype)
    except SystemExit as err:  # its forward, run on a dummy batch
        raise _exited(ref, err, "running its forward on a dummy batch") from None
    return model


def _walk(module: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Named submodules, not descending into Brevitas modules (their quantizers hold float
    helpers such as the nn.ReLU inside QuantReLU, which are not layers of the network)."""
    for name, child in module.named_children():
        full = f"{prefix}.{name}" if prefix else name
        yield full, child
        if not type(child).__module__.startswith("brevitas"):
            yield from _walk(child, full)


def _input_shape(model: Any, ref: str) -> tuple[int, ...]:
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise _fail(ref, "the model has no input_shape attribute (e.g. (784,) or (3, 32, 32), without the batch)")
    try:
        dims = tuple(shape)
        ok = len(dims) in (1, 3) and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims)
    except TypeError:
        ok = False
    if not ok:
        raise _fail(ref, f"input_shape must be (features,) or (C, H, W) of positive ints without the batch "
                         f"dimension, got {shape!r}")
    return dims


def check_user_model(model: Any, num_classes: int, *, ref: str = "<model>",
                     input_datatype: str = "UINT8") -> tuple[int, ...]:
    """Check a model against the contract in PyTorch; returns its ``input_shape``.

    Checks: a torch.nn.Module; ``input_shape`` (features,) or (C, H, W); no plain float weight
    layers or activations; weight quantization enabled on every Brevitas weight layer; quant
    activations of at most 8 bits; a forward pass on a (2, *input_shape) batch of values of
    ``input_datatype`` (pixel values 0..255 for UINT8) gives a tensor of shape (2, num_classes).
    Raises ConfigError naming what is broken.
    """
    import torch
    from brevitas.nn.quant_layer import QuantNonLinearActLayer, QuantWeightBiasInputOutputLayer
    from torch import nn

    if not isinstance(model, nn.Module):
        raise _fail(ref, f"returned a {type(model).__name__}, expected a torch.nn.Module")
    shape = _input_shape(model, ref)

    plain, unquantized, plain_acts, wide_acts, gap = [], [], [], [], []
    for name, m in _walk(model):
        kind = type(m).__name__
        if isinstance(m, QuantWeightBiasInputOutputLayer):
            if not m.weight_quant.is_quant_enabled:
                unquantized.append(f"{name} ({kind})")
        elif isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            plain.append(f"{name} (nn.{kind}, use brevitas.nn.{_PLAIN_WEIGHT.get(kind, 'Quant' + kind)})")
        elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            gap.append(f"{name} (nn.{kind})")
        elif kind in _PLAIN_ACT and type(m).__module__.startswith("torch.nn"):
            plain_acts.append(f"{name} (nn.{kind})")
        elif isinstance(m, QuantNonLinearActLayer) or kind == "QuantIdentity":
            quant = getattr(m, "act_quant", None)
            if quant is not None and quant.is_quant_enabled:
                bits = int(quant.bit_width())
                if bits > MAX_ACT_BITS:
                    wide_acts.append(f"{name} ({kind}, {bits} bits)")
    if plain:
        raise _fail(ref, f"float weight layers FINN cannot map: {', '.join(plain)}")
    if unquantized:
        raise _fail(ref, f"weight quantization is disabled on {', '.join(unquantized)}")
    if plain_acts:
        raise _fail(ref, f"float activations FINN cannot map: {', '.join(plain_acts)} "
                         "(use brevitas.nn.QuantReLU / QuantIdentity; return logits)")
    if wide_acts:
        raise _fail(ref, f"activations above {MAX_ACT_BITS} bits FINN cannot map: {', '.join(wide_acts)}")
    if gap:
        raise _fail(ref, f"global pools FINN's estimate flow cannot map: {', '.join(gap)} (reduce the image "
                         "to 1x1 with strides or pools instead, as dse/models/mobilenet.py does)")
    if not any(isinstance(m, QuantWeightBiasInputOutputLayer) for _, m in _walk(model)):
        raise _fail(ref, "has no Brevitas weight layer (QuantLinear/QuantConv2d)")

    was_training = model.training
    model.eval()
    try:
        x = _dummy_batch((2, *shape), input_datatype)
        with torch.no_grad():
            out = model(x)
    except Exception as err:
        values = "pixel values" if input_datatype == "UINT8" else f"{input_datatype} values"
        raise _fail(ref, f"forward on a {tuple(x.shape)} batch of {values} raised "
                         f"{type(err).__name__}: {err}") from err
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise _fail(ref, f"forward returned a {type(out).__name__}, expected a tensor of logits "
                         "(set return_quant_tensor=False on the last layer)")
    binary = num_classes == 2 and tuple(out.shape) == (2, 1)  # one logit: class 1 where it is >= 0
    if tuple(out.shape) != (2, num_classes) and not binary:
        one = " or (2, 1) (one logit)" if num_classes == 2 else ""
        raise _fail(ref, f"forward on a {tuple(x.shape)} batch returned shape {tuple(out.shape)}, "
                         f"expected (2, {num_classes}) logits{one}")
    return shape


def _biased_classifier(model: Any) -> str | None:
    """The name of the last Brevitas weight layer if it has a bias, else None."""
    from brevitas.nn.quant_layer import QuantWeightBiasInputOutputLayer

    layers = [(name, m) for name, m in _walk(model) if isinstance(m, QuantWeightBiasInputOutputLayer)]
    if layers and getattr(layers[-1][1], "bias", None) is not None:
        return layers[-1][0]
    return None


def _dummy_batch(shape: tuple[int, ...], datatype: str) -> Any:
    """A seeded batch of values ``datatype`` holds (FLOAT32: standard normal), as float."""
    import torch

    from dse.spec import datatype_range

    gen = torch.Generator().manual_seed(0)
    rng = datatype_range(datatype)
    if rng is None:
        return torch.randn(shape, generator=gen)
    if datatype == "BIPOLAR":
        return torch.randint(0, 2, shape, generator=gen).float() * 2 - 1
    return torch.randint(rng[0], rng[1] + 1, shape, generator=gen).float()


def estimate_user_model(model: Any, work_dir: Path, *, ref: str = "<model>", board: str = "U280",
                        clock_ns: float = 5.0, target_fps: float = 10_000.0,
                        input_datatype: str = "UINT8") -> UserModelEstimate:
    """Export ``model`` to QONNX in ``work_dir`` and run FINN's estimate flow on it.

    FINN must map the whole network into one dataflow partition that starts from the graph input
    of ``input_datatype`` (integer inputs: no input quantizer) and that FINN-DSE's estimators can read. Anything else
    is a ConfigError naming the ref, the unmapped layers with a hint, and FINN's log
    (``work_dir/finn.log``).
    """
    from dse.finn.user_model import map_user_model

    shape = _input_shape(model, ref)
    return map_user_model(model, work_dir, input_shape=shape, fail=lambda what: _fail(ref, what),
                          biased_classifier=_biased_classifier(model), board=board, clock_ns=clock_ns,
                          target_fps=target_fps, input_datatype=input_datatype)


__all__ = ["MAX_ACT_BITS", "USER_MODEL_KEYWORDS", "UserModelEstimate", "check_user_model",
           "estimate_user_model", "load_user_model", "resolve_user_model"]
