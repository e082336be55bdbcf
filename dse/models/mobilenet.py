"""MobileNet-style quantized nets (Brevitas) with depthwise-separable convolutions.

Topology: a regular 3x3 conv (padding 1) + BN + act, then N depthwise-separable blocks of
[depthwise 3x3 conv (groups=channels, padding 1) + BN + act, pointwise 1x1 conv + BN + act],
then a flatten and one FC classifier. The strides must bring the image down to 1x1, so no
average pool is needed: FINN's estimate flow has no clean mapping for a global average pool
(GlobalAveragePool -> GlobalAccPool is outside step_convert_to_hw's inferers), whereas a 1x1
flatten is dropped by RemoveCNVtoFCFlatten, exactly as for CNV.

How FINN (finn-plus 1.6.1) maps it, per layer (checked at w2a2, w4a4, w1a2): every padded
3x3 conv becomes FMPadding_rtl + ConvolutionInputGenerator_rtl, followed by MVAU_hls for the
first conv and VVAU_hls (thresholds embedded) for each depthwise conv, whose sliding window is
depthwise (its SIMD tied to the VVAU's PE). A 1x1 stride-1 pointwise conv is lowered straight
to a MatMul, so it is a bare MVAU_hls with no sliding window. The classifier has no activation
and becomes MVAU_rtl at >= 4-bit weights and inputs, else MVAU_hls; then LabelSelect_hls. The
whole graph is one dataflow partition (only the input NCHW->NHWC Transpose stays outside).

As for TFC and CNV, the graph input is raw 8-bit pixels with no input quantizer; the scaling
to [0, 1] is a scalar Mul that FINN's streamlining moves into the first layer, and a positive
scalar output scale is absorbed into the TopK.

Precision may differ per layer, as for TFC and CNV: ``weight_bits`` is an int or one entry per
weight layer (first conv, then depthwise and pointwise conv of each block, then the classifier),
``act_bits`` an int or one entry per weight layer but the classifier.

Binary (1-bit, bipolar) activations are rejected wherever they feed a padded conv, i.e. after
the first conv and after every pointwise conv but the last. FINN does convert such a net, but
not onto the VVAU path: ConvertBipolarMatMulToXnorPopcount runs before
InferVectorVectorActivation, so each depthwise conv on bipolar inputs becomes a dense XNOR
MVAU_hls over the block-diagonal (9C x C) matrix, C times the work of a VVAU. Also the zero
padding is not a bipolar value (+-1), so padded borders would not mean what they mean in
PyTorch. After the last pointwise conv (feeding the classifier) 1-bit activations are fine.
After a depthwise conv they are only where the pointwise conv it feeds has 1-bit weights: FINN
then makes that conv an XNOR MVAU and the activation BINARY, which the VVAU can output; a VVAU
with bipolar outputs is refused by InferVectorVectorActivation (out_scale must be 1). Binary
weights with >= 2-bit activations are fine everywhere (VVAU_hls with 1-bit weights).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from brevitas.nn import QuantConv2d
from brevitas.quant import Int8WeightPerTensorFloat, SignedBinaryWeightPerTensorConst
from torch import nn

# Same quantizer choices as TFC/CNV, so all families mean the same thing by "wXaY".
from dse.models.tfc import _activation, _freeze_bits, _linear
from estimators.families import mobilenet_layer_bits

KERNEL = 3
PADDING = 1


def _out_size(size: int, stride: int) -> int:
    return (size + 2 * PADDING - KERNEL) // stride + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileNetConfig:
    """Shape and precision of one MobileNet-style net.

    ``channels[0]`` is the first (regular) conv's output width and ``channels[i]`` (i >= 1)
    block i's pointwise output width; ``strides[0]`` is the first conv's stride and
    ``strides[i]`` block i's depthwise stride. The strides must reduce the image to 1x1. Bits
    are an int or one entry per layer (see the module docstring).
    """

    channels: tuple[int, ...] = (16, 32, 64, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2, 2, 2)
    weight_bits: int | tuple[int, ...]
    act_bits: int | tuple[int, ...]
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32

    def __post_init__(self) -> None:
        if len(self.channels) < 2 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be >= 2 positive widths (first conv + blocks), got {self.channels}")
        if len(self.strides) != len(self.channels) or any(s not in (1, 2) for s in self.strides):
            raise ValueError(f"strides must be 1 or 2, one per entry of channels, got {self.strides}")
        _freeze_bits(self)
        mobilenet_layer_bits(self.channels, self.weight_bits, self.act_bits)  # raises ValueError if invalid
        for name in ("in_channels", "num_classes", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.final_size != 1:
            raise ValueError(f"strides {self.strides} reduce image_size {self.image_size} to "
                             f"{self.final_size}x{self.final_size}; they must reduce it to 1x1")

    @property
    def layer_weight_bits(self) -> tuple[int, ...]:
        """Weight bits of every weight layer: first conv, (depthwise, pointwise) per block, classifier."""
        return mobilenet_layer_bits(self.channels, self.weight_bits, self.act_bits).weight

    @property
    def layer_act_bits(self) -> tuple[int, ...]:
        """Activation bits after the first conv and after each depthwise and pointwise conv."""
        return mobilenet_layer_bits(self.channels, self.weight_bits, self.act_bits).act

    @property
    def blocks(self) -> int:
        return len(self.channels) - 1

    @property
    def sizes(self) -> tuple[int, ...]:
        """Spatial size after the first conv and after each block."""
        out, size = [], self.image_size
        for s in self.strides:
            size = _out_size(size, s)
            out.append(size)
        return tuple(out)

    @property
    def final_size(self) -> int:
        return self.sizes[-1]


def _conv(in_ch: int, out_ch: int, weight_bits: int, *, kernel: int, stride: int = 1,
          groups: int = 1) -> QuantConv2d:
    if weight_bits == 1:
        quant: dict[str, object] = {"weight_quant": SignedBinaryWeightPerTensorConst}
    else:
        quant = {"weight_quant": Int8WeightPerTensorFloat, "weight_bit_width": weight_bits}
    return QuantConv2d(in_ch, out_ch, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                       bias=False, **quant)


class MobileNet(nn.Module):
    """3x32x32 -> conv -> depthwise-separable blocks -> 1x1 -> FC -> classes."""

    def __init__(self, config: MobileNetConfig) -> None:
        super().__init__()
        self.config = config
        w, a = config.layer_weight_bits, config.layer_act_bits
        first = config.channels[0]
        layers: list[nn.Module] = [
            _conv(config.in_channels, first, w[0], kernel=KERNEL, stride=config.strides[0]),
            nn.BatchNorm2d(first), _activation(a[0]),
        ]
        width = first
        for i, (ch, stride) in enumerate(zip(config.channels[1:], config.strides[1:])):
            dw, pw = 1 + 2 * i, 2 + 2 * i  # layer indices of the block's depthwise and pointwise convs
            layers += [
                _conv(width, width, w[dw], kernel=KERNEL, stride=stride, groups=width),  # depthwise
                nn.BatchNorm2d(width), _activation(a[dw]),
                _conv(width, ch, w[pw], kernel=1),  # pointwise
                nn.BatchNorm2d(ch), _activation(a[pw]),
            ]
            width = ch
        self.features = nn.Sequential(*layers)
        self.classifier = _linear(width, config.num_classes, w[-1])
        # A positive scalar keeps logits in a trainable range; FINN absorbs it into the TopK.
        self.log_out_scale = nn.Parameter(torch.tensor(-math.log(max(width, 1)) / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x * (1.0 / 255.0))
        x = x.view(x.shape[0], -1)  # 1x1 spatial: FINN's RemoveCNVtoFCFlatten drops it
        return self.classifier(x) * torch.exp(self.log_out_scale)


def build_mobilenet(config: MobileNetConfig) -> MobileNet:
    """Build an untrained MobileNet-style network for ``config``."""
    return MobileNet(config)
