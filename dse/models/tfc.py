"""TFC-style quantized MLPs (Brevitas), shaped so that FINN maps every layer to hardware.

The graph input is raw 8-bit pixels (0..255). There is deliberately no input quantizer: FINN
would turn one on a float input into a float Thresholding layer costing ~100k LUT. The
scaling to [0, 1] is a scalar Mul that FINN's streamlining absorbs into the first layer.

Precision may differ per layer: ``weight_bits`` is an int (every layer) or one entry per weight
layer (the hidden layers, then the classifier), ``act_bits`` an int or one entry per hidden
layer. The rules and checks are ``estimators.families``' (one place for the model families and
their fast-path graphs).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import (
    Int8WeightPerTensorFloat,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFloat,
)
from torch import nn

from estimators.families import Bits, tfc_layer_bits


@dataclass(frozen=True, slots=True)
class TFCConfig:
    """Shape and precision of one MLP. Hidden widths are after any pruning; bits are an int or
    one entry per layer (see the module docstring)."""

    hidden: tuple[int, ...]
    weight_bits: int | tuple[int, ...]
    act_bits: int | tuple[int, ...]
    in_features: int = 784
    num_classes: int = 10
    # Brings the raw integer inputs to about [-1, 1] (pixels: 1 / 255); FINN absorbs the scalar.
    input_scale: float = 1.0 / 255.0

    def __post_init__(self) -> None:
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {self.hidden}")
        _freeze_bits(self)
        tfc_layer_bits(self.hidden, self.weight_bits, self.act_bits)  # raises ValueError if invalid

    @property
    def layer_weight_bits(self) -> tuple[int, ...]:
        """Weight bits of every weight layer, the classifier last."""
        return tfc_layer_bits(self.hidden, self.weight_bits, self.act_bits).weight

    @property
    def layer_act_bits(self) -> tuple[int, ...]:
        """Activation bits of every hidden layer."""
        return tfc_layer_bits(self.hidden, self.weight_bits, self.act_bits).act


def _freeze_bits(config: object) -> None:
    """Store per-layer bits given as a list (e.g. from JSON) as a tuple, so configs stay hashable."""
    for name in ("weight_bits", "act_bits"):
        value: Bits = getattr(config, name)
        if isinstance(value, Sequence):
            object.__setattr__(config, name, tuple(value))


def _linear(in_f: int, out_f: int, weight_bits: int) -> QuantLinear:
    if weight_bits == 1:
        return QuantLinear(in_f, out_f, bias=False, weight_quant=SignedBinaryWeightPerTensorConst)
    return QuantLinear(
        in_f, out_f, bias=False, weight_quant=Int8WeightPerTensorFloat, weight_bit_width=weight_bits
    )


def _activation(act_bits: int) -> nn.Module:
    if act_bits == 1:
        # Bipolar activations: FINN turns bipolar x bipolar products into XNOR-popcount.
        return QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)
    return QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=act_bits, return_quant_tensor=False)


class TFC(nn.Module):
    """784 -> hidden... -> classes; Linear + BatchNorm + quantized activation per hidden layer."""

    def __init__(self, config: TFCConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        weight_bits = config.layer_weight_bits
        width = config.in_features
        for h, w, a in zip(config.hidden, weight_bits, config.layer_act_bits):
            layers += [_linear(width, h, w), nn.BatchNorm1d(h), _activation(a)]
            width = h
        self.features = nn.Sequential(*layers)
        self.classifier = _linear(width, config.num_classes, weight_bits[-1])
        # A positive scalar keeps logits in a trainable range; FINN folds it away (argmax-safe).
        self.log_out_scale = nn.Parameter(torch.tensor(-math.log(max(width, 1)) / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:  # images; the exported graph takes flat (1, 784) vectors, so no Reshape
            x = x.reshape(x.shape[0], -1)
        x = x * self.config.input_scale
        return self.classifier(self.features(x)) * torch.exp(self.log_out_scale)


def build_tfc(config: TFCConfig) -> TFC:
    """Build an untrained TFC network for ``config``."""
    return TFC(config)
