"""Convolutional BNNs against the torch model of the same network (eval mode), and their popcount-limit share.

Targets (2 cores): the Fashion CNN (``cnn_mhl_b128_ber0``, 10,000 test images) and the
CIFAR-10 CNN (random weights) at >= 10x their torch model; the Fashion CNN at >= 50 % of
this machine's XOR-popcount loop limit as numba compiles it here (8 words per ``vpopcntq``
where the CPU has AVX-512 VPOPCNTDQ, else the scalar POPCNT loop), measured in the same
run. The share of the scalar build's limit is printed too, with each layer's time. Words
are counted as the engine needs them: a small-channel 3x3 patch is one word per output
channel and position. The torch model is :func:`memsim.train.import_bnn` of the engine's
network (float ``+-1`` convolutions, batch norm and sign), and the benchmark checks that
both give the same integer outputs. Times are the best of several runs on both sides, as the
loop limit is. Run with ``pytest -m benchmark tests/benchmarks -s``.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import pytest
from helpers import best_seconds
from popcount_limit import popcount_limit_words_per_s, scalar_limit_words_per_s

import memsim
from memsim.bits import n_words
from memsim.bnn import BNN, Conv

pytestmark = pytest.mark.benchmark
torch = pytest.importorskip("torch")

from memsim.train import binarize_input, import_bnn  # noqa: E402


def popcount_words_per_image(net: BNN) -> int:
    """XOR-popcount words the engine needs per image (a small-channel 3x3 patch is one word)."""
    total, (_, h, w) = 0, net.input_shape
    for layer in net.layers:
        if isinstance(layer, Conv):
            ho, wo = h + 2 * layer.padding - 2, w + 2 * layer.padding - 2
            per_tap = 1 if 9 * layer.c_in <= 64 else 9 * n_words(layer.c_in)
            total += ho * wo * layer.c_out * per_tap
            h, w = layer.output_hw(h, w)
        else:
            total += layer.n_out * n_words(layer.n_in)
    return total


def compare(net: BNN, images: np.ndarray, batch: int, target: float, label: str) -> tuple[float, float]:
    """Times of memsim and of the torch model on ``images``; asserts identical outputs on a few."""
    torch.set_num_threads(numba.get_num_threads())
    model = import_bnn(net).eval()
    x = binarize_input(images, model.input_threshold, model.input_shape)
    with torch.no_grad():
        np.testing.assert_array_equal(net.forward(images[:64]), model(x[:64]).numpy().astype(np.int64))

    def run_torch():
        with torch.no_grad():
            for i in range(0, len(x), batch):
                model(x[i : i + batch])

    t_torch = best_seconds(run_torch, repeat=3, warmup=1)
    t_ours = best_seconds(lambda: net.forward(images), repeat=7, warmup=1)
    limit = popcount_limit_words_per_s()
    scalar = scalar_limit_words_per_s()
    achieved = popcount_words_per_image(net) * len(images) / t_ours
    isa = memsim.config.popcount_isa()
    print(
        f"\n{label}, {len(images)} images: memsim {t_ours:.3f} s, torch model {t_torch:.2f} s -> "
        f"{t_torch / t_ours:.1f}x (target {target:g}x); {achieved / 1e9:.2f} G words/s = {achieved / limit:.0%} of "
        f"the XOR-popcount loop limit as compiled here ({isa['popcount']} on {isa['target']}, 16-bit lanes "
        f"{isa['lanes16']}, "
        f"{limit / 1e9:.2f} G words/s), {achieved / scalar:.0%} of the scalar POPCNT loop ({scalar / 1e9:.2f} "
        f"G words/s); {numba.get_num_threads()} threads\n  per layer: {layer_times(net, images)}"
    )
    return t_torch / t_ours, achieved / limit


def layer_times(net: BNN, images: np.ndarray) -> str:
    """Where the time goes: input packing and each layer, summed over the engine's blocks of images."""
    block = memsim.config.CONV_BLOCK
    spent = np.zeros(len(net.layers) + 1)
    for i in range(0, len(images), block):
        start = time.perf_counter()
        act = net.binarize(images[i : i + block])
        spent[0] += time.perf_counter() - start
        net._run_clean(act, spent[1:])
    names = ["pack"] + [f"{type(layer).__name__.lower()}{k}" for k, layer in enumerate(net.layers)]
    return ", ".join(f"{name} {t * 1e3:.0f} ms" for name, t in zip(names, spent, strict=True))


def test_fashion_cnn_vs_its_torch_model():
    try:
        images, _ = memsim.load_dataset("fashion-mnist", "test")
    except memsim.DatasetError as err:
        pytest.skip(str(err))
    net = memsim.load_model("cnn_mhl_b128_ber0")
    ratio, share = compare(net, images, 256, 10.0, "Fashion CNN cnn_mhl_b128_ber0 clean")
    assert ratio >= 10.0, f"{ratio:.1f}x its torch model (target 10x)"
    assert share >= 0.5, f"{share:.0%} of the popcount loop limit (target 50 %)"


def test_cifar10_cnn_vs_its_torch_model():
    net = BNN.random("cifar10-cnn", seed=0)
    images = np.random.default_rng(3).integers(0, 256, (400, 3, 32, 32), dtype=np.uint8)
    ratio, _ = compare(net, images, 100, 10.0, "CIFAR-10 CNN (random weights) clean")
    assert ratio >= 10.0, f"{ratio:.1f}x its torch model (target 10x)"
