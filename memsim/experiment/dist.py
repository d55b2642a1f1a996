"""Sweeps on a Dask cluster (``pip install memsim[dist]``): the same cells, rows and files as a local run.

A sweep's unit of work is a cell (model x operating point, all its trials), or a part of a
cell over a range of test images: every read is keyed by the image's index in the whole set
(:mod:`memsim.rng`), so the parts' counts add up exactly to the whole cell's, and a row does not
depend on how the cell was split, on which worker ran which part, or on the order parts finish.

The driver scatters the read-only inputs (each model once, each data set once) to every worker,
submits one task per part, and writes a cell's row to ``sweep.csv`` as soon as its last part
completes (:func:`distributed.as_completed`), so ``--resume``, reports and plots work unchanged.
A part whose worker dies is rerun elsewhere by the scheduler; a row is written once, when its
cell's counts are complete. Nothing of Dask is imported unless a cluster is asked for.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

from memsim.errors import ConfigError
from memsim.experiment.cells import CellCounts, cell_inputs, cell_row, count_cell
from memsim.interrupts import ignored_interrupt

__all__ = ["connect", "disconnect", "run_cells"]


#: Address schemes a scheduler may have (what a Dask cluster listens on over a network).
SCHEMES = ("tcp", "tls")
#: How long to try a scheduler before giving up, in s (Dask retries a refused connection until its timeout).
CONNECT_SECONDS = 5


def connect(scheduler: str) -> tuple[Any, Any]:
    """A Dask client for ``scheduler``: ``tcp://HOST:PORT`` (an existing cluster) or ``local:N``.

    ``local:N`` starts a ``LocalCluster`` of N worker processes with one thread each.

    Returns
    -------
    (client, cluster)
        ``cluster`` is the started ``LocalCluster`` (close it after the client), or None.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'memsim[dist]'") from None
    if scheduler.startswith("local:"):
        count = scheduler.split(":", 1)[1]
        cpus = os.cpu_count() or 1
        if not count.isdigit() or not 1 <= int(count) <= cpus:
            raise ConfigError(
                f"--scheduler local:N needs N in [1, {cpus}] (the CPU count, as --workers), got {scheduler!r}"
            )
        # A terminal's Ctrl-C reaches the whole process group: the driver alone should handle it (cancel the
        # tasks, close the cluster). So the workers start with SIGINT ignored, inherited through exec (an
        # interrupt while one imports Dask kills its start with a hundred lines); a restarted one ignores
        # it from its preload (dask_setup). The cost: a Ctrl-C during the cluster's start (about 1.5 s)
        # is not seen, as the disposition is process-wide. Worker logs below ERROR are dropped.
        with ignored_interrupt():
            cluster = LocalCluster(
                n_workers=int(count),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                preload=[__name__],
            )
        return Client(cluster), cluster
    scheme = scheduler.split("://", 1)[0] if "://" in scheduler else None
    if scheme not in SCHEMES:
        raise ConfigError(f"--scheduler takes tcp://HOST:PORT (or tls://) or local:N, got {scheduler!r}")
    try:
        return Client(scheduler, timeout=f"{CONNECT_SECONDS}s"), None
    except (OSError, ValueError) as err:  # refused, timed out, or an address Dask cannot parse
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_SECONDS} s: {str(err).splitlines()[0]}"
        ) from None


def dask_setup(worker: Any) -> None:
    """Dask preload hook, run in each worker of a ``local:N`` cluster as it starts: ignore SIGINT.

    A worker runs in its process's main thread (asyncio), so it can set the handler; its nanny stops
    it when the driver closes the cluster, and it exits with the driver if that dies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def disconnect(client: Any, cluster: Any) -> None:
    """Close ``client`` and the ``LocalCluster`` that :func:`connect` started (if any), quietly.

    Closing a cluster whose tasks were just cancelled (Ctrl-C) makes its scheduler log lost data
    and tracebacks from this process: none of it concerns the sweep's rows, which are on disk.
    """
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        logger.setLevel(level)


def _numba_threads(client: Any) -> dict[str, int]:
    """Numba threads per worker: the host's cores shared among the task threads of all its workers."""
    info = client.scheduler_info()["workers"]
    cores = client.run(os.cpu_count)
    per_host: dict[str, int] = {}
    for w in info.values():
        per_host[w["host"]] = per_host.get(w["host"], 0) + int(w["nthreads"])
    return {addr: max(1, int(cores.get(addr) or 1) // per_host[w["host"]]) for addr, w in info.items()}


def _part(
    count: Callable[..., Any],
    spec: Any,
    cell: Any,
    net: Any,
    images: Any,
    labels: Any,
    start: int,
    stop: int,
    threads: dict[str, int],
) -> tuple[str, int, Any]:
    # Runs on a worker: the cell's trials on images start:stop, with this worker's share of the cores.
    import numba
    from distributed import get_worker

    numba.set_num_threads(min(numba.config.NUMBA_NUM_THREADS, threads.get(get_worker().address, 1)))  # type: ignore[attr-defined]
    return cell.key, start, count(spec, cell, net, images, labels, start, stop)


def run_cells(
    client: Any,
    spec: Any,
    cells: Sequence[Any],
    write: Callable[[dict[str, Any]], None],
    advance: Callable[[], None],
    images_per_task: int | None,
    count: Callable[..., Any] = count_cell,
) -> None:
    """Run ``cells`` on the cluster of ``client``; ``write`` each cell's row when its last part is in.

    Parameters
    ----------
    client : distributed.Client
        A connected client.
    spec : SweepSpec
        The sweep.
    cells : sequence of Cell
        The cells still to run.
    write, advance : callable
        Called with each finished row, and once per finished cell (progress).
    images_per_task : int or None
        Split each cell into parts of this many test images (None: one task per cell).
    count : callable
        What a task runs on its images (:func:`~memsim.experiment.cells.count_cell`; tests
        give one that fails).
    """
    from distributed import as_completed

    if images_per_task is not None and (
        isinstance(images_per_task, bool) or not isinstance(images_per_task, int) or images_per_task < 1
    ):
        raise ConfigError(f"images_per_task must be a positive integer, got {images_per_task!r}")
    threads = _numba_threads(client)
    scattered: dict[tuple[str, str], Any] = {}
    futures = []
    parts_left: dict[str, int] = {}
    by_key = {c.key: c for c in cells}
    for cell in cells:
        net, images, labels = cell_inputs(spec, cell)
        # read-only inputs travel once per worker, not once per task
        if ("model", cell.model) not in scattered:
            scattered["model", cell.model] = client.scatter(net, broadcast=True, hash=False)
        data_key = ("data", str(id(images)))
        if data_key not in scattered:
            scattered[data_key] = (
                client.scatter(images, broadcast=True, hash=False),
                client.scatter(labels, broadcast=True, hash=False),
            )
        images_f, labels_f = scattered[data_key]
        n = len(labels)
        size = n if images_per_task is None else images_per_task
        starts = list(range(0, n, size)) or [0]
        parts_left[cell.key] = len(starts)
        for start in starts:
            model_f = scattered["model", cell.model]
            futures.append(
                client.submit(
                    _part,
                    count,
                    spec,
                    cell,
                    model_f,
                    images_f,
                    labels_f,
                    start,
                    min(n, start + size),
                    threads,
                    pure=False,
                )
            )
    finished: dict[str, dict[int, Any]] = {}
    try:
        for future in as_completed(futures):
            key, start, counts = future.result()
            mine = finished.setdefault(key, {})
            mine[start] = counts  # keyed by range: a part is counted once
            if len(mine) == parts_left[key]:
                total = CellCounts()
                for s in sorted(mine):
                    total = total + mine[s]
                del finished[key]
                write(cell_row(spec, by_key[key], total))
                advance()
    except BaseException:  # an error in a task, or Ctrl-C: stop the cluster's remaining work too
        client.cancel(futures)
        raise
