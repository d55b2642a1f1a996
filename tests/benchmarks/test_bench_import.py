"""Importing the 0/1 text fault maps of a 14.6 Mbit chip at three voltages (issue 24, item 6).

Baseline (measured in the same run): the previous reader, a Python line parser (``str.split`` per
line, one ``np.array`` of the rows). Target on 2 cores: the whole import (every map read and
checked once, the BER curve and the nesting from one scan, the profile written) at least 3x
faster than the old reader takes to read the maps alone, and a peak of traced memory below
250 MB (it was 635 MB in the report that filed the issue). Run with ``pytest -m benchmark
tests/benchmarks/test_bench_import.py -s``.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from memsim.profile import profile_from_fault_maps

pytestmark = pytest.mark.benchmark

SHAPE = (3820, 3822)  # 14.6 Mbit
VOLTAGES = (0.50, 0.55, 0.60)


def _old_reader(path):
    # The reader this replaces: every row split in Python, one int64 array of all of them.
    rows = [ln.split(",") for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return np.array(rows, dtype=np.int64).astype(bool)


def test_import_of_text_maps_vs_the_line_parser(tmp_path):
    rng = np.random.default_rng(0)
    vfail = rng.normal(0.45, 0.04, SHAPE)
    side = rng.random(SHAPE) < 0.5
    for v in VOLTAGES:
        fail = vfail > v
        for tag, cells in (("sa0", fail & ~side), ("sa1", fail & side)):
            np.savetxt(tmp_path / f"fmap_{tag}_v_{v:.2f}.txt", cells.astype(np.uint8), fmt="%d", delimiter=",")
    files = sorted(tmp_path.glob("*.txt"))
    t0 = time.perf_counter()
    for f in files:
        _old_reader(f)
    t_old = time.perf_counter() - t0
    tracemalloc.start()
    t0 = time.perf_counter()
    p = profile_from_fault_maps([tmp_path], tmp_path / "chip.yaml", technology="sram", reference="bench")
    t_new = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    ratio = t_old / t_new
    print(
        f"\n{len(files)} maps of {SHAPE[0] * SHAPE[1] / 1e6:.1f} Mbit: old line parser reads them in {t_old:.1f} s; "
        f"the import takes {t_new:.1f} s ({ratio:.1f}x faster), peak traced memory {peak:.0f} MB"
    )
    assert p.fault_maps is not None and p.fault_maps.shape == SHAPE
    assert ratio >= 3.0
    assert peak < 250
