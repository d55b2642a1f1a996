"""The same sweep locally (1 process, a pool of 2) and on Dask LocalClusters of 1 and 2 workers, as ratios.

Target (2 cores): Dask with 2 workers takes at most 1.25x the local pool of 2 (scatter, scheduling and
result traffic cost little next to a cell), and every run writes the same rows.
Run with ``pytest -m benchmark tests/benchmarks/test_bench_dask.py -s``.
"""

from __future__ import annotations

import time

import pytest

import memsim
from memsim.experiment.sweep import SweepSpec, run_sweep

pytestmark = pytest.mark.benchmark
distributed = pytest.importorskip("distributed")


def test_sweep_on_dask_workers_vs_the_local_pool(tmp_path):
    try:
        memsim.load_dataset("fashion-mnist", "test")
    except memsim.DatasetError as err:
        pytest.skip(str(err))
    spec = SweepSpec(models=("fcnn_cel_ber0", "cnn_cel_ber0"), bers=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2), trials=2,
                     dataset="fashion-mnist")  # fmt: skip
    run_sweep(SweepSpec(models=spec.models, bers=(0.01,), dataset="fashion-mnist", limit=64), tmp_path / "warm",
              progress=False)  # fmt: skip
    times, rows = {}, {}

    def timed(label, **options):
        start = time.perf_counter()
        out = run_sweep(spec, tmp_path / f"{label}-{time.perf_counter_ns()}", progress=False, **options)  # a fresh dir
        times[label] = min(times.get(label, float("inf")), time.perf_counter() - start)
        rows[label] = {r["cell"]: r for r in out}

    timed("local, 1 process")
    clusters = {n: distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
                for n in (1, 2)}  # fmt: skip
    clients = {n: distributed.Client(cluster) for n, cluster in clusters.items()}
    try:
        for client in clients.values():
            client.run(lambda: __import__("memsim").load_model("cnn_cel_ber0").forward(
                __import__("numpy").zeros((4, 28, 28), "uint8")))  # compile or load the kernels first  # fmt: skip
        timed("Dask, 1 worker", client=clients[1])
        for _ in range(2):  # the compared pair interleaved, best of each: this host has slow spells
            timed("local pool, 2 processes", workers=2)
            timed("Dask, 2 workers", client=clients[2])
    finally:
        for n in clients:
            clients[n].close()
            clusters[n].close()
    base = times["local pool, 2 processes"]
    cells = len(rows["local, 1 process"])
    print(f"\n{cells} cells (2 models x 6 BERs, 2 trials, 10,000 images):")
    for label, t in times.items():
        print(f"  {label:24s} {t:6.1f} s  {t / base:5.2f}x the local pool  {t / cells:.2f} s per cell")
    assert all(r == rows["local, 1 process"] for r in rows.values()), "every run writes the same rows"
    assert times["Dask, 2 workers"] <= 1.25 * base
