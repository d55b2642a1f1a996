"""ApproximateMemory's API: storing, reading, counters, and clear errors on bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import memsim
from memsim import ApproximateMemory, MemsimError, UnknownNameError
from memsim.bits import pack_bits


def test_store_and_read_shapes_and_dtypes():
    mem = ApproximateMemory(seed=0)
    mem.store("bits", np.ones((3, 5), bool))
    mem.store("q8", np.arange(-4, 4, dtype=np.int8).reshape(2, 4))
    mem.store("q32", np.array([1, -2, 3], dtype=np.int32))
    mem.store("packed", pack_bits(np.array([1, 0, 1], bool)))
    assert mem.names == ["bits", "q8", "q32", "packed"] and "q8" in mem
    for name in mem.names:
        out, ref = mem.read(name), mem.stored(name)
        assert out.shape == ref.shape and out.dtype == ref.dtype
    assert mem.info("q32")["nbits"] == 96
    assert mem.read_packed("bits").shape == (3, 5)


def test_counters_count_reads_bits_flips_and_energy():
    sram = memsim.load_profile("sram_14nm_chandramoorthy2019")
    op = sram.at(vdd_over_vmin=0.875)
    data = np.zeros(10_000, bool)
    mem = ApproximateMemory(seed=1)
    mem.store("w", data)
    mem.set_operating_point(op)
    flipped = sum(int(np.count_nonzero(mem.read("w", granularity="per_sample"))) for _ in range(3))
    c = mem.totals
    assert (c.reads, c.bits_read, c.bits_flipped, c.writes) == (3, 30_000, flipped, 1)
    assert c.read_energy_pj == pytest.approx(30_000 * op.read_energy_pj_per_bit)
    assert c.by_granularity == {"per_sample": 3}
    assert mem.counter_for("w").reads == 3
    mem.set_ber(0.01)
    mem.read("w")
    assert mem.totals.read_energy_pj is None, "energy unknown once a read has no energy figure"
    mem.reset_counters()
    assert mem.totals.reads == 0 and mem.counter_for("w").reads == 0


def test_operating_point_is_cheap_to_change_between_reads():
    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    mem = ApproximateMemory(seed=2, profile=dram)
    mem.store("w", np.zeros(1 << 16, bool))
    for v in (1.35, 1.025, 1.35):
        mem.set_operating_point(dram.at(vdd_v=v))
        flips = int(np.count_nonzero(mem.read("w")))
        assert (flips == 0) == (v == 1.35)
    assert mem.ber == pytest.approx(dram.at().ber)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "0.1", True])
def test_bad_ber(bad):
    mem = ApproximateMemory()
    with pytest.raises(MemsimError, match=r"ber must be"):
        mem.set_ber(bad)
    with pytest.raises(MemsimError, match=r"p01 must be"):
        mem.set_rates(bad, 0.1)
    with pytest.raises(MemsimError, match=r"p10 must be"):
        mem.set_rates(0.1, bad)


def test_one_setter_per_kind_of_rate():
    mem = ApproximateMemory()
    mem.set_ber(0.1)
    assert (mem.p01, mem.p10, mem.ber) == (0.1, 0.1, 0.1)
    mem.set_rates(0.1, 0.3)
    assert (mem.p01, mem.p10) == (0.1, 0.3) and mem.ber == pytest.approx(0.2)
    assert mem.operating_point is None


def test_bad_rates_are_value_errors():
    """Every bad-input error is a MemsimError and the fitting builtin."""
    mem = ApproximateMemory()
    with pytest.raises(ValueError, match="ber must be"):
        mem.set_ber(1.5)
    with pytest.raises(LookupError, match="no array named 'x'"):
        mem.read("x")


def test_unknown_name_lists_stored_names():
    mem = ApproximateMemory()
    mem.store("layer1", np.ones(3, bool))
    mem.store("layer2", np.ones(3, bool))
    with pytest.raises(
        UnknownNameError,
        match=r"no array named 'layr1' in this memory \(did you mean 'layer1'\?\); stored: layer1, layer2",
    ):
        mem.read("layr1")


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint16, object])
def test_unsupported_dtype(dtype):
    with pytest.raises(
        MemsimError, match=r"cannot store array 'w' of dtype .*; supported: bool .* uint8, int8, int16, int32"
    ):
        ApproximateMemory().store("w", np.zeros(4, dtype=dtype))


def test_per_cell_map_shape_must_match_unless_tiled():
    p01, p10 = np.zeros((8, 8)), np.ones((8, 8))
    mem = ApproximateMemory(memsim.PersistentFaults((p01, p10)))
    with pytest.raises(
        MemsimError,
        match=r"the per-cell fault map has 64 cells \(shape \(64,\)\) but array 'w' needs cells 0\.\.99 .*tile=True",
    ):
        mem.store("w", np.ones(100, bool))
    mem.store("a", np.ones(40, bool))  # cells 0..39
    with pytest.raises(MemsimError, match=r"array 'b' needs cells 40\.\.79"):
        mem.store("b", np.ones(40, bool))  # the next array starts where the last ended
    tiled = ApproximateMemory(memsim.PersistentFaults((p01, p10), tile=True))
    tiled.store("w", np.ones(100, bool))
    tiled.set_ber(0.0)
    assert not tiled.read("w").any(), "every stored 1 sits on a cell with p10 = 1"


def test_operating_point_with_knobs_the_memory_does_not_know(tmp_path):
    maps = tmp_path / "m"
    maps.mkdir()
    for v in (0.5, 0.6):
        np.savez(maps / f"c_v{v:.2f}.npz", p01=np.zeros(16), p10=np.full(16, 0.5 if v < 0.55 else 0.0))
    chip = memsim.profile_from_fault_maps([maps], tmp_path / "chip.yaml", technology="sram", reference="x")
    mem = ApproximateMemory(memsim.PersistentFaults(chip.fault_maps), seed=0)
    mem.store("w", np.ones(16, bool))
    stt = memsim.load_profile("stt_mram_pmtj_delta60_nvsim")
    mem.set_operating_point(stt.at())
    with pytest.raises(
        MemsimError,
        match=r"operating point of profile 'stt_mram_pmtj_delta60_nvsim' has knobs read_i_over_ic0, write_i_over_ic0; this memory's fault map is indexed by 'vdd_v'",
    ):
        mem.read("w")
    mem.set_ber(0.1)
    with pytest.raises(MemsimError, match=r"indexed by 'vdd_v': set an operating point"):
        mem.read("w")
    with pytest.raises(
        memsim.OutOfRangeError, match=r"0\.55 V has no measured fault map; the chip is known at 0\.5, 0\.6"
    ):
        chip.at(vdd_v=0.55)  # the profile refuses it first; an operating point made by hand, the memory
    mem.set_operating_point(dataclasses.replace(chip.at(vdd_v=0.5), knobs={"vdd_v": 0.55}))
    with pytest.raises(memsim.ProfileError, match=r"no map at vdd_v=0\.55; maps exist at: 0\.5, 0\.6"):
        mem.read("w")
    bound = ApproximateMemory(seed=0, profile=chip)
    with pytest.raises(
        MemsimError,
        match=r"this memory models profile 'chip' \(knobs vdd_v\); got an operating point of profile 'stt_mram",
    ):
        bound.set_operating_point(stt.at())


def test_fault_model_names_and_options():
    assert set(memsim.available_fault_models()) >= {"transient", "asymmetric", "persistent", "mixed"}
    with pytest.raises(UnknownNameError, match=r"unknown fault model 'transent' \(did you mean 'transient'\?\)"):
        ApproximateMemory("transent")
    with pytest.raises(MemsimError, match=r"persistent_fraction must be in \[0, 1\]"):
        ApproximateMemory("mixed", persistent_fraction=2.0)
    with pytest.raises(MemsimError, match="does not take these options"):
        ApproximateMemory("transient", persistent_fraction=0.2)


def test_transient_refuses_asymmetric_rates_and_persistent_refuses_impossible_rates():
    mem = ApproximateMemory("transient")
    mem.store("w", np.ones(64, bool))
    mem.set_rates(0.1, 0.2)
    with pytest.raises(MemsimError, match="the transient fault model is symmetric"):
        mem.read("w")
    pers = ApproximateMemory("persistent")
    pers.store("w", np.ones(64, bool))
    pers.set_rates(0.8, 0.5)
    with pytest.raises(MemsimError, match=r"cannot give p01 \+ p10 > 1"):
        pers.read("w")


def test_bad_granularity():
    mem = ApproximateMemory()
    mem.store("w", np.ones(8, bool))
    with pytest.raises(
        MemsimError, match=r"unknown read granularity 'per_image'.*valid: per_batch, per_sample, per_access"
    ):
        mem.read("w", granularity="per_image")
    assert [g.value for g in memsim.ReadGranularity] == ["per_batch", "per_sample", "per_access"]


def test_stored_words_are_read_only():
    mem = ApproximateMemory()
    mem.store("w", np.ones(8, bool))
    with pytest.raises(ValueError):
        mem._get("w").words[0] = 0
