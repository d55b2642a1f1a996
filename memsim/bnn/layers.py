"""Layers of a BNN: 3x3 convolutions (optionally max-pooled) and dense layers, with folded thresholds.

Each layer keeps its weights in the **stored order**, a compact bit stream (no
padding) that is also what an :class:`~memsim.ApproximateMemory` holds:

* ``Conv``: weights ``(out, 3, 3, in_channels)``, bits in C order;
* ``Dense`` after a convolution: weights ``(out, H, W, C)`` over the input in
  height-width-channel order; ``Dense`` after a dense layer or the input image:
  weights ``(out, n_in)``.

Every stored row of ``segment`` bits (one pixel's input channels, or a whole dense
row) is realigned to whole words for the kernels (:func:`words_for_kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memsim.bits import n_words
from memsim.bnn import convkernels, kernels
from memsim.errors import ConfigError

__all__ = [
    "NEURON_MAJOR_OUTPUTS",
    "Conv",
    "Dense",
    "Layer",
    "clean_layer",
    "conv_block",
    "epilogue",
    "is_output",
    "neuron_major",
    "words_for_kernel",
]

#: A dense layer with at least this many outputs keeps its clean weights neuron-major (one word lane per output).
NEURON_MAJOR_OUTPUTS = 64


@dataclass
class Conv:
    """3x3, stride-1 binary convolution; optional 2x2 max-pool of the integer pre-activations; threshold.

    Attributes
    ----------
    c_in, c_out : int
        Input and output channels.
    padding : int
        0 (valid) or 1 (same size, zero padding: outside pixels add nothing).
    pool : bool
        2x2 max-pool (stride 2) before the threshold.
    weights : ndarray of uint64
        Stored-order bit stream of ``(c_out, 3, 3, c_in)`` bits.
    threshold : ndarray of int32, shape (c_out,)
        Output +1 iff ``h > threshold`` (``h <= threshold`` where ``invert``).
    invert : ndarray of bool, shape (c_out,)
        Set where batch norm had a negative scale.
    """

    c_in: int
    c_out: int
    padding: int
    pool: bool
    weights: np.ndarray
    threshold: np.ndarray
    invert: np.ndarray

    kind = "conv"

    @property
    def shape(self) -> tuple[int, ...]:
        """Stored weight shape ``(c_out, 3, 3, c_in)``."""
        return (self.c_out, 3, 3, self.c_in)

    @property
    def nbits(self) -> int:
        """Number of weight bits."""
        return self.c_out * 9 * self.c_in

    @property
    def n_out(self) -> int:
        """Neurons with a threshold each: the output channels (as :attr:`Dense.n_out`)."""
        return self.c_out

    @property
    def segment(self) -> int:
        """Bits per realigned row (one pixel's input channels)."""
        return self.c_in

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        """Output height and width for an input of ``h`` x ``w`` pixels."""
        ho, wo = h + 2 * self.padding - 2, w + 2 * self.padding - 2
        return (ho // 2, wo // 2) if self.pool else (ho, wo)


@dataclass
class Dense:
    """Fully connected binary layer; hidden layers have thresholds, the output layer returns h.

    Attributes
    ----------
    n_in, n_out : int
        Input bits and neurons.
    in_shape : tuple of int
        ``(n_in,)`` after a dense layer or the input image, ``(H, W, C)`` after a convolution.
    weights : ndarray of uint64
        Stored-order bit stream of ``(n_out, *in_shape)`` bits.
    threshold, invert : ndarray or None
        As for :class:`Conv`; None for the output layer.
    """

    n_in: int
    n_out: int
    in_shape: tuple[int, ...]
    weights: np.ndarray
    threshold: np.ndarray | None
    invert: np.ndarray | None

    kind = "dense"

    @property
    def shape(self) -> tuple[int, ...]:
        """Stored weight shape ``(n_out, *in_shape)``."""
        return (self.n_out, *self.in_shape)

    @property
    def nbits(self) -> int:
        """Number of weight bits."""
        return self.n_out * self.n_in

    @property
    def segment(self) -> int:
        """Bits per realigned row: the channels of a pixel after a convolution, else a whole row."""
        return self.in_shape[-1] if len(self.in_shape) == 3 else self.n_in

    @property
    def is_output(self) -> bool:
        """True for the last layer (no threshold)."""
        return self.threshold is None

    def firing(self) -> tuple[np.ndarray, np.ndarray]:
        """``(threshold, invert)`` of a hidden layer; the output layer has none (an error)."""
        if self.threshold is None or self.invert is None:
            raise ConfigError("the output layer has no threshold")
        return self.threshold, self.invert


Layer = Conv | Dense


def words_for_kernel(layer: Layer, stream: np.ndarray) -> np.ndarray:
    """Realign a stored-order weight stream into the kernel layout of ``layer``.

    Parameters
    ----------
    layer : Conv or Dense
        The layer the words belong to.
    stream : ndarray of uint64, shape (n_words,) or (K, n_words)
        One read of the layer's weights, or a block of ``K`` reads.

    Returns
    -------
    ndarray of uint64
        ``(c_out, 3, 3, nw_c)`` for a convolution; ``(c_out,)`` for a convolution of at
        most 7 input channels (``9 c_in <= 64``), each output channel's 3x3 patch in one
        word (tap ``t = 3 dy + dx`` at bits ``[t c_in, (t + 1) c_in)``, which is the stored
        order: a single realignment of ``9 c_in``-bit rows); ``(n_out, nw)`` for a dense
        layer, where a dense layer after a convolution has ``nw = H * W * nw_c`` (one
        padded word group per pixel, matching the convolution's activation layout). A
        block of reads gets a leading axis of length ``K``.
    """
    stream = np.asarray(stream)
    lead = stream.shape[:-1]
    if isinstance(layer, Conv) and 9 * layer.c_in <= 64:  # patch words: 9x fewer rows than one per pixel
        patches = kernels.realign_rows(np.ascontiguousarray(stream), layer.c_out, 9 * layer.c_in)
        return patches.reshape(*lead, layer.c_out)
    rows = layer.nbits // layer.segment
    if layer.segment % 64 == 0:  # rows are whole words already: a free reshape
        aligned = stream.reshape(*lead, rows, layer.segment // 64)
    else:
        aligned = kernels.realign_rows(np.ascontiguousarray(stream), rows, layer.segment)
    if isinstance(layer, Conv):
        return aligned.reshape(*lead, layer.c_out, 3, 3, n_words(layer.c_in))
    return aligned.reshape(*lead, layer.n_out, -1)


# ---- what a layer computes, shared by the clean, per-batch and per-access read paths
def is_output(layer: Layer) -> bool:
    """Whether ``layer`` is the network's output layer (a dense layer without thresholds)."""
    return isinstance(layer, Dense) and layer.is_output


def conv_block(
    layer: Conv,
    act: np.ndarray,
    w: np.ndarray,
    mode: int = convkernels.SHARED,
    want_h: bool = False,
    s: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """One convolution layer: pre-activations (pooled if the layer pools; only if ``want_h``) and output bits.

    ``w`` is one kernel-layout read for ``mode`` SHARED, else a stack of reads per image or per position.
    ``s`` replaces the layer's thresholds: ``(c_out,)`` or one row per image.
    """
    return convkernels.conv3x3_layer(
        act,
        w[None] if mode == convkernels.SHARED else w,
        layer.c_in,
        layer.padding,
        mode,
        layer.pool,
        layer.threshold if s is None else s,
        layer.invert,
        want_h,
    )


def epilogue(layer: Dense, h: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """After a dense layer's popcount: the output layer's ``h``, or a hidden layer's firing bits, against its
    own thresholds or ``thresholds`` as read from memory."""
    if layer.is_output:
        return h
    own, invert = layer.firing()
    return kernels.threshold_flat(h, own if thresholds is None else thresholds, invert)


def neuron_major(layer: Dense) -> bool:
    """Whether a dense layer's clean kernel weights are neuron-major (64 outputs or more fill a word's lanes)."""
    return layer.n_out >= NEURON_MAJOR_OUTPUTS


def clean_layer(layer: Layer, w: np.ndarray, t_fire: np.ndarray | None, act: np.ndarray) -> np.ndarray:
    """One layer with its cached clean kernel weights: output bits, or the output layer's ``h``."""
    if isinstance(layer, Conv):
        return conv_block(layer, act, w)[1]
    if act.ndim == 4:
        act = act.reshape(act.shape[0], -1)
    if not neuron_major(layer):  # row-major weights, see memsim.bnn.network.BNN
        return epilogue(layer, kernels.dense_h(act, w, layer.n_in))
    if layer.is_output:
        return layer.n_in - 2 * kernels.dense_mismatch_neuron_major(act, w, layer.n_out)
    assert t_fire is not None  # every hidden dense layer has one
    return kernels.dense_fire_neuron_major(act, w, layer.n_out, t_fire, layer.firing()[1])
