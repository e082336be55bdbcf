"""CNV-style quantized conv nets (Brevitas), with the topology of FINN's bnn_pynq CNV.

Six unpadded 3x3 convs (max-pool after the 2nd and 4th), then three FCs. Like the TFC family,
the graph input is raw 8-bit pixels and there is no input quantizer (FINN would map one to a
float Thresholding layer); the scaling to [0, 1] is a scalar Mul that FINN's streamlining
moves past the first conv. The max-pools follow the quantized activations, as in bnn_pynq:
FINN then sees MultiThreshold -> MaxPool and maps the pool to a depthwise sliding window plus
Pool_hls on integer values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from brevitas.nn import QuantConv2d
from brevitas.quant import Int8WeightPerTensorFloat, SignedBinaryWeightPerTensorConst
from torch import nn

# Same quantizer choices as TFC, so both families mean the same thing by "wXaY".
from dse.models.tfc import SUPPORTED_BITS, _activation, _linear

KERNEL = 3
POOL_AFTER = (1, 3)  # indices of the convs followed by a 2x2 max-pool (as in bnn_pynq CNV)


@dataclass(frozen=True, slots=True, kw_only=True)
class CNVConfig:
    """Shape and precision of one CNV. Channel and FC widths are after any pruning."""

    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256)
    fc: tuple[int, ...] = (512, 512)
    weight_bits: int
    act_bits: int
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32

    def __post_init__(self) -> None:
        if len(self.channels) != 6 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be 6 positive widths, got {self.channels}")
        if not self.fc or any(f < 1 for f in self.fc):
            raise ValueError(f"fc widths must be positive, got {self.fc}")
        for name in ("weight_bits", "act_bits"):
            if getattr(self, name) not in SUPPORTED_BITS:
                raise ValueError(f"{name} must be one of {SUPPORTED_BITS}, got {getattr(self, name)}")
        for name in ("in_channels", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.final_size < 1:
            raise ValueError(f"image_size {self.image_size} is too small for CNV's six 3x3 convs")

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
        layers: list[nn.Module] = []
        width = config.in_channels
        for i, ch in enumerate(config.channels):
            layers += [_conv(width, ch, config.weight_bits), nn.BatchNorm2d(ch), _activation(config.act_bits)]
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(kernel_size=2))
            width = ch
        self.features = nn.Sequential(*layers)
        fcs: list[nn.Module] = []
        width *= config.final_size ** 2
        for f in config.fc:
            fcs += [_linear(width, f, config.weight_bits), nn.BatchNorm1d(f), _activation(config.act_bits)]
            width = f
        self.fcs = nn.Sequential(*fcs)
        self.classifier = _linear(width, config.num_classes, config.weight_bits)
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
