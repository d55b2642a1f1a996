"""One seed, one result: a read is a function of what it serves, never of how the work was split.

Every random draw of an inference depends on (memory seed, trial seed, layer, image index in the
whole set, read within the image). These tests split the same images into calls at arbitrary
points, change the internal block sizes, the numba thread count and the process, and demand
bit-identical outputs and read counters.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from helpers import awkward_net, images_for
from hypothesis import given, settings
from hypothesis import strategies as st

from memsim import ApproximateMemory, config
from memsim.bnn import BNN

pytestmark = pytest.mark.jit  # hundreds of FCNN inferences: minutes in pure Python

CNN = awkward_net(21, 1, True, 3, 20, 4)
FCNN = BNN.random("fashion-fcnn", seed=3)
IMAGES = {"cnn": images_for(CNN, 24, seed=1), "fcnn": images_for(FCNN, 40, seed=2)}
NETS = {"cnn": CNN, "fcnn": FCNN}

#: (net, granularity, fast, fault model): every path through the engine.
CASES = [
    ("fcnn", "per_sample", True, "transient"),
    ("fcnn", "per_sample", False, "transient"),
    ("fcnn", "per_batch", True, "transient"),
    ("cnn", "per_sample", True, "transient"),
    ("cnn", "per_sample", False, "transient"),
    ("cnn", "per_access", True, "transient"),
    ("cnn", "per_batch", True, "transient"),
    ("cnn", "per_sample", True, "asymmetric"),
    ("cnn", "per_sample", True, "mixed"),
]


def run(net_name, granularity, fast, fault_model, splits=(), seed=5):
    """Output rows and read counters of the images split at ``splits`` into separate calls."""
    net, images = NETS[net_name], IMAGES[net_name]
    mem = ApproximateMemory(fault_model, seed=11)
    net.store_weights(mem)
    if fault_model == "asymmetric":
        mem.set_rates(0.08, 0.03)
    else:
        mem.set_ber(0.05)
    bounds = [0, *sorted(set(splits)), len(images)]
    parts = [
        net.forward(images[a:b], memory=mem, granularity=granularity, fast=fast, seed=seed, batch_size=3, first_index=a)
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    totals = mem.totals
    return np.concatenate(parts), (totals.reads, totals.bits_read, totals.bits_flipped)


@pytest.mark.parametrize(("net", "granularity", "fast", "fault_model"), CASES)
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_any_split_gives_the_single_call_result(net, granularity, fast, fault_model, data):
    n = len(IMAGES[net])
    splits = data.draw(st.lists(st.integers(1, n - 1), max_size=4), label="splits")
    whole, whole_counts = run(net, granularity, fast, fault_model)
    split, split_counts = run(net, granularity, fast, fault_model, splits)
    np.testing.assert_array_equal(split, whole)
    assert split_counts[1:] == whole_counts[1:] or granularity == "per_batch", (split_counts, whole_counts)


def test_flips_do_change_outputs_and_seeds_matter():
    """The invariance tests above would pass on a memory that never flips: show that it does."""
    clean = FCNN.forward(IMAGES["fcnn"])
    one, _ = run("fcnn", "per_sample", True, "transient", seed=5)
    other, _ = run("fcnn", "per_sample", True, "transient", seed=6)
    assert np.any(one != clean) and np.any(one != other)
    print(f"rows changed by flips: {int(np.any(one != clean, axis=1).sum())} of {len(one)}")


def test_the_same_image_at_another_index_is_another_read():
    mem = ApproximateMemory(seed=0)
    FCNN.store_weights(mem)
    mem.set_ber(0.1)
    image = np.repeat(IMAGES["fcnn"][:1], 2, axis=0)
    h = FCNN.forward(image, memory=mem, seed=1)
    assert np.any(h[0] != h[1])
    np.testing.assert_array_equal(FCNN.forward(image[:1], memory=mem, seed=1, first_index=1)[0], h[1])


@pytest.mark.parametrize(("net", "granularity", "fast", "fault_model"), CASES)
def test_internal_block_sizes_change_nothing(monkeypatch, net, granularity, fast, fault_model):
    reference, counts = run(net, granularity, fast, fault_model)
    monkeypatch.setattr(config, "CONV_BLOCK", 5)
    monkeypatch.setattr(config, "DENSE_BLOCK", 7)
    got, got_counts = run(net, granularity, fast, fault_model)
    np.testing.assert_array_equal(got, reference)
    assert got_counts == counts


def test_thread_count_changes_nothing():
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            results.append([run(*case)[0] for case in CASES])
    finally:
        numba.set_num_threads(before)
    for got in results[1:]:
        for a, b in zip(got, results[0], strict=True):
            np.testing.assert_array_equal(a, b)


_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
import numpy as np
from test_keyed_reads import CASES, run
print(json.dumps([run(*case, splits=[7])[0].tolist() for case in CASES]))
"""


@pytest.mark.slow
def test_another_process_gives_the_same_result():
    here = Path(__file__).parent
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=str(here))],
        capture_output=True,
        text=True,
        check=True,
        cwd=here,
        env={**os.environ, "PYTHONPATH": str(here.parents[1]), "NUMBA_NUM_THREADS": "1"},
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    for case, rows in zip(CASES, child, strict=True):
        np.testing.assert_array_equal(np.array(rows), run(*case)[0], err_msg=str(case))


def test_first_layer_counts_kept_between_calls_change_no_result(monkeypatch):
    """A sweep's second point reuses the first layer's clean counts: the outputs equal a network that recomputes."""
    images = IMAGES["fcnn"]
    fresh = BNN.random("fashion-fcnn", seed=3)
    monkeypatch.setattr(config, "FIRST_LAYER_CACHE_MB", 0.0)  # never keeps anything
    mem = ApproximateMemory(seed=5)
    fresh.store_weights(mem)
    expected = {}
    for p in (0.01, 0.2):
        mem.set_ber(p)
        expected[p] = fresh.forward(images, memory=mem, seed=1)
    monkeypatch.setattr(config, "FIRST_LAYER_CACHE_MB", 256.0)
    net = BNN.random("fashion-fcnn", seed=3)
    mem = ApproximateMemory(seed=5)
    net.store_weights(mem)
    for p in (0.01, 0.2, 0.01):  # seen once, then kept and used, then used at another point
        mem.set_ber(p)
        np.testing.assert_array_equal(net.forward(images, memory=mem, seed=1), expected[p])
    kept = [v for v in net._first_memo.values() if v is not None]
    assert len(kept) == 1 and kept[0].shape == (len(images), 2048)
