"""numba kernels of the BNN engine: XNOR-popcount dense layers, thresholds, binarization, realignment.

The 3x3 convolutions are :mod:`memsim.bnn.convkernels`, the margin analysis
:mod:`memsim.bnn.marginkernels`; they share this module's layouts and argument checks.

Layouts (all bits packed as in :mod:`memsim.bits`; padding bits are 0 in inputs and
weights, so they never count):

* dense input ``x``: ``(B, nw_in)`` uint64, one row of bits per image;
  dense weights ``w``: ``(n_out, nw_in)`` uint64, one row per neuron.
* conv input ``x``: ``(B, H, W, nw_c)`` uint64, the channels of a pixel packed into
  ``nw_c`` words; conv weights ``w``: ``(n_out, 3, 3, nw_c)``.

A neuron's pre-activation over ``n`` valid bits with ``mism`` disagreeing bits is
``h = n - 2 * mism`` (= 2 * popcount(XNOR) - n). Hidden neurons output +1 (bit 1)
iff ``h > s``, or iff ``h <= s`` where batch norm had a negative scale (``invert``).
Convolutions use zero padding: positions outside the image add nothing to ``h``
and do not count in ``n``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from memsim.bits import popcount
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError

__all__ = [
    "accumulate4",
    "as_array",
    "binarize_flat",
    "binarize_hwc",
    "dense_fire_neuron_major",
    "dense_h",
    "dense_h_per_image",
    "dense_mismatch_neuron_major",
    "per_image_rows",
    "per_neuron",
    "realign_rows",
    "store4",
    "threshold_flat",
    "transpose_dense",
]


@njit(**NUMBA_PARALLEL_FLAGS)
def _binarize_flat(images, thresholds, nw):  # type: ignore[no-untyped-def]
    # images: (B, C, P) uint8 -> (B, nw) bits of pixel > threshold[c], in (c, p) order.
    B, C, P = images.shape
    out = np.zeros((B, nw), dtype=np.uint64)
    for b in prange(B):
        word = np.uint64(0)
        k = 0
        bit = 0
        for c in range(C):
            t = thresholds[c]
            for p in range(P):
                if images[b, c, p] > t:
                    word |= np.uint64(1) << np.uint64(bit)
                bit += 1
                if bit == 64:  # build each word in a register, store it once
                    out[b, k] = word
                    k += 1
                    word = np.uint64(0)
                    bit = 0
        if bit:
            out[b, k] = word
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _binarize_hwc(images, thresholds, nwc):  # type: ignore[no-untyped-def]
    # images: (B, C, H, W) uint8 -> (B, H, W, nwc) bits, channel c of a pixel at bit c. Each loop runs over the
    # pixels of a channel with a fixed word and shift, so it vectorises (a 4-D read-modify-write per pixel
    # and channel did not: 14x slower for one channel).
    B, C, H, W = images.shape
    P = H * W
    out = np.empty((B, H, W, nwc), dtype=np.uint64)
    flat = out.reshape(B, P, nwc)
    im = images.reshape(B, C, P)
    for b in prange(B):
        if C == 1 and nwc == 1:
            t = thresholds[0]
            for p in range(P):
                flat[b, p, 0] = np.uint64(im[b, 0, p] > t)
            continue
        for k in range(nwc):
            for p in range(P):
                flat[b, p, k] = 0
            for c in range(64 * k, min(C, 64 * k + 64)):
                t = thresholds[c]
                shift = np.uint64(c - 64 * k)
                for p in range(P):
                    flat[b, p, k] |= np.uint64(im[b, c, p] > t) << shift
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _dense_h(x, w, n_in):  # type: ignore[no-untyped-def]
    # Integer pre-activations h (B, n_out) of a dense layer.
    B, nw = x.shape
    n_out = w.shape[0]
    out = np.empty((B, n_out), dtype=np.int32)
    for b in prange(B):
        for o in range(n_out):
            mism = 0
            for k in range(nw):
                mism += popcount(x[b, k] ^ w[o, k])
            out[b, o] = n_in - 2 * mism
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _dense_h_per_image(x, w, n_in):  # type: ignore[no-untyped-def]
    # h (B, n_out) of a dense layer whose weights differ per image: image b uses its own read w[b]. One
    # launch for a block of explicit reads (a launch per image costs more than its popcounts).
    B, nw = x.shape
    n_out = w.shape[1]
    out = np.empty((B, n_out), dtype=np.int32)
    for idx in prange(B * n_out):
        b = idx // n_out
        o = idx % n_out
        mism = 0
        for k in range(nw):
            mism += popcount(x[b, k] ^ w[b, o, k])
        out[b, o] = n_in - 2 * mism
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _threshold_flat(h, s, invert):  # type: ignore[no-untyped-def]
    # (B, n_out) int32 -> (B, nw(n_out)) bits: fire iff h > s (or h <= s where invert). s is (1, n_out), shared,
    # or (B, n_out), one row per image (thresholds read from an approximate memory).
    B, n_out = h.shape
    nw = (n_out + 63) // 64
    stride = 1 if s.shape[0] > 1 else 0  # a multiply, not a conditional: numba types prange indices poorly
    out = np.zeros((B, nw), dtype=np.uint64)
    for b in prange(B):
        sr = b * stride
        for o in range(n_out):
            fire = h[b, o] > s[sr, o]
            if invert[o]:
                fire = not fire
            if fire:
                out[b, o >> 6] |= np.uint64(1) << np.uint64(o & 63)
    return out


@njit(inline="always", **NUMBA_FLAGS)
def _realign_row(streams, out, q, r, n_bits):  # type: ignore[no-untyped-def]
    # Row r of stream q, starting at bit r * n_bits, into out[q, r] (whole words, the last one masked).
    size = streams.shape[1]
    nw = out.shape[2]
    rem = n_bits & 63
    start = r * n_bits
    for k in range(nw):
        pos = start + 64 * k
        word = pos >> 6
        shift = pos & 63
        v = streams[q, word] >> np.uint64(shift)
        if shift and word + 1 < size:
            v |= streams[q, word + 1] << np.uint64(64 - shift)
        out[q, r, k] = v
    if rem:
        out[q, r, nw - 1] &= (np.uint64(1) << np.uint64(rem)) - np.uint64(1)


@njit(**NUMBA_PARALLEL_FLAGS)
def _realign_rows(streams, rows, n_bits):  # type: ignore[no-untyped-def]
    # K contiguous bit streams of rows x n_bits -> (K, rows, nw) words, each row starting at bit 0. In parallel
    # over the reads when there are many (a convolution's block), else over the rows (one dense read); no
    # division per row either way (a 64-bit division costs more than a short row).
    K = streams.shape[0]
    out = np.zeros((K, rows, (n_bits + 63) // 64), dtype=np.uint64)
    if K >= 16:
        for q in prange(K):
            for r in range(rows):
                _realign_row(streams, out, q, r, n_bits)
    else:
        for q in range(K):
            for r in prange(rows):
                _realign_row(streams, out, q, r, n_bits)
    return out


# ---- neuron-major ("transposed") dense kernels: 64 neurons per vector lane group, 4 images per weight load.
# wt is (nw, n_pad) with n_pad a multiple of 64 and the neurons of input word k contiguous in wt[k, :],
# so the inner loop vectorises across neurons with no horizontal reductions.


@njit(inline="always", **NUMBA_FLAGS)
def accumulate4(x, wt, i0, i1, i2, i3, j0, a0, a1, a2, a3):  # type: ignore[no-untyped-def]
    """Mismatch counts of images ``i0..i3`` against neurons ``j0..j0+63`` into ``a0..a3`` (64 counts each).

    The inner block of the neuron-major dense kernels: each weight word is loaded once for
    four images, and the loop over 64 neurons vectorises with no horizontal reductions.
    """
    a0[:] = 0
    a1[:] = 0
    a2[:] = 0
    a3[:] = 0
    nw = x.shape[1]
    # Two input words per pass: LLVM cannot prove the counts do not alias the weights, so it stores them
    # back after every add; summing two popcounts per store halves the stores (measured 1.5x on znver4).
    for k in range(0, nw - 1, 2):
        x0, y0 = x[i0, k], x[i0, k + 1]
        x1, y1 = x[i1, k], x[i1, k + 1]
        x2, y2 = x[i2, k], x[i2, k + 1]
        x3, y3 = x[i3, k], x[i3, k + 1]
        for jj in range(64):
            w = wt[k, j0 + jj]
            v = wt[k + 1, j0 + jj]
            a0[jj] += popcount(x0 ^ w) + popcount(y0 ^ v)
            a1[jj] += popcount(x1 ^ w) + popcount(y1 ^ v)
            a2[jj] += popcount(x2 ^ w) + popcount(y2 ^ v)
            a3[jj] += popcount(x3 ^ w) + popcount(y3 ^ v)
    if nw % 2:
        k = nw - 1
        x0 = x[i0, k]
        x1 = x[i1, k]
        x2 = x[i2, k]
        x3 = x[i3, k]
        for jj in range(64):
            w = wt[k, j0 + jj]
            a0[jj] += popcount(x0 ^ w)
            a1[jj] += popcount(x1 ^ w)
            a2[jj] += popcount(x2 ^ w)
            a3[jj] += popcount(x3 ^ w)


@njit(inline="always", **NUMBA_FLAGS)
def store4(out, i0, col, v0, v1, v2, v3):  # type: ignore[no-untyped-def]
    """Write the results of images ``i0..i0+3`` to column ``col`` of ``out``, skipping rows past its end."""
    B = out.shape[0]
    out[i0, col] = v0
    if i0 + 1 < B:
        out[i0 + 1, col] = v1
    if i0 + 2 < B:
        out[i0 + 2, col] = v2
    if i0 + 3 < B:
        out[i0 + 3, col] = v3


@njit(**NUMBA_PARALLEL_FLAGS)
def _dense_mismatch_neuron_major(x, wt, n_out):  # type: ignore[no-untyped-def]
    # Mismatch counts (B, n_out) int32 of packed inputs x (B, nw) against transposed weights wt.
    B = x.shape[0]
    groups = (n_out + 63) // 64
    out = np.empty((B, n_out), dtype=np.int32)
    for blk in prange((B + 3) // 4):
        i0 = blk * 4
        i1 = min(i0 + 1, B - 1)
        i2 = min(i0 + 2, B - 1)
        i3 = min(i0 + 3, B - 1)
        a0 = np.empty(64, np.int64)
        a1 = np.empty(64, np.int64)
        a2 = np.empty(64, np.int64)
        a3 = np.empty(64, np.int64)
        for g in range(groups):
            j0 = g * 64
            accumulate4(x, wt, i0, i1, i2, i3, j0, a0, a1, a2, a3)
            for jj in range(min(64, n_out - j0)):
                out[i0, j0 + jj] = a0[jj]
                if i0 + 1 < B:
                    out[i0 + 1, j0 + jj] = a1[jj]
                if i0 + 2 < B:
                    out[i0 + 2, j0 + jj] = a2[jj]
                if i0 + 3 < B:
                    out[i0 + 3, j0 + jj] = a3[jj]
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _dense_fire_neuron_major(x, wt, n_out, t_fire, invert):  # type: ignore[no-untyped-def]
    # Packed firing bits (B, nw(n_out)): neuron fires iff mismatches <= t_fire (xor invert).
    B = x.shape[0]
    groups = (n_out + 63) // 64
    out = np.zeros((B, groups), dtype=np.uint64)
    for blk in prange((B + 3) // 4):
        i0 = blk * 4
        i1 = min(i0 + 1, B - 1)
        i2 = min(i0 + 2, B - 1)
        i3 = min(i0 + 3, B - 1)
        a0 = np.empty(64, np.int64)
        a1 = np.empty(64, np.int64)
        a2 = np.empty(64, np.int64)
        a3 = np.empty(64, np.int64)
        for g in range(groups):
            j0 = g * 64
            accumulate4(x, wt, i0, i1, i2, i3, j0, a0, a1, a2, a3)
            b0 = np.uint64(0)
            b1 = np.uint64(0)
            b2 = np.uint64(0)
            b3 = np.uint64(0)
            for jj in range(min(64, n_out - j0)):
                t = t_fire[j0 + jj]
                inv = invert[j0 + jj]
                bit = np.uint64(1) << np.uint64(jj)
                if (a0[jj] <= t) != inv:
                    b0 |= bit
                if (a1[jj] <= t) != inv:
                    b1 |= bit
                if (a2[jj] <= t) != inv:
                    b2 |= bit
                if (a3[jj] <= t) != inv:
                    b3 |= bit
            store4(out, i0, g, b0, b1, b2, b3)
    return out


# ---- public wrappers: the only callers of the kernels above. They check what would make a kernel
# read out of bounds or misinterpret its input (dtype, rank, sizes), and nothing slower.


def as_array(name: str, arr: np.ndarray, dtype: type, ndim: int) -> np.ndarray:
    # Packed bits and pixels must come exactly typed; integer counts (h, +-1 signs) are cast.
    ok = isinstance(arr, np.ndarray) and arr.ndim == ndim
    if ok and arr.dtype != dtype:
        ok = np.dtype(dtype).kind == "i" and arr.dtype.kind in "iu"
    if not ok:
        got = f"{arr.dtype} with {arr.ndim} dims" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise ConfigError(f"{name} must be a {ndim}-D {np.dtype(dtype).name} array, got {got}")
    return np.ascontiguousarray(arr, dtype=dtype)


def per_neuron(name: str, arr: np.ndarray, n: int, dtype: type) -> np.ndarray:
    out: np.ndarray = np.ascontiguousarray(arr, dtype=dtype)
    if out.shape != (n,):
        raise ConfigError(f"{name} must have one value per neuron ({n}), got shape {out.shape}")
    return out


def per_image_rows(name: str, arr: np.ndarray, n: int, images: int, dtype: type) -> np.ndarray:
    """``(n,)`` values shared by all images as one row ``(1, n)``, or ``(images, n)``, one row per image.

    Thresholds read from an approximate memory differ per image; the kernels index row ``b``
    of a per-image array and row 0 of a shared one.
    """
    out: np.ndarray = np.ascontiguousarray(arr, dtype=dtype)
    if out.shape == (n,):
        return out.reshape(1, n)
    if out.shape != (images, n):
        raise ConfigError(
            f"{name} must have one value per neuron ({n},) or one row per image ({images}, {n}), got {out.shape}"
        )
    return out


def binarize_flat(images: np.ndarray, thresholds: np.ndarray, nw: int) -> np.ndarray:
    """Images ``(B, C, P)`` uint8 -> packed bits ``(B, nw)``: pixel > its channel's threshold, in (c, p) order."""
    images = as_array("images", images, np.uint8, 3)
    if nw * 64 < images.shape[1] * images.shape[2]:
        raise ConfigError(f"{nw} words cannot hold {images.shape[1] * images.shape[2]} bits")
    return _binarize_flat(images, per_neuron("thresholds", thresholds, images.shape[1], np.uint8), int(nw))


def binarize_hwc(images: np.ndarray, thresholds: np.ndarray, nwc: int) -> np.ndarray:
    """Images ``(B, C, H, W)`` uint8 -> packed ``(B, H, W, nwc)``: channel c of a pixel at bit c."""
    images = as_array("images", images, np.uint8, 4)
    if nwc * 64 < images.shape[1]:
        raise ConfigError(f"{nwc} words cannot hold {images.shape[1]} channels")
    return _binarize_hwc(images, per_neuron("thresholds", thresholds, images.shape[1], np.uint8), int(nwc))


def dense_h(x: np.ndarray, w: np.ndarray, n_in: int) -> np.ndarray:
    """Pre-activations ``(B, n_out)`` int32 of packed inputs ``x (B, nw)`` and row-major weights ``w (n_out, nw)``."""
    x = as_array("x", x, np.uint64, 2)
    w = as_array("w", w, np.uint64, 2)
    if x.shape[1] != w.shape[1]:
        raise ConfigError(f"inputs have {x.shape[1]} words per row, weights {w.shape[1]}")
    return _dense_h(x, w, int(n_in))


def dense_h_per_image(x: np.ndarray, w: np.ndarray, n_in: int) -> np.ndarray:
    """Pre-activations ``(B, n_out)`` int32 of ``x (B, nw)``, image ``b`` with its own weights ``w[b] (n_out, nw)``."""
    x = as_array("x", x, np.uint64, 2)
    w = as_array("w", w, np.uint64, 3)
    if w.shape[0] != x.shape[0] or w.shape[2] != x.shape[1]:
        raise ConfigError(f"per-image weights {w.shape} do not fit inputs {x.shape}")
    return _dense_h_per_image(x, w, int(n_in))


def threshold_flat(h: np.ndarray, s: np.ndarray, invert: np.ndarray) -> np.ndarray:
    """Packed firing bits ``(B, nw(n_out))`` of ``h (B, n_out)``: fire iff ``h > s`` (``h <= s`` where invert).

    ``s`` is ``(n_out,)``, or ``(B, n_out)`` for thresholds that differ per image.
    """
    h = as_array("h", h, np.int32, 2)
    b, n = h.shape
    s2 = per_image_rows("s", s, n, b, np.int64)
    return _threshold_flat(h, s2, per_neuron("invert", invert, n, np.bool_))


def realign_rows(stream: np.ndarray, rows: int, n_bits: int) -> np.ndarray:
    """Stored-order streams of ``rows x n_bits`` bits -> words with each row from bit 0.

    ``stream`` is one stream ``(n,)`` -> ``(rows, n_words(n_bits))``, or a block of streams
    ``(K, n)`` (one per read) -> ``(K, rows, n_words(n_bits))``.
    """
    one = np.ndim(stream) == 1
    streams = as_array("stream", np.asarray(stream)[None] if one else stream, np.uint64, 2)
    if streams.shape[1] * 64 < rows * n_bits:
        raise ConfigError(f"a stream of {streams.shape[1]} words cannot hold {rows} rows of {n_bits} bits")
    out = _realign_rows(streams, int(rows), int(n_bits))
    return out[0] if one else out


def dense_mismatch_neuron_major(x: np.ndarray, wt: np.ndarray, n_out: int) -> np.ndarray:
    """Mismatch counts ``(B, n_out)`` int32 of ``x (B, nw)`` against neuron-major weights (:func:`transpose_dense`)."""
    x = as_array("x", x, np.uint64, 2)
    wt = as_array("wt", wt, np.uint64, 2)
    if wt.shape[0] != x.shape[1] or wt.shape[1] < n_out or wt.shape[1] % 64:
        raise ConfigError(f"neuron-major weights {wt.shape} do not fit inputs {x.shape} and {n_out} neurons")
    return _dense_mismatch_neuron_major(x, wt, int(n_out))


def dense_fire_neuron_major(
    x: np.ndarray, wt: np.ndarray, n_out: int, fire_limit: np.ndarray, invert: np.ndarray
) -> np.ndarray:
    """Packed firing bits ``(B, nw(n_out))``: a neuron fires iff its mismatches ``<= fire_limit`` (xor invert)."""
    x = as_array("x", x, np.uint64, 2)
    wt = as_array("wt", wt, np.uint64, 2)
    if wt.shape[0] != x.shape[1] or wt.shape[1] < n_out or wt.shape[1] % 64:
        raise ConfigError(f"neuron-major weights {wt.shape} do not fit inputs {x.shape} and {n_out} neurons")
    limit = per_neuron("fire_limit", fire_limit, n_out, np.int64)
    return _dense_fire_neuron_major(x, wt, int(n_out), limit, per_neuron("invert", invert, n_out, np.bool_))


def transpose_dense(words: np.ndarray) -> np.ndarray:
    """(n_out, nw) kernel-layout dense weights -> (nw, n_out padded to 64), neurons contiguous."""
    n_out, nw = words.shape
    wt = np.zeros((nw, (n_out + 63) // 64 * 64), dtype=np.uint64)
    wt[:, :n_out] = words.T
    return wt
