"""m-bit weights in the approximate memory (issue 25, item 1): quantize, pack m bits per weight, read with
flips, dequantize; every bit of a weight can flip and does what the module docstring says."""

from __future__ import annotations

import numpy as np
import pytest

from memsim import ApproximateMemory, ConfigError
from memsim.memory.quant import BITS, SCHEMES, quantize, read_quantized, store_quantized, unpack_codes
from memsim.memory.reads import ReadSet

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("per_channel", [False, True])
def test_round_to_nearest_within_half_a_step(bits, scheme, per_channel):
    w = RNG.normal(0.0, 0.1, (6, 3, 3, 4))
    q = quantize(w, bits, scheme, per_channel)
    err = np.abs(q.dequantize() - w)
    step = q.scale.reshape(-1, 1, 1, 1) if per_channel else q.scale
    assert np.all(err <= step / 2 + 1e-6), float(np.max(err / step))
    assert q.nbits == w.size * bits and q.codes.max() < 2**bits


def test_codes_are_packed_m_bits_per_weight_least_significant_first():
    q = quantize(np.array([1.0, 2.0, -1.0, 7.0]), bits=4, scheme="symmetric", clip=7.0)  # scale 1
    assert q.codes.tolist() == [1, 2, 15, 7]  # -1 in 4-bit two's complement
    assert q.packed().words.view(np.uint8)[:2].tolist() == [0x21, 0x7F]  # two 4-bit weights per byte


@pytest.mark.parametrize("bits", BITS)
def test_unpack_inverts_pack_with_read_axes(bits):
    codes = RNG.integers(0, 2**bits, (5, 7)).astype(np.uint32)
    q = quantize(np.ones((5, 7)), bits)  # only its layout is used
    q = type(q)(codes, q.scale, q.zero_point, bits, q.scheme)
    words = q.packed().words
    stacked = np.stack([words, words ^ np.uint64(0)])
    assert np.array_equal(unpack_codes(stacked, codes.size, bits).reshape(2, 5, 7), np.stack([codes, codes]))


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_what_a_flip_of_each_bit_does(bits):
    """Symmetric: bit k < m-1 moves the weight by +-2^k scale, the sign bit by -+2^(m-1) scale; asymmetric:
    every bit k by +-2^k scale (the most significant one half the range)."""
    for scheme in SCHEMES:
        q = quantize(RNG.normal(0, 1, 50), bits, scheme)
        base = q.dequantize().astype(np.float64)
        for k in range(bits):
            moved = q.dequantize(q.codes ^ np.uint32(1 << k)).astype(np.float64) - base
            steps = np.rint(moved / q.scale[0]).astype(np.int64)
            if scheme == "symmetric" and k == bits - 1:
                assert set(np.abs(steps)) == {2 ** (bits - 1)}
                assert np.all(np.sign(steps) == np.where(q.codes >= 2 ** (bits - 1), 1, -1))  # sign flips
            else:
                assert set(np.abs(steps)) == {2**k}
                assert np.all(np.sign(steps) == np.where(q.codes & (1 << k), -1, 1))  # 1 -> 0 lowers


def test_the_memory_counts_m_bits_per_weight_and_reads_are_fresh_per_image():
    w = RNG.normal(0, 0.1, (64, 100))
    q = quantize(w, 4, "asymmetric", per_channel=True)
    mem = ApproximateMemory(seed=1)
    store_quantized(mem, "fc", q)
    mem.set_ber(0.0)
    clean = read_quantized(mem, "fc", q, ReadSet.images(0, 2, seed=0))
    assert np.array_equal(clean[0], q.dequantize()) and np.array_equal(clean[1], clean[0])
    assert mem.totals.bits_read == 2 * w.size * 4
    mem.set_ber(0.05)
    reads = read_quantized(mem, "fc", q, ReadSet.images(0, 200, seed=0))
    again = read_quantized(mem, "fc", q, ReadSet.images(0, 200, seed=0))
    assert np.array_equal(reads, again), "the same keyed reads give the same words"
    assert not np.array_equal(reads[0], reads[1]), "each image reads its own flips"
    n = 200 * w.size * 4  # independent bits: the second block repeats the first one's keyed reads
    flipped = mem.totals.bits_flipped / (2 * n)
    se = np.sqrt(0.05 * 0.95 / n)
    print(f"\nflip rate over {n:,} independent bits read: {flipped:.5f} (BER 0.05, 4 se = {4 * se:.5f})")
    assert abs(flipped - 0.05) < 4 * se


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 0}, r"bits must be 1 \(binary\) or one of 2, 3, 4, 5, 6, 7, 8, 16, got 0"),
        ({"bits": 1, "scheme": "asymmetric"}, r"one bit per weight is the binary scheme"),
        ({"bits": 9}, r"got 9"),
        ({"bits": True}, r"got True"),
        ({"scheme": "robust"}, r"scheme must be one of symmetric, asymmetric \(or binary for one bit\), got 'robust'"),
        ({"clip": -1.0}, r"clip must be a finite range around 0"),
        ({"clip": (0.1, 1.0), "scheme": "asymmetric"}, r"clip must be a finite range around 0"),
        ({"clip": (-1.0, 1.0)}, r"clip \(lo, hi\) is for the asymmetric scheme"),
    ],
)
def test_bad_quantization_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        quantize(np.ones((2, 2)), **kwargs)


def test_non_finite_or_empty_weights():
    with pytest.raises(ConfigError, match="not finite"):
        quantize(np.array([1.0, np.nan]))
    with pytest.raises(ConfigError, match="non-empty"):
        quantize(np.zeros(0))


def test_quantized_weights_take_every_granularity_and_fault_model():
    """per_batch: one pattern per batch; persistent faults: one chip, the same words for every image and
    every read key; the counters as for binary weights."""
    q = quantize(RNG.normal(0, 0.1, (32, 40)), 8, "symmetric")
    batch = ApproximateMemory(seed=2)
    store_quantized(batch, "w", q)
    batch.set_ber(0.02)
    per_batch = read_quantized(batch, "w", q, ReadSet.batches([0, 0, 1], seed=5))
    assert np.array_equal(per_batch[0], per_batch[1]) and not np.array_equal(per_batch[0], per_batch[2])
    assert batch.totals.by_granularity == {"per_batch": 3}
    chip = ApproximateMemory(fault_model="persistent", seed=4)
    store_quantized(chip, "w", q)
    chip.set_ber(0.02)
    a = read_quantized(chip, "w", q, ReadSet.images(0, 3, seed=1))
    b = read_quantized(chip, "w", q, ReadSet.images(100, 2, seed=9))
    assert all(np.array_equal(a[0], x) for x in (*a, *b)), "a chip's stuck cells are the same in every read"
    assert not np.array_equal(a[0], q.dequantize()), "and some of them are wrong at BER 0.02"


def test_binary_weights_keep_their_signs_and_a_flip_negates_them():
    w = RNG.normal(0, 1, (4, 25))
    for per_channel in (False, True):
        q = quantize(w, bits=1, per_channel=per_channel)
        assert q.scheme == "binary" and q.nbits == w.size
        alpha = np.abs(w).mean(axis=1, keepdims=True) if per_channel else np.abs(w).mean()
        np.testing.assert_allclose(q.dequantize(), np.where(w >= 0, alpha, -alpha), rtol=1e-6)
        np.testing.assert_allclose(q.dequantize(q.codes ^ np.uint32(1)), -q.dequantize(), rtol=1e-6)


def test_truncation_is_stutz_et_al_normal_quantization():
    """``rounding="truncate"``: the integer conversion of the paper's normal quantization (toward zero)."""
    w = np.array([0.96, -0.96, 0.5, -0.04, 1.0])
    near = quantize(w, bits=4, clip=1.0)  # scale 1/7
    trunc = quantize(w, bits=4, clip=1.0, rounding="truncate")
    assert near.dequantize(near.codes.astype(np.int64)).tolist() == pytest.approx([1.0, -1.0, 4 / 7, 0.0, 1.0])
    assert trunc.dequantize().tolist() == pytest.approx([6 / 7, -6 / 7, 3 / 7, 0.0, 1.0])
    asym = quantize(np.array([-1.0, 0.3, 1.0]), bits=2, scheme="asymmetric", clip=(-1.0, 1.0), rounding="truncate")
    assert asym.codes.tolist() == [0, 2, 3]  # scale 2/3, zero point 2: 0.3 -> 2.45 -> 2
    with pytest.raises(ConfigError, match=r"rounding must be 'nearest' or 'truncate', got 'up'"):
        quantize(w, rounding="up")
