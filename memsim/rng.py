"""Explicit, reproducible randomness for memsim's kernels.

Public entry points take ``seed: int | None``; they turn it into a 128-bit key with
:func:`numpy.random.SeedSequence` (:func:`seed_key`). Kernels never share a
stream between threads: every chunk of work derives its own xoshiro256** state
from ``(key, event, chunk)`` with splitmix64 (:func:`stream_state`). Chunks have a
fixed size, so the same seed gives the same bits whatever the thread count.

Two kinds of randomness:

* **streams** (``xoshiro_next``): a fresh sequence per read event and chunk;
* **counter-based hashes** (``hash_uniform``): a fixed uniform per (key, index),
  used for properties of a cell that must not change between reads (persistent faults).
"""

from __future__ import annotations

import zlib

import numpy as np
from numba import njit

from memsim.config import NUMBA_FLAGS

__all__ = [
    "derive_key",
    "hash_uniform",
    "seed_key",
    "splitmix64",
    "stream_state",
    "to_unit",
    "xoshiro_next",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def seed_key(seed: int | np.random.SeedSequence | None) -> tuple[int, int]:
    """A 128-bit key (two uint64 as Python ints) from a seed via ``SeedSequence``.

    Parameters
    ----------
    seed : int, SeedSequence or None
        ``None`` draws fresh OS entropy (not reproducible).
    """
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    k0, k1 = seq.generate_state(2, dtype=np.uint64)
    return int(k0), int(k1)


def derive_key(key: tuple[int, int], label: str) -> tuple[int, int]:
    """A child key for ``label`` (e.g. a stored array's name), stable across runs and platforms."""
    tag = zlib.crc32(label.encode("utf-8"))
    return seed_key(np.random.SeedSequence([key[0] & 0xFFFFFFFF, key[0] >> 32, key[1] & 0xFFFFFFFF, key[1] >> 32, tag]))


@njit(inline="always", **NUMBA_FLAGS)
def splitmix64(x):  # type: ignore[no-untyped-def]
    """The splitmix64 finaliser of ``x + golden``: a strong 64-bit mixing function."""
    z = np.uint64(x) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(inline="always", **NUMBA_FLAGS)
def stream_state(k0, k1, event, chunk):  # type: ignore[no-untyped-def]
    """xoshiro256** state (four uint64) for read ``event`` and ``chunk`` under key ``(k0, k1)``."""
    x = splitmix64(np.uint64(k0) ^ splitmix64(np.uint64(k1) ^ splitmix64(np.uint64(event))))
    x = x ^ splitmix64(np.uint64(chunk) * _GOLDEN)
    s0 = splitmix64(x)
    s1 = splitmix64(s0)
    s2 = splitmix64(s1)
    s3 = splitmix64(s2)
    if (s0 | s1 | s2 | s3) == np.uint64(0):  # the one forbidden xoshiro state
        s0 = np.uint64(1)
    return s0, s1, s2, s3


@njit(inline="always", **NUMBA_FLAGS)
def _rotl(x, k):  # type: ignore[no-untyped-def]
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always", **NUMBA_FLAGS)
def xoshiro_next(s0, s1, s2, s3):  # type: ignore[no-untyped-def]
    """One xoshiro256** step: returns ``(value, s0, s1, s2, s3)`` (state kept in registers)."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(inline="always", **NUMBA_FLAGS)
def to_unit(r):  # type: ignore[no-untyped-def]
    """uint64 -> float in [0, 1) from its top 53 bits."""
    return np.float64(r >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always", **NUMBA_FLAGS)
def hash_uniform(k0, k1, index):  # type: ignore[no-untyped-def]
    """A fixed uniform in [0, 1) for ``index`` under key ``(k0, k1)`` (counter-based)."""
    return to_unit(splitmix64(np.uint64(k0) ^ splitmix64(np.uint64(k1) ^ np.uint64(index))))
