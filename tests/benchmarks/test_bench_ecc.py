"""What protection costs to simulate (issue 27).

* SECDED decoding per read: a BNN's reads through a (72,64) code, decoded per codeword, cost at most 3x
  the unprotected explicit path (every read's flipped words materialised, ``fast=False``), measured in
  the same run on the Fashion FCNN (784-2048-2048-10), 2,000 images, fresh flips per image, BER 1e-3 and
  1e-2;
* ``memsim optimize`` on the Fashion FCNN with 4 regions (its three layers and its thresholds) on the
  14 nm SRAM, the default settings (2,000 images, 2 trials per search step, 6 per confirmation),
  finishes in under 5 minutes on 2 cores.

Run with ``pytest -m benchmark tests/benchmarks/test_bench_ecc.py -s``.
"""

from __future__ import annotations

import os
import time

import pytest
from helpers import data_root

import memsim
from memsim.datasets import load_dataset
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.partition import PartitionedMemory, Partitioning

pytestmark = pytest.mark.benchmark


def _best(fn, repeat: int = 3) -> float:
    fn()  # compile and warm the caches
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


@pytest.mark.parametrize("ber", [1e-3, 1e-2])
def test_secded_reads_cost_at_most_3x_the_unprotected_explicit_path(ber, monkeypatch):
    monkeypatch.setenv("MEMSIM_DATA", os.environ.get("MEMSIM_DATA", str(data_root())))
    net = memsim.load_network("fcnn_mhl_b128_ber5")
    x, _ = load_dataset("fashion-mnist", "test")
    x = x[:2000]
    plain = ApproximateMemory("transient", seed=1)
    coded = PartitionedMemory(Partitioning.parse(ecc="secded64"), "transient", seed=1)
    for mem in (plain, coded):
        mem.set_ber(ber)
        net.store_weights(mem)
    t_plain = _best(lambda: net.predict(x, memory=plain, seed=2, fast=False))
    t_fast = _best(lambda: net.predict(x, memory=plain, seed=2))
    t_coded = _best(lambda: net.predict(x, memory=coded, seed=2))
    ratio = t_coded / t_plain
    print(f"\nBER {ber:g}, 2,000 images: unprotected fast path {t_fast:.2f} s, unprotected explicit {t_plain:.2f} s, "
          f"SECDED (72,64) decoded {t_coded:.2f} s: {ratio:.2f}x the explicit path (target <= 3x), "
          f"{t_coded / t_fast:.1f}x the fast path")  # fmt: skip
    assert ratio <= 3.0


def test_optimize_the_fcnn_with_4_regions_in_under_5_minutes(monkeypatch):
    from memsim.experiment.optimize import optimize

    monkeypatch.setenv("MEMSIM_DATA", os.environ.get("MEMSIM_DATA", str(data_root())))
    start = time.perf_counter()
    result = optimize("fcnn_mhl_b128_ber5", "sram_14nm_chandramoorthy2019", in_memory="weights,thresholds")
    seconds = time.perf_counter() - start
    print("\n" + result.to_text())
    print(f"optimize: {seconds:.0f} s for {len(result.steps)} evaluations (target < 300 s)")
    assert len(result.regions) == 4 and result.best.acceptable
    assert seconds < 300
