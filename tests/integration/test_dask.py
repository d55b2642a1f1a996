"""Sweeps on a Dask LocalCluster of 2 worker processes give the rows of a local run, whatever happens to a worker."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from memsim.experiment.sweep import SweepSpec, read_rows, run_sweep  # noqa: E402

pytestmark = pytest.mark.slow  # subprocesses, clusters, whole examples: the full tier

SPEC = SweepSpec(models=("fcnn_cel_ber0", "cnn_cel_ber0"), bers=(0.0, 0.02, 0.1), trials=2,
                 dataset="fashion-mnist-demo", limit=300)  # fmt: skip


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory):
    return run_sweep(SPEC, tmp_path_factory.mktemp("local") / "s", progress=False)


def by_cell(rows):
    return {r["cell"]: r for r in rows}


@pytest.mark.parametrize("images_per_task", [None, 70])
def test_rows_on_two_dask_workers_equal_the_local_run(client, local_rows, tmp_path, images_per_task):
    rows = run_sweep(SPEC, tmp_path / "s", progress=False, client=client, images_per_task=images_per_task)
    assert len(rows) == len(local_rows) == 6
    assert by_cell(rows) == by_cell(local_rows)  # every column, as written
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_worker_killed_mid_sweep_loses_and_duplicates_no_row(client, local_rows, tmp_path):
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def kill_after_first_row(_row):
        if not killed.is_set():
            killed.set()
            os.kill(victim, signal.SIGKILL)  # the nanny restarts it; its tasks are rerun elsewhere

    rows = run_sweep(SPEC, tmp_path / "s", progress=False, client=client, images_per_task=25,
                     on_row=kill_after_first_row)  # fmt: skip
    assert killed.is_set()
    assert sorted(r["cell"] for r in read_rows(tmp_path / "s")) == sorted(by_cell(local_rows))  # each row once
    assert by_cell(rows) == by_cell(local_rows)
    assert victim not in client.run(os.getpid).values()


def test_cli_scheduler_local(tmp_path, local_rows, capsys):
    from memsim.cli.app import main

    out = tmp_path / "cli"
    status = main(["sweep", "--model", "fcnn_cel_ber0", "--model", "cnn_cel_ber0", "--ber", "0,0.02,0.1",
                   "--trials", "2", "--dataset", "fashion-mnist-demo", "--limit", "300", "--out", str(out),
                   "--scheduler", "local:2", "--images-per-task", "100", "--quiet"])  # fmt: skip
    assert status == 0
    assert "2 workers" in capsys.readouterr().out
    assert by_cell(read_rows(out)) == by_cell(local_rows)


def test_scheduler_errors_are_clear(tmp_path):
    from memsim.errors import ConfigError
    from memsim.experiment.dist import connect

    with pytest.raises(ConfigError, match=r"local:N needs N in \[1, "):
        connect("local:zero")
    with pytest.raises(ConfigError, match=r"tcp://HOST:PORT \(or tls://\) or local:N"):
        connect("somewhere")
    with pytest.raises(ConfigError, match="needs a client"):
        run_sweep(SPEC, tmp_path / "x", images_per_task=10)
    assert not (tmp_path / "x").exists()


def test_a_failing_task_stops_the_sweep_and_its_remaining_tasks(client):
    from memsim.experiment.dist import run_cells
    from memsim.experiment.sweep import cells_of

    def fail(*_args):
        raise ZeroDivisionError("a task failed")

    rows = []
    with pytest.raises(ZeroDivisionError, match="a task failed"):
        run_cells(client, SPEC, cells_of(SPEC), rows.append, lambda: None, 50, count=fail)
    assert rows == []
    deadline = time.monotonic() + 10  # cancelling is a message to the scheduler: give it a moment
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values()), "the other tasks were cancelled"
