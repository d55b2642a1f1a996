"""Per-image corrections of a layer's clean batched output for the weights its reads got wrong (numba).

No torch here: the hooks of :mod:`memsim.qnn.network` hand over numpy views of the tensors. Read
``r`` serves images ``first[r]:first[r + 1]`` of the batch and flipped bits
``bits[offsets[r]:offsets[r + 1]]`` (increasing) of the packed m-bit codes ``words``; the flips of
one weight are grouped, the weight's change ``delta = value(code ^ flipped) - value(code)`` is
computed in float32 like the weights themselves, and ``delta`` times what the weight multiplies is
added to each served image's output. Reads serve disjoint images, so they run in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS

__all__ = ["code_at", "conv_fix", "linear_fix"]


@njit(inline="always", **NUMBA_FLAGS)
def code_at(words, w, m):  # type: ignore[no-untyped-def]
    """The m-bit code of weight ``w`` in packed ``words`` (little-endian; it may straddle two words)."""
    start = w * m
    i = start >> 6
    shift = start & 63
    code = words[i] >> np.uint64(shift)
    if shift + m > 64:
        code |= words[i + 1] << np.uint64(64 - shift)
    return np.int64(code & np.uint64((1 << m) - 1))


@njit(inline="always", **NUMBA_FLAGS)
def _value(code, ch, m, symmetric, scale, zero):  # type: ignore[no-untyped-def]
    c = code
    if symmetric and c >= (1 << (m - 1)):
        c -= 1 << m
    return np.float32(scale[ch] * (c - zero[ch]))


@njit(inline="always", **NUMBA_FLAGS)
def _delta(words, w, mask, m, symmetric, scale, zero, per_channel):  # type: ignore[no-untyped-def]
    code = code_at(words, w, m)
    ch = w // per_channel
    return _value(code ^ mask, ch, m, symmetric, scale, zero) - _value(code, ch, m, symmetric, scale, zero)


@njit(**NUMBA_PARALLEL_FLAGS)
def linear_fix(x, out, words, offsets, bits, first, m, symmetric, scale, zero, per_channel):  # type: ignore[no-untyped-def]
    """``out[k, l, o] += delta * x[k, l, j]`` for each wrong weight ``(o, j)`` of the read serving image ``k``.

    ``x`` is ``(N, L, in)`` and ``out`` ``(N, L, out)`` (``L`` the leading axes of a Linear's input).
    """
    n_in = x.shape[2]
    for r in prange(offsets.size - 1):
        i = offsets[r]
        end = offsets[r + 1]
        while i < end:
            w = bits[i] // m
            mask = np.int64(0)
            while i < end and bits[i] // m == w:
                mask |= np.int64(1) << (bits[i] - w * m)
                i += 1
            d = _delta(words, w, mask, m, symmetric, scale, zero, per_channel)
            o = w // n_in
            j = w - o * n_in
            for k in range(first[r], first[r + 1]):
                for li in range(x.shape[1]):
                    out[k, li, o] += d * x[k, li, j]


@njit(**NUMBA_PARALLEL_FLAGS)
def conv_fix(xp, out, words, offsets, bits, first, m, symmetric, scale, zero, per_channel, geometry):  # type: ignore[no-untyped-def]
    """``out[k, o] += delta * xp[k, c_in, tap window]`` for each wrong weight of the read serving image ``k``.

    ``xp`` is the zero-padded input ``(N, C_in, H_p, W_p)``, ``out`` ``(N, C_out, H_o, W_o)`` (a 1-d
    convolution as ``H = 1``); ``geometry`` is ``(k_h, k_w, s_h, s_w, d_h, d_w, c_in per group,
    c_out per group)``.
    """
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
    ho, wo = out.shape[2], out.shape[3]
    for r in prange(offsets.size - 1):
        i = offsets[r]
        end = offsets[r + 1]
        while i < end:
            w = bits[i] // m
            mask = np.int64(0)
            while i < end and bits[i] // m == w:
                mask |= np.int64(1) << (bits[i] - w * m)
                i += 1
            d = _delta(words, w, mask, m, symmetric, scale, zero, per_channel)
            o = w // (cin_g * kh * kw)
            rest = w - o * (cin_g * kh * kw)
            c = rest // (kh * kw)
            tap = rest - c * (kh * kw)
            ki = tap // kw
            kj = tap - ki * kw
            cin = (o // per_group) * cin_g + c
            for k in range(first[r], first[r + 1]):
                for y in range(ho):
                    row = ki * dh + y * sh
                    for xx in range(wo):
                        out[k, o, y, xx] += d * xp[k, cin, row, kj * dw + xx * sw]
