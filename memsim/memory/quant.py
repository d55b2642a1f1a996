"""m-bit fixed-point weights in an approximate memory: quantize, store packed, read with flips, dequantize.

A layer's weights become m-bit integer codes (m from 2 to 8, or 16; or 1, binary), round-to-nearest, with a
scale per layer or per output channel (axis 0), and are stored **packed**: weight ``i`` holds
bits ``i m .. i m + m - 1`` of the array's bit stream, least significant bit first (two 4-bit
weights per byte), so a memory counts m bits per weight read and every one of the m bits can
flip. Dequantization is part of the read (:func:`read_quantized`).

Schemes (``clip`` is the clipping range; default: the largest magnitude, or the min and max):

``symmetric``
    Signed two's-complement codes ``q`` in ``[-(2^(m-1) - 1), 2^(m-1) - 1]``, ``w = scale q``,
    ``scale = clip / (2^(m-1) - 1)``. A flip of bit ``k < m - 1`` moves the weight by
    ``+-2^k scale``; a flip of the sign bit (``k = m - 1``) by ``-+2^(m-1) scale``: a small
    positive weight becomes a large negative one (``q = 3 -> -125`` at m = 8), and a flip can
    produce ``q = -2^(m-1)``, one step beyond ``-clip``.
``asymmetric``
    Unsigned codes ``q`` in ``[0, 2^m - 1]`` with an integer zero point ``z``:
    ``w = scale (q - z)``, ``scale = (hi - lo) / (2^m - 1)``. A flip of bit ``k`` moves the
    weight by ``+-2^k scale``; the most significant bit by half the range, in either sign.

``binary`` (``bits=1``)
    One bit per weight, ``w = +scale`` (bit 1) or ``-scale`` (bit 0), ``scale`` the mean
    magnitude (XNOR-Net's alpha; Rastegari et al., ECCV 2016) or ``clip``. A flip negates the
    weight. A binarized network trained in torch keeps its trained signs exactly.

The multi-bit schemes are those of Stutz et al., "Bit Error Robustness for Energy-Efficient DNN
Accelerators" (MLSys 2021), section 3 (their "robust" quantization adds rounding and the
asymmetric unsigned scheme; weight clipping is ``clip``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from memsim.bits import PackedBits, pack_bits
from memsim.errors import ConfigError

__all__ = ["BITS", "SCHEMES", "Quantized", "quantize", "read_quantized", "store_quantized", "unpack_codes"]

#: Multi-bit weight widths a memory can hold (one bit is the ``binary`` scheme).
BITS = (2, 3, 4, 5, 6, 7, 8, 16)
#: Multi-bit quantization schemes (see the module docstring); ``binary`` is the one-bit scheme.
SCHEMES = ("symmetric", "asymmetric")


@dataclass(frozen=True)
class Quantized:
    """A layer's weights as m-bit codes.

    Attributes
    ----------
    codes : ndarray of uint32
        The raw m-bit codes as stored (two's complement for ``symmetric``), the weights' shape.
    scale : ndarray of float64
        Per output channel (shape ``(C,)``), or one value (shape ``(1,)``).
    zero_point : ndarray of int64
        As ``scale``; 0 for ``symmetric``.
    bits : int
    scheme : str
    """

    codes: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    scheme: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    @property
    def nbits(self) -> int:
        """Bits the memory holds for these weights: ``m`` per weight."""
        return int(self.codes.size) * self.bits

    def packed(self) -> PackedBits:
        """The codes as one bit stream, ``m`` bits per weight, least significant first."""
        flat = self.codes.ravel().astype(np.uint32)
        bits = (flat[:, None] >> np.arange(self.bits, dtype=np.uint32)) & 1
        out = pack_bits(bits.astype(bool).ravel())
        return PackedBits(out.words, out.nbits, (out.nbits,))

    def dequantize(self, codes: np.ndarray | None = None) -> np.ndarray:
        """Weights of ``codes`` (default: the stored ones), float32; ``codes`` may carry leading read axes."""
        q = (self.codes if codes is None else np.asarray(codes)).astype(np.int64)
        if self.scheme == "binary":
            q = 2 * q - 1  # bit 1: +scale, bit 0: -scale
        elif self.scheme == "symmetric":
            q = np.where(q >= 1 << (self.bits - 1), q - (1 << self.bits), q)  # two's complement
        per = (-1,) + (1,) * (len(self.shape) - 1)  # channel axis 0 of the weights, after any read axes
        scale = self.scale.reshape(per) if self.scale.size > 1 else self.scale
        zero = self.zero_point.reshape(per) if self.zero_point.size > 1 else self.zero_point
        return (scale * (q - zero)).astype(np.float32)


def quantize(
    weights: np.ndarray,
    bits: int = 8,
    scheme: str = "symmetric",
    per_channel: bool = False,
    clip: float | tuple[float, float] | None = None,
    rounding: str = "nearest",
) -> Quantized:
    """Fixed-point codes of ``weights``, round-to-nearest (or truncated).

    Parameters
    ----------
    weights : ndarray of float
        A layer's weights, output channels on axis 0 (as torch's Linear and Conv layers hold them).
    bits : int
        1 (the ``binary`` scheme) or one of :data:`BITS`.
    scheme : str
        ``symmetric`` or ``asymmetric`` (:data:`SCHEMES`); one bit is always ``binary``.
    per_channel : bool
        One scale (and zero point) per output channel instead of one for the layer.
    clip : float or (float, float), optional
        The clipping range: ``w_max`` (symmetric: ``[-w_max, w_max]``; asymmetric the same
        interval) or ``(lo, hi)`` for asymmetric. Default: the largest magnitude (symmetric),
        or the minimum and maximum (asymmetric), per channel if ``per_channel``.
    rounding : {"nearest", "truncate"}
        ``nearest`` (default) or ``truncate`` (toward zero for symmetric codes, down for
        unsigned ones): the integer conversion of Stutz et al.'s "normal" quantization, which
        their robust quantization replaces by rounding (MLSys 2021, section 4).

    Raises
    ------
    ConfigError
        For bits outside :data:`BITS`, an unknown scheme, non-finite weights or a bad ``clip``.
    """
    if rounding not in ("nearest", "truncate"):
        raise ConfigError(f"rounding must be 'nearest' or 'truncate', got {rounding!r}")
    if isinstance(bits, bool) or (bits != 1 and bits not in BITS):
        raise ConfigError(f"bits must be 1 (binary) or one of {', '.join(map(str, BITS))}, got {bits!r}")
    if scheme not in (*SCHEMES, "binary"):
        raise ConfigError(f"scheme must be one of {', '.join(SCHEMES)} (or binary for one bit), got {scheme!r}")
    if bits == 1 and scheme == "asymmetric":
        raise ConfigError("one bit per weight is the binary scheme (+-scale); asymmetric needs 2 bits or more")
    if scheme == "binary" and bits != 1:
        raise ConfigError(f"the binary scheme has one bit per weight, got bits={bits}")
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 0 or w.size == 0:
        raise ConfigError(f"weights must be a non-empty array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ConfigError("weights hold a value that is not finite")
    rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    if bits == 1:
        if clip is not None and not (isinstance(clip, (int, float)) and math.isfinite(clip) and clip > 0):
            raise ConfigError(f"clip of a binary layer is its weight magnitude, a number > 0; got {clip!r}")
        mean = np.abs(rows).mean(axis=1)
        scale = np.full(rows.shape[0], float(clip)) if clip is not None else np.where(mean > 0, mean, 1.0)
        codes = (rows >= 0).astype(np.int64)  # sign(0) = +1, as the BNN engine reads a 0 weight
        zero = np.zeros(rows.shape[0], dtype=np.int64)
        return Quantized(codes.reshape(w.shape).astype(np.uint32), scale.astype(np.float64), zero, 1, "binary")
    lo, hi = _range(rows, scheme, clip)
    if scheme == "symmetric":
        top = (1 << (bits - 1)) - 1
        scale = np.where(hi > 0, hi / top, 1.0)
        signed = np.rint(rows / scale[:, None]) if rounding == "nearest" else np.trunc(rows / scale[:, None])
        q = np.clip(signed, -top, top).astype(np.int64)
        codes = np.where(q < 0, q + (1 << bits), q)
        zero = np.zeros_like(scale, dtype=np.int64)
    else:
        top = (1 << bits) - 1
        scale = np.where(hi > lo, (hi - lo) / top, 1.0)
        zero = np.clip(np.rint(-lo / scale), 0, top).astype(np.int64)
        if rounding == "nearest":
            unsigned = np.rint(rows / scale[:, None]) + zero[:, None]
        else:  # the unsigned code, truncated (down: it is not negative inside the range)
            unsigned = np.floor(rows / scale[:, None] + zero[:, None])
        codes = np.clip(unsigned, 0, top).astype(np.int64)
    return Quantized(codes.reshape(w.shape).astype(np.uint32), scale.astype(np.float64), zero, int(bits), scheme)


def _range(rows: np.ndarray, scheme: str, clip: float | tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the interval the codes span: ``(lo, hi)``; symmetric returns ``(-hi, hi)``."""
    n = rows.shape[0]
    if clip is None:
        if scheme == "symmetric":
            hi = np.abs(rows).max(axis=1)
            return -hi, hi
        return np.minimum(rows.min(axis=1), 0.0), np.maximum(rows.max(axis=1), 0.0)  # 0 stays exact
    if isinstance(clip, tuple):
        if scheme == "symmetric" or len(clip) != 2:
            raise ConfigError(f"clip (lo, hi) is for the asymmetric scheme; symmetric takes one w_max, got {clip!r}")
        lo_v, hi_v = (float(c) for c in clip)
    else:
        lo_v, hi_v = -float(clip), float(clip)
    if not (math.isfinite(lo_v) and math.isfinite(hi_v) and lo_v <= 0.0 <= hi_v and hi_v > lo_v):
        raise ConfigError(f"clip must be a finite range around 0 (w_max > 0, or lo <= 0 <= hi), got {clip!r}")
    return np.full(n, lo_v), np.full(n, hi_v)


def unpack_codes(words: np.ndarray, count: int, bits: int) -> np.ndarray:
    """The ``count`` m-bit codes of packed ``words``; leading axes (one per read) are kept.

    Returns
    -------
    ndarray of uint32, shape ``words.shape[:-1] + (count,)``
    """
    w = np.ascontiguousarray(words, dtype=np.uint64)
    lead = w.shape[:-1]
    raw = w.reshape(-1, w.shape[-1]).view(np.uint8)
    stream = np.unpackbits(raw, axis=1, count=count * bits, bitorder="little").reshape(-1, count, bits)
    weights = (1 << np.arange(bits, dtype=np.uint32)).astype(np.uint32)
    return (stream.astype(np.uint32) @ weights).reshape(*lead, count)


def store_quantized(memory: object, name: str, q: Quantized) -> None:
    """Store ``q`` in ``memory`` (an :class:`~memsim.ApproximateMemory`) as ``q.nbits`` packed bits."""
    memory.store(name, q.packed())  # type: ignore[attr-defined]


def read_quantized(memory: object, name: str, q: Quantized, reads: object) -> np.ndarray:
    """The dequantized weights of every read in ``reads`` (a :class:`~memsim.memory.reads.ReadSet`).

    Each read has its own flips (keyed like every other read, counted at m bits per weight).

    Returns
    -------
    ndarray of float32, shape ``(len(reads),) + q.shape``
    """
    words = memory.read_words(name, reads)  # type: ignore[attr-defined]
    codes = unpack_codes(words, int(q.codes.size), q.bits).reshape(len(words), *q.shape)
    return q.dequantize(codes)
