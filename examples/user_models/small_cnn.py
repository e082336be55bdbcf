"""A small conv net on 1x28x28 images (MNIST): four unpadded 3x3 convs, two max-pools, one FC.

The convs and pools bring 28x28 down to 1x1 (28 -> 26 -> pool 13 -> 11 -> pool 5 -> 3 -> 1), so
the flatten before the classifier is a no-op FINN removes; there is no global average pool.

    ref: examples/user_models/small_cnn.py:small_cnn
"""
from __future__ import annotations

import torch
from brevitas.nn import QuantConv2d, QuantLinear, QuantReLU
from brevitas.quant import Int8WeightPerTensorFloat, Uint8ActPerTensorFloat
from torch import nn

CHANNELS = (16, 16, 32, 32)
POOL_AFTER = (0, 1)


class SmallCNN(nn.Module):
    input_shape = (1, 28, 28)  # (C, H, W), without the batch dimension

    def __init__(self, *, weight_bits: int, act_bits: int, num_classes: int):
        super().__init__()
        if weight_bits < 2 or act_bits < 2:
            raise ValueError("this example supports 2..8-bit weights and activations")
        quant = {"weight_quant": Int8WeightPerTensorFloat, "weight_bit_width": weight_bits}
        layers: list[nn.Module] = []
        width = self.input_shape[0]
        for i, ch in enumerate(CHANNELS):
            layers += [QuantConv2d(width, ch, 3, bias=False, **quant), nn.BatchNorm2d(ch),
                       QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=act_bits)]
            if i in POOL_AFTER:  # max-pool after the quantized activation, as in FINN's CNV
                layers.append(nn.MaxPool2d(2))
            width = ch
        self.features = nn.Sequential(*layers)
        self.classifier = QuantLinear(width, num_classes, bias=False, **quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x * (1.0 / 255.0))  # raw pixels in, no input quantizer
        return self.classifier(x.view(x.shape[0], -1))  # 1x1 spatial: a flatten FINN removes


def small_cnn(*, weight_bits: int, act_bits: int, num_classes: int) -> SmallCNN:
    return SmallCNN(weight_bits=weight_bits, act_bits=act_bits, num_classes=num_classes)
