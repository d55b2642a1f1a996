"""Partitioned memory: regions at their own points, codes decoded per read, protected bits, their energy."""

from __future__ import annotations

import naive
import numpy as np
import pytest
from helpers import awkward_net, images_for

from memsim.bits import PackedBits
from memsim.errors import ConfigError, OutOfRangeError, UnknownNameError
from memsim.experiment.evaluate import evaluate
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.ecc import CODES, encode_array
from memsim.memory.partition import (
    PartitionedMemory,
    Partitioning,
    Protect,
    Region,
    partition_energy,
)
from memsim.memory.reads import ReadSet
from memsim.profile import load_profile

SRAM = "sram_14nm_chandramoorthy2019"


@pytest.mark.parametrize("fault", ["transient", "persistent", "mixed"])
def test_everything_in_main_reads_as_a_plain_memory(fault):
    net = awkward_net(1, 1, True, 6, 40, 10)
    x = images_for(net, 60)
    plain = ApproximateMemory(fault, seed=9)
    part = PartitionedMemory(Partitioning(), fault, seed=9)
    for mem in (plain, part):
        mem.set_ber(0.05)
        net.store_weights(mem)
    for fast in (True, False):
        a = net.predict(x, memory=plain, seed=3, fast=fast)
        b = net.predict(x, memory=part, seed=3, fast=fast)
        assert np.array_equal(a, b)


def test_a_region_at_ber_zero_reads_exactly_and_the_others_flip():
    p = Partitioning.parse(["exact=ber:0"], ["layer0=exact"])
    mem = PartitionedMemory(p, "transient", seed=1)
    mem.set_ber(0.1)
    net = awkward_net(2, 1, False, 6, 40, 10)
    net.store_weights(mem)
    reads = ReadSet.images(0, 20, seed=5)
    assert np.array_equal(mem.read_words("layer0", reads), np.broadcast_to(mem._get("layer0").words, (20, 1)))
    flips = mem.read_words("layer2", reads) ^ mem._get("layer2").words
    rate = naive.popcount(flips.ravel()) / (20 * mem.stored_bits("layer2"))
    print(f"layer2 flip rate {rate:.3f} at BER 0.1")
    assert 0.07 < rate < 0.13
    counts = mem.region_counts()
    assert counts["exact"].bits_read == 20 * mem.stored_bits("layer0")
    assert mem.region_of("layer0") == "exact" and mem.arrays_in("main") == 3


def test_coded_reads_are_the_raw_reads_decoded():
    """The region's raw reads (an ApproximateMemory holding the data and its check bits) decoded by the textbook."""
    code = CODES["secded16"]
    rng = np.random.default_rng(4)
    data = rng.integers(-(2**15), 2**15, size=96, dtype=np.int16)
    p = Partitioning.parse(ecc="secded16")
    mem = PartitionedMemory(p, "transient", seed=7)
    mem.set_ber(0.02)
    mem.store("w", data)
    raw = ApproximateMemory("transient", seed=7)
    raw.set_ber(0.02)
    raw.store("w", data)
    stored = raw._get("w").words
    check = encode_array(code, stored, 96 * 16)
    raw.store("w#check", PackedBits(check, 96 // 1 * code.check_bits, (96 * code.check_bits,)))
    reads = ReadSet.images(0, 30, seed=2)
    got = mem.read_words("w", reads)
    d, c = raw.read_words("w", reads), raw.read_words("w#check", reads)
    nc = code.check_bits
    for r in range(30):
        dbits = [int(b) for b in naive.unpack(d[r], 96 * 16)]
        cbits = [int(b) for b in naive.unpack(c[r], 96 * nc)]
        out = []
        for i in range(96):
            decoded, _ = naive.ecc_decode(code.columns, 16, dbits[16 * i : 16 * i + 16] + cbits[nc * i : nc * i + nc])
            out += decoded
        assert np.array_equal(naive.unpack(got[r], 96 * 16), np.array(out, dtype=bool)), r
    counts = mem.region_counts()["main"]
    print(counts.decode.to_dict())
    assert counts.codewords == 30 * 96 and counts.check_bits_read == 30 * 96 * nc
    assert counts.decode.corrected > 0 and counts.decode.detected > 0


def test_protected_sign_bits_never_flip():
    p = Partitioning.parse(["safe=ber:0"], protect=["thresholds=msb:1@safe"])
    mem = PartitionedMemory(p, "transient", seed=3)
    mem.set_ber(0.2)
    t = np.arange(-500, 500, 10, dtype=np.int16)
    mem.store("layer0.threshold", t)
    words = mem.read_words("layer0.threshold", ReadSet.images(0, 50, seed=1))
    got = words.view(np.uint8).reshape(50, -1)[:, : t.size * 2].copy().view("<i2")
    assert np.array_equal(got < 0, np.broadcast_to(t < 0, got.shape)), "the sign of every threshold as stored"
    assert (got != t).mean() > 0.9, "the other 15 bits flip at 20 %"
    counts = mem.region_counts()
    assert counts["safe"].bits_read == 50 * t.size and counts["main"].bits_read == 50 * t.size * 15
    assert counts["safe"].bits_stored == t.size and counts["main"].bits_stored == 15 * t.size


def test_protected_bits_leave_the_flip_law_with_their_region_exact():
    """Where the protected region is exact, the main region's law serves the reads with those bits fixed."""
    p = Partitioning.parse(["safe=ber:0"], protect=["*.weight=msb:2@safe"])
    mem = PartitionedMemory(p, "mixed", seed=3, word_bits={"fc.weight": 4})
    mem.set_ber(0.05)
    codes = PackedBits(naive.pack(np.random.default_rng(0).random(4 * 64) < 0.5), 4 * 64, (4 * 64,))
    mem.store("fc.weight", codes)
    law = mem.flip_law("fc.weight", ReadSet.images(0, 8, seed=1))
    assert law is not None and law.free is not None
    top = naive.pack(np.tile([False, False, True, True], 64))
    assert not np.any(law.free & top), "the top two bits of every 4-bit code are not free"
    assert np.array_equal(law.words & top, codes.words & top), "and they read as stored, stuck cells or not"
    transient = PartitionedMemory(p, "transient", seed=3, word_bits={"fc.weight": 4})
    transient.set_ber(0.05)
    transient.store("fc.weight", codes)
    free = transient.flip_law("fc.weight", ReadSet.images(0, 8, seed=1)).free
    assert np.array_equal(free | top, np.full(4, ~np.uint64(0))), "without stuck cells every other bit is free"
    assert mem.region_counts()["safe"].bits_read == 8 * 128 and mem.region_counts()["main"].bits_read == 8 * 128
    exact_main = PartitionedMemory(Partitioning.parse(["noisy=ber:0.1"], protect=["*.weight=msb:1@noisy"]), seed=1,
                                   word_bits={"fc.weight": 4})  # fmt: skip
    exact_main.set_ber(0.0)
    exact_main.store("fc.weight", codes)
    assert exact_main.flip_law("fc.weight", ReadSet.images(0, 2, seed=1)) is None, "a noisy protected region: explicit"


def test_detected_failures_are_counted_per_image():
    net = awkward_net(5, 1, False, 8, 40, 10)
    x, y = images_for(net, 100), np.zeros(100, dtype=np.int64)
    p = Partitioning.parse(ecc="secded8", policy="count")
    result = evaluate(net, x, y, 0.01, "transient", seed=1, partitioning=p)
    names = dict(result.regions)
    raw, corrected, detected = names["main"][3], names["main"][4], names["main"][5]
    print(
        f"raw flips {raw}, corrected {corrected}, detected {detected}, images with a detection {result.detected_units}"
    )
    assert 0 < result.detected_units <= 100 and detected >= result.detected_units
    zero = evaluate(net, x, y, 0.01, "transient", seed=1, partitioning=Partitioning.parse(ecc="secded8"))
    assert zero.detected_units == 0, "only the count policy reports detected failures"


def test_partition_energy_by_hand():
    profile = load_profile(SRAM)
    low, nominal = profile.at(vdd_over_vmin=0.8), profile.at()
    p = Partitioning.parse(["safe=nominal,ecc:secded64"], ["layer0=safe"])
    # per inference: bits read, check bits, codewords, raw, corrected, detected, silent, bits stored, arrays
    per = {"main": [1000.0, 0, 0, 0, 0, 0, 0, 1000, 2], "safe": [720.0, 80, 10, 0, 0, 0, 0, 720, 1]}
    pe = partition_energy(p, {"main": low, "safe": nominal}, per, ops=100.0, latency_ns=None, compute_pj_per_op=0.03)
    e_low, e_nom = low.read_energy_pj_per_bit, nominal.read_energy_pj_per_bit
    decoder = 10 * CODES["secded64"].decode_pj
    assert pe.breakdown.read_pj == pytest.approx(1000 * e_low + 720 * e_nom + decoder)
    assert pe.ecc_pj == pytest.approx(80 * e_nom + decoder) and pe.decoder_pj == pytest.approx(decoder)
    assert pe.breakdown.compute_pj == pytest.approx(3.0)
    assert pe.regions["main"] == pytest.approx(1000 * e_low)
    assert "leakage" in pe.breakdown.missing, "the SRAM publishes no leakage"
    assert pe.decode_ns == pytest.approx(CODES["secded64"].decode_ns)


def test_selective_refresh_charges_each_region_its_share_of_the_refresh_power():
    """A region at a long refresh interval pays its bits' share of the rank's refresh power at that interval."""
    dram = load_profile("dram_ddr3l_chang2017_vendorb")
    p = Partitioning.parse(["weak=refresh_ms:2048"], ["layer1=weak"])
    points = {"main": dram.at(), "weak": dram.at(refresh_ms=2048.0)}
    per = {"main": [300.0, 0, 0, 0, 0, 0, 0, 300, 1], "weak": [700.0, 0, 0, 0, 0, 0, 0, 700, 1]}
    pe = partition_energy(p, points, per, ops=0.0, latency_ns=1000.0, compute_pj_per_op=0.03)
    r64 = dram.at().refresh_mw
    assert pe.breakdown.refresh_pj == pytest.approx(1000.0 * (0.3 * r64 + 0.7 * r64 * 64 / 2048))
    assert pe.breakdown.memory_pj == pytest.approx(
        pe.breakdown.read_pj + pe.breakdown.leakage_pj + pe.breakdown.refresh_pj
    )
    assert not pe.breakdown.missing


def test_parse_and_refuse():
    p = Partitioning.parse(["safe=nominal", "low=vdd_over_vmin:0.8,ecc:secded32,policy:zero"], ["layer0=safe"])
    assert p.describe() == "main; safe=nominal; low=vdd_over_vmin:0.8,ecc:secded32,policy:zero; layer0->safe"
    assert Partitioning().trivial and not p.trivial
    with pytest.raises(UnknownNameError, match=r"--assign layer0=sfe: no region named 'sfe' .did you mean 'safe'"):
        Partitioning.parse(["safe=nominal"], ["layer0=sfe"])
    with pytest.raises(ConfigError, match="region 'safe' is defined twice"):
        Partitioning.parse(["safe=nominal", "safe=ber:0"])
    with pytest.raises(ConfigError, match="'vdd' is not KNOB:VALUE"):
        Region.parse("safe=vdd")
    with pytest.raises(ConfigError, match="expected PATTERN=msb:K@REGION"):
        Protect.parse("thresholds=top:1@safe")
    with pytest.raises(ConfigError, match="policy 'drop'"):
        Region.parse("main=ecc:secded64,policy:drop")
    mem = PartitionedMemory(Partitioning.parse(ecc="secded64"), "transient", seed=0)
    with pytest.raises(ConfigError, match="array 'w' holds 48 bits, not a multiple of secded64's 64-bit codewords"):
        mem.store("w", np.zeros(3, dtype=np.int16))
    p2 = Partitioning.parse(["safe=ber:0"], ["layer9=safe"])
    with pytest.raises(ConfigError, match="--assign layer9=safe matches no array"):
        p2.check_names(["layer0", "layer1"])
    with pytest.raises(ConfigError, match=r"assigned twice: layer\*=safe and layer0=main"):
        Partitioning.parse(["safe=ber:0"], ["layer*=safe", "layer0=main"]).region_of("layer0")
    with pytest.raises(OutOfRangeError, match=r"0\.5 V/Vmin is outside the profile's range"):
        Partitioning.parse(["deep=vdd_over_vmin:0.5"]).point(Region.parse("deep=vdd_over_vmin:0.5"), 0.0,
                                                             load_profile(SRAM))  # fmt: skip
    with pytest.raises(ConfigError, match=r"sets knobs .* but the sweep has no profile"):
        Partitioning.parse(["safe=nominal"]).point(Region.parse("safe=nominal"), 0.01, None)


def test_refusals_leave_nothing_stored():
    p = Partitioning.parse(["safe=nominal"], protect=["w=msb:1@safe"], ecc="secded16")
    mem = PartitionedMemory(p, seed=0)
    with pytest.raises(ConfigError, match="lives in 'main', which has a code"):
        mem.store("w", np.zeros(4, dtype=np.int16))
    assert "w" not in mem and mem.region_counts()["main"].bits_stored == 0
    mem2 = PartitionedMemory(Partitioning.parse(["safe=nominal"], protect=["w=msb:9@safe"]), seed=0)
    with pytest.raises(ConfigError, match="has 8-bit words, fewer than 9 bits"):
        mem2.store("w", np.zeros(4, dtype=np.uint8))


@pytest.mark.jit  # the FCNN's 6.5 Mbit decoded per image: minutes in pure Python
def test_split_counts_add_up_to_the_whole_cell():
    """Regions' reads add over image ranges (Dask parts); bits stored are one memory's."""
    from memsim.experiment.cells import Cell, cell_inputs, count_cell
    from memsim.experiment.spec import SweepSpec

    spec = SweepSpec(models=("fcnn_cel_ber0",), profile=SRAM, knobs={"vdd_over_vmin": [0.8]}, trials=2, limit=60,
                     dataset="fashion-mnist-demo", partitions=("safe=nominal",), assign=("layer0=safe",),
                     ecc="secded64")  # fmt: skip
    cell = Cell("fcnn_cel_ber0", (("vdd_over_vmin", 0.8),), None)
    net, x, y = cell_inputs(spec, cell)
    whole = count_cell(spec, cell, net, x, y)
    parts = count_cell(spec, cell, net, x, y, 0, 25) + count_cell(spec, cell, net, x, y, 25, 60)
    assert parts.regions == whole.regions and parts.correct == whole.correct
    main, safe = whole.regions
    assert main[7] == 2048 * 2048 + 2048 * 10 + (2048 * 2048 + 2048 * 10) // 8 and safe[7] == 784 * 2048
