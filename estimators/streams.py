"""The AXI-Stream interface of every layer record, as FINN's custom ops report it.

``in_stream(layer)`` / ``out_stream(layer)`` restate finn-plus 1.6.1's get_normal_input_shape,
get_folded_input_shape, get_instream_width and get_input_datatype (and the output counterparts)
of finn/custom_op/fpgadataflow/*.py for data input/output 0. They are what FINN's InsertDWC and
InsertFIFO read when they build the full design (see ``estimators.full_design``).

Two things the records do not keep, and how they show here:
* MVAU keeps only the product of numInputVectors, so its normal shapes are (product, MW/MH)
  rather than FINN's [1, H, W, MW]: same element count and same last axis, which is all that
  stream widths, DWC folding and FIFO sizing depend on.
* MVAU and VVAU do not keep the sign of outputDataType, so their output ``elem_signed`` is None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

from estimators.core import UnknownLayerError
from estimators.dwc import StreamingDataWidthConverter
from estimators.elementwise import ElementwiseBinary
from estimators.fifo import StreamingFIFO
from estimators.globalaccpool import GlobalAccPool
from estimators.mvau import MVAU
from estimators.requant import Requant
from estimators.streaming import DuplicateStreams, FMPadding, LabelSelect, Pool, Reshape
from estimators.swg import ConvolutionInputGenerator
from estimators.thresholding import Thresholding
from estimators.vvau import VVAU

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream as FINN describes it: the tensor shape, its folded (words, elements) shape,
    the unpadded word width and the element datatype (``elem_signed`` None: not kept by the record)."""

    normal_shape: Shape
    folded_shape: Shape
    width_bits: int
    elem_bits: int
    elem_signed: bool | None

    @property
    def elems_per_word(self) -> int:
        return self.folded_shape[-1]

    @property
    def num_elems(self) -> int:
        return math.prod(self.normal_shape)


def _stream(normal: Shape, folded: Shape, bits: int, signed: bool | None) -> Stream:
    # Every FINN op in scope defines its width as (elements per word) x (element bits).
    return Stream(tuple(int(d) for d in normal), tuple(int(d) for d in folded), folded[-1] * bits, bits, signed)


def _fold_last(shape: Shape, per_word: int) -> Shape:
    """FINN's usual folding: the last axis split into (words, elements per word)."""
    return (*shape[:-1], shape[-1] // per_word, per_word)


def _unknown(layer: object) -> Stream:
    raise UnknownLayerError(f"No stream interface for {type(layer).__name__!r}")


@singledispatch
def in_stream(layer: Any) -> Stream:
    """The data input stream (input 0) of ``layer``, as FINN's custom op reports it."""
    return _unknown(layer)


@singledispatch
def in_streams(layer: Any) -> tuple[Stream, ...]:
    """Every streamed data input, in FINN's input order (one for all but ElementwiseBinary)."""
    return (in_stream(layer),)


@singledispatch
def out_stream(layer: Any) -> Stream:
    """The data output stream of ``layer`` (every output, for DuplicateStreams)."""
    return _unknown(layer)


# --- MVAU / VVAU (matrixvectoractivation.py, vectorvectoractivation.py) -------------------------

@in_stream.register
def _(layer: MVAU) -> Stream:
    shape = (layer.num_input_vectors, layer.mw)
    return _stream(shape, _fold_last(shape, layer.simd), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: MVAU) -> Stream:
    shape = (layer.num_input_vectors, layer.mh)
    return _stream(shape, _fold_last(shape, layer.pe), layer.output_bits, None)


@in_stream.register
def _(layer: VVAU) -> Stream:
    # PE channels x SIMD kernel taps per word: folded (1, H, W, SF*NF, SIMD*PE)
    words = (layer.kernel_area // layer.simd) * (layer.channels // layer.pe)
    return _stream((1, layer.dim_h, layer.dim_w, layer.kernel_area * layer.channels),
                   (1, layer.dim_h, layer.dim_w, words, layer.simd * layer.pe),
                   layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: VVAU) -> Stream:
    shape = (1, layer.dim_h, layer.dim_w, layer.channels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.output_bits, None)


# --- ConvolutionInputGenerator (convolutioninputgenerator.py) -----------------------------------

@in_stream.register
def _(layer: ConvolutionInputGenerator) -> Stream:
    shape = (1, *layer.ifm_dim, layer.ifm_channels)
    return _stream(shape, _fold_last(shape, layer.simd), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: ConvolutionInputGenerator) -> Stream:
    # outputDataType equals inputDataType; parallel_window emits a whole K_h x K_w window per word
    window = layer.conv_kernel_dim[0] * layer.conv_kernel_dim[1]
    oh, ow = layer.ofm_dim
    fold = layer.ifm_channels // layer.simd
    folded = (1, oh, ow, fold, window * layer.simd) if layer.parallel_window else (1, oh, ow, window * fold, layer.simd)
    return _stream((1, oh, ow, window * layer.ifm_channels), folded, layer.input_bits, layer.input_signed)


# --- Thresholding (thresholding.py) ------------------------------------------------------------

def _thresholding_shape(layer: Thresholding) -> tuple[Shape, Shape]:
    shape = (*layer.num_input_vectors, layer.num_channels)
    return shape, _fold_last(shape, layer.pe)


@in_stream.register
def _(layer: Thresholding) -> Stream:
    shape, folded = _thresholding_shape(layer)
    return _stream(shape, folded, layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: Thresholding) -> Stream:
    shape, folded = _thresholding_shape(layer)
    return _stream(shape, folded, layer.output_bits, layer.output_signed)


# --- Pool, LabelSelect, FMPadding, Reshape, DuplicateStreams (streaming.py) --------------------

@in_stream.register
def _(layer: Pool) -> Stream:
    # input is the depthwise window stream: K*C elements per pixel, PE per word
    shape = (layer.batch_size, *layer.out_img_dims, math.prod(layer.kernel_size) * layer.channels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: Pool) -> Stream:
    shape = (layer.batch_size, *layer.out_img_dims, layer.channels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.output_bits, layer.output_signed)


@in_stream.register
def _(layer: LabelSelect) -> Stream:
    shape = (*layer.num_input_vectors, layer.labels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: LabelSelect) -> Stream:
    # one label index per word
    shape = (*layer.num_input_vectors, layer.k)
    return _stream(shape, (*shape, 1), layer.output_bits, layer.output_signed)


@in_stream.register
def _(layer: FMPadding) -> Stream:
    # FINN's FMPadding shapes ignore numInputVectors (always batch 1)
    shape = (1, *layer.img_dim, layer.num_channels)
    return _stream(shape, _fold_last(shape, layer.simd), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: FMPadding) -> Stream:
    shape = (1, *layer.out_dim, layer.num_channels)
    return _stream(shape, _fold_last(shape, layer.simd), layer.input_bits, layer.input_signed)


@in_stream.register
def _(layer: Reshape) -> Stream:
    return _stream(layer.inp_shape, _fold_last(layer.inp_shape, layer.pe), layer.dtype_bits, layer.dtype_signed)


@out_stream.register
def _(layer: Reshape) -> Stream:
    return _stream(layer.out_shape, _fold_last(layer.out_shape, layer.pe), layer.dtype_bits, layer.dtype_signed)


def _duplicate(layer: DuplicateStreams) -> Stream:
    shape = (*layer.num_input_vectors, layer.num_channels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.input_bits, layer.input_signed)


in_stream.register(DuplicateStreams, _duplicate)
out_stream.register(DuplicateStreams, _duplicate)


# --- ElementwiseBinary, GlobalAccPool (elementwise_binary.py, globalaccpool.py) ---------------

def _elementwise_input(layer: ElementwiseBinary, ind: int) -> Stream:
    # a broadcast operand (last axis 1) is folded as (..., 1, 1) but its words carry PE copies
    shape = (layer.lhs_shape, layer.rhs_shape)[ind]
    bits, signed = (layer.lhs_bits, layer.rhs_bits)[ind], (layer.lhs_signed, layer.rhs_signed)[ind]
    return Stream(shape, layer.folded_input_shape(ind), layer.instream_width(ind), bits, signed)


@in_stream.register
def _(layer: ElementwiseBinary) -> Stream:
    return _elementwise_input(layer, 0)


@in_streams.register
def _(layer: ElementwiseBinary) -> tuple[Stream, ...]:
    return tuple(_elementwise_input(layer, i) for i in (0, 1) if layer.is_streamed(i))


@out_stream.register
def _(layer: ElementwiseBinary) -> Stream:
    return _stream(layer.out_shape, layer.folded_output_shape, layer.out_bits, layer.out_signed)


@in_stream.register
def _(layer: GlobalAccPool) -> Stream:
    shape = (*layer.num_input_vectors, layer.num_channels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: GlobalAccPool) -> Stream:
    shape = (layer.num_input_vectors[0], 1, 1, layer.num_channels)
    return _stream(shape, _fold_last(shape, layer.pe), layer.output_bits, layer.output_signed)


def _requant_shapes(layer: Requant) -> tuple[Shape, Shape]:
    shape = (*layer.num_input_vectors, layer.num_channels)
    return shape, _fold_last(shape, layer.pe)


@in_stream.register
def _(layer: Requant) -> Stream:
    return _stream(*_requant_shapes(layer), layer.input_bits, layer.input_signed)


@out_stream.register
def _(layer: Requant) -> Stream:
    return _stream(*_requant_shapes(layer), layer.output_bits, layer.output_signed)


# --- StreamingDataWidthConverter, StreamingFIFO -------------------------------------------------

def dwc_folded_shape(in_shape: Shape, width: int, bits: int) -> Shape:
    """StreamingDataWidthConverter._folded_shape_for_width: the last axis split into words of
    ``width`` bits, or the whole tensor flattened when those words straddle the last axis. FINN
    folds both sides from inShape."""
    elems = width // bits
    if in_shape[-1] % elems == 0:
        return _fold_last(in_shape, elems)
    return math.prod(in_shape) // elems, elems


@in_stream.register
def _(layer: StreamingDataWidthConverter) -> Stream:
    folded = dwc_folded_shape(layer.in_shape, layer.in_width, layer.data_bits)
    return _stream(layer.in_shape, folded, layer.data_bits, layer.data_signed)


@out_stream.register
def _(layer: StreamingDataWidthConverter) -> Stream:
    folded = dwc_folded_shape(layer.in_shape, layer.out_width, layer.data_bits)
    return _stream(layer.out_shape, folded, layer.data_bits, layer.data_signed)


def _fifo(layer: StreamingFIFO) -> Stream:
    return _stream(layer.normal_shape, layer.folded_shape, layer.data_bits, layer.data_signed)


in_stream.register(StreamingFIFO, _fifo)
out_stream.register(StreamingFIFO, _fifo)
