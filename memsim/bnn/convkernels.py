"""numba kernels of the BNN engine's 3x3 convolutions (zero padding, optional 2x2 max pooling).

Two families, one wrapper (:func:`conv3x3_layer`): word convolutions, the channels of a pixel
packed into words; and patch-word convolutions for few input channels (the first layer of an
image network), the 3x3 patch of at most 7 channels in one word, counted in the narrowest lane
that holds it. Layouts and the pre-activation rule are those of :mod:`memsim.bnn.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from memsim.bits import pack_gt, popcount, popcount_lane
from memsim.bnn.kernels import as_array, per_image_rows, per_neuron
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError

__all__ = ["GROUP", "NEVER_FIRES", "PER_IMAGE", "PER_POSITION", "SHARED", "conv3x3_h", "conv3x3_layer", "lane_dtype"]

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


# ---- public wrapper: checks what would make a kernel read out of bounds (dtype, rank, sizes).


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
    x = as_array("x", x, np.uint64, 4)
    patch_form = isinstance(w, np.ndarray) and w.ndim == 2
    w = as_array("w", w, np.uint64, 2 if patch_form else 5)
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
    inv[:n_out] = per_neuron("invert", invert, n_out, np.bool_)
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
