"""The sparse walk (`memsim.memory.sparse`) flips every free bit independently with its own probability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from stats_helpers import check_rate

from memsim.bits import n_words, unpack_bits
from memsim.memory.reads import FlipLaw
from memsim.memory.sparse import flip_bits

NBITS = 1 << 20


def _words(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(np.uint64).max, n_words(NBITS), dtype=np.uint64)


@pytest.mark.parametrize(("p01", "p10"), [(1e-3, 1e-3), (2e-2, 0.0), (1e-3, 5e-2), (0.3, 0.3), (1.0, 0.0)])
def test_each_stored_value_flips_at_its_own_rate(p01, p10):
    words = _words(1)
    ones = unpack_bits(words, NBITS).astype(bool)
    reads = 8
    offsets, bits = flip_bits(FlipLaw(words, None, p01, p10, (5, 9)), NBITS, np.arange(reads, dtype=np.uint64))
    assert offsets.shape == (reads + 1,) and offsets[-1] == bits.size
    for r in range(reads):
        mine = bits[offsets[r] : offsets[r + 1]]
        assert np.all(np.diff(mine) > 0), "a read's bits are increasing and distinct"
    flipped_ones = int(ones[bits].sum())
    flipped_zeros = bits.size - flipped_ones
    for k, n, p, label in (
        (flipped_zeros, (~ones).sum() * reads, p01, "0->1"),
        (flipped_ones, ones.sum() * reads, p10, "1->0"),
    ):
        if p in (0.0, 1.0):
            assert k == (n if p == 1.0 else 0), f"{label} at p={p}"
        else:
            check_rate(int(k), int(n), p, f"sparse {label} p={p:g}")


def test_only_free_bits_flip_and_positions_are_uniform():
    words = _words(2)
    free = _words(3)  # about half the bits free
    free_bits = unpack_bits(free, NBITS).astype(bool)
    p, reads = 5e-3, 16
    _, bits = flip_bits(FlipLaw(words, free, p, p, (1, 2)), NBITS, np.arange(100, 100 + reads, dtype=np.uint64))
    assert free_bits[bits].all(), "a bit outside the free set flipped"
    check_rate(bits.size, int(free_bits.sum()) * reads, p, "sparse free bits")
    # uniform over the array: flips per 1/64 of the array against the free bits there
    edges = np.linspace(0, NBITS, 65).astype(np.int64)
    seen = np.histogram(bits, edges)[0]
    expected = np.add.reduceat(free_bits, edges[:-1]) * reads * p
    chi2, pval = stats.chisquare(seen, expected * seen.sum() / expected.sum())
    print(f"\nflip positions over 64 bins: chi2 {chi2:.1f}, p-value {pval:.3f}")
    assert pval > 1e-3


def test_reads_are_independent_and_keyed():
    words = _words(4)
    law = FlipLaw(words, None, 0.01, 0.01, (7, 7))
    o1, b1 = flip_bits(law, NBITS, np.array([3, 4], dtype=np.uint64))
    _, b2 = flip_bits(law, NBITS, np.array([4], dtype=np.uint64))
    assert np.array_equal(b1[o1[1] : o1[2]], b2), "read 4 flips the same bits whatever shares its call"
    first, second = set(b1[: o1[1]].tolist()), set(b1[o1[1] :].tolist())
    overlap = len(first & second)
    expected = NBITS * 0.01 * 0.01
    print(f"\ntwo reads share {overlap} flipped bits (independent: {expected:.0f} expected)")
    assert abs(overlap - expected) < 6 * np.sqrt(expected)
    other = flip_bits(FlipLaw(words, None, 0.01, 0.01, (7, 8)), NBITS, np.array([4], dtype=np.uint64))[1]
    assert not np.array_equal(other, b2), "another key draws other flips"


def test_the_ziggurat_draws_exp1():
    """`rng.exponential` (the walk's gaps) against Exp(1): KS over 400,000 draws and the tail beyond r."""
    from numba import njit

    from memsim.rng import exponential, stream_state

    @njit
    def draws(n):
        s0, s1, s2, s3 = stream_state(np.uint64(3), np.uint64(4), np.uint64(5), 0)
        out = np.empty(n)
        for i in range(n):
            out[i], s0, s1, s2, s3 = exponential(s0, s1, s2, s3)
        return out

    e = draws(400_000)
    ks = stats.kstest(e, "expon")
    tail = int((e > 7.69711747013104972).sum())
    expected = 400_000 * np.exp(-7.69711747013104972)
    print(f"\nziggurat Exp(1): KS {ks.statistic:.5f} (p {ks.pvalue:.3f}), mean {e.mean():.4f}, "
          f"{tail} draws in the tail ({expected:.0f} expected)")  # fmt: skip
    assert ks.pvalue > 1e-3
    assert abs(tail - expected) < 5 * np.sqrt(expected) + 2
