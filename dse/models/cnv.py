"""CNV-style quantized conv nets (Brevitas), with the topology of FINN's bnn_pynq CNV.

Six unpadded 3x3 convs (max-pool after the 2nd and 4th), then three FCs. Like the TFC family,
the graph input is raw 8-bit pixels and there is no input quantizer (FINN would map one to a
float Thresholding layer); the scaling to [0, 1] is a scalar Mul that FINN's streamlining
moves past the first conv. The max-pools follow the quantized activations, as in bnn_pynq:
FINN then sees MultiThreshold -> MaxPool and maps the pool to a depthwise sliding window plus
Pool_hls on integer values.

Precision may differ per layer, as for TFC: ``weight_bits`` is an int or one entry per weight
layer (six convs, the FCs, the classifier), ``act_bits`` an int or one entry per conv and FC.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from brevitas.nn import QuantConv2d
from brevitas.quant import Int8WeightPerTensorFloat, SignedBinaryWeightPerTensorConst
from torch import nn

# Same quantizer choices as TFC, so both families mean the same thing by "wXaY".
from dse.models.tfc import _activation, _freeze_bits, _linear
from estimators.families import cnv_layer_bits

KERNEL = 3
POOL_AFTER = (1, 3)  # indices of the convs followed by a 2x2 max-pool (as in bnn_pynq CNV)


@dataclass(frozen=True, slots=True, kw_only=True)
class CNVConfig:
    """Shape and precision of one CNV. Channel and FC widths are after any pruning; bits are an
    int or one entry per layer (see the module docstring)."""

    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256)
    fc: tuple[int, ...] = (512, 512)
    weight_bits: int | tuple[int, ...]
    act_bits: int | tuple[int, ...]
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32

    def __post_init__(self) -> None:
        if len(self.channels) != 6 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be 6 positive widths, got {self.channels}")
        if not self.fc or any(f < 1 for f in self.fc):
            raise ValueError(f"fc widths must be positive, got {self.fc}")
        _freeze_bits(self)
        cnv_layer_bits(self.channels, self.fc, self.weight_bits, self.act_bits)  # raises ValueError if invalid
        for name in ("in_channels", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.final_size < 1:
            raise ValueError(f"image_size {self.image_size} is too small for CNV's six 3x3 convs")

    @property
    def layer_weight_bits(self) -> tuple[int, ...]:
        """Weight bits of every weight layer: the six convs, the FCs, the classifier."""
        return cnv_layer_bits(self.channels, self.fc, self.weight_bits, self.act_bits).weight

    @property
    def layer_act_bits(self) -> tuple[int, ...]:
        """Activation bits after every conv and FC (the classifier has none)."""
        return cnv_layer_bits(self.channels, self.fc, self.weight_bits, self.act_bits).act

    @property
    def final_size(self) -> int:
        """Spatial size after the conv stack (1 for 32x32 inputs)."""
        size = self.image_size
        for i in range(len(self.channels)):
            size -= KERNEL - 1  # unpadded conv
            if i in POOL_AFTER:
                size //= 2
        return size


def _conv(in_ch: int, out_ch: int, weight_bits: int) -> QuantConv2d:
    if weight_bits == 1:
        quant: dict[str, object] = {"weight_quant": SignedBinaryWeightPerTensorConst}
    else:
        quant = {"weight_quant": Int8WeightPerTensorFloat, "weight_bit_width": weight_bits}
    return QuantConv2d(in_ch, out_ch, KERNEL, padding=0, bias=False, **quant)


class CNV(nn.Module):
    """3x32x32 -> convs (+pools) -> FCs -> classes, with a positive scalar output scale."""

    def __init__(self, config: CNVConfig) -> None:
        super().__init__()
        self.config = config
        weight_bits, act_bits = config.layer_weight_bits, config.layer_act_bits
        layers: list[nn.Module] = []
        width = config.in_channels
        for i, ch in enumerate(config.channels):
            layers += [_conv(width, ch, weight_bits[i]), nn.BatchNorm2d(ch), _activation(act_bits[i])]
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(kernel_size=2))
            width = ch
        self.features = nn.Sequential(*layers)
        fcs: list[nn.Module] = []
        width *= config.final_size ** 2
        for i, f in enumerate(config.fc, start=len(config.channels)):
            fcs += [_linear(width, f, weight_bits[i]), nn.BatchNorm1d(f), _activation(act_bits[i])]
            width = f
        self.fcs = nn.Sequential(*fcs)
        self.classifier = _linear(width, config.num_classes, weight_bits[-1])
        # A positive scalar keeps logits in a trainable range; FINN absorbs it into the TopK.
        self.log_out_scale = nn.Parameter(torch.tensor(-math.log(max(width, 1)) / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x * (1.0 / 255.0))
        # Flatten as bnn_pynq does (view); FINN's RemoveCNVtoFCFlatten drops the
        # Transpose+Reshape pair since the spatial size is 1x1.
        x = x.view(x.shape[0], -1)
        return self.classifier(self.fcs(x)) * torch.exp(self.log_out_scale)


def build_cnv(config: CNVConfig) -> CNV:
    """Build an untrained CNV network for ``config``."""
    return CNV(config)
