"""Which folding attributes the solver and samplers may change, per FINN node type.

Each function lists candidate attribute changes; the layer record's own validation (FINN's
divisibility and style rules) rejects the invalid ones. Memory styles and resType are varied
only when ``limits.memory_styles`` is set.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from typing import Any

from estimators.folding import FoldingLimits, divisors, register_knobs

RAM_STYLES = ("auto", "block", "distributed", "ultra")


def _weight_simd_ok(simd: int, pe: int, weight_bits: int, impl: str, limits: FoldingLimits) -> bool:
    if limits.wwidth_max is not None and simd * weight_bits > limits.wwidth_max:
        return False
    return impl == "rtl" or pe * simd * weight_bits <= limits.stream_width_max


@register_knobs("MVAU")
def mvau_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    styles = RAM_STYLES if limits.memory_styles else (layer.ram_style,)
    res_types = ("lut", "dsp") if limits.memory_styles and layer.impl == "hls" else (layer.res_type,)
    thr_styles = (("block", "distributed") if limits.memory_styles and not layer.no_activation
                  else (layer.ram_style_thresholds,))
    for pe, simd in product(divisors(layer.mh), divisors(layer.mw)):
        if not _weight_simd_ok(simd, pe, layer.weight_bits, layer.impl, limits):
            continue
        for ram_style, res_type, thr in product(styles, res_types, thr_styles):
            yield {"pe": pe, "simd": simd, "ram_style": ram_style, "res_type": res_type, "ram_style_thresholds": thr}


@register_knobs("VVAU")
def vvau_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    styles = RAM_STYLES if limits.memory_styles else (layer.ram_style,)
    res_types = ("lut", "dsp") if limits.memory_styles and layer.impl == "hls" else (layer.res_type,)
    for pe, simd in product(divisors(layer.channels), divisors(layer.k_h * layer.k_w)):
        for ram_style, res_type in product(styles, res_types):
            yield {"pe": pe, "simd": simd, "ram_style": ram_style, "res_type": res_type}


@register_knobs("ConvolutionInputGenerator")
def swg_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    styles = ("block", "distributed", "ultra") if limits.memory_styles else (layer.ram_style,)
    for simd in divisors(layer.ifm_channels):
        windows = (False, True) if simd == layer.ifm_channels else (False,)
        for parallel_window, ram_style in product(windows, styles):
            yield {"simd": simd, "parallel_window": parallel_window, "ram_style": ram_style}


@register_knobs("Thresholding")
def thresholding_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    styles = ("distributed", "block") if limits.memory_styles else (layer.ram_style,)
    for pe, ram_style in product(divisors(layer.num_channels), styles):
        yield {"pe": pe, "ram_style": ram_style}


@register_knobs("Pool")
def pool_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for pe in divisors(layer.channels):
        yield {"pe": pe}


@register_knobs("LabelSelect")
def labelselect_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for pe in divisors(layer.labels):
        yield {"pe": pe}


@register_knobs("FMPadding")
def fmpadding_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for simd in divisors(layer.num_channels):
        yield {"simd": simd}


@register_knobs("Reshape")
def reshape_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for pe in divisors(layer.out_shape[-1]):  # the record also needs PE | inp_shape[-1]
        yield {"pe": pe}


@register_knobs("DuplicateStreams")
def duplicatestreams_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for pe in divisors(layer.num_channels):
        yield {"pe": pe}


@register_knobs("GlobalAccPool")
def globalaccpool_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for pe in divisors(layer.num_channels):
        yield {"pe": pe}


@register_knobs("Requant")
def requant_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    for pe in divisors(layer.num_channels):
        yield {"pe": pe}


@register_knobs("ElementwiseBinary")
def elementwise_knobs(layer: Any, limits: FoldingLimits) -> Iterator[dict[str, Any]]:
    # ram_style matters only for a constant operand held in a memory; URAM is left out (FINN's
    # code generation accepts it on Versal only, and the part is not known here)
    styles = (("auto", "block", "distributed") if limits.memory_styles and layer.parameter_memories()
              else (layer.ram_style,))
    for pe, ram_style in product(divisors(layer.out_shape[-1]), styles):
        yield {"pe": pe, "ram_style": ram_style}
