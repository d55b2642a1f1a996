"""ApproximateMemory: named arrays read back with fresh bit errors on every read.

The memory owns its policy: the fault model decides how a read goes wrong, the
memory derives every read's randomness from the read's identity
(:class:`~memsim.memory.reads.ReadSet`) and counts its own reads (bits read, bits
flipped, energy). The BNN engine sees it through three methods, the
:class:`~memsim.bnn.source.WeightSource` protocol: :meth:`~ApproximateMemory.stored_bits`,
:meth:`~ApproximateMemory.read_words` and :meth:`~ApproximateMemory.symmetric_flips`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim.bits import PackedBits, pack_bits, pack_words, unpack_bits, unpack_words, valid_words
from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.memory import kernels
from memsim.memory.counters import AccessCounter
from memsim.memory.faults import FaultModel, ReadContext, get_fault_model
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.memory.reads import FlipLaw, ReadSet, SymmetricFlips, resolve_seed
from memsim.profile.operating_point import OperatingPoint
from memsim.rng import SCOPE_DIRECT, child_key, read_events, seed_key, stream_key

__all__ = ["WORD_DTYPES", "ApproximateMemory"]

#: Multi-bit word types a memory can hold (stored as their little-endian bytes).
WORD_DTYPES = ("uint8", "int8", "int16", "int32")

#: Sub-stream of a read key used by the engine's fast-path samplers and by their flip counts.
_FAST_STREAM, _COUNT_STREAM = 16, 17


@dataclass
class _Stored:
    words: np.ndarray
    nbits: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    cell_key: tuple[int, int]
    cell_offset: int
    counter: AccessCounter = field(default_factory=AccessCounter)
    cache: dict[Any, Any] = field(default_factory=dict)
    read_keys: dict[int, tuple[int, int]] = field(default_factory=dict)
    _ones: int | None = None

    @property
    def binary(self) -> bool:
        return self.dtype == np.bool_

    @property
    def ones(self) -> int:
        """Number of stored 1 bits (computed once; the stored words never change)."""
        if self._ones is None:
            self._ones = kernels.count_ones(self.words)
        return self._ones

    def read_key(self, seed: int) -> tuple[int, int]:
        """Key of this array's reads in trial ``seed`` (cached: reads come in long runs of one trial)."""
        key = self.read_keys.get(seed)
        if key is None:
            if len(self.read_keys) > 64:
                self.read_keys.clear()
            key = self.read_keys[seed] = child_key(self.cell_key, "reads", seed)
        return key


def _check_probability(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{label} must be a number in [0, 1], got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and 0.0 <= x <= 1.0):
        raise ConfigError(f"{label} must be in [0, 1], got {x!r}")
    return x


class ApproximateMemory:
    """A memory that holds named arrays as bits and returns them with fresh errors on every read.

    The stored data never changes; each read is its own random event drawn from the
    fault model at the current error rates. Rates are 0 until
    :meth:`set_operating_point`, :meth:`set_ber` or :meth:`set_rates` is called.

    Parameters
    ----------
    fault_model : str or FaultModel, default "transient"
        ``transient`` (symmetric, fresh per read), ``asymmetric``, ``persistent``,
        ``mixed`` (persistent + transient), or an instance (see
        :mod:`memsim.memory.faults`).
    seed : int, optional
        Seed of every random draw (via ``numpy.random.SeedSequence``); None draws
        fresh OS entropy. A read's flips are a function of the seed, the array, and
        what the read serves (:class:`~memsim.memory.reads.ReadSet`), whatever the
        thread count, batch sizes or order of calls.
    profile : Profile, optional
        If given, :meth:`set_operating_point` accepts only points of this profile.
    **fault_options
        Options of a fault model given by name, e.g. ``persistent_fraction=0.3`` for
        ``mixed`` or ``cell_map=profile.fault_maps`` for ``persistent``.

    Examples
    --------
    >>> import numpy as np, memsim
    >>> mem = memsim.ApproximateMemory(fault_model="transient", seed=0)
    >>> mem.store("w", np.ones((4, 64), dtype=bool))
    >>> mem.set_ber(0.01)
    >>> noisy = mem.read("w")   # bool array (4, 64) with about 1 % of bits flipped
    """

    def __init__(
        self,
        fault_model: str | FaultModel = "transient",
        seed: int | None = None,
        *,
        profile: Any = None,
        **fault_options: Any,
    ) -> None:
        self._fault_model = get_fault_model(fault_model, **fault_options)
        if seed is not None:
            resolve_seed(seed, "memory seed")
        self.seed = seed
        self._key = seed_key(seed)
        self._chip_key = child_key(self._key, "chip")
        self._direct_reads = 0
        self._arrays: dict[str, _Stored] = {}
        self._next_cell = 0
        self._p01 = 0.0
        self._p10 = 0.0
        self._op: OperatingPoint | None = None
        self._profile = profile
        self.totals = AccessCounter()

    # ----------------------------------------------------------------- state
    @property
    def fault_model(self) -> FaultModel:
        """The fault model in use."""
        return self._fault_model

    @property
    def p01(self) -> float:
        """Current probability that a stored 0 reads as 1."""
        return self._p01

    @property
    def p10(self) -> float:
        """Current probability that a stored 1 reads as 0."""
        return self._p10

    @property
    def ber(self) -> float:
        """Current bit error rate for equiprobable data, ``(p01 + p10) / 2``."""
        return 0.5 * (self._p01 + self._p10)

    @property
    def operating_point(self) -> OperatingPoint | None:
        """The operating point last set (None after :meth:`set_ber` or :meth:`set_rates`)."""
        return self._op

    def set_operating_point(self, op: OperatingPoint) -> None:
        """Use the error rates and read energy of an operating point (cheap; allowed between reads).

        Raises
        ------
        ConfigError
            If ``op`` is not an :class:`OperatingPoint`, or belongs to another profile
            than the one the memory was built for.
        """
        if not isinstance(op, OperatingPoint):
            raise ConfigError(f"expected an OperatingPoint (from Profile.at), got {type(op).__name__}")
        if self._profile is not None and op.profile != self._profile.name:
            raise ConfigError(
                f"this memory models profile {self._profile.name!r} (knobs {', '.join(self._profile.knobs)}); "
                f"got an operating point of profile {op.profile!r} with knobs {', '.join(op.knobs)}"
            )
        self._p01 = _check_probability(op.p01, "operating point p01")
        self._p10 = _check_probability(op.p10, "operating point p10")
        self._op = op

    def set_ber(self, ber: float) -> None:
        """Set a symmetric bit error rate: a stored 0 and a stored 1 flip with probability ``ber``.

        A symmetric BER is in [0, 0.5] everywhere in memsim (profiles, sweeps, training); a
        direction-dependent rate (:meth:`set_rates`) may reach 1 (a stuck cell).

        Raises
        ------
        ConfigError
            For a value outside [0, 0.5] or NaN.
        """
        ber = _check_probability(ber, "ber")
        if ber > 0.5:
            raise ConfigError(
                f"ber must be in [0, 0.5], got {ber!r}: beyond 0.5 symmetric flips invert more bits than they keep "
                "(direction-dependent rates up to 1 go through set_rates)"
            )
        self._p01 = self._p10 = ber
        self._op = None

    def set_rates(self, p01: float, p10: float) -> None:
        """Set direction-dependent rates: a stored 0 flips with ``p01``, a stored 1 with ``p10``.

        Raises
        ------
        ConfigError
            For a value outside [0, 1] or NaN.
        """
        self._p01, self._p10 = _check_probability(p01, "p01"), _check_probability(p10, "p10")
        self._op = None

    # ---------------------------------------------------------------- arrays
    def store(self, name: str, array: np.ndarray | PackedBits) -> None:
        """Write an array into the memory (replacing one of the same name).

        Arrays occupy consecutive cells in storing order (an address space); an array
        replaced by one of the same size keeps its cells.

        Parameters
        ----------
        name : str
            Name to read it back by.
        array : ndarray or PackedBits
            ``bool`` arrays and :class:`~memsim.bits.PackedBits` are binary weights,
            one bit per element (1 = +1). ``uint8``, ``int8``, ``int16`` and ``int32``
            arrays are multi-bit words: every bit of every word can flip.

        Raises
        ------
        ConfigError
            For an unsupported dtype or an array the fault model's map does not fit.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"array names are non-empty strings, got {name!r}")
        if isinstance(array, PackedBits):
            words, nbits, shape, dtype = array.words.copy(), array.nbits, array.shape, np.dtype(bool)
        else:
            arr = np.asarray(array)
            if arr.dtype == np.bool_:
                packed = pack_bits(arr)
                words, nbits, shape, dtype = packed.words, packed.nbits, packed.shape, np.dtype(bool)
            elif arr.dtype.name in WORD_DTYPES:
                words, nbits = pack_words(arr)
                shape, dtype = tuple(arr.shape), arr.dtype
            else:
                raise ConfigError(
                    f"cannot store array {name!r} of dtype {arr.dtype}; supported: bool (binary weights, "
                    f"True = +1; convert +-1 weights with `w >= 0`), {', '.join(WORD_DTYPES)} (multi-bit words) "
                    "or memsim.bits.PackedBits"
                )
        old = self._arrays.get(name)
        offset = old.cell_offset if old is not None and old.nbits == nbits else self._next_cell
        self._fault_model.check_shape(name, nbits, offset)
        if offset == self._next_cell:
            self._next_cell += nbits
        words = np.ascontiguousarray(words)
        words.setflags(write=False)
        self._arrays[name] = _Stored(words, nbits, shape, dtype, child_key(self._key, "array", name), offset)
        self.totals.add_write(nbits)

    @property
    def names(self) -> list[str]:
        """Names of the stored arrays, in storing order."""
        return list(self._arrays)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def _get(self, name: str) -> _Stored:
        try:
            return self._arrays[name]
        except (KeyError, TypeError):
            stored = ", ".join(self._arrays) or "(nothing stored yet)"
            raise UnknownNameError(
                f"no array named {name!r} in this memory{suggest(str(name), self._arrays)}; stored: {stored}"
            ) from None

    def info(self, name: str) -> dict[str, Any]:
        """Shape, dtype, bit count, cell address and read counter of a stored array."""
        s = self._get(name)
        return {
            "name": name,
            "shape": s.shape,
            "dtype": str(s.dtype),
            "nbits": s.nbits,
            "cell_offset": s.cell_offset,
            "counter": s.counter.to_dict(),
        }

    def stored_bits(self, name: str) -> int:
        """Number of bits of a stored array.

        Raises
        ------
        UnknownNameError
            If nothing is stored under ``name``.
        """
        return self._get(name).nbits

    def counter_for(self, name: str) -> AccessCounter:
        """The read counter of one stored array."""
        return self._get(name).counter

    def reset_counters(self) -> None:
        """Zero all counters (totals and per array)."""
        self.totals = AccessCounter()
        for s in self._arrays.values():
            s.counter = AccessCounter()

    def stored(self, name: str) -> np.ndarray:
        """The stored (error-free) array, without a read: for reference computations."""
        s = self._get(name)
        return self._decode(s, s.words)

    # ----------------------------------------------------------------- reads
    def _account(self, s: _Stored, count: int, flipped: int, granularity: str | None) -> None:
        for counter in (self.totals, s.counter):
            counter.add_reads(s.nbits, flipped, self._op, granularity, count)

    def _flip(self, name: str, s: _Stored, read_key: tuple[int, int], event: int) -> tuple[np.ndarray, int]:
        """The words of one read with its flips, and the number of flipped bits."""
        if self._fault_model.iid_rate(self._p01, self._p10) == 0.0:
            return s.words.copy(), 0  # an error-free read is the stored data, bit for bit
        return kernels.xor_count(s.words, self._fault_model.flips(s.words, self._context(name, s, read_key, event)))

    def _context(self, name: str, s: _Stored, read_key: tuple[int, int], event: int) -> ReadContext:
        """What the fault model sees of a read of ``name`` (the first of a block for ``flips_block``)."""
        return ReadContext(
            name,
            s.nbits,
            self._p01,
            self._p10,
            self._op,
            read_key,
            event,
            s.cell_key,
            s.cell_offset,
            s.cache,
            self._chip_key,
        )

    def read_words(self, name: str, reads: ReadSet) -> np.ndarray:
        """The packed words of every read in ``reads``, each with its own flips (counted).

        Parameters
        ----------
        name : str
            A stored array.
        reads : ReadSet
            The reads, named by what they serve: the same read always returns the same words.

        Returns
        -------
        ndarray of uint64, shape (len(reads), n_words)
            Read-only where every read returns the same words (an error-free memory, stuck
            cells): then the rows are one row broadcast (``strides[0] == 0``), which callers may
            use to compute once.
        """
        s = self._get(name)
        key = s.read_key(reads.seed)
        events = reads.events()
        model = self._fault_model
        if model.iid_rate(self._p01, self._p10) == 0.0:  # the stored words, broadcast (read-only)
            out, flipped = np.broadcast_to(s.words, (len(reads), s.words.size)), 0
        elif len(reads) > 1 and hasattr(model, "flips_block"):  # one pass for the block (fault models may override)
            ctx = self._context(name, s, key, int(events[0]))
            masks = np.asarray(model.flips_block(s.words, ctx, events), dtype=np.uint64)
            if masks.shape != (len(reads), s.words.size):
                raise ConfigError(
                    f"{model!r}.flips_block returned shape {masks.shape} for {len(reads)} reads of {s.words.size} words"
                )
            if masks.strides[0] == 0:  # every read flips the same bits (stuck cells): one row, broadcast
                row, f = kernels.xor_count(s.words, np.ascontiguousarray(masks[0]))
                out, flipped = np.broadcast_to(row, masks.shape), f * len(reads)
            else:
                masks = np.ascontiguousarray(masks)
                flipped = kernels.count_ones(masks.ravel())
                # in place where the model hands over scratch masks: no second block-sized allocation
                scratch = getattr(model, "masks_are_scratch", False) and masks.flags.writeable
                out = np.bitwise_xor(masks, s.words, out=masks) if scratch else s.words ^ masks
        else:
            out = np.empty((len(reads), s.words.size), dtype=np.uint64)
            flipped = 0
            for r, event in enumerate(events):
                out[r], f = self._flip(name, s, key, int(event))
                flipped += f
        self._account(s, len(reads), flipped, reads.granularity.value)
        return out

    def symmetric_flips(self, name: str, reads: ReadSet) -> SymmetricFlips | None:
        """Serve ``reads`` in aggregate if every bit of every read flips independently with one probability.

        The fault model decides (:meth:`~memsim.memory.faults.FaultModel.iid_rate`). If it
        can, the reads are counted here, with a number of flipped bits drawn per read from
        its exact distribution ``Bin(zeros, p) + Bin(ones, p)``, and the engine gets the
        probability and the key of its samplers; else None, and the engine reads words.
        """
        s = self._get(name)
        p = self._fault_model.iid_rate(self._p01, self._p10)
        if p is None:
            return None
        key = s.read_key(reads.seed)
        events = reads.events()
        ones = s.ones
        flipped = kernels.flip_counts(s.nbits - ones, ones, p, p, stream_key(key, _COUNT_STREAM), events)
        self._account(s, len(reads), flipped, reads.granularity.value)
        return SymmetricFlips(p, stream_key(key, _FAST_STREAM))

    def flip_law(self, name: str, reads: ReadSet) -> FlipLaw | None:
        """Serve ``reads`` in aggregate if each is fixed words plus independent flips (:class:`FlipLaw`).

        The fault model decides (:meth:`~memsim.memory.faults.FaultModel.law`): stuck cells
        (drawn, or a measured map of rates 0 and 1), asymmetric and mixed faults can. If it
        can, the reads are counted here: each read flips the stuck cells that disagree with
        the stored bits plus a number of free bits drawn from its exact distribution
        ``Bin(free zeros, p01) + Bin(free ones, p10)``; else None, and the engine reads words.
        """
        s = self._get(name)
        law: FlipLaw | None
        if self._fault_model.iid_rate(self._p01, self._p10) == 0.0:
            law = FlipLaw(s.words, None, 0.0, 0.0, (0, 0))
        else:
            law = self._fault_model.law(s.words, self._context(name, s, s.read_key(reads.seed), 0))
            if law is None:
                return None
        key = s.read_key(reads.seed)
        events = reads.events()
        fixed = 0 if law.words is s.words else kernels.count_ones(law.words ^ s.words)
        flipped = fixed * len(reads)
        if not law.fixed:
            free = valid_words(s.nbits) if law.free is None else law.free & valid_words(s.nbits)
            ones = kernels.count_ones(law.words & free)
            zeros = kernels.count_ones(free) - ones
            flipped += kernels.flip_counts(zeros, ones, law.p01, law.p10, stream_key(key, _COUNT_STREAM), events)
        self._account(s, len(reads), flipped, reads.granularity.value)
        return FlipLaw(law.words, law.free, law.p01, law.p10, stream_key(key, _FAST_STREAM))

    def read_packed(self, name: str, granularity: ReadGranularity | str | None = None) -> PackedBits:
        """One direct read of an array as packed words, with fresh flips.

        Direct reads are numbered in the order they are made (the n-th direct read of
        this memory), so unlike :meth:`read_words` they depend on call order.

        Parameters
        ----------
        name : str
            A stored array.
        granularity : ReadGranularity or str, optional
            Tag counted in ``totals.by_granularity``.

        Returns
        -------
        PackedBits
            Words with the flips applied; ``shape`` is the array's shape for binary
            arrays and ``(nbits,)`` for multi-bit words.
        """
        s = self._get(name)
        tag = None if granularity is None else parse_granularity(granularity).value
        event = int(read_events(SCOPE_DIRECT, np.array([self._direct_reads]))[0])
        self._direct_reads += 1
        out, flipped = self._flip(name, s, s.read_key(0), event)
        self._account(s, 1, flipped, tag)
        return PackedBits(out, s.nbits, s.shape if s.binary else (s.nbits,))

    def read(self, name: str, granularity: ReadGranularity | str | None = None) -> np.ndarray:
        """One direct read with fresh errors; same shape and dtype as stored (see :meth:`read_packed`)."""
        s = self._get(name)
        return self._decode(s, self.read_packed(name, granularity).words)

    @staticmethod
    def _decode(s: _Stored, words: np.ndarray) -> np.ndarray:
        if s.binary:
            return unpack_bits(words, s.nbits).reshape(s.shape)
        return unpack_words(words, s.nbits, s.dtype, s.shape)

    def __repr__(self) -> str:
        return (
            f"ApproximateMemory(fault_model={self._fault_model!r}, p01={self._p01:g}, p10={self._p10:g}, "
            f"arrays={self.names})"
        )
