"""A small MLP on raw MNIST pixels: 784 -> 64 -> 64 -> classes, every layer FINN-mappable.

    ref: examples/user_models/small_mlp.py:small_mlp
"""
from __future__ import annotations

import torch
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import (
    Int8WeightPerTensorFloat,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFloat,
)
from torch import nn


def linear(in_features: int, out_features: int, bits: int) -> QuantLinear:
    """b-bit signed weights with a per-tensor scale; 1 bit means bipolar (+-1)."""
    if bits == 1:
        return QuantLinear(in_features, out_features, bias=False, weight_quant=SignedBinaryWeightPerTensorConst)
    return QuantLinear(in_features, out_features, bias=False, weight_quant=Int8WeightPerTensorFloat,
                       weight_bit_width=bits)


def activation(bits: int) -> nn.Module:
    """b-bit unsigned (ReLU-like) activations; 1 bit means bipolar. FINN maps up to 8 bits."""
    if bits == 1:
        return QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)
    return QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=bits, return_quant_tensor=False)


class SmallMLP(nn.Module):
    input_shape = (784,)  # without the batch dimension

    def __init__(self, *, weight_bits: int, act_bits: int, num_classes: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        width = self.input_shape[0]
        for h in hidden:  # BatchNorm between a layer and its activation: FINN folds it into thresholds
            layers += [linear(width, h, weight_bits), nn.BatchNorm1d(h), activation(act_bits)]
            width = h
        self.features = nn.Sequential(*layers)
        self.classifier = linear(width, num_classes, weight_bits)  # logits: no activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:  # images (N, 1, 28, 28); the exported graph takes flat (1, 784) vectors
            x = x.reshape(x.shape[0], -1)
        # Raw pixels 0..255 in, no input quantizer: FINN absorbs this scale into the first layer.
        return self.classifier(self.features(x * (1.0 / 255.0)))


def small_mlp(*, weight_bits: int, act_bits: int, num_classes: int) -> SmallMLP:
    return SmallMLP(weight_bits=weight_bits, act_bits=act_bits, num_classes=num_classes)
