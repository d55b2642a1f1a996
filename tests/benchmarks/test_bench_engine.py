"""BNN engine speed on the Fashion FCNN shape (784-2048-2048-10) and the Fashion CNN, against torch.

Ratios are measured in one run. Run with ``pytest -m benchmark tests/benchmarks -s``.
Targets (2 cores): clean >= 8x torch float32 with +-1 weights (batch 10,000); fresh
per-image flips at any BER: 10,000 images in under 1 s.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import pytest
from helpers import interleaved_best, median_seconds
from popcount_limit import popcount_limit_words_per_s, scalar_build

import memsim
from memsim import ApproximateMemory
from memsim.bnn import BNN
from memsim.bnn.architectures import INPUT_THRESHOLD

pytestmark = pytest.mark.benchmark
torch = pytest.importorskip("torch")

N_IMAGES = 10_000
WORDS_PER_IMAGE = 2048 * 13 + 2048 * 32 + 10 * 32  # XOR-popcount words of one FCNN image


@pytest.fixture(scope="module")
def fcnn():
    net = BNN.random("fashion-fcnn", seed=0)
    images = np.random.default_rng(1).integers(0, 256, (N_IMAGES, 28, 28), dtype=np.uint8)
    return net, images


def torch_model(net: BNN):
    from memsim.bits import unpack_bits

    torch.set_num_threads(numba.get_num_threads())
    weights = []
    for layer in net.layers:
        bits = unpack_bits(layer.weights, layer.nbits).reshape(layer.n_out, layer.n_in)
        weights.append(torch.from_numpy(np.where(bits, 1.0, -1.0).astype(np.float32)))
    thresholds = [torch.from_numpy(layer.threshold.astype(np.float32)) for layer in net.layers[:-1]]

    def forward(x, ws=weights):
        with torch.no_grad():
            for w, t in zip(ws[:-1], thresholds, strict=True):
                x = torch.where(x @ w.T > t, 1.0, -1.0)
            return x @ ws[-1].T

    return weights, forward


def torch_inputs(images, threshold=INPUT_THRESHOLD):
    return torch.from_numpy(np.where(images.reshape(len(images), -1) > threshold, 1.0, -1.0).astype(np.float32))


def test_clean_inference_vs_torch(benchmark, fcnn):
    net, images = fcnn
    _, forward = torch_model(net)
    x = torch_inputs(images)
    t_torch = median_seconds(lambda: forward(x), repeat=5, warmup=1)
    t_ours = median_seconds(lambda: net.forward(images), repeat=7)
    benchmark.pedantic(net.forward, args=(images,), rounds=5, warmup_rounds=1)
    limit = popcount_limit_words_per_s()
    achieved = WORDS_PER_IMAGE * N_IMAGES / t_ours
    ratio = t_torch / t_ours
    print(
        f"\nclean FCNN, {N_IMAGES} images: memsim {t_ours:.3f} s, torch float32 {t_torch:.3f} s -> "
        f"{ratio:.1f}x (target 8x); {achieved / 1e9:.2f} G words/s = {achieved / limit:.0%} of this machine's "
        f"XOR-popcount loop limit ({limit / 1e9:.2f} G words/s, {numba.get_num_threads()} threads)"
    )
    assert achieved / limit >= 0.60, f"{achieved / limit:.0%} of the popcount limit"
    assert ratio >= 8.0, f"{ratio:.1f}x is below the 8x target, at {achieved / limit:.0%} of the popcount limit"


def test_vector_popcount_against_the_scalar_loop(fcnn):
    """The popcount numba compiles here against a scalar POPCNT build of the same code, in the same run."""
    net, images = fcnn
    isa = memsim.config.popcount_isa()
    t_vector = median_seconds(lambda: net.forward(images), repeat=5, warmup=1)
    vector = popcount_limit_words_per_s()
    scalar = scalar_build(N_IMAGES)
    print(
        f"\npopcount here: {isa['popcount']} on {isa['target']}; loop limit {vector / 1e9:.2f} G words/s; scalar "
        f"{scalar['popcount']} build on {scalar['target']}: {scalar['limit'] / 1e9:.2f} G words/s -> "
        f"{vector / scalar['limit']:.1f}x. Clean FCNN {t_vector:.3f} s here, {scalar['fcnn_s']:.3f} s scalar -> "
        f"{scalar['fcnn_s'] / t_vector:.1f}x; {WORDS_PER_IMAGE * N_IMAGES / t_vector / scalar['limit']:.0%} of the "
        "scalar loop limit"
    )
    assert scalar["popcount"] == "popcnt"
    if isa["popcount"] == "avx512-vpopcntdq":  # 8 words per instruction must show
        assert vector >= 1.5 * scalar["limit"]
        assert t_vector < scalar["fcnn_s"]


def torch_injection(forward, weights, x, p, per_image, batch=256, rng=None):
    """Fault-injection peer: mask, flip the +-1 weights, float forward (fresh per image or per batch)."""
    gen = torch.Generator().manual_seed(0)
    outs = []
    step = 1 if per_image else batch
    for i in range(0, x.shape[0], step):
        flipped = [torch.where(torch.rand(w.shape, generator=gen) < p, -w, w) for w in weights]
        outs.append(forward(x[i : i + step], flipped))
    return torch.cat(outs)


@pytest.mark.parametrize("p", [0.001, 0.01, 0.1, 0.35])
def test_fresh_per_image_flips(benchmark, fcnn, p):
    net, images = fcnn
    mem = ApproximateMemory(seed=0)
    net.store_weights(mem)
    mem.set_ber(p)
    net.forward(images[:100], memory=mem)  # build the tables for this p (cached per (n, p))

    def ours():
        return net.forward(images, memory=mem)

    t_ours = median_seconds(ours, repeat=3, warmup=0)
    benchmark.pedantic(ours, rounds=3, warmup_rounds=0)
    weights, forward = torch_model(net)
    x = torch_inputs(images)
    few = 100
    start = time.perf_counter()
    torch_injection(forward, weights, x[:few], p, per_image=True)
    t_torch_image = (time.perf_counter() - start) * N_IMAGES / few
    start = time.perf_counter()
    torch_injection(forward, weights, x, p, per_image=False)
    t_torch_batch = time.perf_counter() - start
    print(
        f"\np={p:g}: memsim fresh flips per image {t_ours:.3f} s / {N_IMAGES} images; torch per image "
        f"{t_torch_image:.0f} s (from {few} images) -> {t_torch_image / t_ours:.0f}x; torch per batch of 256 "
        f"{t_torch_batch:.2f} s -> {t_torch_batch / t_ours:.1f}x"
    )
    assert t_ours < 1.0


def test_fashion_cnn_throughput(benchmark):
    net = BNN.random("fashion-cnn", seed=0)
    images = np.random.default_rng(2).integers(0, 256, (2000, 28, 28), dtype=np.uint8)
    mem = ApproximateMemory(seed=0)
    net.store_weights(mem)
    mem.set_ber(0.01)
    net.forward(images, memory=mem)
    best = interleaved_best({"clean": lambda: net.forward(images), "flips": lambda: net.forward(images, memory=mem)}, 9)
    t_clean, t_flip = best["clean"], best["flips"]
    benchmark.pedantic(net.forward, args=(images,), rounds=3, warmup_rounds=0)
    print(
        f"\nFashion CNN: clean {len(images) / t_clean:.0f} images/s; fresh per-image flips at BER 0.01 "
        f"{len(images) / t_flip:.0f} images/s; flips/clean time {t_flip / t_clean:.2f} (target <= 1.5)"
    )
    assert t_flip <= 1.5 * t_clean, f"fresh flips take {t_flip / t_clean:.2f}x the clean time"
