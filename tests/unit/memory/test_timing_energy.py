"""The timing model (simpy) against its closed forms, and the energy of one inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memsim
from memsim import ConfigError
from memsim.memory.energy import COMPUTE_PJ_PER_OP, inference_energy
from memsim.memory.timing import LayerWork, MemorySystem, analytic_latency, simulate_inference

FCNN_WORK = [LayerWork("layer0", 784 * 2048, 784 * 2048), LayerWork("layer1", 2048 * 2048, 2048 * 2048),
             LayerWork("layer2", 2048 * 10, 2048 * 10)]  # fmt: skip


def test_one_bank_no_overlap_is_the_sum_of_fetch_and_compute():
    system = MemorySystem(banks=1, burst_bits=512, access_ns=10.0, ops_per_ns=1000.0, overlap=False)
    result = simulate_inference(FCNN_WORK, system)
    expected = sum(math.ceil(w.bits / 512) * 10.0 + w.ops / 1000.0 for w in FCNN_WORK)
    print(f"FCNN, one bank, no overlap: {result.latency_ns:.1f} ns (closed form {expected:.1f} ns)")
    assert result.latency_ns == pytest.approx(expected, rel=1e-12)
    assert result.bank_utilisation == pytest.approx(sum(result.fetch_ns) / result.latency_ns)


def test_fetch_bound_overlap_hides_all_compute_but_the_last():
    """Double buffering with compute much faster than fetch: latency = all fetches + the last compute."""
    system = MemorySystem(banks=2, burst_bits=64, access_ns=5.0, ops_per_ns=1e6, overlap=True)
    work = [LayerWork(f"l{i}", bits, 1000) for i, bits in enumerate((6400, 12800, 640))]
    fetch = [math.ceil(math.ceil(w.bits / 64) / 2) * 5.0 for w in work]
    result = simulate_inference(work, system)
    assert result.latency_ns == pytest.approx(sum(fetch) + 1000 / 1e6, rel=1e-12)
    assert result.fetch_ns == pytest.approx(tuple(fetch))


@settings(max_examples=40, deadline=None)
@given(
    banks=st.integers(1, 5),
    burst=st.sampled_from([64, 512, 1000]),
    access=st.floats(0.5, 50),
    rate=st.floats(1, 5000),
    overlap=st.booleans(),
    layers=st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 2_000_000)), min_size=1, max_size=6),
)
def test_simulation_equals_the_recurrence(banks, burst, access, rate, overlap, layers):
    work = [LayerWork(f"l{i}", b, o) for i, (b, o) in enumerate(layers)]
    system = MemorySystem(banks=banks, burst_bits=burst, access_ns=access, ops_per_ns=rate, overlap=overlap)
    assert simulate_inference(work, system).latency_ns == pytest.approx(analytic_latency(work, system), rel=1e-12)


def test_dram_trcd_knob_changes_latency_one_for_one_per_request():
    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    system = MemorySystem(banks=8)
    slow = simulate_inference(FCNN_WORK, system, dram.at(trcd_ns=13.75).read_latency_ns)
    fast = simulate_inference(FCNN_WORK, system, dram.at(trcd_ns=10.0).read_latency_ns)
    requests = max(-(-sum(w.bits for w in FCNN_WORK[:1]) // 512), 1)
    print(
        f"FCNN on 8 DRAM banks: {slow.latency_ns / 1e3:.1f} us at tRCD 13.75 ns, {fast.latency_ns / 1e3:.1f} us at 10 ns"
    )
    assert fast.latency_ns < slow.latency_ns
    assert slow.access_ns - fast.access_ns == pytest.approx(3.75)
    assert requests > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"banks": 0}, "banks must be a positive integer, got 0"),
        ({"burst_bits": -8}, "burst_bits must be a positive integer"),
        ({"access_ns": -1.0}, "access_ns must be a positive number of ns, got -1.0"),
        ({"ops_per_ns": 0}, "ops_per_ns must be a positive number"),
    ],
)
def test_bad_memory_systems(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MemorySystem(**kwargs)


def test_no_access_time_is_a_clear_error():
    with pytest.raises(ConfigError, match="the profile publishes no read latency; give MemorySystem"):
        simulate_inference(FCNN_WORK, MemorySystem())


def test_energy_parts_and_what_is_left_out():
    sram = memsim.load_profile("sram_14nm_chandramoorthy2019")
    bits, ops = 5_820_416, 5_820_416
    nominal = inference_energy(sram.at(), bits, ops, latency_ns=None)
    low = inference_energy(sram.at(vdd_over_vmin=0.875), bits, ops, latency_ns=None)
    assert nominal.read_pj == pytest.approx(bits * 0.31)
    assert nominal.compute_pj == pytest.approx(ops * COMPUTE_PJ_PER_OP)
    assert nominal.leakage_pj is None and "publishes no leakage" in nominal.missing["leakage"]
    assert nominal.left_out == "leakage"
    assert low.saving(nominal, "memory") == pytest.approx(1 - 0.875**2)
    total_saving = low.saving(nominal, "total")
    print(f"SRAM at 0.875 Vmin: memory energy saved {low.saving(nominal):.3f}, of the inference {total_saving:.3f}")
    assert 0 < total_saving < low.saving(nominal, "memory"), "compute does not scale with the memory's voltage"


def test_energy_with_leakage_and_without_a_profile():
    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    e = inference_energy(dram.at(), 1000, 0, latency_ns=2000.0)
    assert e.leakage_pj == pytest.approx(367.2 * 2000.0)  # mW x ns = pJ (a rank of eight x8 devices)
    assert e.refresh_pj == pytest.approx(23.72 * 2000.0)  # the rank's refresh power at 64 ms
    assert e.memory_pj == pytest.approx(e.read_pj + e.leakage_pj + e.refresh_pj) and not e.missing
    bare = inference_energy(None, 1000, 10, latency_ns=None)
    assert bare.memory_pj is None and bare.total_pj is None
    assert bare.missing["read"] == "a bare BER (no profile) publishes no read energy"
    with pytest.raises(ConfigError, match="compute_pj_per_op must be a non-negative number of pJ"):
        inference_energy(None, 1, 1, None, compute_pj_per_op=-1.0)
    with pytest.raises(ConfigError, match="bits_read must be a non-negative number"):
        inference_energy(None, float("nan"), 1, None)


def test_layer_ops_of_the_reference_networks():
    fcnn = memsim.BNN.random("fashion-fcnn", seed=0)
    assert fcnn.layer_ops() == [784 * 2048, 2048 * 2048, 2048 * 10]
    cnn = memsim.BNN.random("fashion-cnn", seed=0)
    assert cnn.layer_ops()[:2] == [28 * 28 * 64 * 9, 14 * 14 * 64 * 9 * 64]
    assert np.all(np.array(cnn.layer_ops()) > 0)


def test_refresh_energy_scales_with_the_interval():
    """Refresh power falls as 64 ms / refresh_ms; the saving shows in the memory and the total energy."""
    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    nominal = inference_energy(dram.at(), 1e6, 1e6, latency_ns=1e5)
    relaxed = inference_energy(dram.at(refresh_ms=1024.0, temperature_c=70.0), 1e6, 1e6, latency_ns=1e5)
    assert relaxed.refresh_pj == pytest.approx(nominal.refresh_pj * 64 / 1024)
    assert relaxed.read_pj == nominal.read_pj and relaxed.leakage_pj == nominal.leakage_pj
    saved = nominal.refresh_pj - relaxed.refresh_pj
    assert relaxed.saving(nominal, "memory") == pytest.approx(saved / nominal.memory_pj)
    assert relaxed.saving(nominal, "total") == pytest.approx(saved / nominal.total_pj)
    # a memory that does not refresh spends nothing on it; a DRAM profile without the entry leaves it out
    sram = memsim.load_profile("sram_14nm_chandramoorthy2019")
    assert inference_energy(sram.at(), 1, 1, latency_ns=10.0).refresh_pj == 0.0
    bare_dram = dram.to_dict()
    del bare_dram["energy"]["refresh_mw"]
    e = inference_energy(memsim.Profile(bare_dram, "x.yaml").at(), 1, 1, latency_ns=10.0)
    assert e.refresh_pj is None and "publishes no refresh power" in e.missing["refresh"]
    assert inference_energy(dram.at(), 1, 1, latency_ns=None).missing["refresh"].startswith("no inference time")
