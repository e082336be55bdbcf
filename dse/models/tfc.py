"""TFC-style quantized MLPs (Brevitas), shaped so that FINN maps every layer to hardware.

The graph input is raw 8-bit pixels (0..255). There is deliberately no input quantizer: FINN
would turn one on a float input into a float Thresholding layer costing ~100k LUT. The
scaling to [0, 1] is a scalar Mul that FINN's streamlining absorbs into the first layer.
"""
from __future__ import annotations

import math
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

SUPPORTED_BITS = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class TFCConfig:
    """Shape and precision of one MLP. Hidden widths are after any pruning."""

    hidden: tuple[int, ...]
    weight_bits: int
    act_bits: int
    in_features: int = 784
    num_classes: int = 10

    def __post_init__(self) -> None:
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {self.hidden}")
        for name in ("weight_bits", "act_bits"):
            if getattr(self, name) not in SUPPORTED_BITS:
                raise ValueError(f"{name} must be one of {SUPPORTED_BITS}, got {getattr(self, name)}")


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
        width = config.in_features
        for h in config.hidden:
            layers += [_linear(width, h, config.weight_bits), nn.BatchNorm1d(h), _activation(config.act_bits)]
            width = h
        self.features = nn.Sequential(*layers)
        self.classifier = _linear(width, config.num_classes, config.weight_bits)
        # A positive scalar keeps logits in a trainable range; FINN folds it away (argmax-safe).
        self.log_out_scale = nn.Parameter(torch.tensor(-math.log(max(width, 1)) / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:  # images; the exported graph takes flat (1, 784) vectors, so no Reshape
            x = x.reshape(x.shape[0], -1)
        x = x * (1.0 / 255.0)
        return self.classifier(self.features(x)) * torch.exp(self.log_out_scale)


def build_tfc(config: TFCConfig) -> TFC:
    """Build an untrained TFC network for ``config``."""
    return TFC(config)
