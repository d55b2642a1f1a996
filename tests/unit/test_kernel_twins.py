"""Every numba kernel equals its slow, obviously correct twin in tests/naive.py (stumpy's check_naive).

Also run with ``NUMBA_DISABLE_JIT=1`` by ``.ci/run``, so the kernels' Python bodies are exercised too.
"""

from __future__ import annotations

import ast
import itertools
import math
from pathlib import Path

import naive
import numpy as np
import pytest

import memsim
from memsim.bits import n_words, pack_bits
from memsim.bnn import convkernels as ck
from memsim.bnn import fastpath
from memsim.bnn import kernels as bk
from memsim.bnn import marginkernels as bmk
from memsim.memory import kernels as mk
from memsim.memory.reads import SymmetricFlips

RNG = np.random.default_rng(2024)


def words(n: int) -> np.ndarray:
    return RNG.integers(0, 2**64, n, dtype=np.uint64)


def bits_words(nbits: int) -> np.ndarray:
    return pack_bits(RNG.random(nbits) < 0.5).words


@pytest.mark.parametrize("n", [1, 3, 64])
def test_xor_count(n):
    data, flips = words(n), words(n)
    out, count = mk.xor_count(data, flips)
    ref, ref_count = naive.xor_count(data, flips)
    np.testing.assert_array_equal(out, ref)
    assert count == ref_count == naive.popcount(flips)
    assert mk.count_ones(flips) == ref_count


@pytest.mark.parametrize("n", [1, 5])
def test_mixed_flips(n):
    args = [words(n) for _ in range(5)]
    np.testing.assert_array_equal(mk.mixed_flips(*args), naive.mixed_flips(*args))


@pytest.mark.parametrize(("nbits", "count"), [(64, 0), (130, 7), (1000, 300)])
def test_sparse_mask(nbits, count):
    base = bits_words(nbits) & words(n_words(nbits))
    positions = np.sort(RNG.choice(nbits, count, replace=False)).astype(np.int64)
    probs = RNG.uniform(0.01, 0.99, count)
    np.testing.assert_array_equal(
        mk.sparse_mask(base, positions, probs, (5, 6), 77), naive.sparse_mask(base, positions, probs, 5, 6, 77)
    )


def test_flip_counts_have_the_binomial_mean_and_variance():
    """Per-read Bin(zeros, p01) + Bin(ones, p10): z-scores of the total and of the per-read variance."""
    zeros, ones, p01, p10 = 3000, 1000, 0.02, 0.1
    reads = 4000
    per_read = [mk.flip_counts(zeros, ones, p01, p10, (1, 2), np.array([e], np.uint64)) for e in range(reads)]
    total = mk.flip_counts(zeros, ones, p01, p10, (1, 2), np.arange(reads, dtype=np.uint64))
    assert total == sum(per_read), "a total is the sum of its reads, however split"
    mean = zeros * p01 + ones * p10
    var = zeros * p01 * (1 - p01) + ones * p10 * (1 - p10)
    z_mean = (np.mean(per_read) - mean) / np.sqrt(var / reads)
    z_var = (np.var(per_read, ddof=1) - var) / (var * np.sqrt(2 / (reads - 1)))
    print(f"flip counts: mean z {z_mean:.2f}, variance z {z_var:.2f} over {reads} reads")
    assert abs(z_mean) < 4 and abs(z_var) < 4


def _log_pmf(n: int, p: float, k: np.ndarray) -> np.ndarray:
    lg = np.vectorize(math.lgamma)
    return lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0) + k * math.log(p) + (n - k) * math.log1p(-p)


@pytest.mark.parametrize(
    ("n", "p"),
    [(40, 0.05), (5000, 0.001), (3000, 0.004), (20, 0.7), (3000, 0.02), (6_400_000, 0.01), (500, 0.5), (100, 0.93)],
)
def test_binomial_draws_follow_the_exact_pmf(n, p):
    """Chi-square of 20,000 draws (one per read) against Bin(n, p): inversion below n p = 10, BTRS above."""
    reads = 20_000
    draws = np.array([mk.flip_counts(n, 0, p, 0.0, (9, 9), np.array([e], np.uint64)) for e in range(reads)])
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    lo, hi = max(0, int(mean - 6 * sd) - 1), min(n, int(mean + 6 * sd) + 2)
    ks = np.arange(lo, hi + 1, dtype=np.float64)
    probs = np.exp(_log_pmf(n, p, ks))
    # bins of at least ~25 expected draws, the tails folded into the end bins
    edges, acc = [lo], 0.0
    for k, q in zip(ks, probs, strict=True):
        acc += q
        if acc * reads >= 25:
            edges.append(int(k) + 1)
            acc = 0.0
    edges[-1] = hi + 1
    expected = np.array([probs[a - lo : b - lo].sum() for a, b in itertools.pairwise(edges)]) * reads
    expected[0] += reads * (1 - probs.sum()) / 2
    expected[-1] += reads * (1 - probs.sum()) / 2
    inner = np.clip(draws, lo, hi)
    observed = np.array([np.count_nonzero((inner >= a) & (inner < b)) for a, b in itertools.pairwise(edges)])
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    df = len(expected) - 1
    crit = df * (1 - 2 / (9 * df) + 3.72 * math.sqrt(2 / (9 * df))) ** 3  # Wilson-Hilferty, P = 1e-4
    print(f"Bin({n}, {p}): chi2 {chi2:.1f} on {df} df (critical {crit:.1f}); mean {draws.mean():.2f} vs {mean:.2f}")
    assert chi2 < crit
    assert draws.min() >= 0 and draws.max() <= n


SHAPES = [(1, 1, 5), (3, 2, 40), (2, 3, 70)]  # (B, C, P): words cross 64-bit boundaries


@pytest.mark.parametrize(("B", "C", "P"), SHAPES)
def test_binarize_flat(B, C, P):
    images = RNG.integers(0, 256, (B, C, P), dtype=np.uint8)
    thr = RNG.integers(0, 256, C).astype(np.uint8)
    nw = n_words(C * P)
    np.testing.assert_array_equal(bk.binarize_flat(images, thr, nw), naive.binarize_flat(images, thr, nw))


@pytest.mark.parametrize(("B", "C", "H", "W"), [(1, 1, 3, 4), (2, 70, 2, 3), (2, 3, 5, 5)])
def test_binarize_hwc(B, C, H, W):
    images = RNG.integers(0, 256, (B, C, H, W), dtype=np.uint8)
    thr = RNG.integers(0, 256, C).astype(np.uint8)
    nwc = n_words(C)
    np.testing.assert_array_equal(bk.binarize_hwc(images, thr, nwc), naive.binarize_hwc(images, thr, nwc))


@pytest.mark.parametrize(
    ("B", "n_in", "n_out"), [(1, 1, 1), (5, 70, 3), (6, 128, 65), (9, 200, 130), (7, 150, 64), (3, 300, 70)]
)  # 1-5 words per input: odd and even counts for the two-words-per-pass loop
def test_dense_kernels_both_layouts(B, n_in, n_out):
    nw = n_words(n_in)
    x = np.stack([bits_words(n_in) for _ in range(B)])
    w = np.stack([bits_words(n_in) for _ in range(n_out)])
    np.testing.assert_array_equal(bk.dense_h(x, w, n_in), naive.dense_h(x, w, n_in))
    wt = bk.transpose_dense(w)
    mism = naive.dense_mismatch(x, w)
    np.testing.assert_array_equal(bk.dense_mismatch_neuron_major(x, wt, n_out), mism)
    limit = RNG.integers(0, n_in + 1, n_out).astype(np.int64)
    invert = RNG.random(n_out) < 0.3
    fire = (mism <= limit) ^ invert
    expected = naive.threshold(fire.astype(np.int32), np.zeros(n_out, np.int32), np.zeros(n_out, bool))
    np.testing.assert_array_equal(bk.dense_fire_neuron_major(x, wt, n_out, limit, invert), expected)
    assert nw == x.shape[1]
    per_image = np.stack([np.stack([bits_words(n_in) for _ in range(n_out)]) for _ in range(B)])  # a read per image
    expected_h = np.concatenate([naive.dense_h(x[b : b + 1], per_image[b], n_in) for b in range(B)])
    np.testing.assert_array_equal(bk.dense_h_per_image(x, per_image, n_in), expected_h)


def _thresholds(lead: tuple[int, ...], n_out: int, per_image: bool) -> np.ndarray:
    """Thresholds shared ``(n_out,)`` or one row per image ``(B, n_out)``, some as far off as a flipped int16 bit."""
    s = RNG.integers(-10, 10, (*lead, n_out) if per_image else n_out).astype(np.int64)
    if per_image:
        s[RNG.random(s.shape) < 0.2] += 2**15 * RNG.choice([-1, 1])
    return s


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("shape", [(2, 1), (3, 64), (1, 130)])
def test_threshold_flat(shape, per_image):
    h = RNG.integers(-50, 50, shape).astype(np.int32)
    s = _thresholds(shape[:1], shape[1], per_image)
    inv = RNG.random(shape[1]) < 0.5
    np.testing.assert_array_equal(bk.threshold_flat(h, s, inv), naive.threshold(h, s, inv))


@pytest.mark.parametrize("mode", [ck.SHARED, ck.PER_IMAGE, ck.PER_POSITION])
@pytest.mark.parametrize(
    ("c_in", "pad", "H", "W", "n_out"),
    [(1, 1, 3, 4, 3), (70, 0, 4, 3, 3), (3, 1, 2, 2, 65), (7, 0, 5, 4, 2), (8, 1, 3, 3, 64), (64, 1, 5, 3, 130),
     (9, 1, 4, 5, 1), (2, 1, 5, 5, 5), (65, 1, 3, 5, 66)],
)  # fmt: skip
@pytest.mark.parametrize("pool", [False, True])
def test_conv3x3_layer(mode, c_in, pad, H, W, n_out, pool):
    """Fused convolution + pool + threshold against the naive three steps; patch words (9 c_in <= 64), one
    word per pixel and several; output channels that fill no group, exactly one, and cross into a third."""
    B = 2
    nwc = n_words(c_in)
    x = np.zeros((B, H, W, nwc), np.uint64)
    for idx in np.ndindex(B, H, W):
        x[idx] = bits_words(c_in)
    ho, wo = H + 2 * pad - 2, W + 2 * pad - 2
    reads = {ck.SHARED: 1, ck.PER_IMAGE: B, ck.PER_POSITION: ho * wo}[mode]
    if mode == ck.PER_POSITION:
        x = x[:1]
    w = np.zeros((reads, n_out, 3, 3, nwc), np.uint64)
    for idx in np.ndindex(reads, n_out, 3, 3):
        w[idx] = bits_words(c_in)
    h_ref = naive.conv3x3_h(x, w, c_in, pad, mode)
    np.testing.assert_array_equal(ck.conv3x3_h(x, w, c_in, pad, mode), h_ref)
    if pool:
        h_ref = naive.maxpool2(h_ref)
    inv = RNG.random(n_out) < 0.3
    for per_image in (False, True):  # thresholds shared, or read per image from an approximate memory
        s = _thresholds((x.shape[0],), n_out, per_image)
        h, fire = ck.conv3x3_layer(x, w, c_in, pad, mode, pool, s, inv, want_h=True)
        np.testing.assert_array_equal(h, h_ref)
        s_pos = s[:, None, None, :] if per_image else s
        np.testing.assert_array_equal(fire, naive.threshold(h_ref, s_pos, inv))
        assert ck.conv3x3_layer(x, w, c_in, pad, mode, pool, s, inv)[0] is None
        if 9 * c_in <= 64:  # the same weights as patch words (K, O): tap t at bits [t c_in, (t + 1) c_in)
            lane = (1 << c_in) - 1
            wp = np.array([[sum((int(w[k, o, t // 3, t % 3, 0]) & lane) << (t * c_in) for t in range(9))
                            for o in range(n_out)] for k in range(reads)], dtype=np.uint64)  # fmt: skip
            h2, fire2 = ck.conv3x3_layer(x, wp, c_in, pad, mode, pool, s, inv, want_h=True)
            np.testing.assert_array_equal(h2, h_ref)
            np.testing.assert_array_equal(fire2, fire)


@pytest.mark.parametrize(("rows", "n_bits"), [(1, 1), (3, 70), (5, 64), (4, 9)])
def test_realign_rows(rows, n_bits):
    stream = bits_words(rows * n_bits)
    np.testing.assert_array_equal(bk.realign_rows(stream, rows, n_bits), naive.realign_rows(stream, rows, n_bits))
    for k in (2, 17):  # a block of reads, in parallel over rows (few reads) and over reads (many)
        block = np.stack([bits_words(rows * n_bits) for _ in range(k)])
        got = bk.realign_rows(block, rows, n_bits)
        for q in range(k):
            np.testing.assert_array_equal(got[q], naive.realign_rows(block[q], rows, n_bits))


def test_output_margin():
    h = RNG.integers(-20, 20, (50, 4)).astype(np.int32)
    h[0] = [3, 3, 1, 0]  # a tie at the top: margin 0
    np.testing.assert_array_equal(bmk.output_margin(h), naive.output_margin(h))


@pytest.mark.parametrize(("n", "p"), [(10, 0.3), (200, 0.01), (64, 0.5)])
def test_binomial_pmf_window(n, p):
    got = fastpath._binom_pmf_window(n, p, -2, n + 2)
    expected = [naive.binom_pmf(n, p, k) for k in range(-2, n + 3)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-200)  # the twin underflows first


@pytest.mark.parametrize(("n", "p"), [(100, 0.05), (70, 0.3)])
def test_fast_path_samplers_replay_their_streams(n, p):
    B, n_out = 6, 20
    mism = RNG.integers(0, n + 1, (B, n_out)).astype(np.int64)
    events = np.arange(100, 100 + B, dtype=np.uint64)
    law = SymmetricFlips(p, (11, 12))
    lo, table = fastpath.cdf_table(n, p)
    invert = RNG.random(n_out) < 0.3
    for limit in (RNG.integers(0, n, n_out), RNG.integers(-(2**15), 2**15, (B, n_out))):  # shared, per image
        np.testing.assert_array_equal(
            fastpath.sample_fire(mism, n, limit, invert, law, events),
            naive.sample_fire(mism, lo, table, limit, invert, 11, 12, events),
        )
    np.testing.assert_array_equal(
        fastpath.sample_output(mism, n, law, events), naive.sample_output(mism, lo, table, n, 11, 12, events)
    )


@pytest.mark.parametrize(("B", "n", "n_out"), [(1, 70, 64), (6, 200, 130), (9, 64, 100)])
@pytest.mark.parametrize("p", [0.003, 0.2])
def test_fused_popcount_and_draw_equals_the_two_steps(B, n, n_out, p):
    """dense_sample_fire (popcount + draw in one kernel) == sample_fire of the clean mismatch counts."""
    x = np.stack([bits_words(n) for _ in range(B)])
    w = np.stack([bits_words(n) for _ in range(n_out)])
    invert = RNG.random(n_out) < 0.3
    events = np.arange(7, 7 + B, dtype=np.uint64)
    law = SymmetricFlips(p, (3, 4))
    lo, table = fastpath.cdf_table(n, p)
    per_image = RNG.integers(0, n, (B, n_out))
    per_image[RNG.random((B, n_out)) < 0.1] = 2**15  # a threshold far outside the window: fires for sure
    for limit in (RNG.integers(0, n, n_out), per_image):
        expected = naive.sample_fire(naive.dense_mismatch(x, w), lo, table, limit, invert, 3, 4, events)
        got = fastpath.dense_sample_fire(x, bk.transpose_dense(w), n, limit, invert, law, events)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("n", "p"),
    [  # the large tables take minutes as plain Python (the JIT-off pass): they need the compiled builder
        pytest.param(3136, 0.01, marks=pytest.mark.jit),
        pytest.param(2048, 0.3, marks=pytest.mark.jit),
        (784, 1e-4),
        (100, 0.5),
        (7, 0.9),
        (1, 0.2),
    ],
)
def test_window_start_is_the_tables_lo(n, p):
    """The draw loops recompute the CDF window's start instead of gathering it: the same integer for every m."""
    from numba import njit

    window = fastpath._window(n, p)
    start = njit(lambda m, w: fastpath._window_start(m, w[0], w[1], w[2]))
    lo, _ = fastpath.cdf_table(n, p)
    np.testing.assert_array_equal([start(m, window) for m in range(n + 1)], lo)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
def test_pack_gt_and_popcount_lane(dtype):
    """The two narrow-lane helpers compiled (one vector compare; ctpop at the lane's width) against their
    plain Python bodies, which are obviously correct."""
    from numba import njit

    from memsim.bits import pack_gt, popcount_lane

    info = np.iinfo(dtype)
    a = RNG.integers(info.min, info.max, 150, dtype=dtype, endpoint=True)
    b = RNG.integers(info.min, info.max, 150, dtype=dtype, endpoint=True)
    b[::7] = a[::7]  # equal elements: not greater
    a[:3], b[:3] = info.max, info.min
    packed = njit(lambda a, ia, b, ib: pack_gt(a, ia, b, ib))
    for ia, ib in [(0, 0), (3, 17), (86, 1), (50, 86)]:
        want = sum(1 << j for j in range(64) if a[ia + j] > b[ib + j])
        assert int(packed(a, ia, b, ib)) == int(pack_gt(a, ia, b, ib)) == want
    lane = np.dtype(dtype).str.replace("i", "u")
    values = RNG.integers(0, 2 ** (8 * np.dtype(lane).itemsize), 64, dtype=lane, endpoint=False)
    values[:2] = 0, np.iinfo(lane).max
    count = njit(lambda v: [popcount_lane(x) for x in v])
    assert count(values) == [popcount_lane(x) for x in values] == [bin(int(x)).count("1") for x in values]


@pytest.mark.parametrize(("rates", "stuck"), [((0.05, 0.05), 0.1), ((0.02, 0.15), 0.0), ((0.03, 0.2), 0.2)])
def test_law_path_samplers_equal_naive(rates, stuck):
    """law_fire / law_output (counts, guide-table inversion, CDF decision) against the one-neuron-at-a-time twin."""
    from memsim.bnn import lawpath
    from memsim.memory.reads import FlipLaw

    B, n, n_out = 5, 150, 70
    nw = (n + 63) // 64
    valid = np.full(nw, np.uint64(2**64 - 1))
    valid[-1] = np.uint64((1 << (n % 64)) - 1)
    x = np.stack([bits_words(n) for _ in range(B)])
    w = np.stack([bits_words(n) for _ in range(n_out)])
    free = np.stack([bits_words(n) | bits_words(n) for _ in range(n_out)])  # about 3/4 free: c >= 64 everywhere
    if stuck == 0.0:
        free = np.broadcast_to(valid, w.shape).copy()
    free &= valid
    law = FlipLaw(np.zeros(1, np.uint64), None, rates[0], rates[1], (5, 6))
    events = np.arange(3, 3 + B, dtype=np.uint64)
    t01 = lawpath.binomial_table(n, rates[0])[:2]
    t10 = t01 if rates[0] == rates[1] else lawpath.binomial_table(n, rates[1])[:2]
    limits = RNG.integers(-5, n, n_out)
    invert = RNG.random(n_out) < 0.3
    c_min = int(min(naive.popcount(f) for f in free))
    base = lawpath.base_table(c_min, rates[0]) if rates[0] == rates[1] else None
    assert base is None or base[0] == 64  # the symmetric case takes the base split (c_min >= 64 here)
    fire = naive.law_mismatches(x, w, free, n, (t01, t10), 5, 6, events, limits, base).astype(bool) != invert
    expected = naive.threshold(fire.astype(np.int32), np.zeros(n_out, np.int32), np.zeros(n_out, bool))
    np.testing.assert_array_equal(lawpath.law_fire(x, w, free, n, limits, invert, law, events), expected)
    mism = naive.law_mismatches(x, w, free, n, (t01, t10), 5, 6, events)
    np.testing.assert_array_equal(lawpath.law_output(x, w, free, n, law, events), n - 2 * mism)


@pytest.mark.parametrize(("n", "p"), [(100, 0.05), (30, 0.5), (2048, 1e-4), (5, 0.0)])
def test_binomial_table_and_guide(n, p):
    """The per-k binomial CDF table against exact log-gamma sums, and its guide against a plain search."""
    from memsim.bnn import lawpath

    lo, table, guide = lawpath.binomial_table(n, p)
    for k in (0, 1, n // 2, n):
        for j in range(table.shape[1]):
            x = int(lo[k]) + j
            want = sum(naive.binom_pmf(k, p, i) for i in range(0, min(x, k) + 1)) if x >= 0 else 0.0
            assert abs(table[k, j] - want) < 1e-12
        for q in range(guide.shape[1]):
            assert guide[k, q] == min(int(np.searchsorted(table[k], q / guide.shape[1], side="left")),
                                      table.shape[1] - 1)  # fmt: skip


#: Kernels whose twin test lives elsewhere (file: what it compares).
ELSEWHERE = {
    "_decode_kernel": "memory/test_ecc.py: naive.ecc_decode per codeword, every code and policy",
    "_decode_row": "memory/test_ecc.py: naive.ecc_decode per codeword, every code and policy",
    "_popcount64": "memory/test_ecc.py: the raw flip counts against the naive count",
    "_fill_geometric": "test_memory_kernels.py: naive.geometric_mask",
    "_gap": "test_memory_kernels.py: the log1p quotient, next to integers too",
    "_gap_table": "test_memory_kernels.py: the log1p quotient at both ends of every bucket served",
    "_fill_bitparallel": "test_memory_kernels.py: naive.bitparallel_mask",
    "_weak_cells": "test_memory_kernels.py: naive.weak_cells",
    "_directional": "test_memory_kernels.py: naive.directional",
    "_importance_chain": "test_margins.py: brute force over inverted neurons",
    "_build_table": "statistical/test_fastpath.py: exact rational CDFs",
    "accumulate4": "inlined helper of the neuron-major dense kernels (test_dense_kernels_both_layouts)",
    "store4": "inlined helper of the neuron-major dense kernels (test_dense_kernels_both_layouts)",
    "_conv_outputs": "helper of the convolution kernels (test_conv3x3_layer)",
    "_emit_group": "inlined epilogue of the convolution kernels (test_conv3x3_layer)",
    "_taps9": "inlined interior sum of _conv_word_layer (test_conv3x3_layer)",
    "_realign_row": "inlined row of _realign_rows (test_realign_rows)",
    "_window_start": "test_window_start_is_the_tables_lo",
    "_fire_bit": "inlined draw of _sample_fire and _dense_sample_fire (test_fast_path_samplers_replay_their_streams)",
    "counter_base": "naive.counter_uniform, via the fast-path sampler twins",
    "counter_uniform": "naive.counter_uniform, via the fast-path sampler twins",
    "splitmix64": "test_memory_kernels.py: naive.splitmix64 via the streams",
    "stream_state": "test_memory_kernels.py: naive.stream",
    "xoshiro_next": "test_memory_kernels.py: naive.Xoshiro256ss",
    "_rotl": "part of xoshiro_next",
    "to_unit": "naive.unit, via every sampler twin",
    "hash_uniform": "test_memory_kernels.py: naive.hash_uniform via weak cells",
    "_binomial_table": "test_binomial_table_and_guide: exact log-gamma sums",
    "_guide_table": "test_binomial_table_and_guide: a plain search per bucket",
    "_draw": "inlined inversion of _law_fire and _law_output (test_law_path_samplers_equal_naive)",
    "_cdf": "inlined CDF lookup of _law_fire (test_law_path_samplers_equal_naive)",
    "_counts": "inlined popcounts of _law_fire and _law_output (test_law_path_samplers_equal_naive)",
    "_flipped": "inlined draws of _law_fire and _law_output (test_law_path_samplers_equal_naive)",
    "_based_fire": "inlined base-split decision of _law_fire (test_law_path_samplers_equal_naive, symmetric cases)",
    "_accumulate4_masked": "inlined blocked counts of _law_fire (test_law_path_samplers_equal_naive)",
    "next_flip": "inlined step of _walk (test_sparse_flips_equal_naive)",
    "exponential": "naive.exponential, inlined in _walk (test_sparse_flips_equal_naive); KS test in statistical/",
    "bit_delta": "inlined in the qnn kernels: test_qnn_exact.py (each image's materialised module)",
    "_linear_add": "inlined in linear_walk and linear_list: test_qnn_exact.py",
    "_conv_add": "inlined in conv_walk and conv_list: test_qnn_exact.py",
    "linear_walk": "test_qnn_exact.py: per image, the module holding the weights its read got (torch forward)",
    "conv_walk": "test_qnn_exact.py: per image, the module holding the weights its read got (torch forward)",
    "linear_list": "test_qnn_exact.py, a fault model without a flip law (the dense path)",
    "conv_list": "test_qnn_exact.py, a fault model without a flip law (the dense path)",
}

#: Kernels with a twin test in this file.
HERE = {
    "_xor_count", "_count", "_combine_transient", "_fill_sparse", "_flip_counts", "_binarize_flat",
    "_binarize_hwc", "_dense_h", "_dense_h_per_image", "_threshold_flat", "_realign_rows",
    "_output_margin", "_dense_mismatch_neuron_major", "_dense_fire_neuron_major", "_binom_pmf_window",
    "_sample_fire", "_sample_output", "_dense_sample_fire", "_binomial", "_law_fire", "_law_output",  # _binomial: the exact-pmf chi-square test
    "_patch_words", "_patch_weights", "_conv_patch_layer",  # test_conv3x3_layer with c_in = 1, 3, 7
    "_conv_word_layer", "_read_index",  # test_conv3x3_layer with c_in = 8, 9, 64, 70
    "_walk", "_flip_bits", "quotient",  # test_sparse_flips_equal_naive, test_quotient
}  # fmt: skip


@pytest.mark.parametrize(("p01", "p10", "with_free"), [(0.01, 0.01, False), (0.02, 0.005, True), (0.0, 0.3, False),
                                                       (1.0, 1.0, True)])  # fmt: skip
def test_sparse_flips_equal_naive(p01, p10, with_free):
    from memsim.memory.reads import FlipLaw
    from memsim.memory.sparse import flip_bits

    nbits = 3000
    data = bits_words(nbits)
    free = bits_words(nbits) if with_free else None
    events = np.array([5, 2**40 + 7, 12], dtype=np.uint64)
    offsets, bits = flip_bits(FlipLaw(data, free, p01, p10, (11, 13)), nbits, events)
    for r, event in enumerate(events):
        want = naive.sparse_flips(data, free, nbits, p01, p10, 11, 13, int(event))
        assert bits[offsets[r] : offsets[r + 1]].tolist() == want


def test_quotient():
    from memsim.qnn.kernels import quotient

    rng = np.random.default_rng(1)
    for b in (1, 3, 7, 8, 64, 3136, 2**20 + 1):
        for a in [*rng.integers(0, 2**50, 200).tolist(), 0, b - 1, b, 2**50 - 1, (2**50 // b) * b]:
            assert quotient(a, b, 1.0 / b) == a // b, (a, b)


def test_every_numba_kernel_has_a_twin():
    root = Path(memsim.__file__).parent
    kernels = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any("njit" in ast.unparse(d) for d in node.decorator_list):
                kernels.add(node.name)
    missing = sorted(kernels - HERE - set(ELSEWHERE))
    assert not missing, f"numba kernels without a naive twin test: {missing}"
    stale = sorted((HERE | set(ELSEWHERE)) - kernels)
    assert not stale, f"listed kernels that no longer exist: {stale}"
