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

from memsim.bits import pack_gt, popcount, popcount_lane
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError

__all__ = [
    "PER_IMAGE",
    "PER_POSITION",
    "SHARED",
    "accumulate4",
    "binarize_flat",
    "binarize_hwc",
    "conv3x3_h",
    "conv3x3_layer",
    "dense_fire_neuron_major",
    "dense_h",
    "dense_h_per_image",
    "dense_mismatch_neuron_major",
    "importance_chain",
    "output_margin",
    "per_image_rows",
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


#: Weight indexing of the convolution kernels: one read shared by all, one per image, one per output position.
SHARED, PER_IMAGE, PER_POSITION = 0, 1, 2

#: Output channels per accumulator group of the convolution kernels: 64 int64 counts (eight 512-bit
#: registers), so a group's counts stay in registers while the taps stream past, and its firing bits make
#: exactly one output word.
GROUP = 64
#: Pooled output positions per parallel work item: enough to amortise the scratch arrays, few enough to
#: keep both threads busy on a single image (the per-access path convolves one image at a time).
POSITIONS_PER_ITEM = 8
_H_MIN = -(2**62)
#: Threshold of a padding channel: above every pre-activation, so it never fires.
NEVER_FIRES = 2**62


@njit(**NUMBA_FLAGS)
def _read_index(mode, b, yo, xo, Wo):  # type: ignore[no-untyped-def]
    # Which weight read serves image b at output position (yo, xo).
    if mode == SHARED:
        return 0
    if mode == PER_IMAGE:
        return b
    return yo * Wo + xo


@njit(**NUMBA_FLAGS)
def _conv_outputs(B, Ho, Wo, pool, n_out, want_h):  # type: ignore[no-untyped-def]
    # Pooling step, output size, and the output arrays of a convolution layer kernel.
    step = 2 if pool else 1
    Hp = Ho // step
    Wp = Wo // step
    fire = np.zeros((B, Hp, Wp, (n_out + 63) // 64), dtype=np.uint64)
    h_out = np.empty((B, Hp, Wp, n_out) if want_h else (0, 0, 0, 0), dtype=np.int32)
    return step, Hp, Wp, fire, h_out


@njit(inline="always", **NUMBA_FLAGS)
def _emit_group(fire, h_out, b, py, px, g, best, n_out, s_row, inv_words, want_h):  # type: ignore[no-untyped-def]
    # Threshold and pack the 64 channels of group g at one output position (and keep h if asked): one vector
    # compare into a word, then the channels of a negative batch-norm scale flipped (h <= s = not h > s).
    o0 = g * GROUP
    fire[b, py, px, g] = pack_gt(best, 0, s_row, o0) ^ inv_words[g]
    if want_h:
        for j in range(min(GROUP, n_out - o0)):
            h_out[b, py, px, o0 + j] = best[j]


@njit(inline="always", **NUMBA_FLAGS)
def _taps9(v0, v1, v2, v3, v4, v5, v6, v7, v8, wn, r, k, nwc, o):  # type: ignore[no-untyped-def]
    # Mismatches of output channel o over input word k of the 9 taps (inputs v0..v8) of weight read r.
    return (
        popcount(v0 ^ wn[r, k, o]) + popcount(v1 ^ wn[r, nwc + k, o]) + popcount(v2 ^ wn[r, 2 * nwc + k, o])
        + popcount(v3 ^ wn[r, 3 * nwc + k, o]) + popcount(v4 ^ wn[r, 4 * nwc + k, o])
        + popcount(v5 ^ wn[r, 5 * nwc + k, o]) + popcount(v6 ^ wn[r, 6 * nwc + k, o])
        + popcount(v7 ^ wn[r, 7 * nwc + k, o]) + popcount(v8 ^ wn[r, 8 * nwc + k, o])
    )  # fmt: skip


@njit(**NUMBA_PARALLEL_FLAGS)
def _conv_word_layer(x, wn, c_in, pad, mode, pool, n_out, s, inv_words, want_h):  # type: ignore[no-untyped-def]
    # A whole 3x3 convolution layer: pre-activations, 2x2 max-pool (if pool), threshold and packing fused,
    # so the (B, H', W', O) int32 pre-activations never go to memory unless want_h asks for them (pooled).
    # x (B, H, W, nwc) packed channels; wn (K, 9 nwc, O64) neuron-major: the O64 output channels of tap t's
    # input word k contiguous at wn[r, t nwc + k], zero past n_out, so the group loop has a constant trip
    # count and vectorises across output channels (vpopcntq on AVX-512 VPOPCNTDQ hosts). s (1 or B rows) is
    # padded to O64 with thresholds no h reaches; inv_words packs the invert flags per group.
    B, H, W, nwc = x.shape
    groups = wn.shape[2] // GROUP
    Ho = H + 2 * pad - 2
    Wo = W + 2 * pad - 2
    step, Hp, Wp, fire, h_out = _conv_outputs(B, Ho, Wo, pool, n_out, want_h)
    total = B * Hp * Wp
    for item in prange((total + POSITIONS_PER_ITEM - 1) // POSITIONS_PER_ITEM):
        acc = np.empty(GROUP, dtype=np.int64)
        best = np.empty(GROUP, dtype=np.int64)
        for idx in range(item * POSITIONS_PER_ITEM, min(total, (item + 1) * POSITIONS_PER_ITEM)):
            b = idx // (Hp * Wp)
            py = (idx // Wp) % Hp
            px = idx % Wp
            s_row = s[b if s.shape[0] > 1 else 0]
            for g in range(groups):
                o0 = g * GROUP
                best[:] = _H_MIN
                for sub in range(step * step):
                    yo = py * step + sub // step
                    xo = px * step + sub % step
                    r = _read_index(mode, b, yo, xo, Wo)
                    y0 = yo - pad
                    x0 = xo - pad
                    # All 9 taps summed before the one store per word (LLVM stores a count after every add, as it
                    # cannot prove acc does not alias the weights).
                    if 0 <= y0 and y0 + 2 < H and 0 <= x0 and x0 + 2 < W:
                        n_valid = 9 * c_in
                        for k in range(nwc):
                            v0, v1, v2 = x[b, y0, x0, k], x[b, y0, x0 + 1, k], x[b, y0, x0 + 2, k]
                            v3, v4, v5 = x[b, y0 + 1, x0, k], x[b, y0 + 1, x0 + 1, k], x[b, y0 + 1, x0 + 2, k]
                            v6, v7, v8 = x[b, y0 + 2, x0, k], x[b, y0 + 2, x0 + 1, k], x[b, y0 + 2, x0 + 2, k]
                            if k == 0:
                                for j in range(GROUP):
                                    acc[j] = _taps9(v0, v1, v2, v3, v4, v5, v6, v7, v8, wn, r, k, nwc, o0 + j)
                            else:
                                for j in range(GROUP):
                                    acc[j] += _taps9(v0, v1, v2, v3, v4, v5, v6, v7, v8, wn, r, k, nwc, o0 + j)
                    else:
                        acc[:] = 0
                        n_valid = 0
                        for t in range(9):
                            yi = y0 + t // 3
                            xi = x0 + t % 3
                            if yi < 0 or yi >= H or xi < 0 or xi >= W:
                                continue  # zero padding: the tap adds nothing (one branch per tap, none per channel)
                            n_valid += c_in
                            for k in range(nwc):
                                v = x[b, yi, xi, k]
                                row = t * nwc + k
                                for j in range(GROUP):
                                    acc[j] += popcount(v ^ wn[r, row, o0 + j])
                    for j in range(GROUP):
                        best[j] = max(best[j], n_valid - 2 * acc[j])
                _emit_group(fire, h_out, b, py, px, g, best, n_out, s_row, inv_words, want_h)
    return h_out, fire


# ---- small-channel convolutions: the 3x3 patch of c_in <= 7 channels (9 c_in <= 64 bits) in one word, so a
# neuron's mismatch count is one popcount per position instead of nine (the first layer of an image network).


def lane_dtype(c_in: int) -> type:
    """The narrowest unsigned type that holds a 3x3 patch of ``c_in`` channels (``9 c_in <= 64`` bits)."""
    bits = 9 * int(c_in)
    return np.uint16 if bits <= 16 else np.uint32 if bits <= 32 else np.uint64


@njit(**NUMBA_PARALLEL_FLAGS)
def _patch_words(x, c_in, pad, like):  # type: ignore[no-untyped-def]
    # x (B, H, W), one word per pixel -> patches (B, H', W') of like's lane type with tap t = 3 dy + dx at bits
    # [t c_in, (t + 1) c_in), and the mask of the taps inside the image (H', W') with their valid-bit count
    # (int16): padding adds nothing to h.
    B, H, W = x.shape
    Ho = H + 2 * pad - 2
    Wo = W + 2 * pad - 2
    c = np.uint64(c_in)
    lane = (np.uint64(1) << c) - np.uint64(1)
    patches = np.empty((B, Ho, Wo), dtype=like.dtype)
    valid = np.zeros((Ho, Wo), dtype=like.dtype)
    n_valid = np.zeros((Ho, Wo), dtype=np.int16)
    for pos in range(Ho * Wo):
        yo = pos // Wo
        xo = pos % Wo
        m = np.uint64(0)
        for t in range(9):
            yi = yo + t // 3 - pad
            xi = xo + t % 3 - pad
            if 0 <= yi < H and 0 <= xi < W:
                m |= lane << np.uint64(t * c_in)
                n_valid[yo, xo] += c_in
        valid[yo, xo] = m
    # Tap t = 3 dy + dx sits at bit t c = 3 c dy + c dx: stack the three rows of each input column first
    # (col[x] = rows dy at 3 c dy), then a patch is three neighbouring columns at c dx. col has a zero column
    # on each side, and rows outside the image are skipped, so no tap needs a bounds test.
    chunk = 16  # images per work item: one scratch column per item
    for item in prange((B + chunk - 1) // chunk):
        col = np.zeros(W + 2, dtype=np.uint64)
        for b in range(item * chunk, min(B, (item + 1) * chunk)):
            for yo in range(Ho):
                col[1 : W + 1] = 0
                for dy in range(3):
                    y = yo - pad + dy
                    if 0 <= y < H:
                        sh = np.uint64(3 * c_in * dy)
                        for xx in range(W):
                            col[xx + 1] |= (x[b, y, xx] & lane) << sh
                for xo in range(Wo):
                    xi = xo + 1 - pad
                    patches[b, yo, xo] = col[xi] | (col[xi + 1] << c) | (col[xi + 2] << (c + c))
    return patches, valid, n_valid


@njit(**NUMBA_FLAGS)
def _patch_weights(w, c_in, o64, like):  # type: ignore[no-untyped-def]
    # w (K, O, 3, 3, 1) -> (K, O64) of like's lane type: the 9 taps of a channel in one word, laid out as the
    # patches; zero past O.
    K, n_out = w.shape[0], w.shape[1]
    lane = (np.uint64(1) << np.uint64(c_in)) - np.uint64(1)
    out = np.zeros((K, o64), dtype=like.dtype)
    for k in range(K):
        for o in range(n_out):
            word = np.uint64(0)
            for t in range(9):
                word |= (w[k, o, t // 3, t % 3, 0] & lane) << np.uint64(t * c_in)
            out[k, o] = word
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _conv_patch_layer(patches, valid, n_valid, wp, mode, pool, n_out, s, inv_words, want_h):  # type: ignore[no-untyped-def]
    # As _conv_word_layer, from patch words: one popcount per output channel and position, in the patches'
    # lane type (uint16 for one input channel: 32 channels per 512-bit register), with h and the thresholds s
    # in int16 (|h| <= 63). One work item per row of (pooled) outputs, so no division per position.
    B, Ho, Wo = patches.shape
    groups = wp.shape[1] // GROUP
    step, Hp, Wp, fire, h_out = _conv_outputs(B, Ho, Wo, pool, n_out, want_h)
    two = np.int16(2)
    for row in prange(B * Hp):
        b = row // Hp
        py = row - b * Hp
        s_row = s[b if s.shape[0] > 1 else 0]
        best = np.empty(GROUP, dtype=np.int16)
        ys = py * step
        y1 = ys + step - 1
        for px in range(Wp):
            # The (up to) 4 positions of the pooling window side by side, so each channel's count is stored once
            # (not once per position: LLVM cannot keep it in a register across positions).
            xs = px * step
            x1 = xs + step - 1
            r0 = _read_index(mode, b, ys, xs, Wo)
            r1 = _read_index(mode, b, ys, x1, Wo)
            r2 = _read_index(mode, b, y1, xs, Wo)
            r3 = _read_index(mode, b, y1, x1, Wo)
            p0, m0, n0 = patches[b, ys, xs], valid[ys, xs], n_valid[ys, xs]
            p1, m1, n1 = patches[b, ys, x1], valid[ys, x1], n_valid[ys, x1]
            p2, m2, n2 = patches[b, y1, xs], valid[y1, xs], n_valid[y1, xs]
            p3, m3, n3 = patches[b, y1, x1], valid[y1, x1], n_valid[y1, x1]
            # One weight row for the window, and one padding mask: the patches are zero outside their mask, so
            # (p ^ w) & m = p ^ (w & m), and the largest h is the fewest mismatches.
            same = mode != PER_POSITION and m0 == m1 and m0 == m2 and m0 == m3
            for g in range(groups):
                o0 = g * GROUP
                if step == 1:  # no pooling: the window is one position
                    for j in range(GROUP):
                        best[j] = n0 - two * np.int16(popcount_lane((p0 ^ wp[r0, o0 + j]) & m0))
                elif same:
                    for j in range(GROUP):
                        wv = wp[r0, o0 + j] & m0
                        c01 = min(popcount_lane(p0 ^ wv), popcount_lane(p1 ^ wv))
                        c23 = min(popcount_lane(p2 ^ wv), popcount_lane(p3 ^ wv))
                        best[j] = n0 - two * np.int16(min(c01, c23))
                else:
                    for j in range(GROUP):
                        o = o0 + j
                        h0 = n0 - two * np.int16(popcount_lane((p0 ^ wp[r0, o]) & m0))
                        h1 = n1 - two * np.int16(popcount_lane((p1 ^ wp[r1, o]) & m1))
                        h2 = n2 - two * np.int16(popcount_lane((p2 ^ wp[r2, o]) & m2))
                        h3 = n3 - two * np.int16(popcount_lane((p3 ^ wp[r3, o]) & m3))
                        best[j] = max(max(h0, h1), max(h2, h3))
                _emit_group(fire, h_out, b, py, px, g, best, n_out, s_row, inv_words, want_h)
    return h_out, fire


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


def _array(name: str, arr: np.ndarray, dtype: type, ndim: int) -> np.ndarray:
    # Packed bits and pixels must come exactly typed; integer counts (h, +-1 signs) are cast.
    ok = isinstance(arr, np.ndarray) and arr.ndim == ndim
    if ok and arr.dtype != dtype:
        ok = np.dtype(dtype).kind == "i" and arr.dtype.kind in "iu"
    if not ok:
        got = f"{arr.dtype} with {arr.ndim} dims" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise ConfigError(f"{name} must be a {ndim}-D {np.dtype(dtype).name} array, got {got}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _per_neuron(name: str, arr: np.ndarray, n: int, dtype: type) -> np.ndarray:
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
    images = _array("images", images, np.uint8, 3)
    if nw * 64 < images.shape[1] * images.shape[2]:
        raise ConfigError(f"{nw} words cannot hold {images.shape[1] * images.shape[2]} bits")
    return _binarize_flat(images, _per_neuron("thresholds", thresholds, images.shape[1], np.uint8), int(nw))


def binarize_hwc(images: np.ndarray, thresholds: np.ndarray, nwc: int) -> np.ndarray:
    """Images ``(B, C, H, W)`` uint8 -> packed ``(B, H, W, nwc)``: channel c of a pixel at bit c."""
    images = _array("images", images, np.uint8, 4)
    if nwc * 64 < images.shape[1]:
        raise ConfigError(f"{nwc} words cannot hold {images.shape[1]} channels")
    return _binarize_hwc(images, _per_neuron("thresholds", thresholds, images.shape[1], np.uint8), int(nwc))


def dense_h(x: np.ndarray, w: np.ndarray, n_in: int) -> np.ndarray:
    """Pre-activations ``(B, n_out)`` int32 of packed inputs ``x (B, nw)`` and row-major weights ``w (n_out, nw)``."""
    x = _array("x", x, np.uint64, 2)
    w = _array("w", w, np.uint64, 2)
    if x.shape[1] != w.shape[1]:
        raise ConfigError(f"inputs have {x.shape[1]} words per row, weights {w.shape[1]}")
    return _dense_h(x, w, int(n_in))


def dense_h_per_image(x: np.ndarray, w: np.ndarray, n_in: int) -> np.ndarray:
    """Pre-activations ``(B, n_out)`` int32 of ``x (B, nw)``, image ``b`` with its own weights ``w[b] (n_out, nw)``."""
    x = _array("x", x, np.uint64, 2)
    w = _array("w", w, np.uint64, 3)
    if w.shape[0] != x.shape[0] or w.shape[2] != x.shape[1]:
        raise ConfigError(f"per-image weights {w.shape} do not fit inputs {x.shape}")
    return _dense_h_per_image(x, w, int(n_in))


def threshold_flat(h: np.ndarray, s: np.ndarray, invert: np.ndarray) -> np.ndarray:
    """Packed firing bits ``(B, nw(n_out))`` of ``h (B, n_out)``: fire iff ``h > s`` (``h <= s`` where invert).

    ``s`` is ``(n_out,)``, or ``(B, n_out)`` for thresholds that differ per image.
    """
    h = _array("h", h, np.int32, 2)
    b, n = h.shape
    s2 = per_image_rows("s", s, n, b, np.int64)
    return _threshold_flat(h, s2, _per_neuron("invert", invert, n, np.bool_))


def conv3x3_layer(
    x: np.ndarray,
    w: np.ndarray,
    c_in: int,
    pad: int,
    mode: int,
    pool: bool,
    s: np.ndarray,
    invert: np.ndarray,
    want_h: bool = False,
) -> tuple[np.ndarray | None, np.ndarray]:
    """A 3x3, stride-1 convolution layer with zero padding, its 2x2 max-pool and threshold, in one pass.

    Parameters
    ----------
    x : ndarray of uint64, shape (B, H, W, nwc)
        Packed input channels.
    w : ndarray of uint64, shape (K, O, 3, 3, nwc) or (K, O)
        Kernel-layout weights: ``K = 1`` read (``mode`` :data:`SHARED`), one per image
        (:data:`PER_IMAGE`) or one per output position before pooling (:data:`PER_POSITION`).
        ``(K, O)``: where ``9 c_in <= 64``, each channel's 3x3 patch in one word, tap
        ``t = 3 dy + dx`` at bits ``[t c_in, (t + 1) c_in)`` (:func:`memsim.bnn.layers.conv_patches`).
    c_in : int
        Valid input channels.
    pad : {0, 1}
        Zero padding.
    mode : int
        How ``w``'s leading axis is indexed.
    pool : bool
        Max-pool 2x2 with stride 2 (odd edges dropped) before the threshold.
    s : ndarray, shape (O,) or (B, O)
        A channel fires iff its (pooled) pre-activation ``h > s``, or ``h <= s`` where ``invert``;
        one row per image for thresholds read per image.
    invert : ndarray of bool, shape (O,)
    want_h : bool
        Also return the (pooled) pre-activations.

    Returns
    -------
    h : ndarray of int32, shape (B, H'', W'', O), or None
        Pooled pre-activations if ``want_h``.
    fire : ndarray of uint64, shape (B, H'', W'', nw(O))
        Packed firing bits.
    """
    x = _array("x", x, np.uint64, 4)
    patch_form = isinstance(w, np.ndarray) and w.ndim == 2
    w = _array("w", w, np.uint64, 2 if patch_form else 5)
    if patch_form and (x.shape[3] != 1 or 9 * c_in > 64 or pad not in (0, 1)):
        raise ConfigError(f"patch-word weights need 9 x {c_in} <= 64 bits and one word per pixel, got x {x.shape}")
    if not patch_form and (w.shape[2:4] != (3, 3) or w.shape[4] != x.shape[3] or pad not in (0, 1)):
        raise ConfigError(f"conv weights {w.shape} do not fit inputs {x.shape} with padding {pad}")
    if not 0 < c_in <= 64 * x.shape[3]:
        raise ConfigError(f"{c_in} channels do not fit {x.shape[3]} words per pixel")
    ho, wo = x.shape[1] + 2 * pad - 2, x.shape[2] + 2 * pad - 2
    reads = {SHARED: 1, PER_IMAGE: x.shape[0], PER_POSITION: ho * wo}.get(mode)
    if reads is None or w.shape[0] != reads:
        raise ConfigError(f"mode {mode} needs {reads} weight reads, got {w.shape[0]}")
    k, n_out = w.shape[0], w.shape[1]
    o64 = (n_out + GROUP - 1) // GROUP * GROUP
    s2 = per_image_rows("s", s, n_out, x.shape[0], np.int64)
    s64 = np.full((s2.shape[0], o64), NEVER_FIRES, dtype=np.int64)  # padded channels: no pre-activation exceeds it
    s64[:, :n_out] = s2
    inv = np.zeros(o64, dtype=np.bool_)
    inv[:n_out] = _per_neuron("invert", invert, n_out, np.bool_)
    inv_words = np.packbits(inv, bitorder="little").view("<u8").astype(np.uint64)
    if x.shape[3] == 1 and 9 * c_in <= 64:  # a whole patch fits one word: one popcount per channel and position
        like: np.ndarray = np.zeros(0, dtype=lane_dtype(c_in))
        patches, valid, n_valid = _patch_words(x.reshape(x.shape[:3]), int(c_in), int(pad), like)
        if patch_form:
            wp = np.zeros((k, o64), dtype=like.dtype)
            wp[:, :n_out] = w
        else:
            wp = _patch_weights(w, int(c_in), o64, like)
        # |h| <= 9 c_in <= 63: thresholds clipped to +-64 compare the same in int16
        s16 = np.clip(s64, -64, 64).astype(np.int16)
        h, fire = _conv_patch_layer(patches, valid, n_valid, wp, int(mode), bool(pool), int(n_out), s16, inv_words,
                                    bool(want_h))  # fmt: skip
    else:
        wn = np.zeros((k, 9 * x.shape[3], o64), dtype=np.uint64)
        wn[:, :, :n_out] = w.reshape(k, n_out, -1).transpose(0, 2, 1)
        h, fire = _conv_word_layer(x, wn, int(c_in), int(pad), int(mode), bool(pool), int(n_out), s64, inv_words,
                                   bool(want_h))  # fmt: skip
    return (h if want_h else None), fire


def conv3x3_h(x: np.ndarray, w: np.ndarray, c_in: int, pad: int, mode: int) -> np.ndarray:
    """Unpooled pre-activations ``(B, H', W', O)`` of a 3x3 convolution (arguments as :func:`conv3x3_layer`)."""
    n_out = np.shape(w)[1] if np.ndim(w) == 5 else 0
    h, _ = conv3x3_layer(x, w, c_in, pad, mode, False, np.zeros(n_out, np.int32), np.zeros(n_out, bool), True)
    assert h is not None
    return h


def realign_rows(stream: np.ndarray, rows: int, n_bits: int) -> np.ndarray:
    """Stored-order streams of ``rows x n_bits`` bits -> words with each row from bit 0.

    ``stream`` is one stream ``(n,)`` -> ``(rows, n_words(n_bits))``, or a block of streams
    ``(K, n)`` (one per read) -> ``(K, rows, n_words(n_bits))``.
    """
    one = np.ndim(stream) == 1
    streams = _array("stream", np.asarray(stream)[None] if one else stream, np.uint64, 2)
    if streams.shape[1] * 64 < rows * n_bits:
        raise ConfigError(f"a stream of {streams.shape[1]} words cannot hold {rows} rows of {n_bits} bits")
    out = _realign_rows(streams, int(rows), int(n_bits))
    return out[0] if one else out


def output_margin(h: np.ndarray) -> np.ndarray:
    """Top minus runner-up pre-activation per image of ``h (B, n_out)`` (needs ``n_out >= 2``)."""
    h = _array("h", h, np.int32, 2)
    if h.shape[1] < 2:
        raise ConfigError(f"an output margin needs at least 2 classes, got {h.shape[1]}")
    return _output_margin(h)


def importance_chain(
    a: np.ndarray,
    h_next: np.ndarray,
    w_next: np.ndarray,
    s_next: np.ndarray,
    inv_next: np.ndarray,
    w_out: np.ndarray,
    h_out: np.ndarray,
) -> np.ndarray:
    """Mean drop of the decision margin when each neuron of a hidden dense layer is inverted, ``(n,)`` float64.

    ``a (N, n)`` are the layer's +-1 outputs; ``h_next (N, m)``, ``w_next (m, n)``, ``s_next``, ``inv_next`` the
    next hidden dense layer (``m = 0`` when the next layer is the output); ``w_out (k, m or n)`` and
    ``h_out (N, k)`` the output layer.
    """
    a = _array("a", a, np.int8, 2)
    h_out = _array("h_out", h_out, np.int32, 2)
    w_out = _array("w_out", w_out, np.int8, 2)
    h_next = _array("h_next", h_next, np.int32, 2)
    w_next = _array("w_next", w_next, np.int8, 2)
    m = h_next.shape[1]
    if h_out.shape[0] != a.shape[0] or w_out.shape[1] != (m if m else a.shape[1]):
        raise ConfigError("importance_chain: layer shapes do not chain")
    s_next = _per_neuron("s_next", s_next, m, np.int32)
    inv_next = _per_neuron("inv_next", inv_next, m, np.bool_)
    return _importance_chain(a, h_next, w_next, s_next, inv_next, w_out, h_out)


def dense_mismatch_neuron_major(x: np.ndarray, wt: np.ndarray, n_out: int) -> np.ndarray:
    """Mismatch counts ``(B, n_out)`` int32 of ``x (B, nw)`` against neuron-major weights (:func:`transpose_dense`)."""
    x = _array("x", x, np.uint64, 2)
    wt = _array("wt", wt, np.uint64, 2)
    if wt.shape[0] != x.shape[1] or wt.shape[1] < n_out or wt.shape[1] % 64:
        raise ConfigError(f"neuron-major weights {wt.shape} do not fit inputs {x.shape} and {n_out} neurons")
    return _dense_mismatch_neuron_major(x, wt, int(n_out))


def dense_fire_neuron_major(
    x: np.ndarray, wt: np.ndarray, n_out: int, fire_limit: np.ndarray, invert: np.ndarray
) -> np.ndarray:
    """Packed firing bits ``(B, nw(n_out))``: a neuron fires iff its mismatches ``<= fire_limit`` (xor invert)."""
    x = _array("x", x, np.uint64, 2)
    wt = _array("wt", wt, np.uint64, 2)
    if wt.shape[0] != x.shape[1] or wt.shape[1] < n_out or wt.shape[1] % 64:
        raise ConfigError(f"neuron-major weights {wt.shape} do not fit inputs {x.shape} and {n_out} neurons")
    limit = _per_neuron("fire_limit", fire_limit, n_out, np.int64)
    return _dense_fire_neuron_major(x, wt, int(n_out), limit, _per_neuron("invert", invert, n_out, np.bool_))


def transpose_dense(words: np.ndarray) -> np.ndarray:
    """(n_out, nw) kernel-layout dense weights -> (nw, n_out padded to 64), neurons contiguous."""
    n_out, nw = words.shape
    wt = np.zeros((nw, (n_out + 63) // 64 * 64), dtype=np.uint64)
    wt[:, :n_out] = words.T
    return wt
