"""Per-image corrections of a layer's clean batched output for the bits its reads flipped (numba).

No torch here: the hooks of :mod:`memsim.qnn.network` hand over numpy views of the tensors.

A fixed-point weight is linear in its bits: ``scale * (sum_k c_k 2^k - zero)``, the top bit
weighing ``-2^(m-1)`` in two's complement (``symmetric``). So a flip of bit ``k`` of weight ``w``
changes it by ``delta = scale * (1 - 2 c_k) * (+-2^k)`` whatever else flipped in that read, and
the corrections of a read's flips add up one by one, in any order: ``delta`` times what the
weight multiplies is added to the output of every image the read serves (images
``first[r]:first[r + 1]``). Reads serve disjoint images, so they run in parallel.

The ``*_walk`` kernels draw each read's flips as they go (:func:`memsim.memory.sparse.next_flip`,
nothing stored); the ``*_list`` kernels take them as ``bits[offsets[r]:offsets[r + 1]]`` (a fault
model without a flip law, read as words).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.memory.sparse import WALK_CHUNK, next_flip
from memsim.rng import stream_state

__all__ = ["bit_delta", "conv_list", "conv_walk", "linear_list", "linear_walk"]


@njit(inline="always", **NUMBA_FLAGS)
def quotient(a, b, inv_b):  # type: ignore[no-untyped-def]
    """``a // b`` for ``0 <= a < 2**50`` from a multiplication by ``inv_b = 1 / b`` (an integer division
    costs tens of cycles, and a flip needs three); the float estimate is off by at most one."""
    q = np.int64(a * inv_b)
    if q * b > a:
        q -= 1
    elif (q + 1) * b <= a:
        q += 1
    return q


#: 2^k as floats: a table lookup instead of a variable shift and a conversion per flip.
_POW2 = np.array([2.0**k for k in range(64)])


@njit(inline="always", **NUMBA_FLAGS)
def bit_delta(words, b, m, symmetric, scale, per_channel):  # type: ignore[no-untyped-def]
    """The weight holding bit ``b`` of packed ``words`` and its change (float32) when that bit flips."""
    w = quotient(b, m, 1.0 / m)
    k = b - w * m
    bit = (words[b >> 6] >> np.uint64(b & 63)) & np.uint64(1)
    # a stored 1 lowers the weight, a 0 raises it; the two's-complement top bit weighs -2^(m-1)
    top = np.uint64(1) if symmetric and k == m - 1 else np.uint64(0)
    step = _POW2[k] * (1.0 - 2.0 * np.float64(bit ^ top))
    ch = 0 if scale.size == 1 else quotient(w, per_channel, 1.0 / per_channel)
    return w, np.float32(scale[ch] * step)


@njit(inline="always", **NUMBA_FLAGS)
def _linear_add(x, out, i0, i1, w, d, n_in, inv_in):  # type: ignore[no-untyped-def]
    o = quotient(w, n_in, inv_in)
    j = w - o * n_in
    if i1 == i0 + 1 and x.shape[1] == 1:  # one image, one row: the per-image read of a plain dense layer
        out[i0, 0, o] += d * x[i0, 0, j]
        return
    for k in range(i0, i1):
        for li in range(x.shape[1]):
            out[k, li, o] += d * x[k, li, j]


@njit(inline="always", **NUMBA_FLAGS)
def _conv_add(xp, out, i0, i1, w, d, geometry):  # type: ignore[no-untyped-def]
    kh, kw, sh, sw, dh, dw, cin_g, per_group = (
        geometry[0],
        geometry[1],
        geometry[2],
        geometry[3],
        geometry[4],
        geometry[5],
        geometry[6],
        geometry[7],
    )
    o = w // (cin_g * kh * kw)
    rest = w - o * (cin_g * kh * kw)
    c = rest // (kh * kw)
    tap = rest - c * (kh * kw)
    ki = tap // kw
    kj = tap - ki * kw
    cin = (o // per_group) * cin_g + c
    for k in range(i0, i1):
        for y in range(out.shape[2]):
            row = ki * dh + y * sh
            for xx in range(out.shape[3]):
                out[k, o, y, xx] += d * xp[k, cin, row, kj * dw + xx * sw]


#: Reads walked together over one span of the stored bits, and that span: a group's reads share the
#: span's words in cache (32 KiB) instead of each streaming the whole array from memory.
GROUP, SPAN_BITS = 16, 1 << 18


@njit(**NUMBA_PARALLEL_FLAGS)
def linear_walk(x, out, words, free, has_free, nbits, gap_scale, a01, a10, k0, k1, events, first, m, symmetric, scale, per_channel):  # type: ignore[no-untyped-def]  # noqa: E501  # fmt: skip
    """``out[k, l, o] += delta * x[k, l, j]`` for every bit the read serving image ``k`` flips.

    ``x`` is ``(N, L, in)`` and ``out`` ``(N, L, out)`` (``L`` the leading axes of a Linear's input).
    Each read's flips are exactly those of its own walk (:func:`~memsim.memory.sparse.flip_bits`);
    the walks of a group of reads advance span by span, their states kept in between.
    """
    n_reads = events.size
    n_in = x.shape[2]
    inv_in = 1.0 / n_in
    for g in prange((n_reads + GROUP - 1) // GROUP):
        r0 = g * GROUP
        r1 = min(r0 + GROUP, n_reads)
        state = np.empty((r1 - r0, 4), dtype=np.uint64)
        at = np.empty(r1 - r0, dtype=np.int64)
        for r in range(r0, r1):
            s0, s1, s2, s3 = stream_state(k0, k1, events[r], WALK_CHUNK)
            b, s0, s1, s2, s3 = next_flip(
                np.int64(-1), nbits, words, free, has_free, gap_scale, a01, a10, s0, s1, s2, s3
            )
            at[r - r0] = b
            state[r - r0, 0], state[r - r0, 1], state[r - r0, 2], state[r - r0, 3] = s0, s1, s2, s3
        for span in range(0, nbits, SPAN_BITS):
            stop = min(span + SPAN_BITS, nbits)
            for r in range(r0, r1):
                b = at[r - r0]
                if b >= stop:
                    continue
                s0, s1, s2, s3 = state[r - r0, 0], state[r - r0, 1], state[r - r0, 2], state[r - r0, 3]
                while b < stop:
                    w, d = bit_delta(words, b, m, symmetric, scale, per_channel)
                    _linear_add(x, out, first[r], first[r + 1], w, d, n_in, inv_in)
                    b, s0, s1, s2, s3 = next_flip(b, nbits, words, free, has_free, gap_scale, a01, a10, s0, s1, s2, s3)
                at[r - r0] = b
                state[r - r0, 0], state[r - r0, 1], state[r - r0, 2], state[r - r0, 3] = s0, s1, s2, s3


@njit(**NUMBA_PARALLEL_FLAGS)
def linear_list(x, out, words, offsets, bits, first, m, symmetric, scale, per_channel):  # type: ignore[no-untyped-def]
    """:func:`linear_walk` for flips given as lists."""
    n_in = x.shape[2]
    inv_in = 1.0 / n_in
    for r in prange(offsets.size - 1):
        for i in range(offsets[r], offsets[r + 1]):
            w, d = bit_delta(words, bits[i], m, symmetric, scale, per_channel)
            _linear_add(x, out, first[r], first[r + 1], w, d, n_in, inv_in)


@njit(**NUMBA_PARALLEL_FLAGS)
def conv_walk(xp, out, words, free, has_free, nbits, gap_scale, a01, a10, k0, k1, events, first, m, symmetric, scale, per_channel, geometry):  # type: ignore[no-untyped-def]  # noqa: E501  # fmt: skip
    """``out[k, o] += delta * xp[k, c_in, tap window]`` for every bit the read serving image ``k`` flips.

    ``xp`` is the zero-padded input ``(N, C_in, H_p, W_p)``, ``out`` ``(N, C_out, H_o, W_o)`` (a 1-d
    convolution as ``H = 1``); ``geometry`` is ``(k_h, k_w, s_h, s_w, d_h, d_w, c_in per group,
    c_out per group)``.
    """
    for r in prange(events.size):
        s0, s1, s2, s3 = stream_state(k0, k1, events[r], WALK_CHUNK)
        b = np.int64(-1)
        while True:
            b, s0, s1, s2, s3 = next_flip(b, nbits, words, free, has_free, gap_scale, a01, a10, s0, s1, s2, s3)
            if b >= nbits:
                break
            w, d = bit_delta(words, b, m, symmetric, scale, per_channel)
            _conv_add(xp, out, first[r], first[r + 1], w, d, geometry)


@njit(**NUMBA_PARALLEL_FLAGS)
def conv_list(xp, out, words, offsets, bits, first, m, symmetric, scale, per_channel, geometry):  # type: ignore[no-untyped-def]
    """:func:`conv_walk` for flips given as lists."""
    for r in prange(offsets.size - 1):
        for i in range(offsets[r], offsets[r + 1]):
            w, d = bit_delta(words, bits[i], m, symmetric, scale, per_channel)
            _conv_add(xp, out, first[r], first[r + 1], w, d, geometry)
