"""The engine equals the +-1 integer reference (tests/naive.py), clean and on the very weights a memory returned."""

from __future__ import annotations

import naive
import numpy as np
import pytest
from helpers import awkward_net, images_for, rand_bits  # noqa: F401

from memsim import ApproximateMemory, MemsimError
from memsim.bnn import BNN
from memsim.memory import ReadSet


@pytest.mark.parametrize(
    ("pad", "pool", "c_mid", "dense_mid", "n_classes"),
    [(1, True, 3, 1, 1), (0, True, 70, 65, 10), (1, False, 64, 130, 3), (0, False, 1, 63, 2)],
)
def test_awkward_networks_equal_naive(pad, pool, c_mid, dense_mid, n_classes):
    """Channel counts not a multiple of 64, one neuron, odd spatial sizes, valid and same padding."""
    net = awkward_net(c_mid + dense_mid, pad, pool, c_mid, dense_mid, n_classes)
    imgs = images_for(net, 3)
    np.testing.assert_array_equal(net.forward(imgs), naive.bnn_forward(net, imgs))
    np.testing.assert_array_equal(net.forward(imgs[:1]), naive.bnn_forward(net, imgs[:1]))


def test_fashion_fcnn_equals_naive_and_accepts_both_image_layouts():
    net = BNN.random("fashion-fcnn", seed=1)
    imgs = images_for(net, 4)
    ref = naive.bnn_forward(net, imgs)
    np.testing.assert_array_equal(net.forward(imgs), ref)
    np.testing.assert_array_equal(net.forward(imgs[:, 0]), ref)  # (N, 28, 28) as the data set gives it
    np.testing.assert_array_equal(net.predict(imgs), np.argmax(ref, axis=1))


def test_fashion_cnn_equals_naive():
    net = BNN.random("fashion-cnn", seed=2)
    imgs = images_for(net, 2)
    np.testing.assert_array_equal(net.forward(imgs), naive.bnn_forward(net, imgs))


def test_output_h_has_the_parity_and_range_of_n():
    net = BNN.random("fashion-fcnn", seed=3)
    h = net.forward(images_for(net, 16))
    n_in = net.layers[-1].n_in
    assert np.all(np.abs(h) <= n_in) and np.all((h - n_in) % 2 == 0)


def replay_reads(net, mem_seed, read_seed, n_images, granularity, op_ber, imgs):
    """Reproduce the engine's reads with a second memory and run the naive reference on them."""
    mem = ApproximateMemory(seed=mem_seed)
    net.store_weights(mem)
    mem.set_ber(op_ber)
    out = []
    for j in range(n_images):
        reads = ReadSet.images(j, 1, read_seed, granularity)
        streams = [mem.read_words(f"layer{i}", reads)[0] for i in range(len(net.layers))]
        out.append(naive.bnn_forward(net, imgs[j : j + 1], streams)[0])
    return np.array(out)


@pytest.mark.parametrize("arch", ["fashion-fcnn", "custom"])
def test_flipped_reads_equal_naive_on_the_same_weights(arch):
    net = BNN.random("fashion-fcnn", seed=4) if arch == "fashion-fcnn" else awkward_net(9, 1, True, 70, 65, 10)
    imgs = images_for(net, 3, seed=5)
    mem = ApproximateMemory(seed=11)
    net.store_weights(mem)
    mem.set_ber(0.05)
    got = net.forward(imgs, memory=mem, granularity="per_sample", seed=7, fast=False)
    np.testing.assert_array_equal(got, replay_reads(net, 11, 7, 3, "per_sample", 0.05, imgs))
    assert not np.array_equal(got, net.forward(imgs)), "at BER 0.05 some pre-activation changes"
    assert mem.totals.reads == 3 * len(net.layers)
    assert mem.totals.by_granularity == {"per_sample": 3 * len(net.layers)}


def test_per_batch_shares_one_read_and_per_access_reads_per_position():
    net = awkward_net(3, 1, True, 3, 20, 4)
    imgs = images_for(net, 5)
    mem = ApproximateMemory(seed=1)
    net.store_weights(mem)
    mem.set_ber(0.1)
    net.forward(imgs, memory=mem, granularity="per_batch", batch_size=2, seed=0)
    assert mem.totals.reads == 3 * len(net.layers)  # batches of 2, 2, 1
    mem.reset_counters()
    net.forward(imgs[:1], memory=mem, granularity="per_access", seed=0)
    positions = 9 * 11 + 2 * 3  # conv1 (same padding) before pooling; conv2 (valid) on the pooled 4x5
    assert mem.totals.reads == positions + 2
    mem.set_ber(0.0)
    np.testing.assert_array_equal(net.forward(imgs, memory=mem, granularity="per_access"), net.forward(imgs))


def test_zero_ber_memory_equals_clean():
    net = BNN.random("fashion-cnn", seed=6)
    imgs = images_for(net, 3)
    mem = ApproximateMemory(seed=0)
    net.store_weights(mem)
    for granularity in ("per_sample", "per_batch"):
        np.testing.assert_array_equal(net.forward(imgs, memory=mem, granularity=granularity), net.forward(imgs))


def test_same_seed_same_result():
    net = BNN.random("fashion-fcnn", seed=7)
    imgs = images_for(net, 4)
    results = []
    for _ in range(2):
        mem = ApproximateMemory(seed=3)
        net.store_weights(mem)
        mem.set_ber(0.1)
        results.append(net.forward(imgs, memory=mem, seed=9))
    np.testing.assert_array_equal(*results)


def test_bad_forward_input():
    net = BNN.random("fashion-fcnn", seed=0)
    with pytest.raises(MemsimError, match=r"images must be uint8 pixels"):
        net.forward(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(
        MemsimError,
        match=r"images of shape \(2, 32, 32\) do not fit fashion-fcnn \(\(N, 28, 28\) or \(N, 1, 28, 28\)\)",
    ):
        net.forward(np.zeros((2, 32, 32), np.uint8))
    mem = ApproximateMemory()
    with pytest.raises(
        MemsimError,
        match=r"the memory holds no weights named layer0, layer1, layer2; call net.store_weights\(memory\) first",
    ):
        net.forward(np.zeros((1, 28, 28), np.uint8), memory=mem)
    net.store_weights(mem)
    with pytest.raises(MemsimError, match=r"unknown read granularity 'per_image'"):
        net.forward(np.zeros((1, 28, 28), np.uint8), memory=mem, granularity="per_image")
    with pytest.raises(Exception, match=r"unknown architecture 'fashion_fcnn' \(did you mean 'fashion-fcnn'\?\)"):
        BNN.random("fashion_fcnn")


@pytest.mark.parametrize("fault_model", ["asymmetric", "persistent", "mixed"])
def test_other_fault_models_run_through_the_explicit_path(fault_model):
    """With fast=False non-transient memories read explicit flips (the reference the law path is tested against,
    tests/statistical/test_fastpath.py); persistent faults give the same outputs in every trial."""
    net = awkward_net(5, 1, True, 3, 20, 4)
    imgs = images_for(net, 4)
    mem = ApproximateMemory(fault_model, seed=2)
    net.store_weights(mem)
    mem.set_rates(0.05, 0.02) if fault_model == "asymmetric" else mem.set_ber(0.05)
    first = net.forward(imgs, memory=mem, seed=0, fast=False)
    second = net.forward(imgs, memory=mem, seed=1, fast=False)
    assert mem.totals.bits_flipped > 0 and mem.totals.reads == 2 * 4 * len(net.layers)
    if fault_model == "persistent":
        np.testing.assert_array_equal(first, second)
    else:
        assert not np.array_equal(first, second), "another trial, other flips"
    # each image against the naive network on the words of its own reads (blocks of reads, identical or not)
    streams = [[mem.read_words(f"layer{i}", ReadSet.images(j, 1, 1))[0] for i in range(len(net.layers))]
               for j in range(len(imgs))]  # fmt: skip
    expected = [naive.bnn_forward(net, imgs[j : j + 1], streams[j])[0] for j in range(len(imgs))]
    np.testing.assert_array_equal(second, np.array(expected))


def test_forward_on_no_images_is_empty():
    """Zero images are a valid (empty) batch for every path, not a reshape error."""
    for arch in ("fashion-fcnn", "fashion-cnn"):
        net = BNN.random(arch, seed=0)
        mem = ApproximateMemory(seed=0)
        net.store_weights(mem)
        mem.set_ber(0.1)
        none = np.zeros((0, 28, 28), np.uint8)
        assert net.forward(none).shape == (0, 10)
        for granularity in ("per_sample", "per_batch", "per_access"):
            assert net.forward(none, memory=mem, granularity=granularity).shape == (0, 10)
