"""Fault models: how the bits of one read go wrong. Looked up by name, combinable.

Every model answers one question, :meth:`FaultModel.flips`: given the stored
words of an array and the current error rates, which bits flip on this read?
Stored data is never changed; the memory XORs the flips into a copy. A model also
declares what else it can serve (:meth:`FaultModel.iid_rate`): if every bit of every
read flips independently with one probability, the engine may take its exact fast
path. Nothing outside this module branches on a model's name.

==============  ==========================================================================
name            model
==============  ==========================================================================
``transient``   every bit of every read flips independently with probability ``ber``
                (symmetric; the reference papers' model). The default.
``asymmetric``  a stored 0 flips with ``p01``, a stored 1 with ``p10``, fresh on every read.
``persistent``  a fixed set of weak cells fails on every read. Without a measured map the
                cells are drawn once per chip (the memory's seed): the cell at address a is
                faulty iff ``u_a < p01 + p10`` with ``u_a`` fixed per (chip, a), so the faulty
                set at a lower voltage (higher BER) contains the set at a higher one, and any
                array laid on the same addresses of the same chip (another model's layer) meets
                the same cells; a faulty cell is stuck-at-1
                (flips stored 0s) with probability ``p01 / (p01 + p10)``, else stuck-at-0.
                With a measured map (:class:`memsim.profile.FaultMapSet` or per-cell
                ``p01``/``p10`` arrays) the map decides, at the operating point's knob value;
                the memory's arrays lie on consecutive cells of the map (an address space).
``mixed``       persistent + transient, as measured SRAM shows: a ``persistent_fraction`` f of
                the error rate comes from stuck cells, the rest is drawn per read on the other
                cells, with the transient rate chosen so the total stays ``p01``/``p10`` exactly.
==============  ==========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from memsim.bits import pack_bits
from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.memory import kernels
from memsim.memory.reads import FlipLaw
from memsim.profile.fault_maps import FaultMapSet
from memsim.profile.operating_point import OperatingPoint
from memsim.rng import stream_key

__all__ = [
    "AsymmetricFaults",
    "FaultModel",
    "MixedFaults",
    "PersistentFaults",
    "ReadContext",
    "TransientFaults",
    "available_fault_models",
    "get_fault_model",
    "register_fault_model",
]

#: Sub-streams of one read (:meth:`ReadContext.mask`): flips of stored 0s, of stored 1s.
STREAM_P01, STREAM_P10 = 0, 1


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
        The current operating point (None after ``set_ber``/``set_rates``).
    read_key : (int, int)
        Key of this array's reads in this trial; ``event`` names the read (what it serves).
    event : int
        The read's event number (:func:`memsim.rng.read_events`).
    cell_key : (int, int)
        Fixed key of the stored array (identity of its cells across reads and trials).
    cell_offset : int
        Address of the array's first bit in the memory's cell space (arrays lie on
        consecutive cells in storing order).
    cache : dict
        Per-array cache that survives between reads (persistent masks).
    chip_key : (int, int)
        Key of the chip (the memory's seed): drawn stuck cells are a function of it and the
        cell's address only.
    """

    name: str
    nbits: int
    p01: float
    p10: float
    operating_point: OperatingPoint | None
    read_key: tuple[int, int]
    event: int
    cell_key: tuple[int, int]
    cell_offset: int = 0
    cache: dict[Any, Any] = field(default_factory=dict)
    chip_key: tuple[int, int] = (0, 0)

    def mask(self, p: float, stream: int) -> np.ndarray:
        """A fresh Bernoulli(p) mask for this read; ``stream`` separates the masks of one read."""
        return kernels.sample_mask(self.nbits, p, stream_key(self.read_key, stream), self.event)

    def masks(self, p: float, stream: int, events: np.ndarray) -> np.ndarray:
        """:meth:`mask` for each of a block of reads ``(K, n_words)``: row r is the mask of read ``events[r]``."""
        return kernels.sample_masks(self.nbits, p, stream_key(self.read_key, stream), events)


#: Relative difference below which two flip rates are one symmetric rate: a profile's p01 and p10 computed
#: along different arithmetic paths may differ in the last bits of a double.
SYMMETRIC_RTOL = 1e-9


def symmetric_rate(p01: float, p10: float) -> float | None:
    """The common rate if ``p01`` and ``p10`` are equal (to :data:`SYMMETRIC_RTOL`), else None."""
    if p01 == p10:
        return p01
    if math.isclose(p01, p10, rel_tol=SYMMETRIC_RTOL, abs_tol=0.0):
        return 0.5 * (p01 + p10)
    return None


class FaultModel:
    """Base class: a rule that turns stored words into this read's flip mask.

    Subclass it (or write any class with these methods) and :func:`register_fault_model`
    it; the memory and the engine need nothing else.
    """

    name = "base"
    #: True if the masks :meth:`flips_block` returns are fresh arrays the memory may overwrite (the built-in
    #: models); a model that returns arrays it keeps must leave this False.
    masks_are_scratch: bool = False

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        """Flip mask (uint64 words) for one read of ``data`` under ``ctx``."""
        raise NotImplementedError

    def flips_block(self, data: np.ndarray, ctx: ReadContext, events: np.ndarray) -> np.ndarray:
        """Flip masks ``(K, n_words)`` of a block of reads: row r is :meth:`flips` for read ``events[r]``.

        Override it where a block costs less than its reads one at a time (the memory reads a
        convolution's weights once per image, in blocks); the result must not change. Where
        every read flips the same bits, return one row broadcast (``np.broadcast_to``): the
        memory and the engine then work on the row once.
        """
        rows = [self.flips(data, replace(ctx, event=int(e))) for e in np.asarray(events, dtype=np.uint64)]
        return np.stack(rows) if rows else np.empty((0, data.size), dtype=np.uint64)

    def iid_rate(self, p01: float, p10: float) -> float | None:
        """The probability with which every bit of every read flips independently, or None.

        Not None only if flips are fresh per read, independent across bits, and do not
        depend on the stored bit or the cell: then the engine's exact fast path
        applies, and a rate of 0 means reads return the stored data.
        """
        return None

    def chip_faults(self, p01: float, p10: float) -> str:
        """What is fixed for a chip at these rates: ``none`` (every read is fresh), ``drawn`` (stuck
        cells drawn per chip from the memory's seed) or ``measured`` (one measured chip's map).

        Decides the unit of randomness of an experiment (:mod:`memsim.experiment.stats`).
        """
        return "none"

    def law(self, data: np.ndarray, ctx: ReadContext) -> FlipLaw | None:
        """The read as fixed words plus independent flips (:class:`~memsim.memory.reads.FlipLaw`), or None.

        Not None only if every read of the array equals the same fixed words (stored data
        with stuck cells applied) with each free bit flipped independently at a rate that
        depends only on its value: then the engine's exact fast path applies to dense layers.
        ``key`` of the returned law is a placeholder the memory fills in.
        """
        return None

    def check_shape(self, name: str, nbits: int, cell_offset: int = 0) -> None:
        """Raise if the model cannot serve an array of ``nbits`` bits at ``cell_offset`` (a map too small)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TransientFaults(FaultModel):
    """Symmetric transient flips: every bit of every read flips with probability ``ber``."""

    name = "transient"
    masks_are_scratch = True

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        return ctx.mask(self._rate(ctx), STREAM_P01)

    def flips_block(self, data: np.ndarray, ctx: ReadContext, events: np.ndarray) -> np.ndarray:
        return ctx.masks(self._rate(ctx), STREAM_P01, events)

    @staticmethod
    def _rate(ctx: ReadContext) -> float:
        rate = symmetric_rate(ctx.p01, ctx.p10)
        if rate is None:
            raise ConfigError(
                f"the transient fault model is symmetric but the rates differ (p01={ctx.p01:g}, p10={ctx.p10:g}); "
                "use fault_model='asymmetric', or set_ber(ber) for a symmetric rate"
            )
        return rate

    def iid_rate(self, p01: float, p10: float) -> float | None:
        return symmetric_rate(p01, p10)


class AsymmetricFaults(FaultModel):
    """Transient flips whose probability depends on the stored bit: ``p01`` for 0s, ``p10`` for 1s."""

    name = "asymmetric"
    masks_are_scratch = True

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        return kernels.directional(data, ctx.mask(ctx.p01, STREAM_P01), ctx.mask(ctx.p10, STREAM_P10))

    def flips_block(self, data: np.ndarray, ctx: ReadContext, events: np.ndarray) -> np.ndarray:
        m01, m10 = ctx.masks(ctx.p01, STREAM_P01, events), ctx.masks(ctx.p10, STREAM_P10, events)
        return (m01 & ~data) | (m10 & data)  # as kernels.directional, row by row

    def law(self, data: np.ndarray, ctx: ReadContext) -> FlipLaw | None:
        return FlipLaw(data, None, ctx.p01, ctx.p10, (0, 0))

    def iid_rate(self, p01: float, p10: float) -> float | None:
        return symmetric_rate(p01, p10)


def _drawn_stuck(ctx: ReadContext, p01: float, p10: float) -> tuple[np.ndarray, np.ndarray]:
    """Stuck-at-1 and stuck-at-0 masks of the cells drawn once per array (nested in the rates)."""
    fault_fraction = p01 + p10
    if fault_fraction > 1.0 + 1e-12:  # rounding of rates that sum to exactly 1
        raise ConfigError(
            f"persistent faults are stuck cells, which cannot give p01 + p10 > 1 (p01={p01:g}, p10={p10:g})"
        )
    key = ("drawn", p01, p10)
    if key not in ctx.cache:
        share = 0.5 if fault_fraction == 0.0 else p01 / fault_fraction
        masks = kernels.weak_cells(ctx.nbits, min(fault_fraction, 1.0), share, ctx.chip_key, ctx.cell_offset)
        ctx.cache.clear()  # one operating point at a time: do not grow without bound
        ctx.cache[key] = masks
    return ctx.cache[key]


@dataclass(frozen=True)
class _CellMasks:
    """One array's cells under a per-cell map: set masks for rate-1 cells, a sparse list for the rest."""

    stuck1: np.ndarray  # cells that always flip a stored 0 (p01 == 1)
    stuck0: np.ndarray  # cells that always flip a stored 1 (p10 == 1)
    pos01: np.ndarray  # bit positions with 0 < p01 < 1, and their rates
    prob01: np.ndarray
    pos10: np.ndarray
    prob10: np.ndarray


def _cell_masks(p01_cells: np.ndarray, p10_cells: np.ndarray, nbits: int, offset: int) -> _CellMasks:
    """The masks of an array of ``nbits`` bits laid on cells ``offset, offset + 1, ...`` (wrapping)."""
    ncells = p01_cells.size
    start = offset % ncells

    def lay(cells: np.ndarray) -> np.ndarray:  # consecutive cells from `start`, wrapping around the chip
        return np.resize(np.roll(cells, -start), nbits) if (start or nbits != ncells) else cells

    parts = []
    for cells in (p01_cells, p10_cells):
        rates = lay(cells)
        fractional = np.flatnonzero((rates > 0.0) & (rates < 1.0))
        parts.append((pack_bits(rates >= 1.0).words, fractional, rates[fractional].astype(np.float64)))
    (s1, p01, r01), (s0, p10, r10) = parts
    return _CellMasks(s1, s0, p01, r01, p10, r10)


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
        The memory's arrays lie on consecutive cells of the map in storing order (layer
        2 starts where layer 1 ended), as an address space would. ``tile=True`` wraps
        around to the first cell when the chip is used up, so a chip's map covers a
        larger network; without it the arrays must fit in the map's cells.

    Notes
    -----
    Cells whose rate is 0 or 1 (a measured stuck-at map, drawn stuck cells) are applied
    as precomputed word masks: a read costs time proportional to the words, plus one
    random number per cell whose rate is strictly between 0 and 1.
    """

    name = "persistent"

    def __init__(self, cell_map: FaultMapSet | tuple[np.ndarray, np.ndarray] | None = None, tile: bool = False) -> None:
        self.cell_map = cell_map
        self.tile = bool(tile)
        self.map_size: int | None = None
        if isinstance(cell_map, tuple):
            if len(cell_map) != 2:
                raise ConfigError(f"a per-cell map is a (p01, p10) pair of arrays, got {len(cell_map)} items")
            p01, p10 = (np.asarray(a, dtype=np.float64) for a in cell_map)
            if p01.shape != p10.shape:
                raise ConfigError(f"per-cell maps differ in shape: p01 {p01.shape}, p10 {p10.shape}")
            for label, arr in (("p01", p01), ("p10", p10)):
                if not np.all((arr >= 0) & (arr <= 1)):
                    raise ConfigError(
                        f"per-cell {label} map must hold probabilities in [0, 1] (found NaN or out of range)"
                    )
            self._fixed = (p01.ravel(), p10.ravel())
            self.map_size = p01.size
        elif isinstance(cell_map, FaultMapSet):
            self.map_size = int(np.prod(cell_map.shape))
        elif cell_map is not None:
            raise ConfigError(
                f"cell_map must be a FaultMapSet, a (p01, p10) tuple of arrays or None, got {type(cell_map).__name__}"
            )
        if self.map_size == 0:
            raise ConfigError("the per-cell fault map has no cells")

    def iid_rate(self, p01: float, p10: float) -> float | None:
        return 0.0 if self.cell_map is None and p01 == 0.0 and p10 == 0.0 else None

    def chip_faults(self, p01: float, p10: float) -> str:
        if self.cell_map is not None:
            return "measured"
        return "drawn" if p01 + p10 > 0.0 else "none"

    def deterministic_at(self, op: OperatingPoint | None) -> bool:
        """True if a measured map's every cell has rate 0 or 1 at ``op``: every read, every trial the same."""
        if self.cell_map is None:
            return False
        if isinstance(self.cell_map, FaultMapSet):
            if op is None or self.cell_map.knob not in op.knobs:
                return False
            p01, p10 = self.cell_map.cell_rates(float(op.knobs[self.cell_map.knob]))
        else:
            p01, p10 = self._fixed
        return all(bool(np.all((a == 0.0) | (a == 1.0))) for a in (np.asarray(p01), np.asarray(p10)))

    def law(self, data: np.ndarray, ctx: ReadContext) -> FlipLaw | None:
        cells = self._cells(ctx)
        if cells is not None and (cells.pos01.size or cells.pos10.size):
            return None  # cells that fail at random on each read: the explicit path
        words = data ^ self.flips(data, ctx)
        words.setflags(write=False)
        return FlipLaw(words, None, 0.0, 0.0, (0, 0))

    def check_shape(self, name: str, nbits: int, cell_offset: int = 0) -> None:
        if self.map_size is None or self.tile:
            return
        if cell_offset + nbits > self.map_size:
            shape = self.cell_map.shape if isinstance(self.cell_map, FaultMapSet) else self._fixed[0].shape
            raise ConfigError(
                f"the per-cell fault map has {self.map_size} cells (shape {tuple(shape)}) but array {name!r} needs "
                f"cells {cell_offset}..{cell_offset + nbits - 1} (arrays lie on consecutive cells in storing "
                "order); use a larger map, or pass tile=True to wrap around the map"
            )

    def _map_rates(self, ctx: ReadContext) -> tuple[object, Callable[[], tuple[np.ndarray, np.ndarray]]]:
        """A cache label for the rates at this read's operating point, and how to load them."""
        maps = self.cell_map
        if not isinstance(maps, FaultMapSet):
            fixed = self._fixed
            return "fixed", lambda: fixed
        op = ctx.operating_point
        knob = maps.knob
        if op is None:
            raise ConfigError(
                f"a measured fault map is indexed by {knob!r}: set an operating point "
                "(set_operating_point) instead of a bare BER"
            )
        if knob not in op.knobs:
            raise ConfigError(
                f"the operating point of profile {op.profile!r} has knobs {', '.join(op.knobs)}; "
                f"this memory's fault map is indexed by {knob!r}"
            )
        value = float(op.knobs[knob])
        return value, lambda: maps.cell_rates(value)

    def flips_block(self, data: np.ndarray, ctx: ReadContext, events: np.ndarray) -> np.ndarray:
        cells = self._cells(ctx)
        if cells is None or (cells.pos01.size == 0 and cells.pos10.size == 0):  # every read flips the same bits
            row = self.flips(data, ctx)
            return np.broadcast_to(row, (len(events), row.size))
        return super().flips_block(data, ctx, events)

    def _cells(self, ctx: ReadContext) -> _CellMasks | None:
        """The masks of a per-cell map at this read's operating point (None for drawn stuck cells)."""
        if self.cell_map is None:
            return None
        label, rates = self._map_rates(ctx)
        key = ("map", label, ctx.cell_offset)
        if key not in ctx.cache:
            p01, p10 = rates()
            p01 = np.asarray(p01, dtype=np.float64).ravel()
            p10 = np.asarray(p10, dtype=np.float64).ravel()
            ctx.cache.clear()  # one operating point at a time
            ctx.cache[key] = _cell_masks(p01, p10, ctx.nbits, ctx.cell_offset)
        cells: _CellMasks = ctx.cache[key]
        return cells

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        cells = self._cells(ctx)
        if cells is None:
            stuck1, stuck0 = _drawn_stuck(ctx, ctx.p01, ctx.p10)
            return kernels.directional(data, stuck1, stuck0)
        m01 = kernels.sparse_mask(cells.stuck1, cells.pos01, cells.prob01, stream_key(ctx.read_key, 2), ctx.event)
        m10 = kernels.sparse_mask(cells.stuck0, cells.pos10, cells.prob10, stream_key(ctx.read_key, 3), ctx.event)
        return kernels.directional(data, m01, m10)

    def __repr__(self) -> str:
        kind = "drawn" if self.cell_map is None else "map"
        return f"PersistentFaults({kind}, tile={self.tile})"


class MixedFaults(FaultModel):
    """Persistent stuck cells plus transient flips on the other cells.

    Parameters
    ----------
    persistent_fraction : float
        Share f of each flip probability that comes from stuck cells. Measured SRAM
        shows 0.09-0.45 (Stutz et al. 2021 supplement); the default 0.3 lies inside
        that range. The other cells flip per read with
        ``t = (1 - f) p / (1 - f (p01 + p10))`` so the total stays ``p`` exactly.
    """

    name = "mixed"
    masks_are_scratch = True  # broadcast rows are read-only, and the memory checks

    def __init__(self, persistent_fraction: float = 0.3) -> None:
        if (
            isinstance(persistent_fraction, bool)
            or not isinstance(persistent_fraction, (int, float))
            or not 0.0 <= persistent_fraction <= 1.0
        ):
            raise ConfigError(f"persistent_fraction must be in [0, 1], got {persistent_fraction!r}")
        self.persistent_fraction = float(persistent_fraction)

    def iid_rate(self, p01: float, p10: float) -> float | None:
        rate = symmetric_rate(p01, p10)
        if rate is None:
            return None
        return rate if (self.persistent_fraction == 0.0 or rate == 0.0) else None

    def chip_faults(self, p01: float, p10: float) -> str:
        return "drawn" if self.persistent_fraction > 0.0 and p01 + p10 > 0.0 else "none"

    def law(self, data: np.ndarray, ctx: ReadContext) -> FlipLaw | None:
        out, stuck, t01, t10 = self._parts(data, ctx)
        words = data ^ out
        words.setflags(write=False)
        return FlipLaw(words, ~stuck, t01, t10, (0, 0))

    def _parts(self, data: np.ndarray, ctx: ReadContext) -> tuple[np.ndarray, np.ndarray, float, float]:
        """The stuck cells' flips, the stuck mask, and the transient rates of the other cells (0, 0: none)."""
        f = self.persistent_fraction
        s01, s10 = f * ctx.p01, f * ctx.p10
        stuck1, stuck0 = _drawn_stuck(ctx, s01, s10)
        free = 1.0 - s01 - s10
        if free <= 0.0:
            return kernels.directional(data, stuck1, stuck0), stuck1 | stuck0, 0.0, 0.0
        t01 = min((ctx.p01 - s01) / free, 1.0)
        t10 = min((ctx.p10 - s10) / free, 1.0)
        return kernels.directional(data, stuck1, stuck0), stuck1 | stuck0, t01, t10

    def flips(self, data: np.ndarray, ctx: ReadContext) -> np.ndarray:
        out, stuck, t01, t10 = self._parts(data, ctx)
        if t01 == 0.0 and t10 == 0.0:
            return out
        return kernels.mixed_flips(out, data, stuck, ctx.mask(t01, STREAM_P01), ctx.mask(t10, STREAM_P10))

    def flips_block(self, data: np.ndarray, ctx: ReadContext, events: np.ndarray) -> np.ndarray:
        # The stuck part is the same for every read: computed once, the transient masks drawn as one block.
        out, stuck, t01, t10 = self._parts(data, ctx)
        if t01 == 0.0 and t10 == 0.0:
            return np.broadcast_to(out, (len(events), out.size))
        m01, m10 = ctx.masks(t01, STREAM_P01, events), ctx.masks(t10, STREAM_P10, events)
        return out | (~stuck & ((m01 & ~data) | (m10 & data)))  # as kernels.mixed_flips, row by row

    def __repr__(self) -> str:
        return f"MixedFaults(persistent_fraction={self.persistent_fraction:g})"


_REGISTRY: dict[str, Callable[..., FaultModel]] = {
    "transient": TransientFaults,
    "asymmetric": AsymmetricFaults,
    "persistent": PersistentFaults,
    "mixed": MixedFaults,
}


def register_fault_model(name: str, factory: Callable[..., FaultModel]) -> None:
    """Register a fault model class (or factory) under ``name``.

    Parameters
    ----------
    name : str
        The name :func:`get_fault_model` (and ``ApproximateMemory(fault_model=...)``) accepts.
    factory : callable
        Returns a :class:`FaultModel` from keyword options.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"fault model names are non-empty strings, got {name!r}")
    _REGISTRY[name] = factory


def available_fault_models() -> list[str]:
    """Names accepted by :func:`get_fault_model`."""
    return sorted(_REGISTRY)


def get_fault_model(spec: str | FaultModel, **options: Any) -> FaultModel:
    """A fault model from its name (with constructor ``options``) or an instance.

    Parameters
    ----------
    spec : str or FaultModel
        A registered name or a ready instance.
    **options
        Constructor options of a model given by name.

    Raises
    ------
    UnknownNameError
        For an unknown name; the message lists the valid ones.
    ConfigError
        For options the model does not take.
    """
    if isinstance(spec, FaultModel):
        if options:
            raise ConfigError(f"options {sorted(options)} only apply when the fault model is given by name")
        return spec
    if not isinstance(spec, str) or spec not in _REGISTRY:
        raise UnknownNameError(
            f"unknown fault model {spec!r}{suggest(str(spec), _REGISTRY)}; valid: {', '.join(available_fault_models())}"
        )
    try:
        return _REGISTRY[spec](**options)
    except TypeError as err:
        raise ConfigError(f"fault model {spec!r} does not take these options: {err}") from None
