"""Fault models: how the bits of one read go wrong. Looked up by name, combinable.

Every model answers one question, :meth:`FaultModel.flips`: given the stored
words of an array and the current error rates, which bits flip on this read?
Stored data is never changed; the memory XORs the flips into a copy.

==============  ==========================================================================
name            model
==============  ==========================================================================
``transient``   every bit of every read flips independently with probability ``ber``
                (symmetric; the reference papers' model). The default.
``asymmetric``  a stored 0 flips with ``p01``, a stored 1 with ``p10``, fresh on every read.
``persistent``  a fixed set of weak cells fails on every read. Without a measured map the
                cells are drawn once from the seed: cell i is faulty iff ``u_i < p01 + p10``
                with ``u_i`` fixed per (seed, array, i), so the faulty set at a lower voltage
                (higher BER) contains the set at a higher one; a faulty cell is stuck-at-1
                (flips stored 0s) with probability ``p01 / (p01 + p10)``, else stuck-at-0.
                With a measured map (:class:`memsim.profile.FaultMapSet` or per-cell
                ``p01``/``p10`` arrays) the map decides, at the operating point's knob value.
``mixed``       persistent + transient, as measured SRAM shows: a ``persistent_fraction`` f of
                the error rate comes from stuck cells, the rest is drawn per read on the other
                cells, with the transient rate chosen so the total stays ``p01``/``p10`` exactly.
==============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim.errors import MemsimError, UnknownNameError, suggest
from memsim.memory import kernels
from memsim.profile.io import FaultMapSet
from memsim.profile.operating_point import OperatingPoint

__all__ = [
    "AsymmetricFlips",
    "FaultModel",
    "MixedFaults",
    "PersistentFaults",
    "ReadContext",
    "TransientFlips",
    "available_fault_models",
    "get_fault_model",
    "register_fault_model",
]


@dataclass
class ReadContext:
    """Everything a fault model may use for one read of one array.

    Attributes
    ----------
    name : str
        Name of the stored array.
    nbits : int
        Number of valid bits.
    p01, p10 : float
        Current flip probabilities of a stored 0 and a stored 1.
    operating_point : OperatingPoint or None
        The current operating point (None after ``set_ber``).
    read_key : (int, int)
        Stream key of this read; ``event`` numbers the read.
    cell_key : (int, int)
        Fixed key of the stored array (identity of its cells across reads).
    cache : dict
        Per-array cache that survives between reads (persistent masks).
    """

    name: str
    nbits: int
    p01: float
    p10: float
    operating_point: OperatingPoint | None
    read_key: tuple[int, int]
    event: int
    cell_key: tuple[int, int]
    cache: dict[Any, Any] = field(default_factory=dict)

    def mask(self, p: float, stream: int) -> np.ndarray:
        """A fresh Bernoulli(p) mask for this read; ``stream`` separates masks of one read."""
        return kernels.sample_mask(self.nbits, p, self.read_key, self.event * 4 + stream)


class FaultModel:
    """Base class: a rule that turns stored words into this read's flip mask."""

    name = "base"

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        """Flip mask (uint64 words) for one read of ``data`` under ``ctx``."""
        raise NotImplementedError

    def check_shape(self, name: str, nbits: int) -> None:
        """Raise if the model cannot serve an array of ``nbits`` bits (e.g. a map of another size)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TransientFlips(FaultModel):
    """Symmetric transient flips: every bit of every read flips with probability ``ber``."""

    name = "transient"

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        if ctx.p01 != ctx.p10:
            raise MemsimError(
                f"the transient fault model is symmetric but the rates differ (p01={ctx.p01:g}, p10={ctx.p10:g}); "
                "use fault_model='asymmetric', or set_ber(ber) for a symmetric rate"
            )
        return ctx.mask(ctx.p01, 0)


class AsymmetricFlips(FaultModel):
    """Transient flips whose probability depends on the stored bit: ``p01`` for 0s, ``p10`` for 1s."""

    name = "asymmetric"

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        out = np.empty_like(data)
        kernels._directional(data, ctx.mask(ctx.p01, 0), ctx.mask(ctx.p10, 1), out)
        return out


def _drawn_stuck(ctx: ReadContext, p01: float, p10: float) -> tuple[np.ndarray, np.ndarray]:
    """Stuck-at-1 and stuck-at-0 masks of the cells drawn once per array (nested in the rates)."""
    fault_fraction = p01 + p10
    if fault_fraction > 1.0 + 1e-12:
        raise MemsimError(
            f"persistent faults are stuck cells, which cannot give p01 + p10 > 1 (p01={p01:g}, p10={p10:g})"
        )
    key = ("drawn", p01, p10)
    if key not in ctx.cache:
        nwords = (ctx.nbits + 63) // 64
        stuck1 = np.empty(nwords, dtype=np.uint64)
        stuck0 = np.empty(nwords, dtype=np.uint64)
        share = 0.5 if fault_fraction == 0.0 else p01 / fault_fraction
        k0, k1 = (np.uint64(k) for k in ctx.cell_key)
        kernels._weak_cells(stuck1, stuck0, ctx.nbits, fault_fraction, share, k0, k1)
        ctx.cache.clear()  # one operating point at a time: do not grow without bound
        ctx.cache[key] = (stuck1, stuck0)
    return ctx.cache[key]


class PersistentFaults(FaultModel):
    """The same weak cells fail on every read (stuck-at faults, or a measured per-cell map).

    Parameters
    ----------
    cell_map : FaultMapSet, tuple of arrays, or None
        ``None``: draw the weak cells once from the memory's seed (nested across
        operating points). A :class:`~memsim.profile.FaultMapSet` (a profile's
        ``fault_maps``): per-cell rates at the operating point's knob value. A tuple
        ``(p01_cells, p10_cells)`` of arrays in [0, 1]: fixed per-cell rates.
    tile : bool, default False
        Repeat the map to cover arrays with more bits than the map has cells
        (the usual way a chip's map is laid over a larger network). Without it,
        the map must have exactly one cell per stored bit.
    """

    name = "persistent"

    def __init__(self, cell_map: FaultMapSet | tuple[np.ndarray, np.ndarray] | None = None, tile: bool = False) -> None:
        self.cell_map = cell_map
        self.tile = tile
        self.map_size: int | None = None
        if isinstance(cell_map, tuple):
            p01, p10 = (np.asarray(a, dtype=np.float64) for a in cell_map)
            if p01.shape != p10.shape:
                raise MemsimError(f"per-cell maps differ in shape: p01 {p01.shape}, p10 {p10.shape}")
            for label, arr in (("p01", p01), ("p10", p10)):
                if not np.all((arr >= 0) & (arr <= 1)):
                    raise MemsimError(
                        f"per-cell {label} map must hold probabilities in [0, 1] (found NaN or out of range)"
                    )
            self._fixed = (p01.ravel(), p10.ravel())
            self.map_size = p01.size
        elif isinstance(cell_map, FaultMapSet):
            self.map_size = int(np.prod(cell_map.shape))
        elif cell_map is not None:
            raise MemsimError(
                f"cell_map must be a FaultMapSet, a (p01, p10) tuple of arrays or None, got {type(cell_map).__name__}"
            )

    def check_shape(self, name: str, nbits: int) -> None:
        if self.map_size is None:
            return
        if self.tile:
            return
        if self.map_size != nbits:
            shape = self.cell_map.shape if isinstance(self.cell_map, FaultMapSet) else self._fixed[0].shape
            raise MemsimError(
                f"the per-cell fault map has {self.map_size} cells (shape {tuple(shape)}) but array {name!r} holds "
                f"{nbits} bits; they must match, or pass tile=True to repeat the map over the array"
            )

    def _map_rates(self, ctx: ReadContext) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.cell_map, FaultMapSet):
            op = ctx.operating_point
            knob = self.cell_map.knob
            if op is None:
                raise MemsimError(
                    f"a measured fault map is indexed by {knob!r}: set an operating point "
                    "(set_operating_point) instead of a bare BER"
                )
            if knob not in op.knobs:
                raise MemsimError(
                    f"the operating point of profile {op.profile!r} has knobs {', '.join(op.knobs)}; "
                    f"this memory's fault map is indexed by {knob!r}"
                )
            key = ("map", op.knobs[knob])
            if key not in ctx.cache:
                p01, p10 = self.cell_map.cell_rates(float(op.knobs[knob]))
                ctx.cache.clear()
                ctx.cache[key] = (p01.ravel().astype(np.float64), p10.ravel().astype(np.float64))
            return ctx.cache[key]
        return self._fixed

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        out = np.empty_like(data)
        if self.cell_map is None:
            stuck1, stuck0 = _drawn_stuck(ctx, ctx.p01, ctx.p10)
            kernels._directional(data, stuck1, stuck0, out)
            return out
        p01, p10 = self._map_rates(ctx)
        m0 = kernels.per_cell_mask(ctx.nbits, p01, ctx.read_key, ctx.event * 4 + 2)
        m1 = kernels.per_cell_mask(ctx.nbits, p10, ctx.read_key, ctx.event * 4 + 3)
        kernels._directional(data, m0, m1, out)
        return out

    def __repr__(self) -> str:
        kind = "drawn" if self.cell_map is None else "map"
        return f"PersistentFaults({kind}, tile={self.tile})"


class MixedFaults(FaultModel):
    """Persistent stuck cells plus transient flips on the other cells.

    Parameters
    ----------
    persistent_fraction : float
        Share f of each flip probability that comes from stuck cells (measured SRAM:
        0.09-0.45, Stutz et al. 2021 supplement). The other cells flip per read with
        ``t = (1 - f) p / (1 - f (p01 + p10))`` so the total stays ``p`` exactly.
    """

    name = "mixed"

    def __init__(self, persistent_fraction: float = 0.5) -> None:
        if not (isinstance(persistent_fraction, (int, float)) and 0.0 <= persistent_fraction <= 1.0):
            raise MemsimError(f"persistent_fraction must be in [0, 1], got {persistent_fraction!r}")
        self.persistent_fraction = float(persistent_fraction)

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        f = self.persistent_fraction
        s01, s10 = f * ctx.p01, f * ctx.p10
        stuck1, stuck0 = _drawn_stuck(ctx, s01, s10)
        out = np.empty_like(data)
        kernels._directional(data, stuck1, stuck0, out)
        free = 1.0 - s01 - s10
        if free <= 0.0:
            return out
        t01 = (ctx.p01 - s01) / free
        t10 = (ctx.p10 - s10) / free
        kernels._combine_transient(out, data, stuck1 | stuck0, ctx.mask(min(t01, 1.0), 0), ctx.mask(min(t10, 1.0), 1))
        return out

    def __repr__(self) -> str:
        return f"MixedFaults(persistent_fraction={self.persistent_fraction:g})"


_REGISTRY: dict[str, Callable[..., FaultModel]] = {
    "transient": TransientFlips,
    "asymmetric": AsymmetricFlips,
    "persistent": PersistentFaults,
    "mixed": MixedFaults,
    "persistent+transient": MixedFaults,
}


def register_fault_model(name: str, factory: Callable[..., FaultModel]) -> None:
    """Register a fault model class (or factory) under ``name``."""
    _REGISTRY[name] = factory


def available_fault_models() -> list[str]:
    """Names accepted by :func:`get_fault_model`."""
    return sorted(_REGISTRY)


def get_fault_model(spec: str | FaultModel, **options: Any) -> FaultModel:
    """A fault model from its name (with constructor ``options``) or an instance.

    Raises
    ------
    UnknownNameError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(spec, FaultModel):
        if options:
            raise MemsimError(f"options {sorted(options)} only apply when the fault model is given by name")
        return spec
    if not isinstance(spec, str) or spec not in _REGISTRY:
        raise UnknownNameError(
            f"unknown fault model {spec!r}{suggest(str(spec), _REGISTRY)}; valid: {', '.join(available_fault_models())}"
        )
    try:
        return _REGISTRY[spec](**options)
    except TypeError as err:
        raise MemsimError(f"fault model {spec!r} does not take these options: {err}") from None
