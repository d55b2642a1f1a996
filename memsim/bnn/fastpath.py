"""Exact-in-distribution fast path for dense layers under transient, symmetric flips read per sample.

Why it is exact. Take a dense neuron with ``n`` inputs and clean weights ``w``, and one
image's input bits ``x``; let ``m = popcount(x XOR w)`` be the clean mismatch count.
A read flips every weight bit independently with probability ``p``. Flips on the ``m``
mismatching bits remove a mismatch, flips on the ``n - m`` matching bits add one, so
the mismatch count after the read is ``m' = m + D`` with

    D = Bin(n - m, p) - Bin(m, p)      (two independent binomials)

Different neurons hold disjoint weight bits, and under ``per_sample`` every image reads
every weight afresh, so given the layer's input the neurons' ``D`` are independent of
each other and of everything else. Hence, layer by layer:

* a hidden neuron fires (``h' = n - 2 m' > s``) with probability ``P(D <= t - m)``, where
  ``t = ceil((n - s) / 2) - 1`` is the largest firing mismatch count; neuron ``o`` compares
  number ``o`` of its image's counter-based stream (:func:`memsim.rng.counter_uniform`)
  against that probability. Random access by neuron index keeps the draw branch-free and
  lets it run inside the popcount kernel (:func:`dense_sample_fire`);
* an output neuron's ``h' = n - 2 (m + D)`` is drawn by inverting the CDF of ``D``.

The CDF of ``D`` for every ``m`` is tabulated once per ``(n, p)`` over ``mean +- r``, with
``r`` from Bernstein's inequality (:func:`memsim.bnn.tails.bernstein_reach`) so that each
tail beyond it holds less than 1e-30 at any ``n p`` (a ``mean +- 12 sd`` window, the normal
argument, leaves about 6e-11 at ``n = 2048, p = 1e-4``). This gives the same distribution of outputs
as materialising every flipped weight, at the cost of clean XOR-popcounts plus one
random number per neuron. :meth:`memsim.BNN.forward` uses it when the memory's fault
model serves one flip probability for every bit (:meth:`~memsim.memory.faults.FaultModel.iid_rate`:
transient flips, or mixed faults without stuck cells) and the granularity is ``per_sample`` or
``per_access``; other fault models take :mod:`memsim.bnn.lawpath`; ``fast=False`` forces the
explicit bit flips, and ``tests/statistical`` checks one against the other.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

from memsim.bnn.kernels import accumulate4, per_image_rows
from memsim.bnn.tails import TAIL_LOG, bernstein_reach
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError
from memsim.memory.reads import SymmetricFlips
from memsim.rng import counter_base, counter_uniform, stream_state, to_unit, xoshiro_next

__all__ = ["cdf_table", "dense_sample_fire", "fire_limit", "sample_fire", "sample_output"]


@njit(**NUMBA_FLAGS)
def _binom_pmf_window(N, p, lo, hi):  # type: ignore[no-untyped-def]
    # pmf of Bin(N, p) at k = lo..hi (inclusive), via log-gamma (exact to double precision).
    out = np.zeros(int(hi - lo + 1))
    if p <= 0.0:
        if lo <= 0 <= hi:
            out[-lo] = 1.0
        return out
    lp = math.log(p)
    lq = math.log1p(-p)
    base = math.lgamma(N + 1.0)
    for k in range(max(lo, 0), min(hi, N) + 1):
        out[k - lo] = math.exp(base - math.lgamma(k + 1.0) - math.lgamma(N - k + 1.0) + k * lp + (N - k) * lq)
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _build_table(n, p, width, reach, log_tail):  # type: ignore[no-untyped-def]
    # lo[m]: smallest tabulated D; table[m, k] = P(D <= lo[m] + k | m), k < width. The two binomials' own
    # windows come from the same Bernstein bound as the table's (each tail below exp(-log_tail)).
    lo = np.empty(n + 1, dtype=np.int64)
    table = np.ones((n + 1, width))
    L = log_tail
    for m in prange(n + 1):
        start = _window_start(m, n, p, reach)
        lo[m] = start
        r1 = L / 3.0 + math.sqrt(L * L / 9.0 + 2.0 * L * m * p * (1.0 - p))
        r2 = L / 3.0 + math.sqrt(L * L / 9.0 + 2.0 * L * (n - m) * p * (1.0 - p))
        a_lo = max(0, int(math.floor(m * p - r1)) - 1)
        a_hi = min(m, int(math.ceil(m * p + r1)) + 1)
        b_lo = max(0, int(math.floor((n - m) * p - r2)) - 1)
        b_hi = min(n - m, int(math.ceil((n - m) * p + r2)) + 1)
        pa = _binom_pmf_window(m, p, int(a_lo), int(a_hi))  # flips of mismatching bits (remove)
        pb = _binom_pmf_window(n - m, p, int(b_lo), int(b_hi))  # flips of matching bits (add)
        pmf = np.zeros(width)
        for i in range(pb.size):
            if pb[i] == 0.0:
                continue
            for j in range(pa.size):
                d = (b_lo + i) - (a_lo + j) - start
                if 0 <= d < width:
                    pmf[d] += pb[i] * pa[j]
        acc = 0.0
        for k in range(width):
            acc += pmf[k]
            table[m, k] = min(acc, 1.0)
    return lo, table


@lru_cache(maxsize=32)
def cdf_table(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """CDF of ``D = Bin(n - m, p) - Bin(m, p)`` for every clean mismatch count ``m``.

    Returns
    -------
    lo : ndarray of int64, shape (n + 1,)
        Smallest tabulated ``D`` per ``m``; ``P(D < lo[m])`` and ``P(D`` beyond the last column)
        are each below 1e-30 (Bernstein's inequality, valid at any ``n p``).
    table : ndarray of float64, shape (n + 1, width)
        ``table[m, k] = P(D <= lo[m] + k)``; 1 beyond the last column.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1 and 0.0 <= p <= 1.0):
        raise ConfigError(f"cdf_table needs n >= 1 and p in [0, 1], got n={n!r}, p={p!r}")
    reach = float(_window(n, p)[2])
    width = int(math.ceil(2.0 * reach)) + 3  # the window, mean +- reach
    lo, table = _build_table(int(n), float(p), width, reach, TAIL_LOG)
    lo.setflags(write=False)
    table.setflags(write=False)
    return lo, table


def _window(n: int, p: float) -> np.ndarray:
    """``(n, p, reach)`` as the table's builder uses them, for :func:`_window_start` in kernels.

    ``D`` is a sum of ``n`` independent terms in [-1, 1] with variance ``n p (1 - p)``, so
    Bernstein's ``reach`` bounds each tail beyond ``mean +- reach`` by 1e-30.
    """
    return np.array([float(n), float(p), bernstein_reach(n * p * (1.0 - p))])


def fire_limit(n: int, threshold: np.ndarray) -> np.ndarray:
    """Largest mismatch count at which ``h = n - 2 m > s`` holds: ``ceil((n - s) / 2) - 1``.

    Parameters
    ----------
    n : int
        Inputs of the neuron (valid bits).
    threshold : ndarray of int
        The neurons' thresholds ``s``.
    """
    s = np.asarray(threshold, dtype=np.int64)
    return ((n - s + 1) // 2 - 1).astype(np.int64)


@njit(inline="always", **NUMBA_FLAGS)
def _window_start(m, n, p, reach):  # type: ignore[no-untyped-def]
    # lo[m] of cdf_table, recomputed by the same float operations (so the same integer): cheaper in a vector
    # loop than a gather from lo.
    return np.int64(math.floor(p * (n - 2 * m) - reach))


@njit(inline="always", **NUMBA_FLAGS)
def _fire_bit(m, t, inv, window, table, base, o):  # type: ignore[no-untyped-def]
    # 1 iff hidden neuron o fires after the read: its uniform (number o of the image's counter-based stream)
    # below P(D <= t - m). Branch-free: outside the tabulated window the probability is exactly 0 or 1, and a
    # uniform in [0, 1) compared against 0 or 1 decides nothing random, so drawing it anyway changes no result.
    # window = (n, p, reach) of the table.
    width = table.shape[1]
    k = t - m - _window_start(m, window[0], window[1], window[2])
    prob = table[m, min(max(k, 0), width - 1)]
    prob = 0.0 if k < 0 else (1.0 if k >= width else prob)
    return np.uint64((counter_uniform(base, o) < prob) != inv)


@njit(**NUMBA_PARALLEL_FLAGS)
def _sample_fire(mism, window, table, t_fire, invert, k0, k1, events):  # type: ignore[no-untyped-def]
    # Hidden layer: packed firing bits (B, nw(O)); neuron o of image b draws number o of b's stream.
    # t_fire is (1, n_out), shared, or (B, n_out), per image (thresholds read from the memory).
    B, n_out = mism.shape
    nw = (n_out + 63) // 64
    stride = 1 if t_fire.shape[0] > 1 else 0  # a multiply, not a conditional: numba types prange indices poorly
    out = np.zeros((B, nw), dtype=np.uint64)
    for b in prange(B):
        base = counter_base(k0, k1, events[b])
        tr = b * stride
        for g in range(nw):
            word = np.uint64(0)
            for j in range(min(64, n_out - 64 * g)):
                o = 64 * g + j
                word |= _fire_bit(mism[b, o], t_fire[tr, o], invert[o], window, table, base, o) << np.uint64(j)
            out[b, g] = word
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _dense_sample_fire(x, wt, n_out, window, table, t_fire, invert, k0, k1, events):  # type: ignore[no-untyped-def]
    # _sample_fire fused into the neuron-major XNOR-popcount: the mismatch counts of a block of 4 images x 64
    # neurons go straight to the draw, never to the output. Same bits as sample_fire(mismatches). The draws run
    # image by image over the 64 neurons (interleaving the 4 images cost 2.2x: more live values than registers).
    B = x.shape[0]
    groups = (n_out + 63) // 64
    stride = 1 if t_fire.shape[0] > 1 else 0
    out = np.zeros((B, groups), dtype=np.uint64)
    for blk in prange((B + 3) // 4):
        i0 = blk * 4
        acc = np.empty((4, 64), np.int64)
        for g in range(groups):
            j0 = g * 64
            accumulate4(x, wt, i0, min(i0 + 1, B - 1), min(i0 + 2, B - 1), min(i0 + 3, B - 1), j0,
                        acc[0], acc[1], acc[2], acc[3])  # fmt: skip
            for q in range(min(4, B - i0)):
                i = i0 + q
                base = counter_base(k0, k1, events[i])
                limits = t_fire[i * stride]
                word = np.uint64(0)
                for jj in range(min(64, n_out - j0)):
                    o = j0 + jj
                    word |= _fire_bit(acc[q, jj], limits[o], invert[o], window, table, base, o) << np.uint64(jj)
                out[i, g] = word
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _sample_output(mism, lo, table, n, k0, k1, events):  # type: ignore[no-untyped-def]
    # Output layer: h' = n - 2 (m + D) with D drawn by inverting its tabulated CDF.
    B, n_out = mism.shape
    width = table.shape[1]
    out = np.empty((B, n_out), dtype=np.int32)
    for b in prange(B):
        s0, s1, s2, s3 = stream_state(k0, k1, events[b], 0)
        for o in range(n_out):
            m = mism[b, o]
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            u = to_unit(r)
            left = 0
            right = width - 1
            while left < right:  # smallest k with table[m, k] >= u
                mid = (left + right) // 2
                if table[m, mid] >= u:
                    right = mid
                else:
                    left = mid + 1
            out[b, o] = n - 2 * (m + lo[m] + left)
    return out


def _check_block(mism: np.ndarray, n: int, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mism = np.ascontiguousarray(mism)
    ev = np.ascontiguousarray(events, dtype=np.uint64)
    if mism.ndim != 2 or ev.shape != (mism.shape[0],):
        raise ConfigError(f"need mismatch counts (B, n_out) and B events, got {mism.shape} and {ev.shape}")
    if mism.size and (mism.min() < 0 or mism.max() > n):
        raise ConfigError(f"mismatch counts must lie in [0, {n}]")
    return mism, ev


def sample_fire(
    mism: np.ndarray, n: int, limit: np.ndarray, invert: np.ndarray, law: SymmetricFlips, events: np.ndarray
) -> np.ndarray:
    """Packed firing bits ``(B, n_words(n_out))`` of a hidden dense layer after one flipped read per image.

    Parameters
    ----------
    mism : ndarray of int, shape (B, n_out)
        Clean mismatch counts.
    n : int
        Inputs per neuron.
    limit : ndarray of int64, shape (n_out,) or (B, n_out)
        :func:`fire_limit` of the layer's thresholds; one row per image for thresholds
        read per image.
    invert : ndarray of bool, shape (n_out,)
        Inverted comparisons.
    law : SymmetricFlips
        Flip probability and sampler key served by the memory.
    events : ndarray of uint64, shape (B,)
        Event of each image's read: image b draws from the stream of ``events[b]``.
    """
    mism, ev = _check_block(mism, n, events)
    lim = per_image_rows("limit", limit, mism.shape[1], mism.shape[0], np.int64)
    _, table = cdf_table(int(n), float(law.p))
    k0, k1 = np.uint64(law.key[0]), np.uint64(law.key[1])
    return _sample_fire(mism, _window(n, law.p), table, lim, np.asarray(invert, np.bool_), k0, k1, ev)


def dense_sample_fire(
    x: np.ndarray,
    wt: np.ndarray,
    n: int,
    limit: np.ndarray,
    invert: np.ndarray,
    law: SymmetricFlips,
    events: np.ndarray,
) -> np.ndarray:
    """:func:`sample_fire` of a wide hidden dense layer straight from its inputs, bit for bit.

    Parameters
    ----------
    x : ndarray of uint64, shape (B, nw)
        Packed inputs.
    wt : ndarray of uint64, shape (nw, n_out padded to 64)
        Clean neuron-major weights (:func:`memsim.bnn.kernels.transpose_dense`).
    n : int
        Inputs per neuron.
    limit, invert, law, events
        As :func:`sample_fire`.
    """
    x = np.ascontiguousarray(x, dtype=np.uint64)
    wt = np.ascontiguousarray(wt, dtype=np.uint64)
    n_out = np.shape(invert)[0]
    limit = per_image_rows("limit", limit, n_out, x.shape[0], np.int64)
    ev = np.ascontiguousarray(events, dtype=np.uint64)
    if x.ndim != 2 or wt.ndim != 2 or wt.shape[0] != x.shape[1] or wt.shape[1] < n_out or wt.shape[1] % 64:
        raise ConfigError(f"neuron-major weights {wt.shape} do not fit inputs {x.shape} and {n_out} neurons")
    if ev.shape != (x.shape[0],) or x.shape[1] * 64 < n:
        raise ConfigError(f"need one event per image ({x.shape[0]}) and {n} inputs in {x.shape[1]} words")
    _, table = cdf_table(int(n), float(law.p))
    inv = np.ascontiguousarray(invert, dtype=np.bool_)
    k0, k1 = np.uint64(law.key[0]), np.uint64(law.key[1])
    return _dense_sample_fire(x, wt, n_out, _window(n, law.p), table, limit, inv, k0, k1, ev)


def sample_output(mism: np.ndarray, n: int, law: SymmetricFlips, events: np.ndarray) -> np.ndarray:
    """Output pre-activations ``(B, n_out)`` after one flipped read per image (arguments as :func:`sample_fire`)."""
    mism, ev = _check_block(mism, n, events)
    lo, table = cdf_table(int(n), float(law.p))
    return _sample_output(mism, lo, table, int(n), np.uint64(law.key[0]), np.uint64(law.key[1]), ev)
