"""A 36-point BER sweep of the Fashion FCNN on 10,000 test images: the sweep machinery vs the bare engine and torch.

Targets (2 cores): the sweep in at most 12 s; at most 10 % over the bare engine loop; the
timing simulation at most 5 % of a cell. Run with ``pytest -m benchmark tests/benchmarks -s``.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import pytest

import memsim
from memsim.experiment.sweep import SweepSpec, run_sweep
from memsim.memory.timing import LayerWork, MemorySystem, simulate_inference

pytestmark = pytest.mark.benchmark
BERS = tuple(float(f"{b:.12g}") for b in np.linspace(0.0, 0.35, 36))


@pytest.fixture(scope="module")
def data():
    try:
        return memsim.load_dataset("fashion-mnist", "test")
    except memsim.DatasetError as err:
        pytest.skip(str(err))


def test_ber_sweep_vs_bare_engine_and_torch(tmp_path, data):
    images, labels = data
    net = memsim.load_model("fcnn_cel_ber0")
    net.predict(images[:64], memory=None)
    spec = SweepSpec(models=("fcnn_cel_ber0",), bers=BERS, dataset="fashion-mnist")
    started = time.perf_counter()
    rows = run_sweep(spec, tmp_path / "s", progress=False)
    t_sweep = time.perf_counter() - started
    started = time.perf_counter()
    for ber in BERS:  # the bare engine loop: a memory per point, fresh flips per image
        mem = memsim.ApproximateMemory(seed=0)
        net.store_weights(mem)
        mem.set_ber(ber)
        np.mean(net.predict(images, memory=mem, seed=0) == labels)
    t_bare = time.perf_counter() - started
    t_torch = _torch_per_batch_seconds(net, images, BERS[1:3]) * len(BERS) / 2
    print(
        f"\n36-point BER sweep, 10,000 images: memsim sweep {t_sweep:.1f} s, bare engine loop {t_bare:.1f} s "
        f"(machinery {100 * (t_sweep / t_bare - 1):+.1f} %), torch per-batch injection ~{t_torch:.0f} s "
        f"(extrapolated from 2 points) -> {t_torch / t_sweep:.1f}x; threads {numba.get_num_threads()}"
    )
    assert len(rows) == 36
    assert t_sweep <= 12.0, f"the 36-point sweep took {t_sweep:.1f} s (target 12 s)"
    assert t_sweep <= 1.10 * t_bare + 0.5, "the sweep machinery adds at most 10 % (0.5 s slack for start-up)"


def _torch_per_batch_seconds(net, images, bers) -> float:
    torch = pytest.importorskip("torch")
    from memsim.bits import unpack_bits

    weights = [
        torch.from_numpy(np.where(unpack_bits(layer.weights, layer.nbits), 1.0, -1.0).astype(np.float32)).reshape(
            layer.n_out, layer.n_in
        )
        for layer in net.layers
    ]
    thresholds = [torch.from_numpy(layer.threshold.astype(np.float32)) for layer in net.layers[:-1]]
    x = torch.from_numpy(np.where(images.reshape(len(images), -1) > 40, 1.0, -1.0).astype(np.float32))
    gen = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    with torch.no_grad():
        for p in bers:
            for i in range(0, len(x), 256):
                ws = [torch.where(torch.rand(w.shape, generator=gen) < p, -w, w) for w in weights]
                h = x[i : i + 256]
                for w, t in zip(ws[:-1], thresholds, strict=True):
                    h = torch.where(h @ w.T > t, 1.0, -1.0)
                h @ ws[-1].T
    return (time.perf_counter() - started) / len(bers)


def test_timing_simulation_is_a_small_part_of_a_cell():
    work = [LayerWork("layer0", 784 * 2048, 784 * 2048), LayerWork("layer1", 2048 * 2048, 2048 * 2048),
            LayerWork("layer2", 2048 * 10, 2048 * 10)]  # fmt: skip
    system = MemorySystem(banks=8, access_ns=30.0)
    simulate_inference(work, system)
    started = time.perf_counter()
    for _ in range(20):
        simulate_inference(work, system)
    t_sim = (time.perf_counter() - started) / 20
    cell = 0.5  # s: one 10,000-image FCNN cell (the sweep benchmark above measures 0.4-0.6 s)
    print(f"\ntiming simulation of one FCNN inference: {t_sim * 1e3:.2f} ms = {100 * t_sim / cell:.2f} % of a cell")
    assert t_sim <= 0.05 * cell
