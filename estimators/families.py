"""Fast graph path: the FINN dataflow graph of a TFC or CNV description, built without FINN.

``tfc_graph``/``cnv_graph`` predict, record for record, what
``graph_from_finn(to_hw_graph(export_qonnx(build_tfc/build_cnv(...))))`` yields (finn-plus 1.6.1,
unfolded: PE = SIMD = 1, FINN's default memory styles), in microseconds instead of seconds.

FINN's datatype rules restated here (checked against real FINN graphs):

* the graph input is UINT8; hidden activations are UINT<a>, or BIPOLAR for a = 1;
* bipolar activations times 1-bit weights become XNOR-popcount layers, and every tensor between
  them (sliding windows, pools included) BINARY;
* MinimizeWeightBitWidth: 1-bit (bipolar) weights on non-bipolar inputs become INT2; b-bit
  integer weights stay INT<b>, since Brevitas' max-stats scaling always uses the extreme value;
* SpecializeLayers picks MVAU_rtl only without activation (the classifier), with input and weight
  widths >= 4 that fit the part's DSP datapath; HLS MVAUs default to resType "lut";
* the classifier's output type is its accumulator type; LabelSelect outputs the smallest UINT
  holding Labels - 1, rounded up to whole bytes (BINARY stays 1 bit, as in FINN).

The one value-dependent step is MinimizeAccumulatorWidth: FINN sizes each accumulator from the
trained weights. Here it is the datatype worst case over all weight matrices (FINN's own
``datatype_only`` bound; for XNOR layers the bound over +-1 weights), so ``acc_bits``, the
classifier's ``output_bits`` and LabelSelect's ``input_bits`` may exceed FINN's, never fall short.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from estimators.core import dsp_block
from estimators.graph import DataflowGraph
from estimators.mvau import MVAU, Impl
from estimators.streaming import LabelSelect, Pool
from estimators.swg import ConvolutionInputGenerator

SUPPORTED_BITS = (1, 2, 4, 8)
DEFAULT_PART = "xcu280-fsvh2892-2L-e"
KERNEL, POOL_AFTER = 3, (1, 3)  # CNV topology, as dse.models.cnv
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


def _mvau(name: _Namer, mw: int, mh: int, inp: _DType, weight_bits: int, out: _DType | None,
          part: str, vectors: int = 1) -> tuple[MVAU, _DType]:
    """One MVAU (``out`` None: no activation) and its output datatype."""
    xnor = inp == BINARY and weight_bits == 1
    if xnor:  # XNOR-popcount: weights stored as BINARY, accumulated as +-1
        w_bits, acc = 1, _acc_dtype(mw, BINARY, -1, 1)
    else:
        w_bits = 2 if weight_bits == 1 else weight_bits  # bipolar weights on integer inputs: INT2
        w = _int(w_bits)
        acc = _acc_dtype(mw, inp, w.lo, w.hi)
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


def _act_dtype(weight_bits: int, act_bits: int) -> _DType:
    """Hidden activations: UINT<a>; 1-bit ones BIPOLAR, or BINARY where they feed XNOR layers."""
    if act_bits > 1:
        return _uint(act_bits)
    return BINARY if weight_bits == 1 else BIPOLAR


def _check(weight_bits: int, act_bits: int, **widths: int) -> None:
    for what, bits in (("weight_bits", weight_bits), ("act_bits", act_bits)):
        if bits not in SUPPORTED_BITS:
            raise ValueError(f"{what} must be one of {SUPPORTED_BITS}, got {bits}")
    for what, value in widths.items():
        if value < 1:
            raise ValueError(f"{what} must be >= 1, got {value}")


def _dense_tail(name: _Namer, layers: list[object], width: int, inp: _DType, widths: tuple[int, ...],
                num_classes: int, weight_bits: int, act: _DType, part: str) -> DataflowGraph:
    """FC layers with activations, the classifier without, then LabelSelect."""
    for h in widths:
        layer, inp = _mvau(name, width, h, inp, weight_bits, act, part)
        layers.append(layer)
        width = h
    classifier, logits = _mvau(name, width, num_classes, inp, weight_bits, None, part)
    layers += [classifier, _label_select(name, num_classes, logits)]
    return DataflowGraph(tuple(layers))


def tfc_graph(hidden: tuple[int, ...], weight_bits: int, act_bits: int, *, in_features: int = 784,
              num_classes: int = 10, part: str = DEFAULT_PART) -> DataflowGraph:
    """FINN's unfolded dataflow graph of ``dse.models.tfc`` for this description (see module doc)."""
    if not hidden:
        raise ValueError("hidden needs at least one width")
    _check(weight_bits, act_bits, in_features=in_features, num_classes=num_classes,
           **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
    act = _act_dtype(weight_bits, act_bits)
    return _dense_tail(_Namer(), [], in_features, _uint(8), tuple(hidden), num_classes, weight_bits, act, part)


def cnv_graph(channels: tuple[int, ...], fc: tuple[int, ...], weight_bits: int, act_bits: int, *,
              in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
              part: str = DEFAULT_PART) -> DataflowGraph:
    """FINN's unfolded dataflow graph of ``dse.models.cnv`` for this description (see module doc).

    Each conv is a sliding window (SIMD = channels) plus an MVAU; each max-pool a depthwise 2x2
    stride-2 window plus Pool_hls (PE = channels), as finn-plus maps MaxPoolNHWC.
    """
    if len(channels) != 6 or not fc:
        raise ValueError(f"CNV needs 6 conv widths and at least one FC width, got {channels}, {fc}")
    _check(weight_bits, act_bits, in_channels=in_channels, num_classes=num_classes, image_size=image_size,
           **{f"channels[{i}]": c for i, c in enumerate(channels)}, **{f"fc[{i}]": f for i, f in enumerate(fc)})
    act = _act_dtype(weight_bits, act_bits)
    name, layers = _Namer(), []
    size, width, inp = image_size, in_channels, _uint(8)
    for i, ch in enumerate(channels):
        if size < KERNEL:
            raise ValueError(f"image_size {image_size} is too small for CNV's six 3x3 convs")
        swg = ConvolutionInputGenerator(name=name("ConvolutionInputGenerator_rtl"), ifm_channels=width,
                                        ifm_dim=(size, size), conv_kernel_dim=(KERNEL, KERNEL), simd=width,
                                        input_bits=inp.bits, input_signed=inp.signed)
        size -= KERNEL - 1
        conv, inp = _mvau(name, KERNEL * KERNEL * width, ch, inp, weight_bits, act, part, size * size)
        layers += [swg, conv]
        width = ch
        if i in POOL_AFTER:
            if size < 2:
                raise ValueError(f"image_size {image_size} is too small for CNV's max-pools")
            layers.append(ConvolutionInputGenerator(
                name=name("ConvolutionInputGenerator_rtl"), ifm_channels=ch, ifm_dim=(size, size),
                conv_kernel_dim=(2, 2), simd=ch, input_bits=inp.bits, input_signed=inp.signed,
                stride=(2, 2), depthwise=True))
            size //= 2
            layers.append(Pool(name=name("Pool_hls"), channels=ch, pe=ch, kernel_size=(2, 2),
                               out_img_dims=(size, size), input_bits=inp.bits, output_bits=inp.bits,
                               input_signed=inp.signed, output_signed=inp.signed, size=0))
    if size != 1:
        raise ValueError(f"image_size {image_size} leaves a {size}x{size} map: FINN removes the flatten "
                         "before the FCs only for 1x1 (use image_size 32..35)")
    return _dense_tail(name, layers, width, inp, tuple(fc), num_classes, weight_bits, act, part)
