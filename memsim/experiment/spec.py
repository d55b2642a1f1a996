"""A sweep's specification: :class:`SweepSpec`, typed from a config file or the command line.

Everything a sweep's rows depend on, and nothing else: models, the profile and its knob grid (or
bare BERs), trials, seed, fault model, granularity, data set and energy settings. A config file
(``--config``) is typed field by field before conversion (a string is not a list of its letters,
``'no'`` is not true), and unknown keys are refused with the nearest valid one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from memsim.bnn.network import THRESHOLD_DTYPES, in_memory_label
from memsim.errors import ConfigError, MemsimError, UnknownNameError, suggest
from memsim.memory.granularity import parse_granularity
from memsim.memory.partition import Partitioning
from memsim.memory.timing import MemorySystem

__all__ = ["MAX_CELLS", "SweepSpec"]

#: Most cells (models x operating points) one sweep may have.
MAX_CELLS = 100_000


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
        Override the fault model the profile implies (:func:`~memsim.experiment.conditions.default_fault_model`).
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
    compute_pj_per_op : float or None
        Energy per operation, in pJ; None (default): the model's own (an XNOR-popcount bit op of
        a BNN, :data:`~memsim.memory.energy.COMPUTE_PJ_PER_OP`; an m-bit multiply-accumulate of a
        torch network, :func:`~memsim.memory.energy.mac_pj`).
    extrapolate : bool
        Allow knob values outside the profile's range.
    partitions, assign, ecc, ecc_policy, protect
        Regions of the memory at their own operating points (``NAME=KNOB:VALUE[,...]``), arrays
        assigned to them (``PATTERN=REGION``), a code on the default region (``secded64``) and what
        a detected-uncorrectable word reads as, and protected bits (``PATTERN=msb:K@REGION``); see
        :class:`~memsim.memory.partition.Partitioning`. The knob axes move the regions that do not
        fix them (the default region ``main``, unless it is given knobs).
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
    compute_pj_per_op: float | None = None
    extrapolate: bool = False
    partitions: tuple[str, ...] = ()
    assign: tuple[str, ...] = ()
    ecc: str | None = None
    ecc_policy: str | None = None
    protect: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_types(self)
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))
        if self.bers is not None:
            object.__setattr__(self, "bers", tuple(float(b) for b in self.bers))
        object.__setattr__(self, "knobs", {str(k): list(v) for k, v in dict(self.knobs or {}).items()})
        for name in ("partitions", "assign", "protect"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
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
        self.partitioning  # noqa: B018 - parses the regions, assignments and protections

    @property
    def partitioning(self) -> Partitioning:
        """The memory's regions (:class:`~memsim.memory.partition.Partitioning`; trivial without options)."""
        return Partitioning.parse(self.partitions, self.assign, self.ecc, self.protect, self.ecc_policy)

    def memory_system(self) -> MemorySystem:
        """The timing model of this sweep."""
        return MemorySystem(self.banks, self.burst_bits, self.access_ns, self.ops_per_ns, self.overlap)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML), the form ``--config`` reads and ``--dump-config`` writes."""
        data = asdict(self)
        data["models"] = list(self.models)
        data["bers"] = None if self.bers is None else list(self.bers)
        for name in ("partitions", "assign", "protect"):
            data[name] = list(getattr(self, name))
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
        except MemsimError as err:  # name the file the option came from (an unknown name too)
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
    "compute_pj_per_op": ("float", True),
    "extrapolate": ("bool", False),
    "partitions": ("strings", False),
    "assign": ("strings", False),
    "ecc": ("str", True),
    "ecc_policy": ("str", True),
    "protect": ("strings", False),
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
    "strings": (
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(m, str) for m in v),
        "a list of strings",
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
        lone = (str,) if kind in ("names", "strings") else (str, int, float)
        if kind in ("names", "numbers", "strings") and isinstance(value, lone) and not isinstance(value, bool):
            want += f" (write {name}: [{value}])"  # a lone value where a list belongs
        got = "null" if value is None else f"{type(value).__name__} {value!r}"[:80]
        raise ConfigError(f"{name}: expected {want}{' or null' if nullable else ''}, got {got}")
