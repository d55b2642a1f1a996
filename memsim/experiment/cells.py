"""One cell of a sweep: a model at one operating point, its trials, counts and row.

A cell is one model at one operating point. Trial ``t`` of every cell runs on chip ``t``: its
stuck cells (drawn persistent faults, the stuck part of mixed faults) come from (sweep seed,
t) alone, so they are the same at every operating point of the sweep (nested: a cell that
fails at one voltage fails at every lower one) and for every model (a chip's cells map to a
model's arrays by address: layer 0 on the first cells, the next array after it). The
trial's transient reads are keyed by the cell. The row holds the accuracy over all trials
and images, each trial's accuracy (``trial_accuracies``) and chip seed (``chip_seeds``), and a
95 % interval over the independent units of randomness, named in ``ci_method``
(:mod:`memsim.experiment.stats`): images where flips are fresh per image read, chips where
stuck cells are shared by a chip's images, batches for one flip pattern per batch. It also
holds the energy of one inference by part (:mod:`memsim.memory.energy`), its latency
(:mod:`memsim.memory.timing`) and the savings against the profile's nominal point.

Seeds are keyed by name: the reads of trial ``t`` of a cell use a seed derived from (sweep
seed, model, profile, knob values, t), its chip a seed from (sweep seed, t), so adding a grid
point or a model changes no other row, and a cell's row does not depend on which worker ran
it or when. A cell may be counted in parts over disjoint image ranges (Dask): the parts'
:class:`CellCounts` add up to the whole cell's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from memsim.bnn import BNN
from memsim.datasets import load_dataset
from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.experiment.conditions import resolve_fault_model
from memsim.experiment.evaluate import evaluate
from memsim.experiment.networks import load_network
from memsim.experiment.spec import SweepSpec
from memsim.experiment.stats import Interval, cluster_interval, image_interval
from memsim.memory.energy import EnergyBreakdown, inference_energy
from memsim.memory.faults import FaultModel
from memsim.memory.granularity import parse_granularity
from memsim.memory.partition import REGION_FIELDS, partition_energy
from memsim.memory.timing import LayerWork, MemorySystem, TimingResult, simulate_inference
from memsim.profile import Profile, load_profile
from memsim.profile.operating_point import OperatingPoint
from memsim.rng import child_key, seed_key

__all__ = [
    "COLUMNS",
    "PARTITION_COLUMNS",
    "Cell",
    "CellCounts",
    "cell_inputs",
    "cell_interval",
    "cell_row",
    "cells_of",
    "check_chips",
    "chip_seed",
    "count_cell",
    "preflight",
    "run_cell",
]

#: Columns of ``sweep.csv`` after the knob columns (which come right after ``profile``).
COLUMNS = (
    "ber",
    "p01",
    "p10",
    "fault_model",
    "granularity",
    "trials",
    "n_images",
    "accuracy",
    "ci95_low",
    "ci95_high",
    "ci_method",
    "accuracy_se",
    "ci_df",
    "trial_accuracies",
    "chip_seeds",
    "energy_pj_per_inference",
    "memory_energy_pj_per_inference",
    "read_energy_pj_per_inference",
    "leakage_energy_pj_per_inference",
    "compute_energy_pj_per_inference",
    "energy_left_out",
    "memory_energy_saved",
    "energy_saved",
    "latency_ns",
    "bank_utilisation",
    "bits_read_per_inference",
    "flip_rate",
    "nominal",
    "uncalibrated",
    "extrapolated",
    "cell",
)

#: Columns after :data:`COLUMNS` in a sweep on a profile that publishes a refresh power (DRAM): the refresh
#: part of the memory energy. Only there, so sweeps of other memories keep their columns (and resume).
REFRESH_COLUMNS = ("refresh_energy_pj_per_inference",)

#: Columns after :data:`COLUMNS` in a sweep over a partitioned memory (regions, codes, protected bits).
PARTITION_COLUMNS = (
    "partition",
    "region_points",
    "region_bits_stored",
    "region_energy_pj_per_inference",
    "ecc_energy_pj_per_inference",
    "decoder_energy_pj_per_inference",
    "raw_flips_per_inference",
    "corrected_per_inference",
    "detected_per_inference",
    "silent_per_inference",
    "detected_failure_rate",
)


@dataclass(frozen=True)
class Cell:
    """One model at one operating point (knob values, or a bare BER)."""

    model: str
    knobs: tuple[tuple[str, Any], ...]
    ber: float | None

    @property
    def key(self) -> str:
        """The cell's name: what its seeds and its row are keyed by."""
        point = ",".join(f"{k}={_canonical(v)}" for k, v in self.knobs) if self.ber is None else f"ber={self.ber!r}"
        return f"{self.model}|{point}"


def _canonical(value: Any) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _cells(spec: SweepSpec, profile: Profile | None) -> list[Cell]:
    if profile is None:
        assert spec.bers is not None
        return [Cell(m, (), b) for m in spec.models for b in spec.bers]
    axes = dict(spec.knobs)
    for name in axes:
        if name not in profile.knobs:
            raise UnknownNameError(
                f"profile {profile.name!r} has no knob {name!r}{suggest(name, profile.knobs)}; "
                f"its knobs: {', '.join(profile.knobs)}"
            )
    if not axes:
        first = next(iter(profile.knobs))
        axes = {first: profile.knob_values(first)}
    points = profile.grid(extrapolate=spec.extrapolate, **axes)  # checks every value before any cell runs
    names = list(axes)
    return [Cell(m, tuple((k, op.knobs[k]) for k in names), None) for m in spec.models for op in points]


def _trial_seed(spec: SweepSpec, cell: Cell, profile_name: str, trial: int) -> int:
    key = child_key(seed_key(spec.seed), "sweep-cell", profile_name, cell.key, trial)
    return key[0] >> 1  # a non-negative 63-bit int for the trial's reads


def chip_seed(seed: int, trial: int) -> int:
    """The memory seed of chip ``trial`` of a sweep with seed ``seed``: the same at every cell of the sweep."""
    return child_key(seed_key(seed), "chip", trial)[0] >> 1


# ------------------------------------------------------------------- one cell
# Loaded once per process (a worker runs many cells); a model's arrays are read-only in a sweep.
@functools.cache
def _model(spec_model: str) -> Any:
    return load_network(spec_model)


@functools.cache
def _data(name: str, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_dataset(name, split)
    return (images[:limit], labels[:limit]) if limit else (images, labels)


@functools.cache
def _profile(name: str) -> Profile:
    return load_profile(name)


def _timing(work: list[LayerWork], system: MemorySystem, op: OperatingPoint | None) -> TimingResult | None:
    if system.access_ns is None and (op is None or op.read_latency_ns is None):
        return None
    return simulate_inference(work, system, None if op is None else op.read_latency_ns)


@dataclass
class CellCounts:
    """What a cell's trials counted over some of its images; the counts of disjoint image ranges add up.

    ``trials`` holds per trial (correct, images); ``batches`` per (trial, batch) of a ``per_batch``
    sweep (correct, images), sorted: the units the intervals are over.
    """

    correct: int = 0
    n: int = 0
    bits_read: int = 0
    flipped: int = 0
    layer_bits: tuple[int, ...] = ()
    trials: tuple[tuple[int, int], ...] = ()
    batches: tuple[tuple[int, int, int, int], ...] = ()
    regions: tuple[tuple[int, ...], ...] = ()
    detected_units: int = 0

    def __add__(self, other: CellCounts) -> CellCounts:
        bits = _add_elementwise(self.layer_bits, other.layer_bits)
        trials = tuple(tuple(t) for t in _add_elementwise(self.trials, other.trials))
        merged: dict[tuple[int, int], tuple[int, int]] = {}
        for t, b, c, m in (*self.batches, *other.batches):  # a batch cut by a split of the images adds up
            c0, m0 = merged.get((t, b), (0, 0))
            merged[t, b] = (c0 + c, m0 + m)
        batches = tuple((t, b, c, m) for (t, b), (c, m) in sorted(merged.items()))
        return CellCounts(
            self.correct + other.correct,
            self.n + other.n,
            self.bits_read + other.bits_read,
            self.flipped + other.flipped,
            bits,
            trials,
            batches,
            _add_regions(self.regions, other.regions),
            self.detected_units + other.detected_units,
        )


def _add_regions(a: tuple[tuple[int, ...], ...], b: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    """Region counts of two parts: reads add up; bits stored and arrays are one memory's (the same in every part)."""
    if not a or not b:
        return a or b
    return tuple(
        tuple(x + y if i < 7 else max(x, y) for i, (x, y) in enumerate(zip(p, q, strict=True)))
        for p, q in zip(a, b, strict=True)
    )


def _add_elementwise(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    if not a or not b:
        return a or b
    return tuple(
        tuple(x + y for x, y in zip(p, q, strict=True)) if isinstance(p, tuple) else p + q
        for p, q in zip(a, b, strict=True)
    )


def cell_inputs(spec: SweepSpec, cell: Cell) -> tuple[BNN, np.ndarray, np.ndarray]:
    """The network and the test images and labels a cell evaluates (loaded once per process)."""
    net = _model(cell.model)
    dataset = spec.dataset or net.metadata.get("dataset") or "fashion-mnist-demo"
    images, labels = _data(str(dataset), spec.split, spec.limit)
    return net, images, labels


def count_cell(
    spec: SweepSpec,
    cell: Cell,
    net: BNN,
    images: np.ndarray,
    labels: np.ndarray,
    start: int = 0,
    stop: int | None = None,
) -> CellCounts:
    """Run every trial of ``cell`` on images ``start:stop`` of the cell's set (all by default).

    Reads are keyed by the image's index in the whole set, so the counts of any split into
    ranges add up exactly to the counts of the whole set.
    """
    stop = len(labels) if stop is None else stop
    profile, op, fault = _point(spec, cell)
    rates: Any = op if op is not None else cell.ber
    partitioning = spec.partitioning
    total = CellCounts()
    for trial in range(spec.trials):
        seed = _trial_seed(spec, cell, "" if profile is None else profile.name, trial)
        result = evaluate(
            net,
            images[start:stop],
            labels[start:stop],
            rates,
            fault,
            spec.granularity,
            seed,
            spec.batch_size,
            first_index=start,
            in_memory=spec.in_memory,
            threshold_dtype=spec.threshold_dtype,
            chip_seed=chip_seed(spec.seed, trial),
            partitioning=partitioning,
            profile=profile,
        )
        trials = tuple((result.correct, result.n_images) if t == trial else (0, 0) for t in range(spec.trials))
        batches = tuple((trial, b, c, m) for b, c, m in result.batch_counts)
        total = total + CellCounts(
            result.correct,
            result.n_images,
            result.bits_read,
            result.bits_flipped,
            tuple(int(b) for b in result.layer_bits_read),
            trials,
            batches,
            tuple(c for _, c in result.regions),
            result.detected_units,
        )
    return total


def cell_interval(spec: SweepSpec, fault: FaultModel, p01: float, p10: float, counts: CellCounts) -> Interval:
    """The accuracy of a cell's counts with its 95 % interval over the cell's independent units.

    Chips (trials) where stuck cells are drawn per chip; (trial, batch) pairs where one flip
    pattern serves a batch; otherwise every prediction (:mod:`memsim.experiment.stats`).
    """
    if fault.chip_faults(p01, p10) == "drawn":
        return cluster_interval([c for c, _ in counts.trials], [m for _, m in counts.trials], "t-chips")
    if parse_granularity(spec.granularity).value == "per_batch" and counts.batches:
        return cluster_interval([b[2] for b in counts.batches], [b[3] for b in counts.batches], "t-batches")
    return image_interval(counts.correct, counts.n)


def _point(spec: SweepSpec, cell: Cell) -> tuple[Profile | None, OperatingPoint | None, FaultModel]:
    """A cell's profile, operating point (None for a bare BER) and fault model, computed once per process.

    The preflight, the chip check, the counting and the row all ask; they get the same objects.
    """
    return _resolved(spec.profile, cell.knobs, spec.extrapolate, spec.fault_model, spec.persistent_fraction)


@functools.lru_cache(maxsize=4096)
def _resolved(
    profile_name: str | None,
    knobs: tuple[tuple[str, Any], ...],
    extrapolate: bool,
    fault_model: str | None,
    persistent_fraction: float | None,
) -> tuple[Profile | None, OperatingPoint | None, FaultModel]:
    profile = None if profile_name is None else _profile(profile_name)
    op = None if profile is None else profile.at_knobs(dict(knobs), extrapolate=extrapolate)
    return profile, op, resolve_fault_model(fault_model, profile, op, persistent_fraction)


def run_cell(spec: SweepSpec, cell: Cell) -> dict[str, Any]:
    """Run one cell's trials and return its row (a plain dict in :data:`COLUMNS` order, knobs first)."""
    net, images, labels = cell_inputs(spec, cell)
    return cell_row(spec, cell, count_cell(spec, cell, net, images, labels))


def cell_row(spec: SweepSpec, cell: Cell, counts: CellCounts) -> dict[str, Any]:
    """A cell's row from its counts over all its images: accuracy, interval, energy, latency, savings."""
    net = _model(cell.model)
    profile, op, fault = _point(spec, cell)
    correct, n, bits_read, flipped = counts.correct, counts.n, counts.bits_read, counts.flipped
    layer_bits = np.array(counts.layer_bits, dtype=np.float64)
    p01 = op.p01 if op is not None else float(cell.ber or 0.0)
    p10 = op.p10 if op is not None else float(cell.ber or 0.0)
    interval = cell_interval(spec, fault, p01, p10, counts)
    ops = net.layer_ops()
    work = [LayerWork(f"layer{i}", int(round(b / n)), o) for i, (b, o) in enumerate(zip(layer_bits, ops, strict=True))]
    system = spec.memory_system()
    timing = _timing(work, system, op)
    latency = None if timing is None else timing.latency_ns
    pj_per_op = spec.compute_pj_per_op if spec.compute_pj_per_op is not None else net.compute_pj_per_op
    partitioning = spec.partitioning
    extra: dict[str, Any] = {}
    data_bits = float(bits_read)  # the network's bits; a partitioned memory also reads check bits
    if partitioning.trivial:
        energy = inference_energy(op, bits_read / n, float(sum(ops)), latency, compute_pj_per_op=pj_per_op)
    else:
        energy, latency, data_bits, extra = _partition_row(spec, cell, counts, profile, op, latency, ops, pj_per_op)
    nominal_energy: EnergyBreakdown | None = None
    is_nominal = False
    if profile is not None and op is not None:
        nominal_op = profile.at()
        is_nominal = all(op.knobs[k] == nominal_op.knobs[k] for k in op.knobs)
        nominal_timing = _timing(work, system, nominal_op)
        # the baseline: the same network in a plain memory at the nominal point (no regions, no codes)
        nominal_energy = inference_energy(
            nominal_op,
            data_bits / n,
            float(sum(ops)),
            None if nominal_timing is None else nominal_timing.latency_ns,
            compute_pj_per_op=pj_per_op,
        )
    row: dict[str, Any] = {"model": cell.model, "profile": "" if profile is None else profile.name}
    row.update({k: v for k, v in cell.knobs})
    row.update(
        {
            "ber": 0.5 * (p01 + p10),
            "p01": p01,
            "p10": p10,
            "fault_model": fault.name,
            "granularity": parse_granularity(spec.granularity).value,
            "trials": spec.trials,
            "n_images": n // spec.trials,
            "accuracy": correct / n,
            "ci95_low": _finite(interval.low),
            "ci95_high": _finite(interval.high),
            "ci_method": interval.method,
            "accuracy_se": _finite(interval.se),
            "ci_df": _finite(interval.df),
            "trial_accuracies": ";".join(repr(c / m) if m else "" for c, m in counts.trials),
            "chip_seeds": ";".join(str(chip_seed(spec.seed, t)) for t in range(spec.trials)),
            "energy_pj_per_inference": energy.total_pj,
            "memory_energy_pj_per_inference": energy.memory_pj,
            "read_energy_pj_per_inference": energy.read_pj,
            "leakage_energy_pj_per_inference": energy.leakage_pj,
            "refresh_energy_pj_per_inference": energy.refresh_pj,
            "compute_energy_pj_per_inference": energy.compute_pj,
            "energy_left_out": energy.left_out,
            "memory_energy_saved": None if nominal_energy is None else energy.saving(nominal_energy, "memory"),
            "energy_saved": None if nominal_energy is None else energy.saving(nominal_energy, "total"),
            "latency_ns": latency,
            "bank_utilisation": None if timing is None else timing.bank_utilisation,
            "bits_read_per_inference": bits_read / n,
            "flip_rate": flipped / bits_read if bits_read else 0.0,
            "nominal": is_nominal,
            "uncalibrated": ";".join(op.uncalibrated) if op is not None else "",
            "extrapolated": bool(op.extrapolated) if op is not None else False,
            "cell": cell.key,
        }
    )
    row.update(extra)
    return row


def _partition_row(
    spec: SweepSpec,
    cell: Cell,
    counts: CellCounts,
    profile: Profile | None,
    op: OperatingPoint | None,
    latency: float | None,
    ops: list[int],
    pj_per_op: float,
) -> tuple[EnergyBreakdown, float | None, float, dict[str, Any]]:
    """Energy, latency, data bits read and the partition columns of a cell on a partitioned memory."""
    partitioning = spec.partitioning
    n = counts.n
    rates: Any = op if op is not None else cell.ber
    points = {r.name: partitioning.point(r, rates, profile) for r in partitioning.regions}
    names = [r.name for r in partitioning.regions]
    per = {name: [float(v) / n for v in c] for name, c in zip(names, counts.regions, strict=True)}
    for name, c in zip(names, counts.regions, strict=True):
        per[name][7], per[name][8] = float(c[7]), float(c[8])  # one memory's, not per inference
    pe = partition_energy(partitioning, points, per, float(sum(ops)), latency, pj_per_op)
    if latency is not None:
        latency += pe.decode_ns
    data_bits = sum(c[0] - c[1] for c in counts.regions)
    totals = [sum(c[i] for c in counts.regions) for i in range(len(REGION_FIELDS))]

    def point(p: Any) -> str:
        if isinstance(p, OperatingPoint):
            return ",".join(f"{k}={_canonical(v)}" for k, v in p.knobs.items())
        return f"ber={p!r}"

    def each(values: dict[str, Any], fmt: Callable[[Any], str]) -> str:
        return ";".join(f"{k}:{fmt(v)}" for k, v in values.items())

    extra = {
        "partition": partitioning.describe(),
        "region_points": each(points, point),
        "region_bits_stored": each({k: int(v[7]) for k, v in per.items()}, str),
        "region_energy_pj_per_inference": each(pe.regions, lambda v: "" if v is None else repr(v)),
        "ecc_energy_pj_per_inference": pe.ecc_pj,
        "decoder_energy_pj_per_inference": pe.decoder_pj,
        "raw_flips_per_inference": totals[3] / n,
        "corrected_per_inference": totals[4] / n,
        "detected_per_inference": totals[5] / n,
        "silent_per_inference": totals[6] / n,
        # the units the reads served: images, or (trial, batch) pairs with one pattern per batch
        "detected_failure_rate": counts.detected_units / (len(counts.batches) if counts.batches else n),
    }
    return pe.breakdown, latency, data_bits, extra


def _finite(value: float) -> float | None:
    """A float for the CSV, None (an empty field) where it is undefined (NaN) or unbounded."""
    return value if math.isfinite(value) else None


def check_chips(spec: SweepSpec, profile: Profile | None, cells: Sequence[Cell]) -> None:
    """Refuse what the chips make meaningless: trials of one measured deterministic chip.

    Raises
    ------
    ConfigError
        If a measured fault map has only rates 0 and 1 at a cell and ``trials > 1``: every
        trial would be the same chip read the same way, and the interval would narrow with
        no new information.
    """
    if spec.trials == 1:
        return
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for cell in cells:
        if cell.knobs in seen:
            continue
        seen.add(cell.knobs)
        _, op, fault = _point(spec, cell)
        deterministic = getattr(fault, "deterministic_at", None)
        if deterministic is not None and deterministic(op):
            where = ", ".join(f"{k}={_canonical(v)}" for k, v in cell.knobs)
            raise ConfigError(
                f"profile {spec.profile!r} is one measured chip whose map at {where} has only rates 0 and 1: every "
                f"trial reads it the same way, so --trials {spec.trials} repeats one result; use --trials 1 (the "
                "interval is then over the images of that chip)"
            )


# ------------------------------------------------------------------- files
def preflight(spec: SweepSpec, cells: Sequence[Cell]) -> None:
    """Everything a sweep can fail on, checked before anything is written.

    Every cell's operating point and fault model are built, and each model's first cell runs
    whole (memory, reads, engine, energy, timing, row) on one test image with one trial: a
    data set that does not fit the model, a fault model's bad option or an energy setting
    fails here, not after ``--out`` holds a header.
    """
    for cell in cells:
        _point(spec, cell)
    one = replace(spec, trials=1)
    for model in spec.models:
        first = next(c for c in cells if c.model == model)
        net, images, labels = cell_inputs(one, first)
        cell_row(one, first, count_cell(one, first, net, images, labels, 0, 1))


def cells_of(spec: SweepSpec) -> list[Cell]:
    """The cells a sweep would run, in order (validates the grid)."""
    return _cells(spec, None if spec.profile is None else _profile(spec.profile))
