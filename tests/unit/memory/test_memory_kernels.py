"""Each numba kernel of the memory equals its slow twin in tests/naive.py, bit for bit."""

from __future__ import annotations

import naive
import numpy as np
import pytest

from memsim import config
from memsim.bits import PackedBits, pack_bits, pack_signs, unpack_bits
from memsim.memory import kernels
from memsim.rng import derive_key, seed_key, splitmix64, stream_state, xoshiro_next

AWKWARD = [1, 63, 64, 65, 130, 64 * 5 + 17]


@pytest.mark.parametrize("nbits", AWKWARD)
def test_pack_matches_naive_and_round_trips(nbits):
    bits = np.random.default_rng(nbits).random(nbits) < 0.5
    packed = pack_bits(bits)
    np.testing.assert_array_equal(packed.words, naive.pack(bits))
    np.testing.assert_array_equal(unpack_bits(packed.words, nbits), bits)
    assert packed.unpack().shape == (nbits,)


def test_pack_keeps_shape_and_sign_of_zero_is_plus_one():
    values = np.array([[-1.0, 0.0, 2.5], [0.0, -0.0, -3.0]])
    packed = pack_signs(values)
    assert packed.shape == (2, 3)
    np.testing.assert_array_equal(packed.unpack(), [[False, True, True], [True, True, False]])
    with pytest.raises(ValueError, match="shape"):
        PackedBits(packed.words, 6, (4, 2))


def test_xoshiro_and_splitmix_match_the_reference():
    assert int(splitmix64(np.uint64(12345))) == naive.splitmix64(12345)
    state = stream_state(np.uint64(7), np.uint64(9), np.uint64(3), 11)
    ref = naive.stream(7, 9, 3, 11)
    assert [int(s) for s in state] == ref.s
    s0, s1, s2, s3 = (np.uint64(s) for s in state)
    for _ in range(5):  # from Python, pass uint64 explicitly (small Python ints would type as int64)
        value, *rest = xoshiro_next(s0, s1, s2, s3)
        s0, s1, s2, s3 = (np.uint64(s) for s in rest)
        assert int(value) == ref.next()


def test_seed_keys_are_stable_and_distinct():
    assert seed_key(0) == seed_key(0) != seed_key(1)
    assert derive_key(seed_key(0), "w1") == derive_key(seed_key(0), "w1") != derive_key(seed_key(0), "w2")


@pytest.mark.parametrize("nbits", [1, 65, 5000])
@pytest.mark.parametrize("p", [0.003, 0.2])
def test_geometric_mask_equals_naive(nbits, p):
    chunk = 8  # several chunks even for small arrays
    key = (11, 22)
    events = np.array([5, 8], np.uint64)  # a block of two reads: each row from its own event's streams
    masks = np.empty((2, (nbits + 63) // 64), np.uint64)
    table = kernels.gap_table(p)
    kernels._fill_geometric(masks, nbits, p, np.uint64(key[0]), np.uint64(key[1]), events, chunk, False, 0, table)
    for row, event in zip(masks, events, strict=True):
        np.testing.assert_array_equal(row, naive.geometric_mask(nbits, p, *key, int(event), chunk))
    before = masks.copy()  # accumulate: OR a second pass from other streams into the mask
    kernels._fill_geometric(masks, nbits, p, np.uint64(key[0]), np.uint64(key[1]), events, chunk, True, 99, table)
    for row, old, event in zip(masks, before, events, strict=True):
        np.testing.assert_array_equal(row, naive.geometric_mask(nbits, p, *key, int(event), chunk, list(old), 99))


@pytest.mark.parametrize("p", [1e-7, 1e-3, 0.01, 0.3, 0.9])
def test_gap_is_the_log1p_gap_bit_for_bit(p):
    """_gap takes log(1 - u) where log1p(-u) is slower: the integer part must be log1p's, including for u whose
    quotient lands next to an integer (u = 1 - q^k), where the two logs may round apart and log1p decides."""
    import math

    from numba import njit

    gap = njit(lambda u, lq: kernels._gap(u, lq))
    log_q = math.log1p(-p)
    rng = np.random.default_rng(5)
    us = list(rng.integers(0, 2**53, 20_000) / 2.0**53)
    for k in range(1, 400):  # next to every integer quotient, both sides
        u = 1.0 - math.exp(k * log_q)
        us += [u, math.nextafter(u, 0.0), math.nextafter(u, 1.0)]
    us = [min(max(u, 0.0), 1.0 - 2.0**-53) for u in us]
    us = [math.floor(u * 2.0**53) / 2.0**53 for u in us]  # the values to_unit can give: 53-bit fractions
    got = np.array([math.floor(gap(u, log_q)) for u in us])
    want = np.array([math.floor(math.log1p(-u) / log_q) for u in us])
    near = sum(abs(math.log(1.0 - u) / log_q - round(math.log(1.0 - u) / log_q)) < 1e-9 for u in us)
    print(f"\np={p:g}: {len(us)} gaps, {near} within 1e-9 of an integer, {int((got != want).sum())} differ")
    np.testing.assert_array_equal(got, want)
    assert near > 0  # the guard's side was exercised


@pytest.mark.parametrize("p", [1e-4, 1e-3, 0.01, 0.3, 0.9])
def test_gap_table_gives_the_log1p_gap_for_every_u_of_a_bucket(p):
    """Each bucket the table serves holds one integer part of the gap: at its two ends (the smallest and the
    largest 53-bit u) and at random u inside, it equals floor(log1p(-u) / log_q)."""
    import math

    table = kernels.gap_table(p)
    bits = table.size.bit_length() - 1
    log_q = math.log1p(-p)
    rng = np.random.default_rng(9)
    served = np.flatnonzero(table >= 0)
    for i in served:
        lo, hi = int(i) << (53 - bits), ((int(i) + 1) << (53 - bits)) - 1  # u = k / 2**53 for k in [lo, hi]
        ks = [lo, hi, *rng.integers(lo, hi + 1, 3)]
        assert all(math.floor(math.log1p(-k / 2.0**53) / log_q) == table[i] for k in ks), i
    print(f"\np={p:g}: the table serves {served.size} of {table.size} buckets")
    assert served.size > 0.05 * table.size


@pytest.mark.parametrize("nbits", [1, 65, 5000])
@pytest.mark.parametrize("p", [0.03, 0.35, 0.5])
def test_bitparallel_mask_equals_naive(nbits, p):
    chunk = 8
    digits, _ = kernels.p_digits(p)
    events = np.array([9, 2], np.uint64)
    masks = np.empty((2, (nbits + 63) // 64), np.uint64)
    kernels._fill_bitparallel(masks, nbits, digits, np.uint64(3), np.uint64(4), events, chunk)
    for row, event in zip(masks, events, strict=True):
        np.testing.assert_array_equal(row, naive.bitparallel_mask(nbits, digits, 3, 4, int(event), chunk))


@pytest.mark.parametrize("p", [0.0, 0.004, 0.3, 1.0])
@pytest.mark.parametrize("nbits", [70, 300_000])  # one thread below SERIAL_MAX_WORDS, parallel above
def test_a_block_of_reads_is_the_reads_one_at_a_time(p, nbits):
    events = np.array([3, 0, 77], np.uint64)
    block = kernels.sample_masks(nbits, p, (6, 7), events)
    for row, event in zip(block, events, strict=True):
        np.testing.assert_array_equal(row, kernels.sample_mask(nbits, p, (6, 7), int(event)))


@pytest.mark.parametrize("p", [1e-9, 1e-4, 0.01, 0.1, 0.35, 0.5, 0.999])
def test_p_digits_represent_p(p):
    """The digits reproduce p to P_BITS significant bits, through the sampler's own recursion."""
    digits, p_eff = kernels.p_digits(p, config.P_BITS)
    assert p - p * 2.0**-config.P_BITS <= p_eff <= p
    value = 0.0  # m <- d ? (r | m) : (r & m) maps P(bit) to (d + P) / 2, from the lowest set digit up
    for d in digits:
        value = (int(d) + value) / 2
    assert value == p_eff


def test_bitparallel_remainder_makes_p_exact(monkeypatch):
    """With only 2 digits, p = 0.3 is built as 0.25 plus an exact remainder pass: the rate is 0.3."""
    monkeypatch.setattr(config, "P_BITS", 2)
    assert kernels.p_digits(0.3, 2)[1] == 0.25
    n = 1 << 21
    flips = sum(naive.popcount(kernels.sample_mask(n, 0.3, (5, 6), e, "bitparallel")) for e in range(2))
    z = (flips - 2 * n * 0.3) / (2 * n * 0.3 * 0.7) ** 0.5
    z_alone = (flips - 2 * n * 0.25) / (2 * n * 0.25 * 0.75) ** 0.5
    print(
        f"p=0.3 from 2 digits + remainder: rate {flips / (2 * n):.5f}, z = {z:+.2f} (against 0.25: z = {z_alone:+.0f})"
    )
    assert abs(z) < 3.29


def test_padding_bits_are_never_set():
    for sampler in ("geometric", "bitparallel"):
        mask = kernels.sample_mask(70, 0.9 if sampler == "bitparallel" else 0.02, (1, 2), 0, sampler)
        assert int(mask[-1]) >> 6 == 0
    full = kernels.sample_mask(70, 1.0, (1, 2), 0)
    assert naive.popcount(full) == 70


@pytest.mark.parametrize("nbits", [3, 64, 200])
@pytest.mark.parametrize("offset", [0, 77])
def test_weak_cells_equal_naive(nbits, offset):
    words = (nbits + 63) // 64
    a, b = np.empty(words, np.uint64), np.empty(words, np.uint64)
    kernels._weak_cells(a, b, nbits, 0.3, 0.25, np.uint64(5), np.uint64(6), np.int64(offset))
    ra, rb = naive.weak_cells(nbits, 0.3, 0.25, 5, 6, offset)
    np.testing.assert_array_equal(a, ra)
    np.testing.assert_array_equal(b, rb)


def test_directional_and_xor_count_equal_naive():
    rng = np.random.default_rng(0)
    data, f0, f1 = (rng.integers(0, 2**64, 7, dtype=np.uint64) for _ in range(3))
    out = np.empty_like(data)
    kernels._directional(data, f0, f1, out)
    np.testing.assert_array_equal(out, naive.directional(data, f0, f1))
    xored = np.empty_like(data)
    assert kernels._xor_count(data, out, xored) == naive.popcount(out)
    np.testing.assert_array_equal(xored, data ^ out)


def test_sparse_mask_sets_only_listed_positions_at_their_rates():
    base = np.zeros(3, np.uint64)
    base[0] = np.uint64(1)
    positions = np.arange(64, 192, dtype=np.int64)
    probs = np.full(positions.size, 0.5)
    mask = kernels.sparse_mask(base, positions, probs, (1, 2), 7)
    bits = naive.unpack(mask, 192)
    assert bits[0] and not bits[1:64].any(), "the base stays, nothing outside the listed positions"
    assert 40 < bits[64:].sum() < 88, bits[64:].sum()
    np.testing.assert_array_equal(mask, kernels.sparse_mask(base, positions, probs, (1, 2), 7))
    assert np.any(mask != kernels.sparse_mask(base, positions, probs, (1, 2), 8)), "another read, other draws"
