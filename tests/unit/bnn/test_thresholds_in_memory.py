"""Thresholds stored in the approximate memory: read per image (or batch), every bit of the word can flip."""

from __future__ import annotations

import itertools
import math

import naive
import numpy as np
import pytest
from helpers import awkward_net, images_for
from test_keyed_reads import CASES as KEYED_CASES

from memsim import ApproximateMemory
from memsim.bits import unpack_words
from memsim.bnn import BNN
from memsim.bnn.network import parse_in_memory
from memsim.errors import ConfigError
from memsim.memory.reads import ReadSet

pytestmark = pytest.mark.jit

CNN = awkward_net(21, 1, True, 3, 70, 4)  # 70 hidden neurons: the fused neuron-major fast path too
FCNN = BNN.random("fashion-fcnn", seed=3)
NETS = {"cnn": CNN, "fcnn": FCNN}
IMAGES = {"cnn": images_for(CNN, 20, seed=1), "fcnn": images_for(FCNN, 30, seed=2)}


def memory_for(net, ber, fault_model="transient", dtype="int16", seed=11):
    mem = ApproximateMemory(fault_model, seed=seed)
    net.store_weights(mem)
    net.store_thresholds(mem, dtype=dtype)
    mem.set_ber(ber)
    return mem


@pytest.mark.parametrize("net", ["cnn", "fcnn"])
@pytest.mark.parametrize("in_memory", ["thresholds", "weights,thresholds"])
@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_each_image_sees_its_own_read_of_the_thresholds(net, in_memory, dtype):
    """Explicit path against the naive network fed, image by image, the words its reads return."""
    model, images = NETS[net], IMAGES[net]
    mem = memory_for(model, 0.05, dtype=dtype)
    got = model.forward(images, memory=mem, seed=4, fast=False, in_memory=in_memory)
    expected, changed = [], 0
    for j in range(len(images)):
        reads = ReadSet.images(j, 1, 4)
        weights = None
        if "weights" in in_memory:
            weights = [mem.read_words(name, reads)[0] for name in model.weight_names()]
        thresholds = []
        for i, layer in enumerate(model.layers):
            if layer.threshold is None:
                thresholds.append(None)
                continue
            name = f"layer{i}.threshold"
            words = mem.read_words(name, reads)[0]
            s = unpack_words(words, mem.stored_bits(name), dtype, layer.threshold.shape).astype(np.int64)
            changed += int(np.count_nonzero(s != layer.threshold))
            thresholds.append(s)
        expected.append(naive.bnn_forward(model, images[j : j + 1], weights, thresholds)[0])
    np.testing.assert_array_equal(got, np.array(expected))
    assert changed > 0  # the reads did flip thresholds
    print(f"{net} {in_memory} {dtype}: {changed} thresholds changed over {len(images)} images")


@pytest.mark.parametrize("granularity", ["per_sample", "per_batch", "per_access"])
@pytest.mark.parametrize("net", ["cnn", "fcnn"])
@pytest.mark.parametrize("in_memory", ["weights", "thresholds", "weights,thresholds"])
def test_error_free_memory_gives_the_clean_outputs(net, granularity, in_memory):
    model, images = NETS[net], IMAGES[net]
    mem = memory_for(model, 0.0)
    got = model.forward(images, memory=mem, granularity=granularity, in_memory=in_memory, batch_size=7)
    np.testing.assert_array_equal(got, model.forward(images))


#: Every engine path of the keyed-reads tests (symmetric rates: the memory here is set by BER).
CASES = [case for case in KEYED_CASES if case[3] != "asymmetric"]


@pytest.mark.parametrize(("net", "granularity", "fast", "fault_model"), CASES)
@pytest.mark.parametrize("in_memory", ["thresholds", "weights,thresholds"])
def test_split_calls_give_the_single_call_result(net, granularity, fast, fault_model, in_memory):
    model, images = NETS[net], IMAGES[net]

    def run(splits):
        mem = memory_for(model, 0.03, fault_model)
        bounds = [0, *splits, len(images)]
        out = np.concatenate([
            model.forward(images[a:b], memory=mem, granularity=granularity, fast=fast, seed=2, batch_size=3,
                          first_index=a, in_memory=in_memory)
            for a, b in itertools.pairwise(bounds)
        ])  # fmt: skip
        return out, (mem.totals.bits_read, mem.totals.bits_flipped)

    whole, whole_counts = run([])
    split, split_counts = run([4, 11, 12])
    np.testing.assert_array_equal(split, whole)
    if granularity != "per_batch":  # a batch cut by a split is read by both calls
        assert split_counts == whole_counts
    assert np.any(whole != model.forward(images))


def test_threshold_reads_are_counted_and_flip_at_the_memory_rate():
    """Every image reads every hidden layer's 16-bit thresholds once; flips among them follow Bin(bits, p)."""
    p, n = 0.02, 2000
    images = np.repeat(IMAGES["fcnn"], math.ceil(n / len(IMAGES["fcnn"])), axis=0)[:n]
    mem = memory_for(FCNN, p)
    FCNN.forward(images, memory=mem, in_memory="thresholds", seed=1)
    names = FCNN.threshold_names()
    assert mem.names[-len(names) :] == names
    expected_bits = n * 16 * sum(layer.n_out for layer in FCNN.layers if layer.threshold is not None)
    assert sum(mem.counter_for(t).bits_read for t in names) == expected_bits
    assert mem.totals.bits_read == expected_bits  # weights stay exact: not read from this memory
    flipped = mem.totals.bits_flipped
    sd = math.sqrt(expected_bits * p * (1 - p))
    print(f"threshold bits read {expected_bits}, flipped {flipped}, expected {expected_bits * p:.0f} +- {sd:.0f}")
    assert abs(flipped - expected_bits * p) < 5 * sd


def test_bad_requests_are_clear_errors():
    mem = ApproximateMemory(seed=0)
    FCNN.store_weights(mem)
    images = IMAGES["fcnn"][:2]
    with pytest.raises(ConfigError, match=r"no thresholds named layer0.threshold.*store_thresholds"):
        FCNN.forward(images, memory=mem, in_memory="weights,thresholds")
    for bad in ("bias", "", ["weights", "scales"]):
        with pytest.raises(ConfigError, match="in_memory must name one or both of weights, thresholds"):
            parse_in_memory(bad)
    with pytest.raises(ConfigError, match="threshold dtype must be one of int16, int32, got 'int8'"):
        FCNN.store_thresholds(mem, dtype="int8")
    big = BNN.random("fashion-fcnn", seed=1)
    big.layers[1].threshold = big.layers[1].threshold.copy()
    big.layers[1].threshold[3] = 40_000
    with pytest.raises(ConfigError, match=r"layer 1: threshold 40000 does not fit int16 \(range \[-32768, 32767\]\)"):
        big.store_thresholds(mem)
    assert mem.names == FCNN.weight_names()  # nothing half-stored
    assert parse_in_memory(" thresholds , weights") == {"weights", "thresholds"}
