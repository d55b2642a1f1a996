"""The dense-layer fast path is exact in distribution: tables against exact sums, outputs against explicit flips."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from stats_helpers import Z999, two_proportion_z

from memsim import ApproximateMemory
from memsim.bits import pack_bits
from memsim.bnn import BNN, Dense
from memsim.bnn.fastpath import cdf_table, fire_limit


def exact_cdf(n: int, m: int, p: Fraction) -> dict[int, Fraction]:
    """P(D <= d) for D = Bin(n - m, p) - Bin(m, p), by exact rational sums."""
    q = 1 - p
    pmf: dict[int, Fraction] = {}
    for a in range(m + 1):
        pa = math.comb(m, a) * p**a * q ** (m - a)
        for b in range(n - m + 1):
            pb = math.comb(n - m, b) * p**b * q ** (n - m - b)
            pmf[b - a] = pmf.get(b - a, Fraction(0)) + pa * pb
    out, acc = {}, Fraction(0)
    for d in range(-m, n - m + 1):
        acc += pmf.get(d, Fraction(0))
        out[d] = acc
    return out


@pytest.mark.parametrize(("n", "p"), [(13, Fraction(1, 8)), (40, Fraction(3, 10)), (7, Fraction(1, 2))])
def test_table_equals_exact_cdf(n, p):
    lo, table = cdf_table(n, float(p))
    worst = 0.0
    for m in range(n + 1):
        exact = exact_cdf(n, m, p)
        for k in range(table.shape[1]):
            d = int(lo[m]) + k
            want = float(exact[d]) if d in exact else (0.0 if d < -m else 1.0)
            worst = max(worst, abs(table[m, k] - want))
    print(f"n={n}, p={float(p)}: max |table - exact| = {worst:.2e}")
    assert worst < 1e-12


@pytest.mark.parametrize(("n", "p"), [(2048, 1e-4), (784, 1e-6), (2048, 1e-3), (64, 0.01)])
def test_table_window_leaves_out_less_than_1e30_at_small_p(n, p):
    """The tails beyond the tabulated window, from the exact pmf in log space: below 1e-30 on each side, also
    where n p is far below 1 (a mean +- 12 sd window left about 6e-11 at n = 2048, p = 1e-4). The bound used
    here (P(D > top) <= P(B > top), P(D < lo) <= P(A > -lo)) is tight only where n p is small, the case at
    stake; at large n p Bernstein's inequality itself is the guarantee."""
    lo, table = cdf_table(n, p)
    lg = math.lgamma

    def log_pmf(k: int, trials: int) -> float:
        return lg(trials + 1) - lg(k + 1) - lg(trials - k + 1) + k * math.log(p) + (trials - k) * math.log1p(-p)

    worst = -math.inf
    for m in (0, 1, n // 4, n // 2, n):
        top = int(lo[m]) + table.shape[1] - 1  # P(D > top) is left out, as is P(D < lo[m])
        # D = B - A with B ~ Bin(n - m, p) >= 0 and A ~ Bin(m, p): D > top needs B > top, D < lo needs A > -lo
        upper = max((log_pmf(b, n - m) for b in range(max(top + 1, 0), n - m + 1)), default=-math.inf)
        lower = max((log_pmf(a, m) for a in range(max(-int(lo[m]) + 1, 0), m + 1)), default=-math.inf)
        worst = max(worst, upper + math.log(n + 1), lower + math.log(n + 1))  # a sum of at most n + 1 terms
    print(f"n={n}, p={p:g}: log10 of the left-out tail mass <= {worst / math.log(10):.1f}")
    assert worst < math.log(1e-30)


def test_fire_limit_matches_the_firing_rule():
    for n in (7, 8, 784, 2048):
        for s in range(-n - 2, n + 3):
            t = int(fire_limit(n, np.array([s]))[0])
            assert (n - 2 * t > s) and not (n - 2 * (t + 1) > s), (n, s, t)


def dense_net(seed: int, sizes: tuple[int, ...]) -> BNN:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        w = pack_bits(rng.random(a * b) < 0.5).words
        thr = None if last else rng.integers(-3, 4, b).astype(np.int32)
        inv = None if last else rng.random(b) < 0.2
        layers.append(Dense(a, b, (a,), w, thr, inv))
    side = math.isqrt(sizes[0])
    return BNN("custom", (1, side, side), np.array([127], np.uint8), layers)


def run_trials(net, image, p, trials, fast, seed):
    mem = ApproximateMemory(seed=seed)
    net.store_weights(mem)
    mem.set_ber(p)
    return net.forward(np.repeat(image[None], trials, axis=0), memory=mem, fast=fast, seed=seed), mem


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    values = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), values, side="right") / a.size
    fb = np.searchsorted(np.sort(b), values, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


@pytest.mark.parametrize("p", [0.02, 0.15, 0.4])
def test_output_distribution_matches_explicit_flips(p):
    """Two-sample KS on every output neuron's h: fast path vs materialised flips, same image."""
    net = dense_net(1, (64, 48, 32, 10))
    image = np.random.default_rng(2).integers(0, 256, (8, 8), dtype=np.uint8)
    trials = 3000
    fast, mem_fast = run_trials(net, image, p, trials, True, seed=5)
    slow, _ = run_trials(net, image, p, trials, False, seed=6)
    critical = 1.949 * math.sqrt(2 / trials)  # two-sample KS, alpha = 0.001
    stats = [ks_statistic(fast[:, o], slow[:, o]) for o in range(10)]
    print(f"p={p}: KS statistics {np.round(stats, 4).tolist()}, critical {critical:.4f}")
    assert max(stats) < critical
    assert mem_fast.totals.reads == trials * 3
    z = (mem_fast.totals.bits_flipped - mem_fast.totals.bits_read * p) / math.sqrt(
        mem_fast.totals.bits_read * p * (1 - p)
    )
    print(f"counted flips z = {z:+.2f}")
    assert abs(z) < Z999


def test_accuracy_over_many_images_matches_explicit_flips():
    """On the FCNN shape: accuracy (against the clean predictions) with fast vs explicit reads."""
    net = BNN.random("fashion-fcnn", seed=3)
    images = np.random.default_rng(4).integers(0, 256, (600, 28, 28), dtype=np.uint8)
    labels = net.predict(images)
    acc = {}
    for fast in (True, False):
        mem = ApproximateMemory(seed=7 + fast)
        net.store_weights(mem)
        mem.set_ber(0.01)
        acc[fast] = int(np.sum(net.predict(images, memory=mem, fast=fast) == labels))
    z = two_proportion_z(acc[True], 600, acc[False], 600)
    print(f"agreement with clean predictions: fast {acc[True]}/600, explicit {acc[False]}/600, z = {z:+.2f}")
    assert abs(z) < Z999


def test_zero_ber_fast_path_is_exactly_clean():
    net = BNN.random("fashion-fcnn", seed=5)
    images = np.random.default_rng(6).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    h, _ = run_trials(net, images[0], 0.0, 1, True, 0)
    np.testing.assert_array_equal(h[0], net.forward(images[:1])[0])
    mem = ApproximateMemory(seed=0)
    net.store_weights(mem)
    np.testing.assert_array_equal(net.forward(images, memory=mem), net.forward(images))


@pytest.mark.parametrize(
    ("model", "options", "rates"),
    [("asymmetric", {}, (0.03, 0.2)), ("mixed", {"persistent_fraction": 0.4}, (0.1, 0.1)),
     ("mixed", {"persistent_fraction": 0.3}, (0.05, 0.25)), ("persistent", {}, (0.05, 0.15))],
)  # fmt: skip
def test_law_path_matches_explicit_flips(model, options, rates):
    """Asymmetric, mixed and stuck faults: the law path's outputs against materialised flips on the same chip
    (two-sample KS per output neuron, same image, fresh reads), and its counted flips against their expectation."""
    net = dense_net(1, (64, 48, 32, 10))
    image = np.random.default_rng(2).integers(0, 256, (8, 8), dtype=np.uint8)
    trials = 3000
    out = {}
    for fast in (True, False):
        mem = ApproximateMemory(model, seed=9, **options)  # one chip for both: its stuck cells are the same
        net.store_weights(mem)
        mem.set_rates(*rates)
        out[fast] = net.forward(np.repeat(image[None], trials, axis=0), memory=mem, fast=fast, seed=5 + fast)
        flips = mem.totals.bits_flipped / mem.totals.bits_read
        print(f"{model} {rates} fast={fast}: flip rate {flips:.4f}")
    if model == "persistent":  # no randomness left once the chip is drawn: bit for bit
        np.testing.assert_array_equal(out[True], out[False])
        return
    critical = 1.949 * math.sqrt(2 / trials)  # two-sample KS, alpha = 0.001
    stats = [ks_statistic(out[True][:, o], out[False][:, o]) for o in range(10)]
    print(f"KS statistics {np.round(stats, 4).tolist()}, critical {critical:.4f}")
    assert max(stats) < critical
    assert np.std(out[True][:, 0]) > 0  # the reads were noisy
