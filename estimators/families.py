"""Fast graph path: the FINN dataflow graph of a TFC, CNV or MobileNet description, built without FINN.

``tfc_graph``/``cnv_graph``/``mobilenet_graph`` predict, record for record, what
``graph_from_finn(to_hw_graph(export_qonnx(build_tfc/build_cnv/build_mobilenet(...))))`` yields
(finn-plus 1.6.1, unfolded: PE = SIMD = 1 except where FINN unfolds otherwise, FINN's default
memory styles), in microseconds instead of seconds.

Precision is per layer. ``weight_bits`` is an int (every weight layer) or one entry per weight
layer, in order, classifier included; ``act_bits`` an int or one entry per activation, i.e. per
weight layer except the classifier. Activation i is the input of weight layer i + 1 (through
any sliding window, padding or pool). ``tfc_layer_bits``/``cnv_layer_bits``/
``mobilenet_layer_bits`` expand and validate both; ``dse.models`` uses the same functions.

FINN's datatype rules restated here (checked against real FINN graphs), each applied per layer:

* the graph input is UINT8; hidden activations are UINT<a>, or BIPOLAR for a = 1;
* a layer with 1-bit weights whose input is a bipolar activation becomes an XNOR-popcount layer,
  and that activation (and every tensor up to the layer: sliding windows, pools) is BINARY;
* MinimizeWeightBitWidth: 1-bit (bipolar) weights on non-bipolar inputs become INT2; b-bit
  integer weights stay INT<b>, since Brevitas' max-stats scaling always uses the extreme value;
* SpecializeLayers picks MVAU_rtl only without activation (the classifier), with input and weight
  widths >= 4 that fit the part's DSP datapath; HLS MVAUs default to resType "lut";
* the classifier's output type is its accumulator type; LabelSelect outputs the smallest UINT
  holding Labels - 1, rounded up to whole bytes (BINARY stays 1 bit, as in FINN).

MobileNet (``dse.models.mobilenet``): every 3x3 conv is padded, so FMPadding_rtl + a sliding
window (SIMD = channels; depthwise for the depthwise convs) come before its MVAU (first conv) or
VVAU_hls (depthwise conv; FINN unfolds it to PE = channels, resType "auto"); the 1x1 pointwise
convs are bare MVAUs. An activation feeding a padded conv cannot be 1-bit (bipolar values cannot
be zero-padded, and FINN would turn a depthwise conv on bipolar inputs into a dense XNOR MVAU).
The last pointwise activation may be; a depthwise one only where the pointwise conv after it has
1-bit weights, since FINN's VVAU cannot output bipolar values, only the BINARY ones that feed an
XNOR layer.

The one value-dependent step is MinimizeAccumulatorWidth: FINN sizes each accumulator from the
trained weights. Here it is the datatype worst case over all weight matrices (FINN's own
``datatype_only`` bound; for XNOR layers the bound over +-1 weights), so ``acc_bits``, the
classifier's ``output_bits`` and LabelSelect's ``input_bits`` may exceed FINN's, never fall short.
"""
from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from estimators.core import dsp_block
from estimators.graph import DataflowGraph
from estimators.mvau import MVAU, Impl
from estimators.streaming import FMPadding, LabelSelect, Pool
from estimators.swg import ConvolutionInputGenerator
from estimators.vvau import VVAU

SUPPORTED_BITS = (1, 2, 4, 8)
DEFAULT_PART = "xcu280-fsvh2892-2L-e"
KERNEL, POOL_AFTER = 3, (1, 3)  # CNV topology, as dse.models.cnv
PADDING = 1  # MobileNet's 3x3 convs, as dse.models.mobilenet
Bits = int | Sequence[int]
# (activation, weight, accumulator) widths of the DSP datapath (finn.util.basic.get_dsp_datapath_limits)
_DSP_LIMITS = {"DSP58": (24, 27, 58), "DSP48E2": (18, 27, 48), "DSP48E1": (18, 25, 48)}


@dataclass(frozen=True, slots=True)
class _DType:
    """A FINN integer datatype: bits, signedness and value range."""

    bits: int
    signed: bool
    lo: int
    hi: int


def _uint(bits: int) -> _DType:
    return _DType(bits, False, 0, 2**bits - 1)


def _int(bits: int) -> _DType:
    return _DType(bits, True, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


BIPOLAR, BINARY = _DType(1, True, -1, 1), _DType(1, False, 0, 1)


def input_dtype(name: str) -> _DType:
    """The graph input's FINN datatype by name: UINT<b>, INT<b>, BIPOLAR or BINARY."""
    if name in ("BIPOLAR", "BINARY"):
        return BIPOLAR if name == "BIPOLAR" else BINARY
    for prefix, make in (("UINT", _uint), ("INT", _int)):
        bits = name.removeprefix(prefix)
        if name.startswith(prefix) and bits.isdigit() and int(bits) >= (1 if prefix == "UINT" else 2):
            return make(int(bits))
    raise ValueError(f"unsupported graph input datatype {name!r} (UINT<b>, INT<b>, BIPOLAR or BINARY)")


def _acc_dtype(mw: int, inp: _DType, w_lo: int, w_hi: int) -> _DType:
    """Worst-case accumulator type of an MW-long dot product (MinimizeAccumulatorWidth's rule)."""
    products = [w * x for w in (w_lo, w_hi) for x in (inp.lo, inp.hi)]
    lo, hi = mw * min(products), mw * max(products)
    if lo >= 0:
        return _uint(hi.bit_length())
    return _int((max(-lo, hi + 1) - 1).bit_length() + 1)


class _Namer:
    """FINN's GiveUniqueNodeNames: <op type>_<impl>_<running index per specialized op type>."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def __call__(self, op: str) -> str:
        self._seen[op] += 1
        return f"{op}_{self._seen[op] - 1}"


def _rtl_possible(inp: _DType, w_bits: int, acc: _DType, part: str) -> bool:
    """SpecializeLayers' choice for an MVAU without activation and with signed, narrow-range weights."""
    max_act, max_w, max_acc = _DSP_LIMITS[dsp_block(part)]
    return (inp.bits >= 4 and w_bits >= 4 and inp.bits - int(inp.signed) < max_act
            and w_bits <= max_w and acc.bits <= max_acc)


def _weights(length: int, inp: _DType, weight_bits: int) -> tuple[bool, int, _DType]:
    """(XNOR layer?, stored weight bits, accumulator type) of a ``length``-long dot product."""
    if inp == BINARY and weight_bits == 1:  # XNOR-popcount: weights stored as BINARY, accumulated as +-1
        return True, 1, _acc_dtype(length, BINARY, -1, 1)
    w = _int(2 if weight_bits == 1 else weight_bits)  # bipolar weights on integer inputs: INT2
    return False, w.bits, _acc_dtype(length, inp, w.lo, w.hi)


def _mvau(name: _Namer, mw: int, mh: int, inp: _DType, weight_bits: int, out: _DType | None,
          part: str, vectors: int = 1) -> tuple[MVAU, _DType]:
    """One MVAU (``out`` None: no activation) and its output datatype."""
    xnor, w_bits, acc = _weights(mw, inp, weight_bits)
    impl: Impl = "rtl" if out is None and not xnor and _rtl_possible(inp, w_bits, acc, part) else "hls"
    odt = acc if out is None else out
    layer = MVAU(name=name(f"MVAU_{impl}"), impl=impl, mw=mw, mh=mh, pe=1, simd=1, input_bits=inp.bits,
                 input_signed=inp.signed, weight_bits=w_bits, output_bits=odt.bits, acc_bits=acc.bits,
                 no_activation=out is None, res_type="lut" if impl == "hls" else "auto",
                 num_input_vectors=vectors)
    return layer, odt


def _label_select(name: _Namer, labels: int, inp: _DType) -> LabelSelect:
    # LabelSelect's own rule: smallest type for Labels - 1, widened to bytes unless it is BINARY
    bits = (labels - 1).bit_length()
    out_bits = 1 if bits <= 1 else -(-bits // 8) * 8
    return LabelSelect(name=name("LabelSelect_hls"), labels=labels, pe=1, k=1, input_bits=inp.bits,
                       output_bits=out_bits, input_signed=inp.signed)




# --- per-layer precision ------------------------------------------------------------------------

class LayerBits(NamedTuple):
    """Bits per weight layer (classifier last) and per activation (every weight layer but the
    classifier), with the layer names they belong to."""

    weight: tuple[int, ...]
    act: tuple[int, ...]
    layers: tuple[str, ...]


def _expand(what: str, bits: Bits, layers: tuple[str, ...], kind: str) -> tuple[int, ...]:
    if not isinstance(bits, Iterable):
        value = operator.index(bits)
        if value not in SUPPORTED_BITS:
            raise ValueError(f"{what} must be one of {SUPPORTED_BITS} or one per {kind}, got {bits!r}")
        return (value,) * len(layers)
    values = tuple(bits)
    if len(values) != len(layers):
        raise ValueError(f"{what} must be an int or have {len(layers)} entries, one per {kind} "
                         f"({', '.join(layers)}), got {len(values)}: {values}")
    for i, (layer, value) in enumerate(zip(layers, values)):
        if value not in SUPPORTED_BITS:
            raise ValueError(f"{what}[{i}] (layer {layer}) must be one of {SUPPORTED_BITS}, got {value!r}")
    return tuple(operator.index(v) for v in values)


def _layer_bits(weight_bits: Bits, act_bits: Bits, layers: tuple[str, ...]) -> LayerBits:
    return LayerBits(_expand("weight_bits", weight_bits, layers, "weight layer"),
                     _expand("act_bits", act_bits, layers[:-1], "activation (every weight layer but the classifier)"),
                     layers)


def tfc_layer_bits(hidden: Sequence[int], weight_bits: Bits, act_bits: Bits) -> LayerBits:
    """Per-layer bits of a TFC: weight layers fc0..fc<n-1>, classifier."""
    return _layer_bits(weight_bits, act_bits, (*(f"fc{i}" for i in range(len(hidden))), "classifier"))


def cnv_layer_bits(channels: Sequence[int], fc: Sequence[int], weight_bits: Bits, act_bits: Bits) -> LayerBits:
    """Per-layer bits of a CNV: weight layers conv0..conv5, fc0..fc<n-1>, classifier."""
    names = (*(f"conv{i}" for i in range(len(channels))), *(f"fc{i}" for i in range(len(fc))), "classifier")
    return _layer_bits(weight_bits, act_bits, names)


def mobilenet_layer_bits(channels: Sequence[int], weight_bits: Bits, act_bits: Bits) -> LayerBits:
    """Per-layer bits of a MobileNet: weight layers conv0, dw1, pw1, ..., dw<n>, pw<n>, classifier
    (n = len(channels) - 1 blocks). Where FINN cannot map a 1-bit activation, it is refused (see
    the module docstring): before a padded conv, and after a depthwise conv unless the pointwise
    conv it feeds has 1-bit weights."""
    blocks = range(1, len(channels))
    bits = _layer_bits(weight_bits, act_bits,
                       ("conv0", *(f"{kind}{i}" for i in blocks for kind in ("dw", "pw")), "classifier"))
    for i, (layer, a) in enumerate(zip(bits.layers, bits.act)):
        if a != 1:
            continue
        where = f"act_bits[{i}] (layer {layer}) must be one of {SUPPORTED_BITS[1:]} here, got 1"
        after = bits.layers[i + 1]
        if layer.startswith("dw") and bits.weight[i + 1] != 1:
            raise ValueError(f"{where}: FINN's VVAU cannot output bipolar values, so a 1-bit activation "
                             f"after a depthwise conv needs 1-bit weights in {after} (an XNOR layer), "
                             f"not {bits.weight[i + 1]}-bit")
        if not layer.startswith("dw") and after != "classifier":
            raise ValueError(f"{where}: it feeds the padded depthwise conv {after}, and bipolar activations "
                             "cannot be zero-padded")
    return bits


def _act_dtypes(bits: LayerBits) -> tuple[_DType, ...]:
    """Each activation's type: UINT<a>; 1-bit ones BIPOLAR, or BINARY where they feed an XNOR layer
    (the next weight layer, with 1-bit weights)."""
    return tuple(_uint(a) if a > 1 else BINARY if bits.weight[i + 1] == 1 else BIPOLAR
                 for i, a in enumerate(bits.act))


# --- graphs -------------------------------------------------------------------------------------

def _check_positive(**widths: int) -> None:
    for what, value in widths.items():
        if value < 1:
            raise ValueError(f"{what} must be >= 1, got {value}")


def _dense_tail(name: _Namer, layers: list[object], width: int, inp: _DType, widths: tuple[int, ...],
                num_classes: int, bits: LayerBits, part: str) -> DataflowGraph:
    """The last ``len(widths)`` FC layers with activations, the classifier without, then LabelSelect."""
    acts, first = _act_dtypes(bits), len(bits.act) - len(widths)
    for i, h in enumerate(widths, start=first):
        layer, inp = _mvau(name, width, h, inp, bits.weight[i], acts[i], part)
        layers.append(layer)
        width = h
    classifier, logits = _mvau(name, width, num_classes, inp, bits.weight[-1], None, part)
    layers += [classifier, _label_select(name, num_classes, logits)]
    return DataflowGraph(tuple(layers))


def tfc_graph(hidden: tuple[int, ...], weight_bits: Bits, act_bits: Bits, *, in_features: int = 784,
              num_classes: int = 10, part: str = DEFAULT_PART, input_datatype: str = "UINT8") -> DataflowGraph:
    """FINN's unfolded dataflow graph of ``dse.models.tfc`` for this description (see module doc).
    ``input_datatype`` is the graph input's (UINT8 pixels by default; integer features of a user's
    dataset); BIPOLAR inputs into 1-bit weights are streamed as BINARY into an XNOR layer, as FINN does."""
    if not hidden:
        raise ValueError("hidden needs at least one width")
    _check_positive(in_features=in_features, num_classes=num_classes,
                    **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
    bits = tfc_layer_bits(hidden, weight_bits, act_bits)
    inp = input_dtype(input_datatype)
    if inp == BIPOLAR and bits.weight[0] == 1:
        inp = BINARY
    return _dense_tail(_Namer(), [], in_features, inp, tuple(hidden), num_classes, bits, part)


def _window(name: _Namer, channels: int, size: int, inp: _DType, kernel: int, stride: int = 1,
            depthwise: bool = False) -> ConvolutionInputGenerator:
    return ConvolutionInputGenerator(name=name("ConvolutionInputGenerator_rtl"), ifm_channels=channels,
                                     ifm_dim=(size, size), conv_kernel_dim=(kernel, kernel), simd=channels,
                                     input_bits=inp.bits, input_signed=inp.signed, stride=(stride, stride),
                                     depthwise=depthwise)


def cnv_graph(channels: tuple[int, ...], fc: tuple[int, ...], weight_bits: Bits, act_bits: Bits, *,
              in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
              part: str = DEFAULT_PART) -> DataflowGraph:
    """FINN's unfolded dataflow graph of ``dse.models.cnv`` for this description (see module doc).

    Each conv is a sliding window (SIMD = channels) plus an MVAU; each max-pool a depthwise 2x2
    stride-2 window plus Pool_hls (PE = channels), as finn-plus maps MaxPoolNHWC.
    """
    if len(channels) != 6 or not fc:
        raise ValueError(f"CNV needs 6 conv widths and at least one FC width, got {channels}, {fc}")
    _check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                    **{f"channels[{i}]": c for i, c in enumerate(channels)},
                    **{f"fc[{i}]": f for i, f in enumerate(fc)})
    bits = cnv_layer_bits(channels, fc, weight_bits, act_bits)
    acts, name, layers = _act_dtypes(bits), _Namer(), []
    size, width, inp = image_size, in_channels, _uint(8)
    for i, ch in enumerate(channels):
        if size < KERNEL:
            raise ValueError(f"image_size {image_size} is too small for CNV's six 3x3 convs")
        swg = _window(name, width, size, inp, KERNEL)
        size -= KERNEL - 1
        conv, inp = _mvau(name, KERNEL * KERNEL * width, ch, inp, bits.weight[i], acts[i], part, size * size)
        layers += [swg, conv]
        width = ch
        if i in POOL_AFTER:
            if size < 2:
                raise ValueError(f"image_size {image_size} is too small for CNV's max-pools")
            layers.append(_window(name, ch, size, inp, 2, 2, depthwise=True))
            size //= 2
            layers.append(Pool(name=name("Pool_hls"), channels=ch, pe=ch, kernel_size=(2, 2),
                               out_img_dims=(size, size), input_bits=inp.bits, output_bits=inp.bits,
                               input_signed=inp.signed, output_signed=inp.signed, size=0))
    if size != 1:
        raise ValueError(f"image_size {image_size} leaves a {size}x{size} map: FINN removes the flatten "
                         "before the FCs only for 1x1 (use image_size 32..35)")
    return _dense_tail(name, layers, width, inp, tuple(fc), num_classes, bits, part)


def _padded_window(name: _Namer, channels: int, size: int, inp: _DType, stride: int,
                   depthwise: bool) -> tuple[FMPadding, ConvolutionInputGenerator, int]:
    """FMPadding + sliding window of one padded 3x3 conv, and its output size."""
    pad = FMPadding(name=name("FMPadding_rtl"), img_dim=(size, size), padding=(PADDING,) * 4,
                    num_channels=channels, simd=channels, input_bits=inp.bits, input_signed=inp.signed)
    swg = _window(name, channels, size + 2 * PADDING, inp, KERNEL, stride, depthwise)
    return pad, swg, swg.ofm_dim[0]


def mobilenet_graph(channels: tuple[int, ...], strides: tuple[int, ...], weight_bits: Bits, act_bits: Bits, *,
                    in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                    part: str = DEFAULT_PART) -> DataflowGraph:
    """FINN's unfolded dataflow graph of ``dse.models.mobilenet`` for this description (see module doc).

    ``channels[0]``/``strides[0]`` are the first conv's, ``channels[i]``/``strides[i]`` block i's
    pointwise width and depthwise stride; the strides must bring the image down to 1x1.
    """
    if len(channels) < 2 or len(strides) != len(channels) or any(s not in (1, 2) for s in strides):
        raise ValueError(f"MobileNet needs >= 2 widths and one stride (1 or 2) per width, got {channels}, {strides}")
    _check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                    **{f"channels[{i}]": c for i, c in enumerate(channels)})
    bits = mobilenet_layer_bits(channels, weight_bits, act_bits)
    acts, name = _act_dtypes(bits), _Namer()
    pad, swg, size = _padded_window(name, in_channels, image_size, _uint(8), strides[0], depthwise=False)
    conv, inp = _mvau(name, KERNEL * KERNEL * in_channels, channels[0], _uint(8), bits.weight[0], acts[0], part,
                      size * size)
    layers: list[object] = [pad, swg, conv]
    width = channels[0]
    for block, (ch, stride) in enumerate(zip(channels[1:], strides[1:])):
        dw, pw = 1 + 2 * block, 2 + 2 * block  # indices of the depthwise and pointwise layers
        pad, swg, size = _padded_window(name, width, size, inp, stride, depthwise=True)
        _, w_bits, acc = _weights(KERNEL * KERNEL, inp, bits.weight[dw])
        out = acts[dw]
        vvau = VVAU(name=name("VVAU_hls"), impl="hls", channels=width, k_h=KERNEL, k_w=KERNEL, dim_h=size,
                    dim_w=size, pe=width, simd=1, input_bits=inp.bits, input_signed=inp.signed,
                    weight_bits=w_bits, output_bits=out.bits, acc_bits=acc.bits)
        conv, inp = _mvau(name, width, ch, out, bits.weight[pw], acts[pw], part, size * size)
        layers += [pad, swg, vvau, conv]
        width = ch
    if size != 1:
        raise ValueError(f"strides {strides} reduce image_size {image_size} to {size}x{size}; they must reduce it "
                         "to 1x1 (FINN removes the flatten before the classifier only for 1x1)")
    return _dense_tail(name, layers, width, inp, (), num_classes, bits, part)
