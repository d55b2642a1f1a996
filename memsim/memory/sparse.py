"""The flipped bits of a read, drawn one by one: work in proportion to the flips, not the bits.

A :class:`~memsim.memory.reads.FlipLaw` read is its fixed words plus independent flips of the free
bits (``p01`` for a stored 0, ``p10`` for a 1). At a bit error rate of 1e-3 a read of a 46-Mbit
network flips about 46,000 bits; drawing a mask of 46 million bits to find them costs a thousand
times more than drawing the flips. :func:`next_flip` walks a read's bits with geometric gaps of
rate ``max(p01, p10)`` and keeps each candidate with probability ``p / max(p01, p10)`` of its
stored value (thinning), so every free bit flips independently with exactly its probability.
One stream per read event (:func:`~memsim.rng.stream_state`), so a read's flips do not depend on
which other reads share its call or thread.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.memory.reads import FlipLaw
from memsim.rng import exponential, stream_state, to_unit, xoshiro_next

__all__ = ["flip_bits", "next_flip", "walk_params"]

#: The stream chunk of the sparse walk: apart from every dense mask stream of the same read.
WALK_CHUNK = 1 << 40


def walk_params(law: FlipLaw) -> tuple[float, float, float]:
    """``(-1 / log(1 - p_max), p01 / p_max, p10 / p_max)`` of a law; the first is negative where nothing flips."""
    pmax = max(law.p01, law.p10)
    if pmax <= 0.0:
        return -1.0, 0.0, 0.0
    gap_scale = 0.0 if pmax >= 1.0 else -1.0 / math.log1p(-pmax)
    return gap_scale, law.p01 / pmax, law.p10 / pmax


@njit(inline="always", **NUMBA_FLAGS)
def next_flip(b, nbits, words, free, has_free, gap_scale, a01, a10, s0, s1, s2, s3):  # type: ignore[no-untyped-def]
    """The next flipped bit after bit ``b`` (``nbits`` if none) and the stream's state.

    Candidates come at geometric gaps of rate ``p_max``: ``floor(E * gap_scale)`` with ``E`` an
    Exp(1) draw and ``gap_scale = -1 / log(1 - p_max)`` (0 for ``p_max = 1``: every bit); a
    candidate outside ``free`` is skipped, and one holding ``v`` is kept with probability ``a01``
    (v = 0) or ``a10`` (v = 1).
    """
    while True:
        e, s0, s1, s2, s3 = exponential(s0, s1, s2, s3)
        gap = e * gap_scale  # >= 0, so truncation is the floor
        if gap >= nbits - b - 1:
            return nbits, s0, s1, s2, s3
        b += 1 + np.int64(gap)
        if b >= nbits:
            return nbits, s0, s1, s2, s3
        w = b >> 6
        mask = np.uint64(1) << np.uint64(b & 63)
        if has_free and (free[w] & mask) == np.uint64(0):
            continue
        if a01 < 1.0 or a10 < 1.0:  # thinning by the stored value (no load where both rates are p_max)
            keep = a10 if (words[w] & mask) != np.uint64(0) else a01
            if keep < 1.0:
                r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                if to_unit(r) >= keep:
                    continue
        return b, s0, s1, s2, s3


@njit(**NUMBA_FLAGS)
def _walk(words, free, has_free, nbits, gap_scale, a01, a10, k0, k1, event, out, at):  # type: ignore[no-untyped-def]
    """Count the flips of read ``event``; write their bit numbers to ``out[at:]`` unless ``at < 0``."""
    s0, s1, s2, s3 = stream_state(k0, k1, event, WALK_CHUNK)
    n = 0
    b = np.int64(-1)
    while True:
        b, s0, s1, s2, s3 = next_flip(b, nbits, words, free, has_free, gap_scale, a01, a10, s0, s1, s2, s3)
        if b >= nbits:
            return n
        if at >= 0:
            out[at + n] = b
        n += 1


@njit(**NUMBA_PARALLEL_FLAGS)
def _flip_bits(words, free, has_free, nbits, gap_scale, a01, a10, k0, k1, events):  # type: ignore[no-untyped-def]
    n_reads = events.size
    counts = np.zeros(n_reads + 1, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    for r in prange(n_reads):
        counts[r + 1] = _walk(words, free, has_free, nbits, gap_scale, a01, a10, k0, k1, events[r], empty, -1)
    offsets = np.cumsum(counts)
    bits = np.empty(offsets[-1], dtype=np.int64)
    for r in prange(n_reads):
        _walk(words, free, has_free, nbits, gap_scale, a01, a10, k0, k1, events[r], bits, offsets[r])
    return offsets, bits


def flip_bits(law: FlipLaw, nbits: int, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The free bits each read of ``law`` flips, as (offsets, bit numbers) sorted by read, then bit.

    Parameters
    ----------
    law : FlipLaw
        What the memory served (:meth:`~memsim.ApproximateMemory.flip_law`); its ``key`` keys
        the streams.
    nbits : int
        Bits of the array (the padding of the last word never flips).
    events : ndarray of uint64
        The reads' event numbers (:meth:`~memsim.memory.reads.ReadSet.events`).

    Returns
    -------
    offsets : ndarray of int64, shape (len(events) + 1,)
        Read ``r`` (its position in ``events``) flips ``bits[offsets[r]:offsets[r + 1]]``.
    bits : ndarray of int64
        Bit numbers in ``law.words``, increasing within a read.
    """
    gap_scale, a01, a10 = walk_params(law)
    events = np.ascontiguousarray(events, dtype=np.uint64)
    if gap_scale < 0.0:
        return np.zeros(events.size + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    has_free = law.free is not None
    free = np.ascontiguousarray(law.free if has_free else np.zeros(0, dtype=np.uint64), dtype=np.uint64)
    k0, k1 = (np.uint64(k) for k in law.key)
    return _flip_bits(law.words, free, has_free, np.int64(nbits), gap_scale, a01, a10, k0, k1, events)
