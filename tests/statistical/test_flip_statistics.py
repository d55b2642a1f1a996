"""The memory's flips have exactly the statistics the fault models promise (numbers in the messages)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from stats_helpers import Z999, check_rate, two_proportion_z

import memsim
from memsim import ApproximateMemory, config
from memsim.bits import unpack_bits
from memsim.memory import ReadSet, kernels

N = 1 << 22  # bits per read


def count(mask: np.ndarray) -> int:
    return int(kernels._count(mask))


@pytest.mark.parametrize("sampler", ["geometric", "bitparallel"])
@pytest.mark.parametrize("p", [1e-4, 1e-3, 1e-2, 0.1, 0.35, 0.5, config.GEOMETRIC_MAX_P])
def test_flip_rate_within_binomial_interval(sampler, p):
    """Each sampler, at each p and at the crossover, flips a fraction p of the bits."""
    reads = max(1, int(4000 / (N * p)) + 1)
    flips = sum(count(kernels.sample_mask(N, p, (17, 29), event, sampler)) for event in range(reads))
    check_rate(flips, N * reads, p, f"{sampler} p={p:g}")


def test_auto_sampler_switches_at_crossover():
    below = kernels.sample_mask(1000, config.GEOMETRIC_MAX_P, (1, 1), 0, "auto")
    np.testing.assert_array_equal(below, kernels.sample_mask(1000, config.GEOMETRIC_MAX_P, (1, 1), 0, "geometric"))
    above = kernels.sample_mask(1000, 0.03, (1, 1), 0, "auto")
    np.testing.assert_array_equal(above, kernels.sample_mask(1000, 0.03, (1, 1), 0, "bitparallel"))


def memory_with(data: np.ndarray, fault_model: str = "transient", seed: int = 3, **options) -> ApproximateMemory:
    mem = ApproximateMemory(fault_model=fault_model, seed=seed, **options)
    mem.store("w", data)
    return mem


@pytest.mark.parametrize("p", [1e-3, 0.1])
def test_symmetric_rates_agree(p):
    """transient: 0->1 and 1->0 flip at the same rate p."""
    data = np.random.default_rng(0).random(N) < 0.5
    mem = memory_with(data)
    mem.set_ber(p)
    reads = 4 if p < 0.01 else 1
    k01 = k10 = 0
    for _ in range(reads):
        flipped = mem.read("w") != data
        k01 += int(np.count_nonzero(flipped & ~data))
        k10 += int(np.count_nonzero(flipped & data))
    n0, n1 = reads * int(np.count_nonzero(~data)), reads * int(np.count_nonzero(data))
    check_rate(k01, n0, p, "0->1")
    check_rate(k10, n1, p, "1->0")
    z = two_proportion_z(k01, n0, k10, n1)
    print(f"0->1 vs 1->0: z = {z:+.2f}")
    assert abs(z) < Z999


def test_asymmetric_rates_match_their_own():
    data = np.random.default_rng(1).random(N) < 0.5
    mem = memory_with(data, "asymmetric")
    mem.set_rates(0.02, 0.2)
    flipped = mem.read("w") != data
    check_rate(int(np.count_nonzero(flipped & ~data)), int(np.count_nonzero(~data)), 0.02, "p01")
    check_rate(int(np.count_nonzero(flipped & data)), int(np.count_nonzero(data)), 0.2, "p10")


@pytest.mark.parametrize("p", [0.01, 0.1, 0.35])
def test_fresh_flips_per_read_and_no_neighbour_correlation(p):
    """Two reads overlap in p^2 of the bits; neighbouring bits, words and chunks are independent."""
    data = np.zeros(N, dtype=bool)
    mem = memory_with(data)
    mem.set_ber(p)
    a = mem.read("w")
    b = mem.read("w")
    check_rate(int(np.count_nonzero(a & b)), N, p * p, "overlap of two reads")
    # Independence of neighbours: P(flip at i + lag | flip at i) = P(flip at i + lag | no flip at i).
    for lag, label in (
        (1, "adjacent bits"),
        (64, "same bit of adjacent words"),
        (64 * config.CHUNK_WORDS, "same bit of adjacent RNG chunks"),
    ):
        x, y = a[:-lag], a[lag:]
        k1, n1 = int(np.count_nonzero(y & x)), int(np.count_nonzero(x))
        k2, n2 = int(np.count_nonzero(y & ~x)), int(np.count_nonzero(~x))
        z = two_proportion_z(k1, n1, k2, n2)
        print(f"{label}: P(flip | neighbour flipped) = {k1 / n1:.5g}, P(flip | not) = {k2 / n2:.5g}, z = {z:+.2f}")
        assert abs(z) < Z999, label


def test_persistent_faults_are_identical_across_reads_and_hit_the_rate():
    data = np.random.default_rng(2).random(N) < 0.5
    mem = memory_with(data, "persistent")
    mem.set_ber(0.05)
    first = mem.read("w")
    for _ in range(3):
        np.testing.assert_array_equal(mem.read("w"), first)
    check_rate(int(np.count_nonzero(first != data)), N, 0.05, "persistent flips")


def test_persistent_faults_are_nested_across_voltages():
    """Failing cells at a higher voltage are a subset of those at a lower one (SRAM profile)."""
    sram = memsim.load_profile("sram_14nm_chandramoorthy2019")
    zeros, ones = np.zeros(N, bool), np.ones(N, bool)
    failing = []
    for v in (0.917, 0.875, 0.833, 0.792):
        op = sram.at(vdd_over_vmin=v)
        cells = np.zeros(N, bool)
        for data in (zeros, ones):  # a stuck cell shows on the data it disagrees with
            mem = memory_with(data, "persistent", seed=11)
            mem.set_operating_point(op)
            cells |= mem.read("w") != data
        failing.append(cells)
        check_rate(int(np.count_nonzero(cells)), N, min(1.0, 2 * op.ber), f"faulty cells at {v} Vmin")
    for high, low in itertools.pairwise(failing):
        assert np.all(low[high]), "a cell failing at a higher voltage must fail at every lower one"


def test_mixed_faults_total_rate_and_persistent_share():
    """mixed: total rate p; bits flipped in both of two reads = f p + (1 - 2 f p) t^2."""
    p, f = 0.1, 0.3
    data = np.random.default_rng(4).random(N) < 0.5
    mem = memory_with(data, "mixed", persistent_fraction=f)
    mem.set_ber(p)
    a, b = (mem.read("w") != data for _ in range(2))
    check_rate(int(np.count_nonzero(a)), N, p, "mixed total")
    t = (1 - f) * p / (1 - 2 * f * p)
    check_rate(int(np.count_nonzero(a & b)), N, f * p + (1 - 2 * f * p) * t * t, "mixed: flipped twice")


def test_measured_map_reproduces_its_own_ber(tmp_path):
    """A memory over a measured stuck-at map flips exactly the cells the map says, at each voltage."""
    rng = np.random.default_rng(5)
    shape = (256, 128)
    vfail = rng.normal(0.55, 0.04, shape)
    maps = tmp_path / "maps"
    maps.mkdir()
    for v in (0.50, 0.55, 0.60):
        failing = vfail > v
        sa0 = failing & (rng.random(shape) < 0.5)
        np.savez(maps / f"chip_v{v:.2f}.npz", stuck_at_0=sa0, stuck_at_1=failing & ~sa0)
    profile = memsim.profile_from_fault_maps([maps], tmp_path / "chip.yaml", technology="sram", reference="synthetic")
    data = rng.random(shape) < 0.5
    mem = ApproximateMemory(memsim.PersistentFaults(profile.fault_maps), seed=0)
    mem.store("w", data)
    for v in (0.50, 0.55, 0.60):
        op = profile.at(vdd_v=v)
        mem.set_operating_point(op)
        p01, p10 = profile.fault_maps.cell_rates(v)
        expected = (p01.astype(bool) & ~data) | (p10.astype(bool) & data)
        got = mem.read("w") != data
        np.testing.assert_array_equal(got, expected)
        check_rate(int(np.count_nonzero(got)), data.size, op.ber, f"map at {v} V vs the profile's BER")


def test_zero_ber_returns_stored_data_bit_identical_and_reads_never_modify():
    rng = np.random.default_rng(6)
    for array in (
        rng.random((33, 65)) < 0.5,
        rng.integers(-128, 128, 1000).astype(np.int8),
        rng.integers(0, 2**31, 77).astype(np.int32),
    ):
        mem = memory_with(array)
        mem.set_ber(0.0)
        out = mem.read("w")
        assert out.dtype == array.dtype and out.shape == array.shape
        np.testing.assert_array_equal(out, array)
        mem.set_ber(0.3)
        for _ in range(3):
            mem.read("w")
        np.testing.assert_array_equal(mem.stored("w"), array)
    assert mem.totals.bits_flipped > 0


def test_multibit_words_flip_every_bit_position():
    """int16 words: each of the 16 bit positions flips at rate p."""
    words = np.zeros(1 << 18, dtype=np.int16)
    mem = memory_with(words)
    mem.set_ber(0.05)
    flipped = unpack_bits(np.ascontiguousarray(mem.read("w")).view(np.uint8).view(np.uint64), words.size * 16)
    per_position = flipped.reshape(-1, 16).sum(axis=0)
    for bit, k in enumerate(per_position):
        check_rate(int(k), words.size, 0.05, f"int16 bit {bit}")


def test_same_seed_same_flips_whatever_the_thread_count():
    import numba

    data = np.random.default_rng(7).random(N) < 0.5
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        for p in (0.005, 0.2):
            mem = memory_with(data, seed=42)
            mem.set_ber(p)
            results.append((threads, p, mem.read("w")))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    by_p = {}
    for _threads, p, out in results:
        by_p.setdefault(p, []).append(out)
    for outs in by_p.values():
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])
    other = memory_with(data, seed=43)
    other.set_ber(0.2)
    assert np.any(other.read("w") != by_p[0.2][0])


def test_a_read_is_a_function_of_its_identity():
    """Reads named by (seed, array, image, access) return the same words in any order, fresh otherwise."""
    data = np.zeros(4096, bool)
    mem = memory_with(data)
    mem.set_ber(0.1)
    both = mem.read_words("w", ReadSet.images(0, 2, seed=9))
    second = mem.read_words("w", ReadSet.images(1, 1, seed=9))
    np.testing.assert_array_equal(both[1], second[0])
    np.testing.assert_array_equal(mem.read_words("w", ReadSet.images(0, 1, seed=9))[0], both[0])
    assert np.any(both[0] != both[1]), "two images, two reads"
    assert np.any(mem.read_words("w", ReadSet.images(0, 1, seed=10))[0] != both[0]), "another trial"
    batch = mem.read_words("w", ReadSet.batches([0], seed=9))[0]
    assert np.any(batch != both[0]), "a batch read is another read than image 0's"
    direct = [mem.read_packed("w").words for _ in range(2)]
    assert np.any(direct[0] != direct[1]), "direct reads are numbered, each fresh"


def test_dram_retention_cells_are_nested_in_interval_and_temperature_with_a_varying_share():
    """The profile's own fault model for retention: stuck weak cells (82 % of the errors, the Voltron data's bound)
    nested across refresh interval and temperature on one chip, the rest fresh on every read."""
    from memsim.experiment.conditions import default_fault_model
    from memsim.memory.faults import MixedFaults

    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    points = [(4096, 70), (8192, 20), (8192, 70)]  # beyond the data (model), where flips are frequent enough
    data = np.random.default_rng(5).random(N) < 0.5
    stuck_sets = []
    for t, c in points:
        op = dram.at(refresh_ms=t, temperature_c=c, extrapolate=True)
        fault = default_fault_model(dram, op)
        assert isinstance(fault, MixedFaults) and fault.persistent_fraction == pytest.approx(0.82, abs=1e-6)
        mem = memory_with(data, fault, seed=21)
        mem.set_operating_point(op)
        reads = [mem.read("w") != data for _ in range(3)]
        check_rate(int(np.count_nonzero(reads[0])), N, op.ber, f"retention at {t} ms, {c} C: flips per read")
        every = reads[0] & reads[1] & reads[2]
        t_rate = (1 - 0.82) * op.ber / (1 - 0.82 * 2 * op.ber)
        expected = 0.82 * op.ber + (1 - 2 * 0.82 * op.ber) * t_rate**3
        check_rate(int(np.count_nonzero(every)), N, expected, f"retention at {t} ms, {c} C: flipped on every read")
        stuck_sets.append(every)
    # longer interval or hotter: every cell that failed on every read fails again (a transient triple-flip is
    # ~1e-8 per bit, so the few exceptions allowed are far below one)
    for small, large in ((0, 2), (1, 2)):
        missing = int(np.count_nonzero(stuck_sets[small] & ~stuck_sets[large]))
        print(f"cells stuck at {points[small]} but not at {points[large]}: {missing}")
        assert missing <= 2
