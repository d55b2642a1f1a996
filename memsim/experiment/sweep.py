"""Sweeps: models x operating points (a profile's knob grid, or bare BERs) x trials, one row per cell.

The spec is :mod:`memsim.experiment.spec`, a cell's counting and row :mod:`memsim.experiment.cells`;
this module runs the cells and keeps the files. Rows append to ``DIR/sweep.csv`` as cells finish
(``DIR/sweep.json`` holds the config, the seed and the versions); a run with ``resume=True`` skips
the finished cells, drops a truncated last line, and ends with the rows an uninterrupted run
writes. When the last cell is in, ``sweep.csv`` is rewritten in grid order (atomically), whatever
order the workers finished in.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np

from memsim import config
from memsim.errors import ConfigError
from memsim.experiment.cells import (
    COLUMNS,
    PARTITION_COLUMNS,
    REFRESH_COLUMNS,
    Cell,
    CellCounts,
    _cells,
    _profile,
    cell_inputs,
    cell_interval,
    cell_row,
    cells_of,
    check_chips,
    chip_seed,
    count_cell,
    preflight,
    run_cell,
)
from memsim.experiment.results import read_meta, read_results
from memsim.experiment.spec import SweepSpec
from memsim.fileio import write_text_atomic
from memsim.interrupts import ignored_interrupt
from memsim.memory.energy import COMPUTE_PJ_PER_OP
from memsim.profile import Profile

__all__ = [
    "COLUMNS",
    "Cell",
    "CellCounts",
    "SweepSpec",
    "cell_inputs",
    "cell_interval",
    "cell_row",
    "cells_of",
    "check_chips",
    "chip_seed",
    "count_cell",
    "preflight",
    "read_rows",
    "run_cell",
    "run_sweep",
]


def _versions() -> dict[str, str]:
    import numba

    from memsim._version import __version__

    return {
        "memsim": __version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()} {platform.processor() or platform.platform()}",
        "cpus": str(os.cpu_count()),
        "numba_target": "{target}, popcount {popcount}".format(**config.popcount_isa()),
    }


def _header(spec: SweepSpec, profile: Profile | None) -> list[str]:
    knobs = list(spec.knobs) or ([] if profile is None else [next(iter(profile.knobs))])
    extra = () if spec.partitioning.trivial else PARTITION_COLUMNS
    columns = list(COLUMNS)
    if profile is not None and profile.refreshes:  # the refresh part beside the other memory parts
        at = columns.index("leakage_energy_pj_per_inference") + 1
        columns[at:at] = REFRESH_COLUMNS
    return ["model", "profile", *knobs, *columns, *extra]


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv_line(header: Sequence[str], row: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_format(row.get(c)) for c in header])
    return buffer.getvalue()


def read_rows(directory: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The complete rows of ``DIR/sweep.csv``, every line checked (:func:`memsim.experiment.results.read_results`).

    A truncated last line, from a kill during a write, is dropped; anything else damaged
    raises :class:`~memsim.errors.ResultError` naming the file, line and column.
    """
    return read_results(directory)


def _prepare(out: Path, spec: SweepSpec, header: list[str], resume: bool, cells: Sequence[Cell]) -> set[str]:
    """Create or check ``out``; returns the keys of the cells already done.

    On resume the folder is checked whole before anything is appended: its config equals this
    one, its header is this version's, and every row parses and belongs to the grid once.
    """
    meta_path, csv_path = out / "sweep.json", out / "sweep.csv"
    config = spec.to_dict()
    if meta_path.exists() or csv_path.exists():
        if not resume:
            raise ConfigError(f"{out} already holds a sweep; pass --resume to continue it, or choose another --out")
        old = read_meta(out)["config"]
        # An option added since the sweep was written ran at its default then: fill it in, so the sweep resumes.
        defaults = {f.name: f.default for f in fields(SweepSpec) if f.default is not MISSING}
        old = json.loads(json.dumps({**{k: v for k, v in defaults.items() if k not in old}, **old}))  # () is []
        if old.get("compute_pj_per_op") == COMPUTE_PJ_PER_OP and config["compute_pj_per_op"] is None:
            old["compute_pj_per_op"] = None  # written before models chose their own: a BNN's own is that value
        if old != json.loads(json.dumps(config)):
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != json.loads(json.dumps(config)).get(k))
            raise ConfigError(
                f"{out} holds a sweep of another config (differs in: {', '.join(changed)}); "
                "use another --out, or the same options to resume"
            )
        if not csv_path.exists():
            write_text_atomic(csv_path, ",".join(header) + "\n")
        rows = read_results(out, header, {c.key for c in cells})
        text = csv_path.read_bytes()
        # Appending goes after the last row: drop a line cut by a kill (no newline) and blank lines at the end.
        body = text if text.endswith(b"\n") else text[: text.rfind(b"\n") + 1]
        last = len(body.rstrip(b"\r\n"))
        end = last + (2 if body[last : last + 2] == b"\r\n" else 1)
        if end < len(text):
            with csv_path.open("r+b") as f:
                f.truncate(end)
        return {row["cell"] for row in rows}
    out.mkdir(parents=True, exist_ok=True)  # only now, after every check passed
    meta = {"config": config, "seed": spec.seed, "versions": _versions(), "columns": header}
    write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
    write_text_atomic(csv_path, ",".join(header) + "\n")
    return set()


def _init_worker(threads: int, parent: int) -> None:
    import signal

    import numba

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C (a respawned worker too)

    numba.set_num_threads(threads)
    # A pool worker outlives a parent killed by SIGKILL (it waits on its queue forever, and keeps the resource
    # tracker alive): watch the parent and leave with it, as Dask's workers do.
    import threading

    threading.Thread(target=_leave_with, args=(parent,), daemon=True, name="memsim-parent-watch").start()


def _leave_with(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _worker_cell(spec: SweepSpec, cell: Cell) -> dict[str, Any]:
    return run_cell(spec, cell)


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike[str],
    resume: bool = False,
    workers: int = 1,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    client: Any = None,
    images_per_task: int | None = None,
) -> list[dict[str, str]]:
    """Run a sweep into ``out`` (``sweep.csv`` + ``sweep.json``); returns all its rows, in grid order.

    Parameters
    ----------
    spec : SweepSpec
        What to sweep.
    out : path
        Result directory; created if missing. An existing sweep there is an error unless
        ``resume``, and resuming needs the same config.
    resume : bool
        Skip the cells ``sweep.csv`` already holds.
    workers : int
        Worker processes (at most the CPU count); each gets ``cpus // workers`` numba threads,
        so workers x threads never exceed the cores. Rows do not depend on it.
    progress : bool
        A tqdm progress bar with ETA on stderr.
    on_row : callable, optional
        Called with each new row as its cell finishes.
    client : distributed.Client, optional
        Run the cells on this Dask cluster instead (:mod:`memsim.experiment.dist`); the rows
        and files are those of a local run. ``workers`` is then ignored.
    images_per_task : int, optional
        With ``client``: split each cell into tasks of this many test images.

    Raises
    ------
    ConfigError
        For a bad config (unknown model, profile or knob, a value out of range), an
        unwritable ``out``, or a resume of another config; nothing is written then.
    """
    if images_per_task is not None and client is None:
        raise ConfigError("images_per_task splits cells between Dask workers; it needs a client")
    if images_per_task is not None and (
        isinstance(images_per_task, bool) or not isinstance(images_per_task, int) or images_per_task < 1
    ):
        raise ConfigError(f"images_per_task must be a positive number of test images, got {images_per_task!r}")
    cpus = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= cpus:
        raise ConfigError(f"workers must be an integer in [1, {cpus}] (the CPU count), got {workers!r}")
    profile = None if spec.profile is None else _profile(spec.profile)
    cells = _cells(spec, profile)
    check_chips(spec, profile, cells)
    preflight(spec, cells)
    out_path = Path(out)
    if out_path.exists() and not out_path.is_dir():
        raise ConfigError(f"{out_path} exists and is not a directory")
    anchor = next(p for p in (out_path, *out_path.parents) if p.exists())  # the nearest existing folder
    if not anchor.is_dir() or not os.access(anchor, os.W_OK):
        raise ConfigError(f"{out_path}: cannot create results there ({anchor} is not a writable folder)")
    header = _header(spec, profile)
    done = _prepare(out_path, spec, header, resume, cells)
    todo = [c for c in cells if c.key not in done]
    csv_path = out_path / "sweep.csv"

    def write(row: dict[str, Any]) -> None:
        with csv_path.open("a", encoding="utf-8") as f:
            f.write(_csv_line(header, row))
            f.flush()
            os.fsync(f.fileno())
        if on_row is not None:
            on_row(row)

    bar = _progress(len(cells), len(cells) - len(todo), progress)
    try:
        if client is not None:
            from memsim.experiment.dist import run_cells

            run_cells(client, spec, todo, write, lambda: bar.update(1), images_per_task)
        elif workers == 1:
            for cell in todo:
                write(run_cell(spec, cell))
                bar.update(1)
        else:
            threads = max(1, cpus // workers)
            import multiprocessing

            context = multiprocessing.get_context("spawn")  # fork after numba's threads start is unsafe
            pool = ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(threads, os.getpid())
            )
            try:
                # A terminal's Ctrl-C reaches the whole process group: the workers start with SIGINT ignored
                # (inherited through exec; they spawn on the first submit), and this process stops them.
                with ignored_interrupt():
                    futures = [pool.submit(_worker_cell, spec, cell) for cell in todo]
                for future in as_completed(futures):
                    write(future.result())
                    bar.update(1)
            except BaseException:  # Ctrl-C or an error: no cell of this run is worth finishing
                pool.shutdown(wait=False, cancel_futures=True)
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
                raise
            pool.shutdown()
    finally:
        bar.close()
    return _in_grid_order(out_path, header, cells)


def _in_grid_order(out: Path, header: list[str], cells: Sequence[Cell]) -> list[dict[str, str]]:
    """Rewrite a finished ``sweep.csv`` in grid order (atomically) and return its rows in that order.

    Rows append in the order cells finish (workers, Dask, a resume); the finished file, and every
    table made from it, reads in the grid's order whatever that was.
    """
    rows = read_rows(out)
    order = {c.key: i for i, c in enumerate(cells)}
    ranked = sorted(rows, key=lambda r: order[r["cell"]])
    if ranked != rows:
        write_text_atomic(out / "sweep.csv", ",".join(header) + "\n" + "".join(_csv_line(header, r) for r in ranked))
    return ranked


def _progress(total: int, done: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="sweep cells", unit="cell", disable=not enabled, leave=False)
