"""numba kernels of the BNN engine: XNOR-popcount dense and 3x3 convolution layers.

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

__all__: list[str] = []


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
    # images: (B, C, H, W) uint8 -> (B, H, W, nwc) bits, channel c of a pixel at bit c.
    B, C, H, W = images.shape
    out = np.zeros((B, H, W, nwc), dtype=np.uint64)
    for b in prange(B):
        for c in range(C):
            t = thresholds[c]
            word = c >> 6
            bit = np.uint64(1) << np.uint64(c & 63)
            for y in range(H):
                for x in range(W):
                    if images[b, c, y, x] > t:
                        out[b, y, x, word] |= bit
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
def _threshold_flat(h, s, invert):  # type: ignore[no-untyped-def]
    # (B, n_out) int32 -> (B, nw(n_out)) bits: fire iff h > s (or h <= s where invert).
    B, n_out = h.shape
    nw = (n_out + 63) // 64
    out = np.zeros((B, nw), dtype=np.uint64)
    for b in prange(B):
        for o in range(n_out):
            fire = h[b, o] > s[o]
            if invert[o]:
                fire = not fire
            if fire:
                out[b, o >> 6] |= np.uint64(1) << np.uint64(o & 63)
    return out


#: Weight indexing of :func:`_conv3x3_h`: one read shared by all, one per image, one per output position.
SHARED, PER_IMAGE, PER_POSITION = 0, 1, 2


@njit(**NUMBA_PARALLEL_FLAGS)
def _conv3x3_h(x, w, c_in, pad, mode):  # type: ignore[no-untyped-def]
    # Integer pre-activations (B, H', W', O) of a 3x3, stride-1 convolution with zero padding `pad`.
    # w is (K, O, 3, 3, nwc): K = 1 (mode SHARED), B (PER_IMAGE) or H' * W' (PER_POSITION, reads per access).
    B, H, W, nwc = x.shape
    n_out = w.shape[1]
    Ho = H + 2 * pad - 2
    Wo = W + 2 * pad - 2
    out = np.empty((B, Ho, Wo, n_out), dtype=np.int32)
    for idx in prange(B * Ho * Wo):
        b = idx // (Ho * Wo)
        pos = idx % (Ho * Wo)
        yo = pos // Wo
        xo = pos % Wo
        r = 0 if mode == SHARED else (b if mode == PER_IMAGE else pos)
        n_valid = 0
        for dy in range(3):
            for dx in range(3):
                if 0 <= yo + dy - pad < H and 0 <= xo + dx - pad < W:
                    n_valid += c_in
        for o in range(n_out):
            mism = 0
            for dy in range(3):
                yi = yo + dy - pad
                if yi < 0 or yi >= H:
                    continue
                for dx in range(3):
                    xi = xo + dx - pad
                    if xi < 0 or xi >= W:
                        continue
                    for k in range(nwc):
                        mism += popcount(x[b, yi, xi, k] ^ w[r, o, dy, dx, k])
            out[b, yo, xo, o] = n_valid - 2 * mism
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _maxpool2(h):  # type: ignore[no-untyped-def]
    # 2x2 max-pool, stride 2, of (B, H, W, n_out) int32 (odd edges dropped, as floor mode).
    B, H, W, n_out = h.shape
    Ho, Wo = H // 2, W // 2
    out = np.empty((B, Ho, Wo, n_out), dtype=np.int32)
    for b in prange(B):
        for y in range(Ho):
            for x in range(Wo):
                for o in range(n_out):
                    m = h[b, 2 * y, 2 * x, o]
                    m = max(m, h[b, 2 * y, 2 * x + 1, o])
                    m = max(m, h[b, 2 * y + 1, 2 * x, o])
                    m = max(m, h[b, 2 * y + 1, 2 * x + 1, o])
                    out[b, y, x, o] = m
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _threshold_hwc(h, s, invert):  # type: ignore[no-untyped-def]
    # (B, H, W, n_out) int32 -> (B, H, W, nw(n_out)) bits.
    B, H, W, n_out = h.shape
    nw = (n_out + 63) // 64
    out = np.zeros((B, H, W, nw), dtype=np.uint64)
    for b in prange(B):
        for y in range(H):
            for x in range(W):
                for o in range(n_out):
                    fire = h[b, y, x, o] > s[o]
                    if invert[o]:
                        fire = not fire
                    if fire:
                        out[b, y, x, o >> 6] |= np.uint64(1) << np.uint64(o & 63)
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _realign_rows(stream, rows, n_bits):  # type: ignore[no-untyped-def]
    # A contiguous bit stream of rows x n_bits -> (rows, nw) words, each row starting at bit 0.
    nw = (n_bits + 63) // 64
    out = np.zeros((rows, nw), dtype=np.uint64)
    rem = n_bits & 63
    for r in prange(rows):
        start = r * n_bits
        for k in range(nw):
            pos = start + 64 * k
            word = pos >> 6
            shift = pos & 63
            v = stream[word] >> np.uint64(shift)
            if shift and word + 1 < stream.size:
                v |= stream[word + 1] << np.uint64(64 - shift)
            out[r, k] = v
        if rem:
            out[r, nw - 1] &= (np.uint64(1) << np.uint64(rem)) - np.uint64(1)
    return out


@njit(**NUMBA_FLAGS)
def _output_margin(h):  # type: ignore[no-untyped-def]
    # (B, n_out) int32 -> (top - runner-up) per image.
    B, n_out = h.shape
    out = np.empty(B, dtype=np.int32)
    for b in range(B):
        first = -(2**31)
        second = -(2**31)
        for o in range(n_out):
            v = h[b, o]
            if v > first:
                second = first
                first = v
            elif v > second:
                second = v
        out[b] = first - second
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _importance_chain(a, h_next, w_next, s_next, inv_next, w_out, h_out):  # type: ignore[no-untyped-def]
    # Mean change of the decision margin when each neuron of a hidden dense layer is inverted.
    # a: (N, n) +-1 outputs of the layer; h_next/w_next/s_next/inv_next: the next hidden dense
    # layer (w_next (m, n) +-1), or h_next.shape[1] == 0 when the next layer is the output;
    # w_out (k, m or n) +-1 and h_out (N, k): the output layer. Returns (n,) float64.
    N, n = a.shape
    k = h_out.shape[1]
    hidden = h_next.shape[1] > 0
    total = np.zeros((N, n), dtype=np.float64)
    for b in prange(N):
        top = 0
        for c in range(1, k):
            if h_out[b, c] > h_out[b, top]:
                top = c
        base = -(2**31)
        for c in range(k):
            if c != top and h_out[b, c] > base:
                base = h_out[b, c]
        base = h_out[b, top] - base
        new = np.empty(k, dtype=np.int64)
        for j in range(n):
            for c in range(k):
                new[c] = h_out[b, c]
            if hidden:
                for i in range(h_next.shape[1]):
                    h2 = h_next[b, i] - 2 * a[b, j] * w_next[i, j]
                    old_fire = (h_next[b, i] > s_next[i]) != inv_next[i]
                    new_fire = (h2 > s_next[i]) != inv_next[i]
                    if old_fire != new_fire:
                        step = 2 if new_fire else -2
                        for c in range(k):
                            new[c] += step * w_out[c, i]
            else:
                for c in range(k):
                    new[c] -= 2 * a[b, j] * w_out[c, j]
            runner = -(2**62)
            for c in range(k):
                if c != top and new[c] > runner:
                    runner = new[c]
            total[b, j] = base - (new[top] - runner)
    out = np.zeros(n, dtype=np.float64)
    for j in range(n):
        acc = 0.0
        for b in range(N):
            acc += total[b, j]
        out[j] = acc / max(N, 1)
    return out


# ---- neuron-major ("transposed") dense kernels: 64 neurons per vector lane group, 4 images per weight load.
# wt is (nw, n_pad) with n_pad a multiple of 64 and the neurons of input word k contiguous in wt[k, :],
# so the inner loop vectorises across neurons with no horizontal reductions.


@njit(inline="always", **NUMBA_FLAGS)
def _accumulate4(x, wt, i0, i1, i2, i3, j0, a0, a1, a2, a3):  # type: ignore[no-untyped-def]
    # Mismatch counts of images i0..i3 against neurons j0..j0+63 (a0..a3 hold 64 counts each).
    a0[:] = 0
    a1[:] = 0
    a2[:] = 0
    a3[:] = 0
    for k in range(x.shape[1]):
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


@njit(**NUMBA_PARALLEL_FLAGS)
def _dense_mismatch_t(x, wt, n_out):  # type: ignore[no-untyped-def]
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
            _accumulate4(x, wt, i0, i1, i2, i3, j0, a0, a1, a2, a3)
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
def _dense_fire_t(x, wt, n_out, t_fire, invert):  # type: ignore[no-untyped-def]
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
            _accumulate4(x, wt, i0, i1, i2, i3, j0, a0, a1, a2, a3)
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
            out[i0, g] = b0
            if i0 + 1 < B:
                out[i0 + 1, g] = b1
            if i0 + 2 < B:
                out[i0 + 2, g] = b2
            if i0 + 3 < B:
                out[i0 + 3, g] = b3
    return out


def transpose_dense(words: np.ndarray) -> np.ndarray:
    """(n_out, nw) kernel-layout dense weights -> (nw, n_out padded to 64), neurons contiguous."""
    n_out, nw = words.shape
    wt = np.zeros((nw, (n_out + 63) // 64 * 64), dtype=np.uint64)
    wt[:, :n_out] = words.T
    return wt
