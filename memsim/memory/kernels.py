"""numba kernels of the approximate memory: Bernoulli flip masks and their application.

All kernels work on packed ``uint64`` words (:mod:`memsim.bits`) and split the
words into fixed chunks of :data:`memsim.config.CHUNK_WORDS`, each with its own
xoshiro256** stream derived from ``(k0, k1, event, chunk)``: the bits depend on
the seed and the read event, never on the thread count.

Samplers of a mask with i.i.d. Bernoulli(p) bits:

* :func:`_fill_geometric` draws the gaps between set bits (geometric skip): cost
  grows with the number of flips, ``p * nbits``, not with ``nbits``.
* :func:`_fill_bitparallel` builds whole words from the binary expansion of p:
  with digits ``b_1 .. b_k`` (``p_hi = sum b_i 2^-i``) and fair random words ``r``,
  ``m <- b_i ? (r | m) : (r & m)`` from the last digit to the first gives every
  bit probability ``p_hi`` exactly; cost ``k`` random words per 64 bits. The
  expansion is cut after :data:`memsim.config.P_BITS` significant digits (fewer
  random words); the remainder is added exactly by OR-ing a geometric mask of
  probability ``(p - p_hi) / (1 - p_hi)``, which costs a handful of flips. The
  result has ``P(bit) = p_hi + (1 - p_hi) (p - p_hi) / (1 - p_hi) = p``.

Every kernel is private; the public wrappers at the end of this module validate
their arguments and are the only callers (the fault models call the wrappers).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit, prange

from memsim.bits import n_words, pad_mask, popcount
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError
from memsim.rng import hash_uniform, stream_state, to_unit, xoshiro_next

__all__ = [
    "count_ones",
    "directional",
    "flip_counts",
    "mixed_flips",
    "p_digits",
    "sample_mask",
    "sample_masks",
    "sparse_mask",
    "weak_cells",
    "xor_count",
]


def p_digits(p: float, significant_bits: int = 12) -> tuple[np.ndarray, float]:
    """Binary digits of ``p`` for the bit-parallel sampler, rounded down.

    Keeps the leading zeros of ``p`` plus ``significant_bits`` bits, so the
    represented ``p_eff <= p`` is within a relative ``2**-significant_bits`` of ``p``.

    Returns
    -------
    ops : ndarray of int8
        Digits from the lowest set digit up to the first (1 = OR, 0 = AND).
    p_eff : float
        The probability the digits represent.
    """
    if not 0.0 < p < 1.0:
        raise ConfigError(f"p must be in (0, 1), got {p!r}")
    leading = math.floor(-math.log2(p))
    k = min(63, leading + 1 + significant_bits)
    q = max(1, math.floor(p * (1 << k)))  # round down: the remainder p - p_eff is >= 0
    digits = [(q >> (k - 1 - i)) & 1 for i in range(k)]  # b_1 .. b_k, most significant first
    while digits and digits[-1] == 0:
        digits.pop()
    return np.array(digits[::-1], dtype=np.int8), q / float(1 << k)


#: Chunk-number offset of the remainder streams of the bit-parallel sampler.
RESIDUAL_STREAMS = 1 << 40


#: Relative distance to an integer below which a gap is recomputed with log1p (see _gap): thousands of times
#: the few-ulp disagreement of libm's log and log1p.
GAP_GUARD = 1e-12


@njit(inline="always", **NUMBA_FLAGS)
def _gap(u, log_q):  # type: ignore[no-untyped-def]
    # log1p(-u) / log(1 - p), the geometric gap, at the cost of log (log1p is about 2x slower in glibc): u has
    # 53 bits, so 1 - u is exact and both logs take the same number. They may still round apart by an ulp or
    # two; only the integer part and comparisons with integers are used, so where the quotient lies so close
    # to an integer that this could matter, log1p decides: the gaps are those of log1p, bit for bit.
    gap = math.log(1.0 - u) / log_q
    frac = gap - math.floor(gap)
    tol = GAP_GUARD * (gap + 1.0)
    if frac < tol or frac > 1.0 - tol:
        gap = math.log1p(-u) / log_q
    return gap


#: Leading bits of a random word that pick its bucket of u in the gap table: 2**14 buckets of width 6e-5.
GAP_TABLE_BITS = 14


@njit(**NUMBA_FLAGS)
def _gap_table(p, bits):  # type: ignore[no-untyped-def]
    # For each bucket [i, i + 1) / 2**bits of u: the integer part of the gap if it is the same for every u of
    # the bucket, else -1. The gap rises with u, so the bucket's two ends decide, each kept GAP_GUARD clear of
    # an integer (as _gap's guard): a lookup gives the very integer _gap would. Near u = 1 gaps grow fast, and
    # below p ~ 1e-3 most buckets span an integer; those draws take the log.
    log_q = math.log1p(-p)
    n = 1 << bits
    table = np.full(n, -1, dtype=np.int64)
    step = 1.0 / n
    for i in range(n):
        g_lo = math.log1p(-(i * step)) / log_q
        g_hi = math.log1p(-((i + 1) * step - 2.0**-53)) / log_q  # the bucket's largest u (53-bit fractions)
        f = math.floor(g_lo)
        if math.floor(g_hi) != f or f > 2.0**62:
            continue
        if (i > 0 and g_lo - f < GAP_GUARD * (g_lo + 1.0)) or f + 1.0 - g_hi < GAP_GUARD * (g_hi + 1.0):
            continue  # u = 0 (i = 0) gives gap 0 exactly: no guard below it
        table[i] = np.int64(f)
    return table


@njit(**NUMBA_PARALLEL_FLAGS)
def _fill_geometric(masks, nbits, p, k0, k1, events, chunk_words, accumulate, stream_offset, table):  # type: ignore[no-untyped-def]
    # Row r of masks (K, nwords) from the streams of events[r]; accumulate: OR the new bits in instead of
    # overwriting. One work item per (read, chunk), so a block of small reads (a convolution's weights, once
    # per image) runs in one parallel launch with the same bits as one read at a time. table: _gap_table(p),
    # which serves most draws without a log.
    K, nwords = masks.shape
    nchunks = (nwords + chunk_words - 1) // chunk_words
    log_q = math.log1p(-p)
    bits = 0
    while (1 << bits) < table.size:  # table.size is 2**bits
        bits += 1
    shift = np.uint64(64 - bits)
    for item in prange(K * nchunks):
        row = item // nchunks
        c = item % nchunks
        mask = masks[row]
        w0 = c * chunk_words
        w1 = min(nwords, w0 + chunk_words)
        if not accumulate:
            for w in range(w0, w1):
                mask[w] = np.uint64(0)
        s0, s1, s2, s3 = stream_state(k0, k1, events[row], c + stream_offset)
        end = min(nbits, w1 * 64)
        pos = w0 * 64 - 1
        while True:
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            # P(gap >= g) = P(1 - u <= (1 - p)^g) = (1 - p)^g: the gap before the next flip.
            g = table[r >> shift]
            if g < 0:
                gap = _gap(to_unit(r), log_q)
                if gap >= end - 1 - pos:  # compare as float first: gap can exceed any int
                    break
                g = int(gap)
            elif g >= end - 1 - pos:
                break
            pos += 1 + g
            mask[pos >> 6] |= np.uint64(1) << np.uint64(pos & 63)


@lru_cache(maxsize=64)
def gap_table(p: float) -> np.ndarray:
    """The geometric sampler's table of gaps for ``p`` (read-only, cached per p)."""
    table = _gap_table(float(p), GAP_TABLE_BITS)
    table.setflags(write=False)
    return table


@njit(**NUMBA_PARALLEL_FLAGS)
def _fill_bitparallel(masks, nbits, ops, k0, k1, events, chunk_words):  # type: ignore[no-untyped-def]
    # Row r of masks (K, nwords) from the streams of events[r], one work item per (read, chunk).
    K, nwords = masks.shape
    nchunks = (nwords + chunk_words - 1) // chunk_words
    k = ops.size
    rem = nbits % 64
    for item in prange(K * nchunks):
        row = item // nchunks
        c = item % nchunks
        w0 = c * chunk_words
        w1 = min(nwords, w0 + chunk_words)
        s0, s1, s2, s3 = stream_state(k0, k1, events[row], c)
        for w in range(w0, w1):
            m, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)  # lowest set digit: m = r
            for i in range(1, k):
                r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                if ops[i]:
                    m |= r
                else:
                    m &= r
            if rem and w == nwords - 1:
                m &= (np.uint64(1) << np.uint64(rem)) - np.uint64(1)
            masks[row, w] = m


@njit(**NUMBA_FLAGS)
def _fill_sparse(mask, positions, probs, k0, k1, event):  # type: ignore[no-untyped-def]
    # Set bit positions[j] with probability probs[j] (0 < p < 1): one stream per read, in order.
    s0, s1, s2, s3 = stream_state(k0, k1, event, 0)
    for j in range(positions.size):
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        if to_unit(r) < probs[j]:
            pos = positions[j]
            mask[pos >> 6] |= np.uint64(1) << np.uint64(pos & 63)


@njit(**NUMBA_FLAGS)
def _binomial(n, p, s0, s1, s2, s3):  # type: ignore[no-untyped-def]
    # One exact Bin(n, p) draw from a xoshiro256** stream; returns (k, state). Inversion (BINV) for n p < 10,
    # else Hormann's BTRS transformed rejection (1993), O(1) expected uniforms. p > 1/2 by symmetry.
    if n <= 0 or p <= 0.0:
        return 0, s0, s1, s2, s3
    if p >= 1.0:
        return n, s0, s1, s2, s3
    flip = p > 0.5
    if flip:
        p = 1.0 - p
    q = 1.0 - p
    k = 0
    if n * p < 10.0:
        ratio = p / q
        a = (n + 1) * ratio
        while True:  # the first x with u <= P(X <= x); a rare float overrun past n restarts
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            u = to_unit(r)
            prob = math.exp(n * math.log1p(-p))
            x = 0
            while u > prob and x <= n:
                u -= prob
                x += 1
                prob *= a / x - ratio
            if x <= n:
                k = x
                break
    else:
        spq = math.sqrt(n * p * q)
        b = 1.15 + 2.53 * spq
        a = -0.0873 + 0.0248 * b + 0.01 * p
        c = n * p + 0.5
        v_r = 0.92 - 4.2 / b
        alpha = (2.83 + 5.1 / b) * spq
        lpq = math.log(p / q)
        m = math.floor((n + 1) * p)
        h = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
        while True:
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            u = to_unit(r) - 0.5
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            v = to_unit(r)
            us = 0.5 - abs(u)
            x = math.floor((2.0 * a / us + b) * u + c)
            if x < 0 or x > n:
                continue
            if us >= 0.07 and v <= v_r:
                k = int(x)
                break
            v = math.log(v * alpha / (a / (us * us) + b))
            if v <= h - math.lgamma(x + 1.0) - math.lgamma(n - x + 1.0) + (x - m) * lpq:
                k = int(x)
                break
    return (n - k if flip else k), s0, s1, s2, s3


@njit(**NUMBA_PARALLEL_FLAGS)
def _flip_counts(zeros, ones, p01, p10, k0, k1, events):  # type: ignore[no-untyped-def]
    # Total of Bin(zeros, p01) + Bin(ones, p10) over reads, each read drawn from its own event's stream.
    total = 0
    for i in prange(events.size):
        s0, s1, s2, s3 = stream_state(k0, k1, events[i], 0)
        k01, s0, s1, s2, s3 = _binomial(zeros, p01, s0, s1, s2, s3)
        k10, s0, s1, s2, s3 = _binomial(ones, p10, s0, s1, s2, s3)
        total += k01 + k10
    return total


@njit(**NUMBA_PARALLEL_FLAGS)
def _weak_cells(flip0, flip1, nbits, fault_fraction, share01, k0, k1, offset):  # type: ignore[no-untyped-def]
    # Cell i (address offset + bit) is faulty iff u_i < fault_fraction, with u_i fixed per (chip key, address):
    # the faulty set only grows with fault_fraction (nested across operating points), and an array laid on
    # the same addresses of the same chip meets the same cells. A faulty cell is stuck-at-1 (flips stored 0s)
    # iff v_i < share01, else stuck-at-0.
    for w in prange(flip0.size):
        a = np.uint64(0)
        b = np.uint64(0)
        for bit in range(min(64, nbits - w * 64)):
            i = offset + w * 64 + bit
            if hash_uniform(k0, k1, 2 * i) < fault_fraction:
                if hash_uniform(k0, k1, 2 * i + 1) < share01:
                    a |= np.uint64(1) << np.uint64(bit)
                else:
                    b |= np.uint64(1) << np.uint64(bit)
        flip0[w] = a
        flip1[w] = b


@njit(**NUMBA_PARALLEL_FLAGS)
def _directional(data, flip0, flip1, out):  # type: ignore[no-untyped-def]
    # Flip stored 0s where flip0 is set and stored 1s where flip1 is set.
    for w in prange(data.size):
        out[w] = (flip0[w] & ~data[w]) | (flip1[w] & data[w])


@njit(**NUMBA_PARALLEL_FLAGS)
def _combine_transient(flips, data, stuck, t0, t1):  # type: ignore[no-untyped-def]
    # flips |= transient flips of the cells that are not stuck (direction by stored bit).
    for w in prange(data.size):
        free = ~stuck[w]
        flips[w] |= free & ((t0[w] & ~data[w]) | (t1[w] & data[w]))


@njit(**NUMBA_PARALLEL_FLAGS)
def _xor_count(data, flips, out):  # type: ignore[no-untyped-def]
    total = 0
    for w in prange(data.size):
        out[w] = data[w] ^ flips[w]
        total += popcount(flips[w])
    return total


@njit(**NUMBA_FLAGS)
def _count(words):  # type: ignore[no-untyped-def]
    total = 0
    for w in range(words.size):
        total += popcount(words[w])
    return total


# Serial twins of the parallel kernels (the same code, so the same bits): a parallel launch costs tens of
# microseconds, more than a small array's whole read (a convolution's weights, read once per image).
def _serial(kernel: Any) -> Any:
    # With NUMBA_DISABLE_JIT=1 a kernel is its plain Python function, which runs on one thread anyway.
    # Not cached: numba's cache index is keyed by the function's name and line, which the parallel kernel
    # shares, so a cached serial twin would replace the parallel one on disk (measured: reads 1.6x slower).
    return njit(nogil=True, cache=False)(kernel.py_func) if hasattr(kernel, "py_func") else kernel


_fill_geometric_serial = _serial(_fill_geometric)
_fill_bitparallel_serial = _serial(_fill_bitparallel)
_xor_count_serial = _serial(_xor_count)
#: Words up to which a block of reads runs on one thread (one read of a convolution layer's weights).
SERIAL_MAX_WORDS = 4096


def sample_masks(
    nbits: int,
    p: float,
    key: tuple[int, int],
    events: np.ndarray,
    sampler: str = "auto",
    chunk_words: int | None = None,
) -> np.ndarray:
    """Packed masks of ``nbits`` i.i.d. Bernoulli(``p``) bits, one per read event.

    Row ``r`` equals ``sample_mask(nbits, p, key, events[r], ...)``: a block of reads is drawn
    in one parallel pass with exactly the bits of drawing them one at a time.

    Parameters
    ----------
    nbits : int
        Number of bits.
    p : float
        Probability of a set bit, in [0, 1].
    key : (int, int)
        128-bit stream key (:func:`memsim.rng.seed_key`).
    events : ndarray of uint64, shape (K,)
        Read events: each gives independent bits.
    sampler : {"auto", "geometric", "bitparallel"}
        ``auto`` switches at :data:`memsim.config.GEOMETRIC_MAX_P`.
    chunk_words : int, optional
        Words per RNG stream (default :data:`memsim.config.CHUNK_WORDS`).

    Returns
    -------
    ndarray of uint64, shape (K, n_words(nbits))
    """
    from memsim import config  # read at call time, so tests can change the constants

    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"p must be in [0, 1], got {p!r}")
    ev = np.ascontiguousarray(events, dtype=np.uint64)
    if ev.ndim != 1:
        raise ConfigError(f"events must be 1-D, got shape {ev.shape}")
    nwords = n_words(nbits)
    masks = np.empty((ev.size, nwords), dtype=np.uint64)
    if p <= 0.0 or nbits == 0:
        masks[:] = 0
        return masks
    if p >= 1.0:
        masks[:] = np.uint64(0xFFFFFFFFFFFFFFFF)
        masks[:, -1] = pad_mask(nbits)
        return masks
    chunk = int(chunk_words or config.CHUNK_WORDS)
    if sampler == "auto":
        sampler = "geometric" if p <= config.GEOMETRIC_MAX_P else "bitparallel"
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    small = masks.size <= SERIAL_MAX_WORDS
    geometric = _fill_geometric_serial if small else _fill_geometric
    if sampler == "geometric":
        geometric(masks, nbits, p, k0, k1, ev, chunk, False, 0, gap_table(p))
    elif sampler == "bitparallel":
        ops, p_hi = p_digits(p, config.P_BITS)
        (_fill_bitparallel_serial if small else _fill_bitparallel)(masks, nbits, ops, k0, k1, ev, chunk)
        remainder = (p - p_hi) / (1.0 - p_hi)
        if remainder > 0.0:
            geometric(masks, nbits, remainder, k0, k1, ev, chunk, True, RESIDUAL_STREAMS, gap_table(remainder))
    else:
        raise ConfigError(f"unknown sampler {sampler!r}; use 'auto', 'geometric' or 'bitparallel'")
    return masks


def sample_mask(
    nbits: int,
    p: float,
    key: tuple[int, int],
    event: int,
    sampler: str = "auto",
    chunk_words: int | None = None,
) -> np.ndarray:
    """A packed mask ``(n_words(nbits),)`` of i.i.d. Bernoulli(``p``) bits for one read (see :func:`sample_masks`)."""
    return sample_masks(nbits, p, key, np.array([event], dtype=np.uint64), sampler, chunk_words)[0]


def _u64(key: tuple[int, int]) -> tuple[np.uint64, np.uint64]:
    return np.uint64(key[0]), np.uint64(key[1])


def _words(name: str, arr: np.ndarray, size: int | None = None) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint64 or arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D uint64 array of packed bits")
    if size is not None and arr.size != size:
        raise ConfigError(f"{name} holds {arr.size} words, expected {size}")
    return np.ascontiguousarray(arr)


def sparse_mask(
    base: np.ndarray, positions: np.ndarray, probs: np.ndarray, key: tuple[int, int], event: int
) -> np.ndarray:
    """``base`` OR a mask whose bit ``positions[j]`` is set with probability ``probs[j]``.

    The cost grows with ``positions.size`` (the cells with a fractional rate), not with
    the array: cells with rate 0 or 1 belong in ``base``. Without positions (a 0/1 map) the
    result is ``base`` itself as a read-only view: no copy per read.
    """
    base = _words("base", base)
    pos = np.ascontiguousarray(positions, dtype=np.int64)
    pr = np.ascontiguousarray(probs, dtype=np.float64)
    if pos.shape != pr.shape:
        raise ConfigError(f"positions {pos.shape} and probs {pr.shape} differ in shape")
    if pos.size == 0:
        view = base.view()
        view.flags.writeable = False
        return view
    if pos.min() < 0 or pos.max() >= base.size * 64:
        raise ConfigError("positions outside the mask")
    if not np.all((pr > 0.0) & (pr < 1.0)):
        raise ConfigError("sparse probabilities must lie strictly between 0 and 1")
    mask = base.copy()
    _fill_sparse(mask, pos, pr, *_u64(key), np.uint64(event))
    return mask


def weak_cells(
    nbits: int, fault_fraction: float, share01: float, key: tuple[int, int], offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Masks (stuck-at-1, stuck-at-0) of the weak cells of an array on addresses ``offset ..``, fixed per ``key``.

    Cell i is faulty iff ``u_i < fault_fraction`` with ``u_i`` a fixed hash of (key,
    ``offset + i``), so the faulty set grows with ``fault_fraction`` (nested across operating
    points) and depends on the chip (``key``) and the address only; a faulty cell is
    stuck-at-1 iff a second fixed uniform is below ``share01``.
    """
    if not (0.0 <= fault_fraction <= 1.0 and 0.0 <= share01 <= 1.0):
        raise ConfigError(f"fault_fraction and share01 must lie in [0, 1], got {fault_fraction!r}, {share01!r}")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ConfigError(f"offset must be a non-negative cell address, got {offset!r}")
    stuck1 = np.empty(n_words(nbits), dtype=np.uint64)
    stuck0 = np.empty(n_words(nbits), dtype=np.uint64)
    _weak_cells(stuck1, stuck0, int(nbits), float(fault_fraction), float(share01), *_u64(key), np.int64(offset))
    return stuck1, stuck0


def directional(data: np.ndarray, flip0: np.ndarray, flip1: np.ndarray) -> np.ndarray:
    """Flip mask that flips stored 0s where ``flip0`` is set and stored 1s where ``flip1`` is set."""
    data = _words("data", data)
    out = np.empty_like(data)
    _directional(data, _words("flip0", flip0, data.size), _words("flip1", flip1, data.size), out)
    return out


def mixed_flips(
    stuck_flips: np.ndarray, data: np.ndarray, stuck: np.ndarray, t0: np.ndarray, t1: np.ndarray
) -> np.ndarray:
    """``stuck_flips`` plus transient flips (``t0`` of stored 0s, ``t1`` of stored 1s) on the cells not ``stuck``."""
    data = _words("data", data)
    out = _words("stuck_flips", stuck_flips, data.size).copy()
    _combine_transient(out, data, _words("stuck", stuck, data.size), _words("t0", t0, data.size),
                       _words("t1", t1, data.size))  # fmt: skip
    return out


def xor_count(data: np.ndarray, flips: np.ndarray) -> tuple[np.ndarray, int]:
    """``data XOR flips`` and the number of set bits of ``flips``."""
    data = _words("data", data)
    out = np.empty_like(data)
    kernel = _xor_count_serial if data.size <= SERIAL_MAX_WORDS else _xor_count
    total = int(kernel(data, _words("flips", flips, data.size), out))
    return out, total


def count_ones(words: np.ndarray) -> int:
    """Number of set bits of packed words."""
    return int(_count(_words("words", words)))


def flip_counts(zeros: int, ones: int, p01: float, p10: float, key: tuple[int, int], events: np.ndarray) -> int:
    """Flipped bits of reads served in aggregate: per read ``Bin(zeros, p01) + Bin(ones, p10)``, summed.

    Each read's draw is seeded from its own event, so the total over a set of reads does
    not depend on how the set was split into calls.
    """
    ev = np.ascontiguousarray(events, dtype=np.uint64)
    return int(_flip_counts(int(zeros), int(ones), float(p01), float(p10), *_u64(key), ev))
