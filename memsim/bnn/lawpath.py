"""Exact-in-distribution fast path for dense layers whose reads are fixed words plus independent flips.

The general form of :mod:`memsim.bnn.fastpath` for the fault models real chips have
(:class:`~memsim.memory.reads.FlipLaw`): a chip's stuck cells are the same on every read
(applied to the weights once per chip), and the other ("free") bits flip independently on
every read with ``p01`` if they hold 0 and ``p10`` if they hold 1 (asymmetric flips;
mixed faults; stuck cells alone have no free flips and take the clean kernels).

Why it is exact. For a neuron with effective weights ``w`` (stuck cells applied) and one
image's input bits ``x``, let ``m = popcount(x XOR w)``. Split the free bits by the bit
they hold and by whether they mismatch the input: ``a1`` free 1-bits and ``a0`` free 0-bits
mismatch, out of ``c1`` and ``c0`` free 1- and 0-bits. A flip of a mismatching bit removes
a mismatch and a flip of a matching one adds one, so after the read

    m' = m - X1 - X0 + Y1 + Y0,   X1 ~ Bin(a1, p10), Y1 ~ Bin(c1 - a1, p10),
                                   X0 ~ Bin(a0, p01), Y0 ~ Bin(c0 - a0, p01),

four independent binomials, independent across neurons (disjoint bits) and images
(``per_sample`` reads). With ``p01 == p10 = t`` two suffice: ``X ~ Bin(a1 + a0, t)`` and
``Y ~ Bin(c1 + c0 - a1 - a0, t)``. A hidden neuron fires iff ``m' <= T`` (``T`` from
:func:`~memsim.bnn.fastpath.fire_limit`): all binomials but the last are drawn by
inverting their CDF, and the last is not drawn at all: the neuron fires iff a uniform is
below ``P(Y0 <= T - m + X1 + X0 - Y1)``. An output neuron draws all of them. The CDFs
``P(Bin(k, p) <= j)`` for every ``k <= n`` come from one table per ``(n, p)``
(:func:`binomial_table`), over a window whose tails hold less than 1e-30 each (a Bernstein
bound, valid at any ``k p``).

With one rate on every free bit (mixed faults), a hidden neuron's ``Y - X`` over its ``c``
free bits is the transient path's ``D`` over ``c`` bits; ``c`` differs by neuron (its stuck
cells), so the layer takes a base of ``nb <= min c`` bits (:func:`base_table`), splits
``D(c, a) = D(nb, min(a, nb)) + R`` with ``R`` over the few dozen remaining bits drawn, and
decides ``D(nb, .)`` by one gather from the transient table: exact, and one short draw
instead of a draw over all ``a`` mismatching bits.

Uniform ``4 o + g`` of image ``b``'s counter-based stream (:func:`memsim.rng.counter_uniform`)
drives binomial ``g`` of neuron ``o``: the draws depend on the read's identity only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

from memsim.bits import popcount
from memsim.bnn.fastpath import cdf_table
from memsim.bnn.kernels import per_image_rows, transpose_dense
from memsim.bnn.tails import TAIL_LOG, bernstein_reach
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError
from memsim.memory.reads import FlipLaw
from memsim.rng import counter_base, counter_uniform

__all__ = ["base_table", "bernstein_reach", "binomial_table", "law_fire", "law_output", "law_weights"]

#: Buckets of u in a binomial table's guide (:func:`_draw`).
GUIDE = 32


@njit(**NUMBA_PARALLEL_FLAGS)
def _binomial_table(n, p, width, log_tail):  # type: ignore[no-untyped-def]
    # lo[k], table[k, j] = P(Bin(k, p) <= lo[k] + j) for k = 0..n; pmf by log-gamma, window by Bernstein.
    lo = np.zeros(n + 1, dtype=np.int64)
    table = np.ones((n + 1, width))
    lp = math.log(p) if p > 0.0 else -np.inf
    lq = math.log1p(-p) if p < 1.0 else -np.inf
    for k in prange(n + 1):
        var = k * p * (1.0 - p)
        reach = log_tail / 3.0 + math.sqrt(log_tail * log_tail / 9.0 + 2.0 * log_tail * var)
        start = max(0, int(math.floor(k * p - reach)))
        lo[k] = start
        base = math.lgamma(k + 1.0)
        acc = 0.0
        for j in range(width):
            x = start + j
            if x <= k:
                if p == 0.0:
                    term = 1.0 if x == 0 else 0.0
                elif p == 1.0:
                    term = 1.0 if x == k else 0.0
                else:
                    term = math.exp(base - math.lgamma(x + 1.0) - math.lgamma(k - x + 1.0) + x * lp + (k - x) * lq)
                acc += term
            table[k, j] = min(acc, 1.0)
    return lo, table


@lru_cache(maxsize=64)
def binomial_table(n: int, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CDF of ``Bin(k, p)`` for every ``k = 0 .. n`` over a window holding all but 1e-30 of each tail.

    Returns
    -------
    lo : ndarray of int64, shape (n + 1,)
        Smallest tabulated value per ``k``; ``P(Bin(k, p) < lo[k]) < 1e-30``.
    table : ndarray of float64, shape (n + 1, width)
        ``table[k, j] = P(Bin(k, p) <= lo[k] + j)``; 1 beyond the last column.
    guide : ndarray of int16, shape (n + 1, GUIDE)
        ``guide[k, q]``: the smallest column whose CDF reaches ``q / GUIDE``.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 0 and 0.0 <= p <= 1.0):
        raise ConfigError(f"binomial_table needs n >= 0 and p in [0, 1], got n={n!r}, p={p!r}")
    width = int(math.ceil(2.0 * bernstein_reach(n * p * (1.0 - p)))) + 3
    lo, table = _binomial_table(int(n), float(p), width, TAIL_LOG)
    guide = _guide_table(table, GUIDE)
    for arr in (lo, table, guide):
        arr.setflags(write=False)
    return lo, table, guide


@njit(inline="always", **NUMBA_FLAGS)
def _cdf(lo, table, k, x):  # type: ignore[no-untyped-def]
    # P(Bin(k, p) <= x) from the table: 0 below the window, 1 above it.
    j = x - lo[k]
    if j < 0:
        return 0.0
    if j >= table.shape[1]:
        return 1.0
    return table[k, j]


@njit(inline="always", **NUMBA_FLAGS)
def _draw(lo, table, guide, k, u):  # type: ignore[no-untyped-def]
    # Bin(k, p) by inversion: the smallest x with P(Bin(k, p) <= x) >= u. The guide table gives the answer for
    # the bucket of u (its lower end), so the walk takes about one step (Chen & Asau's guide table; Devroye,
    # Non-Uniform Random Variate Generation, 1986, III.2.4).
    last = table.shape[1] - 1
    j = guide[k, int(u * GUIDE)]
    while j < last and table[k, j] < u:
        j += 1
    return lo[k] + j


@njit(**NUMBA_PARALLEL_FLAGS)
def _guide_table(table, buckets):  # type: ignore[no-untyped-def]
    # guide[k, q] = the smallest column j with table[k, j] >= q / buckets (the inversion of u = q / buckets).
    rows, width = table.shape
    guide = np.zeros((rows, buckets), dtype=np.int16)
    for k in prange(rows):
        j = 0
        for q in range(buckets):
            while j < width - 1 and table[k, j] < q / buckets:
                j += 1
            guide[k, q] = j
    return guide


@njit(inline="always", **NUMBA_FLAGS)
def _counts(x, b, w, f1, f0, o, mode):  # type: ignore[no-untyped-def]
    # m, a1, a0 of neuron o for image b: all mismatches, and the free 1- and 0-bits among them. mode 0: both
    # counted; 1: every bit free (no stuck cells), so a0 = m - a1; 2: one rate on every free bit, so only
    # their sum matters (returned as a1, with a0 = 0). Two popcounts per word instead of three where it can.
    m = 0
    a1 = 0
    a0 = 0
    for j in range(x.shape[1]):
        d = x[b, j] ^ w[o, j]
        m += popcount(d)
        if mode == 2:
            a1 += popcount(d & (f1[o, j] | f0[o, j]))
        else:
            a1 += popcount(d & f1[o, j])
            if mode == 0:
                a0 += popcount(d & f0[o, j])
    if mode == 1:
        a0 = m - a1
    return m, a1, a0


@njit(inline="always", **NUMBA_FLAGS)
def _flipped(m, a1, a0, c1, c0, lo01, t01, g01, lo10, t10, g10, sym, base, o, limit):  # type: ignore[no-untyped-def]
    # Mismatches after the read, or, with limit >= -1, whether they stay <= limit (1/0) with the last
    # binomial decided by its CDF instead of drawn. sym: one rate on every free bit (the 01 table).
    if sym:
        x = _draw(lo01, t01, g01, a1 + a0, counter_uniform(base, 4 * o))
        rest = c1 + c0 - a1 - a0
        if limit >= -1:
            return np.int64(counter_uniform(base, 4 * o + 1) < _cdf(lo01, t01, rest, limit - m + x))
        return m - x + _draw(lo01, t01, g01, rest, counter_uniform(base, 4 * o + 1))
    x1 = _draw(lo10, t10, g10, a1, counter_uniform(base, 4 * o))
    x0 = _draw(lo01, t01, g01, a0, counter_uniform(base, 4 * o + 1))
    y1 = _draw(lo10, t10, g10, c1 - a1, counter_uniform(base, 4 * o + 2))
    if limit >= -1:
        return np.int64(counter_uniform(base, 4 * o + 3) < _cdf(lo01, t01, c0 - a0, limit - m + x1 + x0 - y1))
    return m - x1 - x0 + y1 + _draw(lo01, t01, g01, c0 - a0, counter_uniform(base, 4 * o + 3))


@njit(inline="always", **NUMBA_FLAGS)
def _accumulate4_masked(x, wt, mt, i0, i1, i2, i3, j0, m, a):  # type: ignore[no-untyped-def]
    # Images i0..i3 against neurons j0..j0+63 (neuron-major wt, mt), in one pass over the words: all
    # mismatches into m[q] and those among the masked bits, popcount((x XOR w) AND mask), into a[q]. Blocked as
    # kernels.accumulate4 (each weight and mask word loaded once for 4 images, the 64 neurons vectorised).
    m[:, :] = 0
    a[:, :] = 0
    for k in range(x.shape[1]):
        x0 = x[i0, k]
        x1 = x[i1, k]
        x2 = x[i2, k]
        x3 = x[i3, k]
        for jj in range(64):
            w = wt[k, j0 + jj]
            f = mt[k, j0 + jj]
            d0 = x0 ^ w
            d1 = x1 ^ w
            d2 = x2 ^ w
            d3 = x3 ^ w
            m[0, jj] += popcount(d0)
            m[1, jj] += popcount(d1)
            m[2, jj] += popcount(d2)
            m[3, jj] += popcount(d3)
            a[0, jj] += popcount(d0 & f)
            a[1, jj] += popcount(d1 & f)
            a[2, jj] += popcount(d2 & f)
            a[3, jj] += popcount(d3 & f)


@njit(inline="always", **NUMBA_FLAGS)
def _based_fire(m, a, c, limit, lo, t, g, nb, dlo, dtable, base, o):  # type: ignore[no-untyped-def]
    # One rate t on every free bit: fires iff D(c, a) = Bin(c - a, t) - Bin(a, t) <= limit - m. Split the free
    # bits into nb of them (ab = min(a, nb) mismatching) and the rest: D(c, a) = D(nb, ab) + R, R = Y - X with
    # Y ~ Bin(c - a - nb + ab, t), X ~ Bin(a - ab, t) (a few dozen bits: drawn), and decide D(nb, ab) by the
    # CDF of the transient path's table at nb (fastpath.cdf_table): one gather instead of a draw over a.
    ab = min(a, nb)
    ry = c - a - nb + ab
    rx = a - ab
    r = 0
    if ry > 0:
        r += _draw(lo, t, g, ry, counter_uniform(base, 4 * o + 1))
    if rx > 0:
        r -= _draw(lo, t, g, rx, counter_uniform(base, 4 * o + 2))
    j = limit - m - r - dlo[ab]
    prob = 0.0 if j < 0 else (1.0 if j >= dtable.shape[1] else dtable[ab, j])
    return np.int64(counter_uniform(base, 4 * o) < prob)


@njit(**NUMBA_PARALLEL_FLAGS)
def _law_fire(x, wt, mt1, mt0, c1, c0, lim, inv, lo01, t01, g01, lo10, t10, g10, mode, nb, dlo, dt, k0, k1, ev):  # type: ignore[no-untyped-def]
    # Hidden layer: packed firing bits (B, nw(O)). wt, mt1, mt0: neuron-major (nw, O padded to 64) weights and
    # the masks of a1 (mode 0 and 1: free 1-bits; mode 2: all free bits) and a0 (mode 0 only). The counts of a
    # block of 4 images x 64 neurons come from blocked popcounts (as the transient path's), then each image's
    # draws run over the 64 neurons. lim is (1, n_out) or (B, n_out). A limit below -1 never fires (h > s
    # cannot hold); clamping it to -1 keeps the "decide by CDF" branch and P(... <= -1) = 0.
    B = x.shape[0]
    n_out = c1.shape[0]
    groups = (n_out + 63) // 64
    stride = 1 if lim.shape[0] > 1 else 0
    out = np.zeros((B, groups), dtype=np.uint64)
    for blk in prange((B + 3) // 4):
        i0 = blk * 4
        i1, i2, i3 = min(i0 + 1, B - 1), min(i0 + 2, B - 1), min(i0 + 3, B - 1)
        m = np.empty((4, 64), np.int64)
        a1 = np.empty((4, 64), np.int64)
        a0 = np.zeros((4, 64), np.int64)
        for g in range(groups):
            j0 = g * 64
            _accumulate4_masked(x, wt, mt1, i0, i1, i2, i3, j0, m, a1)
            if mode == 0:
                _accumulate4_masked(x, wt, mt0, i0, i1, i2, i3, j0, m, a0)
            for q in range(min(4, B - i0)):
                b = i0 + q
                base = counter_base(k0, k1, ev[b])
                row = b * stride
                word = np.uint64(0)
                for jj in range(min(64, n_out - j0)):
                    o = j0 + jj
                    mq = m[q, jj]
                    aq1 = a1[q, jj]
                    aq0 = mq - aq1 if mode == 1 else a0[q, jj]
                    limit = max(lim[row, o], -1)
                    if mode == 2 and nb > 0:
                        fire = _based_fire(mq, aq1, c1[o] + c0[o], limit, lo01, t01, g01, nb, dlo, dt, base, o)
                    else:
                        fire = _flipped(mq, aq1, aq0, c1[o], c0[o], lo01, t01, g01, lo10, t10, g10, mode == 2, base,
                                        o, limit)  # fmt: skip
                    word |= np.uint64((fire == 1) != inv[o]) << np.uint64(jj)
                out[b, g] = word
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _law_output(x, w, f1, f0, c1, c0, n, lo01, t01, g01, lo10, t10, g10, mode, k0, k1, events):  # type: ignore[no-untyped-def]
    # Output layer: h' = n - 2 m' with every binomial drawn.
    B = x.shape[0]
    n_out = w.shape[0]
    out = np.empty((B, n_out), dtype=np.int32)
    for b in prange(B):
        base = counter_base(k0, k1, events[b])
        for o in range(n_out):
            m, a1, a0 = _counts(x, b, w, f1, f0, o, mode)
            out[b, o] = n - 2 * _flipped(m, a1, a0, c1[o], c0[o], lo01, t01, g01, lo10, t10, g10, mode == 2, base,
                                         o, -2)  # fmt: skip
    return out


def law_weights(w: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The free 1- and 0-bits of row-major weights ``w (n_out, nw)`` and their counts per neuron.

    Parameters
    ----------
    w : ndarray of uint64, shape (n_out, nw)
        Effective weights (stuck cells applied), padding bits 0.
    free : ndarray of uint64, shape (n_out, nw)
        The bits that flip per read, in the same layout, padding bits 0.

    Returns
    -------
    f1, f0 : ndarray of uint64, shape (n_out, nw)
    c1, c0 : ndarray of int64, shape (n_out,)
    """
    w = np.ascontiguousarray(w, dtype=np.uint64)
    free = np.ascontiguousarray(free, dtype=np.uint64)
    if w.shape != free.shape or w.ndim != 2:
        raise ConfigError(f"weights {w.shape} and free mask {free.shape} must be (n_out, nw) alike")
    f1 = w & free
    f0 = ~w & free
    c1 = np.unpackbits(f1.view(np.uint8), axis=1).sum(axis=1, dtype=np.int64)
    c0 = np.unpackbits(f0.view(np.uint8), axis=1).sum(axis=1, dtype=np.int64)
    return f1, f0, c1, c0


#: Base table of layers that take no base (asymmetric rates): never read.
_NO_BASE = (0, np.zeros(1, np.int64), np.ones((1, 1)))


def base_table(free_min: int, p: float) -> tuple[int, np.ndarray, np.ndarray]:
    """The base size ``nb`` and :func:`memsim.bnn.fastpath.cdf_table` ``(nb, p)`` of a symmetric law layer.

    ``nb`` is the fewest free bits of a neuron in the layer rounded down to a multiple of 64, so that
    the chips of a sweep share a few tables (cached) and each neuron draws only its ``c - nb`` (about
    64 plus its stuck cells' count) bits beyond the base; 0 (no base: the two-draw sampler) below 64.
    """
    nb = free_min // 64 * 64
    if nb == 0 or p <= 0.0:
        return _NO_BASE
    lo, table = cdf_table(nb, float(p))
    return nb, lo, table


def _prepare(
    x: np.ndarray, w: np.ndarray, free: np.ndarray, n: int, law: FlipLaw
) -> tuple[tuple[np.ndarray, ...], tuple[object, ...]]:
    x = np.ascontiguousarray(x, dtype=np.uint64)
    if x.ndim != 2 or np.shape(w)[-1] != x.shape[1]:
        raise ConfigError(f"inputs {x.shape} do not fit weights {np.shape(w)}")
    f1, f0, c1, c0 = law_weights(w, free)
    sym = law.p01 == law.p10
    all_free = bool(np.all(c1 + c0 == n))
    mode = 2 if sym else (1 if all_free else 0)
    t01 = binomial_table(int(n), float(law.p01))
    t10 = t01 if sym else binomial_table(int(n), float(law.p10))
    rates = (*t01, *t10, mode)
    return (x, np.ascontiguousarray(w, dtype=np.uint64), f1, f0, c1, c0), rates


def law_fire(
    x: np.ndarray, w: np.ndarray, free: np.ndarray, n: int, limit: np.ndarray, invert: np.ndarray, law: FlipLaw,
    events: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Packed firing bits ``(B, n_words(n_out))`` of a hidden dense layer after one read per image under ``law``.

    Parameters
    ----------
    x : ndarray of uint64, shape (B, nw)
        Packed inputs.
    w, free : ndarray of uint64, shape (n_out, nw)
        Effective row-major weights (``law.words`` in kernel layout) and the free bits.
    n : int
        Inputs per neuron.
    limit : ndarray of int64, shape (n_out,) or (B, n_out)
        :func:`~memsim.bnn.fastpath.fire_limit` of the thresholds.
    invert : ndarray of bool, shape (n_out,)
    law : FlipLaw
        Rates and sampler key served by the memory.
    events : ndarray of uint64, shape (B,)
    """
    arrays, rates = _prepare(x, w, free, n, law)
    n_out = arrays[1].shape[0]
    lim = per_image_rows("limit", limit, n_out, arrays[0].shape[0], np.int64)
    ev = np.ascontiguousarray(events, dtype=np.uint64)
    inv = np.ascontiguousarray(invert, dtype=np.bool_)
    if ev.shape != (arrays[0].shape[0],) or inv.shape != (n_out,):
        raise ConfigError(f"need one event per image and one invert flag per neuron, got {ev.shape}, {inv.shape}")
    k0, k1 = np.uint64(law.key[0]), np.uint64(law.key[1])
    x, w, f1, f0, c1, c0 = arrays
    mode = rates[-1]
    wt = transpose_dense(w)
    mt1 = transpose_dense(f1 | f0 if mode == 2 else f1)
    mt0 = transpose_dense(f0) if mode == 0 else mt1
    nb, dlo, dtable = base_table(int((c1 + c0).min()), law.p01) if mode == 2 else _NO_BASE
    return _law_fire(x, wt, mt1, mt0, c1, c0, lim, inv, *rates, nb, dlo, dtable, k0, k1, ev)  # type: ignore[call-arg]


def law_output(x: np.ndarray, w: np.ndarray, free: np.ndarray, n: int, law: FlipLaw, events: np.ndarray) -> np.ndarray:
    """Output pre-activations ``(B, n_out)`` after one read per image under ``law`` (arguments as :func:`law_fire`)."""
    arrays, rates = _prepare(x, w, free, n, law)
    ev = np.ascontiguousarray(events, dtype=np.uint64)
    if ev.shape != (arrays[0].shape[0],):
        raise ConfigError(f"need one event per image, got {ev.shape} for {arrays[0].shape[0]} images")
    k0, k1 = np.uint64(law.key[0]), np.uint64(law.key[1])
    return _law_output(*arrays, int(n), *rates, k0, k1, ev)  # type: ignore[call-arg]
