"""Explicit, reproducible randomness for memsim's kernels.

Public entry points take ``seed: int | None``; they turn it into a 128-bit key with
:func:`numpy.random.SeedSequence` (:func:`seed_key`). Kernels never share a
stream between threads: every chunk of work derives its own xoshiro256** state
from ``(key, event, chunk)`` with splitmix64 (:func:`stream_state`). Chunks have a
fixed size, so the same seed gives the same bits whatever the thread count.

Three kinds of randomness:

* **streams** (``xoshiro_next``): a fresh sequence per read event and chunk;
* **counter-based streams** (``counter_base``, ``counter_uniform``): the SplitMix64
  sequence of a read event, read at any index without state, so a kernel draws the
  number of neuron ``o`` directly and vectorises across neurons;
* **counter-based hashes** (``hash_uniform``): a fixed uniform per (key, index),
  used for properties of a cell that must not change between reads (persistent faults).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from memsim.config import NUMBA_FLAGS
from memsim.errors import ConfigError

__all__ = [
    "ACCESS_BITS",
    "INDEX_BITS",
    "SCOPE_BATCH",
    "SCOPE_DIRECT",
    "SCOPE_IMAGE",
    "child_key",
    "counter_base",
    "counter_uniform",
    "derive_key",
    "exponential",
    "hash_uniform",
    "mix64",
    "read_events",
    "seed_key",
    "splitmix64",
    "stream_key",
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


def _words32(key: tuple[int, int]) -> list[int]:
    return [key[0] & 0xFFFFFFFF, key[0] >> 32, key[1] & 0xFFFFFFFF, key[1] >> 32]


def derive_key(key: tuple[int, int], label: str) -> tuple[int, int]:
    """A child key for ``label`` (e.g. a stored array's name), stable across runs and platforms."""
    return child_key(key, label)


def child_key(key: tuple[int, int], *labels: str | int) -> tuple[int, int]:
    """A child key of ``key`` for a path of labels (strings or non-negative integers).

    Every label enters ``SeedSequence``'s entropy pool in full (a string as its UTF-8
    length and bytes, an integer as 32-bit words), so distinct paths give
    independent keys, stable across runs, platforms and processes.
    """
    entropy = _words32(key)
    for label in labels:
        if isinstance(label, str):
            raw = label.encode("utf-8")
            raw += b"\0" * (-len(raw) % 4)
            entropy += [0xFFFFFFFF, len(raw), *np.frombuffer(raw, dtype="<u4").tolist()]
        else:
            value = int(label)
            if value < 0:
                raise ConfigError(f"key labels are non-negative, got {value}")
            parts = []
            while True:
                parts.append(value & 0xFFFFFFFF)
                value >>= 32
                if not value:
                    break
            entropy += [0xFFFFFFFE, len(parts), *parts]
    return seed_key(np.random.SeedSequence(entropy))


_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """:func:`splitmix64` in plain Python (for keys computed outside kernels)."""
    z = (int(x) + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def stream_key(key: tuple[int, int], stream: int) -> tuple[int, int]:
    """Key of sub-stream ``stream`` of a read (e.g. the p01 and the p10 mask of one read)."""
    return key[0], mix64(key[1] ^ mix64(0x5EED0000 + int(stream)))


#: Scopes of a read event: what the read serves (see :func:`read_events`).
SCOPE_DIRECT, SCOPE_IMAGE, SCOPE_BATCH = 0, 1, 2
#: Bits of an event number for the image (or batch) index and for the read within it.
INDEX_BITS, ACCESS_BITS = 40, 22


def read_events(scope: int, index: np.ndarray, access: np.ndarray | int = 0) -> np.ndarray:
    """Event numbers of reads, one per (index, access): a one-to-one code, no hashing.

    ``event = scope << 62 | index << 22 | access``: ``scope`` says what a read serves
    (a numbered direct read, one image, one batch), ``index`` is the image (or batch)
    index in the caller's whole evaluated set, ``access`` the read within it (the
    output position of a convolution read per access). Kernels derive every random
    number of a read from its key and event, so a read is the same whoever asks for it.
    """
    idx = np.asarray(index, dtype=np.int64)
    acc = np.broadcast_to(np.asarray(access, dtype=np.int64), idx.shape)
    if idx.size and (idx.min() < 0 or idx.max() >= 1 << INDEX_BITS):
        raise ConfigError(f"read indices must be in [0, 2**{INDEX_BITS}), got {idx.min()}..{idx.max()}")
    if acc.size and (acc.min() < 0 or acc.max() >= 1 << ACCESS_BITS):
        raise ConfigError(f"accesses per read must be in [0, 2**{ACCESS_BITS}), got {acc.min()}..{acc.max()}")
    return (
        (np.uint64(scope) << np.uint64(62)) | (idx.astype(np.uint64) << np.uint64(ACCESS_BITS)) | acc.astype(np.uint64)
    )


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
def counter_base(k0, k1, event):  # type: ignore[no-untyped-def]
    """Seed of the counter-based stream of read ``event`` under key ``(k0, k1)``."""
    return splitmix64(np.uint64(k0) ^ splitmix64(np.uint64(k1) ^ splitmix64(np.uint64(event))))


@njit(inline="always", **NUMBA_FLAGS)
def counter_uniform(base, index):  # type: ignore[no-untyped-def]
    """Number ``index`` of the SplitMix64 stream seeded ``base``, in [0, 1): random access, no state.

    SplitMix64's ``i``-th output is the finaliser of ``seed + (i + 1) * golden``
    (Steele, Lea & Flood, OOPSLA 2014); it passes BigCrush.
    """
    return to_unit(splitmix64(np.uint64(base) + np.uint64(index) * _GOLDEN))


@njit(inline="always", **NUMBA_FLAGS)
def hash_uniform(k0, k1, index):  # type: ignore[no-untyped-def]
    """A fixed uniform in [0, 1) for ``index`` under key ``(k0, k1)`` (counter-based)."""
    return to_unit(splitmix64(np.uint64(k0) ^ splitmix64(np.uint64(k1) ^ np.uint64(index))))


def _exp_ziggurat() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer edges of the 256-layer ziggurat of Exp(1) (Marsaglia & Tsang, J. Stat. Softw. 5(8), 2000).

    Edge ``x[1] = r`` starts the tail, every layer has area ``v`` (their constants for 256
    layers), ``x[0] = v / f(r)`` is the base layer's width (rectangle plus tail), ``x[256] = 0``.
    Returns the edges, ``f(x) = exp(-x)`` at them, and ``x[i + 1] / x[i]`` (the quick accept).
    """
    r, v = 7.69711747013104972, 3.949659822581572e-3
    x = np.empty(257)
    x[0], x[1], x[256] = v / np.exp(-r), r, 0.0
    for i in range(1, 255):
        x[i + 1] = -np.log(np.exp(-x[i]) + v / x[i])
    fx = np.exp(-x)
    fx[256] = 1.0
    return x, fx, x[1:] / x[:-1]


_ZIG_X, _ZIG_F, _ZIG_K = _exp_ziggurat()
_ZIG_R = float(_ZIG_X[1])


@njit(inline="always", **NUMBA_FLAGS)
def exponential(s0, s1, s2, s3):  # type: ignore[no-untyped-def]
    """An Exp(1) draw by the ziggurat (about one uniform and no logarithm in 99 % of the draws).

    The layer comes from the low 8 bits of a draw and the position in it from the top 53, so
    the two are independent (the original 32-bit method shares bits between them).
    Returns ``(value, s0, s1, s2, s3)``.
    """
    while True:
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        i = np.int64(r & np.uint64(255))
        u = to_unit(r)
        if u < _ZIG_K[i]:  # inside the layer's rectangle, under the curve
            return u * _ZIG_X[i], s0, s1, s2, s3
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        if i == 0:  # the tail beyond r is r + Exp(1) (memorylessness)
            return _ZIG_R - np.log(1.0 - to_unit(r)), s0, s1, s2, s3
        z = u * _ZIG_X[i]
        if _ZIG_F[i] + to_unit(r) * (_ZIG_F[i + 1] - _ZIG_F[i]) < np.exp(-z):  # in the wedge, under the curve
            return z, s0, s1, s2, s3
