"""Sweeps: models x operating points (a profile's knob grid, or bare BERs) x trials, one row per cell.

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
it or when. Rows append to ``DIR/sweep.csv``
as cells finish (``DIR/sweep.json`` holds the config, the seed and the versions); a run with
``resume=True`` skips the finished cells, drops a truncated last line, and ends with the
rows an uninterrupted run writes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from memsim import config
from memsim.bnn import BNN, load_model
from memsim.bnn.network import THRESHOLD_DTYPES, in_memory_label
from memsim.datasets import load_dataset
from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.experiment.evaluate import evaluate
from memsim.experiment.rates import resolve_fault_model
from memsim.experiment.results import read_meta, read_results
from memsim.experiment.stats import Interval, cluster_interval, image_interval
from memsim.files import write_text_atomic
from memsim.memory.energy import COMPUTE_PJ_PER_OP, EnergyBreakdown, inference_energy
from memsim.memory.faults import FaultModel
from memsim.memory.granularity import parse_granularity
from memsim.memory.timing import LayerWork, MemorySystem, TimingResult, simulate_inference
from memsim.profile import Profile, load_profile
from memsim.profile.operating_point import OperatingPoint
from memsim.rng import child_key, seed_key

__all__ = [
    "COLUMNS",
    "Cell",
    "CellCounts",
    "SweepSpec",
    "cell_inputs",
    "cell_interval",
    "cell_row",
    "check_chips",
    "chip_seed",
    "count_cell",
    "preflight",
    "read_rows",
    "run_cell",
    "run_sweep",
]

#: Most cells (models x operating points) one sweep may have.
MAX_CELLS = 100_000

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


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep depends on (and nothing else): its rows are a function of this.

    Parameters
    ----------
    models : sequence of str
        Shipped model names or model file paths.
    profile : str, optional
        Profile name or path; with ``knobs`` (each knob's values; the product is the grid). A
        profile without ``knobs`` sweeps its first knob over the points where it has data.
    knobs : mapping, optional
        Knob name to a list of values.
    bers : sequence of float, optional
        Symmetric bit error rates instead of a profile (no energy or latency).
    trials : int
        Fresh memories (and flips) per cell.
    seed : int
        The sweep's seed; every cell's seeds derive from it by name.
    fault_model : str, optional
        Override the fault model the profile implies (:func:`~memsim.experiment.rates.default_fault_model`).
    persistent_fraction : float, optional
        For ``fault_model="mixed"``.
    granularity : str
        ``per_sample``, ``per_batch`` or ``per_access``.
    batch_size : int
        Images per read with ``per_batch``.
    in_memory : str
        What the approximate memory holds: ``weights`` (default), ``thresholds`` (weights
        exact, as if in a nominal memory outside the study) or ``weights,thresholds``.
    threshold_dtype : str
        ``int16`` or ``int32``: the word of a stored threshold.
    dataset, split, limit
        Test images: the models' data set by default, its ``test`` split, the first ``limit``.
    banks, burst_bits, access_ns, ops_per_ns, overlap
        The timing model (:class:`~memsim.memory.timing.MemorySystem`).
    compute_pj_per_op : float
        Energy per XNOR-popcount bit operation, in pJ.
    extrapolate : bool
        Allow knob values outside the profile's range.
    """

    models: tuple[str, ...]
    profile: str | None = None
    knobs: dict[str, list[Any]] = field(default_factory=dict)
    bers: tuple[float, ...] | None = None
    trials: int = 1
    seed: int = 0
    fault_model: str | None = None
    persistent_fraction: float | None = None
    granularity: str = "per_sample"
    batch_size: int = 256
    in_memory: str = "weights"
    threshold_dtype: str = "int16"
    dataset: str | None = None
    split: str = "test"
    limit: int | None = None
    banks: int = 1
    burst_bits: int = 512
    access_ns: float | None = None
    ops_per_ns: float = MemorySystem.ops_per_ns
    overlap: bool = True
    compute_pj_per_op: float = COMPUTE_PJ_PER_OP
    extrapolate: bool = False

    def __post_init__(self) -> None:
        _check_types(self)
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))
        if self.bers is not None:
            object.__setattr__(self, "bers", tuple(float(b) for b in self.bers))
        object.__setattr__(self, "knobs", {str(k): list(v) for k, v in dict(self.knobs or {}).items()})
        self.check()

    def check(self) -> None:
        """Raise a :class:`ConfigError` naming the field for anything a sweep cannot run."""
        if not self.models:
            raise ConfigError("a sweep needs at least one model (--model)")
        if (self.profile is None) == (self.bers is None):
            raise ConfigError("give either a profile (with knob values) or a list of BERs, not both and not neither")
        if self.bers is not None:
            if not self.bers:
                raise ConfigError("the BER list is empty")
            for b in self.bers:
                if not (math.isfinite(b) and 0.0 <= b <= 0.5):
                    raise ConfigError(f"bers: {b!r} is outside [0, 0.5]")
            if self.knobs:
                raise ConfigError("knob values need a profile; with --ber there are no knobs")
        for name, values in self.knobs.items():
            if not values:
                raise ConfigError(f"knob {name!r} has no values: the grid is empty")
            repeated = sorted({str(v) for v in values if sum(1 for w in values if w == v) > 1})
            if repeated:
                raise ConfigError(f"knob {name!r}: value(s) {', '.join(repeated)} given more than once")
        if self.bers is not None and len(set(self.bers)) != len(self.bers):
            raise ConfigError("bers: a BER is given more than once")
        size = len(self.models) * (
            len(self.bers) if self.bers is not None else math.prod(len(v) for v in self.knobs.values())
        )
        if size > MAX_CELLS:
            raise ConfigError(f"the grid has {size:,} cells (models x points); at most {MAX_CELLS:,} per sweep")
        if self.compute_pj_per_op is not None and not (
            isinstance(self.compute_pj_per_op, (int, float))
            and not isinstance(self.compute_pj_per_op, bool)
            and math.isfinite(self.compute_pj_per_op)
            and self.compute_pj_per_op >= 0.0
        ):
            raise ConfigError(f"compute_pj_per_op must be a finite number of pJ >= 0, got {self.compute_pj_per_op!r}")
        if self.fault_model is not None:
            from memsim.memory.faults import available_fault_models

            known = available_fault_models()
            if self.fault_model not in known:
                hint = suggest(str(self.fault_model), known)
                raise UnknownNameError(
                    f"fault_model: unknown fault model {self.fault_model!r}{hint}; valid: {', '.join(known)}"
                )
        if self.persistent_fraction is not None:
            pf = self.persistent_fraction
            if isinstance(pf, bool) or not isinstance(pf, (int, float)) or not (math.isfinite(pf) and 0.0 <= pf <= 1.0):
                raise ConfigError(f"persistent_fraction must be in [0, 1], got {pf!r}")
            if self.fault_model != "mixed":
                here = self.fault_model or "the profile's default"
                raise ConfigError(
                    "persistent_fraction sets the stuck share of the mixed fault model: give fault_model mixed "
                    f"(--fault-model mixed) with it, or leave it out (fault model here: {here})"
                )
        for label in ("trials", "batch_size", "banks", "burst_bits"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{label} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1
        ):
            raise ConfigError(f"limit must be a positive integer, got {self.limit!r}")
        parse_granularity(self.granularity)
        object.__setattr__(self, "in_memory", in_memory_label(self.in_memory))
        if self.threshold_dtype not in THRESHOLD_DTYPES:
            raise ConfigError(
                f"threshold_dtype must be one of {', '.join(THRESHOLD_DTYPES)}, got {self.threshold_dtype!r}"
            )
        self.memory_system()  # checks banks, burst, access time, compute rate

    def memory_system(self) -> MemorySystem:
        """The timing model of this sweep."""
        return MemorySystem(self.banks, self.burst_bits, self.access_ns, self.ops_per_ns, self.overlap)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML), the form ``--config`` reads and ``--dump-config`` writes."""
        data = asdict(self)
        data["models"] = list(self.models)
        data["bers"] = None if self.bers is None else list(self.bers)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<config>") -> SweepSpec:
        """A spec from plain data; unknown keys are errors that name the closest valid one."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a sweep config is a mapping of options, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        for key in data:
            if key not in valid:
                raise ConfigError(
                    f"{source}: unknown option {key!r}{suggest(str(key), valid)}; valid: {', '.join(valid)}"
                )
        try:
            return cls(**dict(data))
        except TypeError as err:
            raise ConfigError(f"{source}: {err}") from None
        except ConfigError as err:  # name the file the option came from
            if source == "command line" or str(err).startswith(f"{source}:"):
                raise
            raise type(err)(f"{source}: {err}") from None


_NUMBER = "a number"
_KINDS: dict[str, tuple[str, bool]] = {  # field: (kind, may be null)
    "models": ("names", False),
    "profile": ("str", True),
    "knobs": ("knobs", True),
    "bers": ("numbers", True),
    "trials": ("int", False),
    "seed": ("int", False),
    "fault_model": ("str", True),
    "persistent_fraction": ("float", True),
    "granularity": ("str", False),
    "batch_size": ("int", False),
    "in_memory": ("parts", False),
    "threshold_dtype": ("str", False),
    "dataset": ("str", True),
    "split": ("str", False),
    "limit": ("int", True),
    "banks": ("int", False),
    "burst_bits": ("int", False),
    "access_ns": ("float", True),
    "ops_per_ns": ("float", False),
    "overlap": ("bool", False),
    "compute_pj_per_op": ("float", False),
    "extrapolate": ("bool", False),
}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


#: Per kind of option: does a value have it, and how to say what is expected.
_TYPE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "parts": (
        lambda v: isinstance(v, str) or (isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v)),
        "a string such as weights,thresholds (or a list of them)",
    ),
    "int": (lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)), "an integer"),
    "float": (_is_number, _NUMBER),
    "bool": (lambda v: isinstance(v, (bool, np.bool_)), "true or false (unquoted)"),
    "names": (
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(m, (str, os.PathLike)) for m in v),
        "a list of names",
    ),
    "numbers": (
        lambda v: isinstance(v, (list, tuple, np.ndarray)) and all(_is_number(b) for b in v),
        "a list of numbers",
    ),
    "knobs": (
        lambda v: (
            isinstance(v, Mapping)
            and all(isinstance(k, str) and isinstance(x, (list, tuple, np.ndarray)) for k, x in v.items())
        ),
        "a mapping of knob name to a list of values (knobs: {vdd_over_vmin: [0.8, 0.9]})",
    ),
}


def _check_types(spec: SweepSpec) -> None:
    """Each option of the right type, before anything converts it: a string is not a list of its characters,
    ``'no'`` is not true, a knob's values are a list."""
    for name, (kind, nullable) in _KINDS.items():
        value = getattr(spec, name)
        check, want = _TYPE_CHECKS[kind]
        if (value is None and nullable) or check(value):
            continue
        lone = (str,) if kind == "names" else (str, int, float)
        if kind in ("names", "numbers") and isinstance(value, lone) and not isinstance(value, bool):
            want += f" (write {name}: [{value}])"  # a lone value where a list belongs
        got = "null" if value is None else f"{type(value).__name__} {value!r}"[:80]
        raise ConfigError(f"{name}: expected {want}{' or null' if nullable else ''}, got {got}")


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
_CACHE: dict[Any, Any] = {}


def _model(spec_model: str) -> BNN:
    key = ("model", spec_model)
    if key not in _CACHE:
        _CACHE[key] = load_model(spec_model)
    return _CACHE[key]


def _data(name: str, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    key = ("data", name, split, limit)
    if key not in _CACHE:
        images, labels = load_dataset(name, split)
        _CACHE[key] = (images[:limit], labels[:limit]) if limit else (images, labels)
    return _CACHE[key]


def _profile(name: str) -> Profile:
    key = ("profile", name)
    if key not in _CACHE:
        _CACHE[key] = load_profile(name)
    return _CACHE[key]


def _fault_model(spec: SweepSpec, profile: Profile | None, op: OperatingPoint | None) -> FaultModel:
    return resolve_fault_model(spec.fault_model, profile, op, spec.persistent_fraction)


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

    def __add__(self, other: CellCounts) -> CellCounts:
        bits = _add_elementwise(self.layer_bits, other.layer_bits)
        trials = tuple(tuple(t) for t in _add_elementwise(self.trials, other.trials))
        merged: dict[tuple[int, int], tuple[int, int]] = {}
        for t, b, c, m in (*self.batches, *other.batches):  # a batch cut by a split of the images adds up
            c0, m0 = merged.get((t, b), (0, 0))
            merged[t, b] = (c0 + c, m0 + m)
        batches = tuple((t, b, c, m) for (t, b), (c, m) in sorted(merged.items()))
        return CellCounts(self.correct + other.correct, self.n + other.n, self.bits_read + other.bits_read,
                          self.flipped + other.flipped, bits, trials, batches)  # fmt: skip


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
    total = CellCounts()
    for trial in range(spec.trials):
        seed = _trial_seed(spec, cell, "" if profile is None else profile.name, trial)
        result = evaluate(net, images[start:stop], labels[start:stop], rates, fault, spec.granularity, seed,
                          spec.batch_size, first_index=start, in_memory=spec.in_memory,
                          threshold_dtype=spec.threshold_dtype, chip_seed=chip_seed(spec.seed, trial))  # fmt: skip
        trials = tuple((result.correct, result.n_images) if t == trial else (0, 0) for t in range(spec.trials))
        batches = tuple((trial, b, c, m) for b, c, m in result.batch_counts)
        total = total + CellCounts(result.correct, result.n_images, result.bits_read, result.bits_flipped,
                                   tuple(int(b) for b in result.layer_bits_read), trials, batches)  # fmt: skip
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
    """A cell's profile, operating point (None for a bare BER) and fault model."""
    profile = None if spec.profile is None else _profile(spec.profile)
    op = None if profile is None else profile.at_knobs(dict(cell.knobs), extrapolate=spec.extrapolate)
    return profile, op, _fault_model(spec, profile, op)


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
    energy = inference_energy(op, bits_read / n, float(sum(ops)), latency, compute_pj_per_op=spec.compute_pj_per_op)
    nominal_energy: EnergyBreakdown | None = None
    is_nominal = False
    if profile is not None and op is not None:
        nominal_op = profile.at()
        is_nominal = all(op.knobs[k] == nominal_op.knobs[k] for k in op.knobs)
        nominal_timing = _timing(work, system, nominal_op)
        nominal_energy = inference_energy(
            nominal_op, bits_read / n, float(sum(ops)), None if nominal_timing is None else nominal_timing.latency_ns,
            compute_pj_per_op=spec.compute_pj_per_op,
        )  # fmt: skip
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
    return row


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
    return ["model", "profile", *knobs, *COLUMNS]


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
        old = {**{k: v for k, v in defaults.items() if k not in old}, **old}
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
    import numba

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
    """Run a sweep into ``out`` (``sweep.csv`` + ``sweep.json``); returns all its rows.

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

            fns = (cell_inputs, count_cell, cell_row, CellCounts)
            run_cells(client, spec, todo, write, lambda: bar.update(1), images_per_task, fns)
        elif workers == 1:
            for cell in todo:
                write(run_cell(spec, cell))
                bar.update(1)
        else:
            threads = max(1, cpus // workers)
            import multiprocessing

            context = multiprocessing.get_context("spawn")  # fork after numba's threads start is unsafe
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(threads, os.getpid())
            ) as pool:
                futures = [pool.submit(_worker_cell, spec, cell) for cell in todo]
                for future in as_completed(futures):
                    write(future.result())
                    bar.update(1)
    finally:
        bar.close()
    return read_rows(out_path)


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


def _progress(total: int, done: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="sweep cells", unit="cell", disable=not enabled, leave=False)


def cells_of(spec: SweepSpec) -> list[Cell]:
    """The cells a sweep would run, in order (validates the grid)."""
    return _cells(spec, None if spec.profile is None else _profile(spec.profile))
