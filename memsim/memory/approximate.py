"""ApproximateMemory: named arrays read back with fresh bit errors on every read."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from memsim.bits import PackedBits, n_words, pack_bits, unpack_bits
from memsim.errors import MemsimError, UnknownNameError, suggest
from memsim.memory import kernels
from memsim.memory.faults import FaultModel, ReadContext, get_fault_model
from memsim.profile.operating_point import OperatingPoint
from memsim.rng import derive_key, seed_key

__all__ = ["WORD_DTYPES", "AccessCounter", "ApproximateMemory", "ReadGranularity"]

#: Multi-bit word types a memory can hold (stored as their little-endian bytes).
WORD_DTYPES = ("uint8", "int8", "int16", "int32")


class ReadGranularity(StrEnum):
    """How often a consumer reads its weights; results carry it.

    ``per_batch``: one read (one flip pattern) shared by a batch of inputs, as common
    fault-injection tools do. ``per_sample``: each input reads every weight once,
    with fresh flips (the default). ``per_access``: every use of a weight is a read
    (a 3x3 convolution re-reads its weights at every output position).
    """

    PER_BATCH = "per_batch"
    PER_SAMPLE = "per_sample"
    PER_ACCESS = "per_access"


@dataclass
class AccessCounter:
    """Read statistics of a memory (or of one stored array).

    Attributes
    ----------
    reads : int
        Number of reads.
    bits_read : int
        Bits delivered by those reads.
    bits_flipped : int
        Bits that came back wrong.
    read_energy_pj : float or None
        ``bits_read`` x read energy per bit at the operating point of each read, in pJ;
        None once a read happened at a point without a read energy (a bare ``set_ber``,
        or a profile that does not publish one).
    writes : int
        Number of ``store`` calls.
    bits_written : int
        Bits stored.
    by_granularity : dict
        Reads per :class:`ReadGranularity` tag given by the caller.
    """

    reads: int = 0
    bits_read: int = 0
    bits_flipped: int = 0
    read_energy_pj: float | None = 0.0
    writes: int = 0
    bits_written: int = 0
    by_granularity: dict[str, int] = field(default_factory=dict)

    @property
    def flip_rate(self) -> float:
        """Observed fraction of bits that flipped (nan before any read)."""
        return self.bits_flipped / self.bits_read if self.bits_read else math.nan

    def _add_read(
        self, nbits: int, flipped: int, energy_pj_per_bit: float | None, granularity: str | None, count: int = 1
    ) -> None:
        self.reads += count
        self.bits_read += count * nbits
        self.bits_flipped += flipped
        if self.read_energy_pj is not None:
            self.read_energy_pj = (
                None if energy_pj_per_bit is None else self.read_energy_pj + count * nbits * energy_pj_per_bit
            )
        if granularity is not None:
            self.by_granularity[granularity] = self.by_granularity.get(granularity, 0) + count

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable)."""
        return {**asdict(self), "flip_rate": self.flip_rate}


@dataclass
class _Stored:
    words: np.ndarray
    nbits: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    cell_key: tuple[int, int]
    counter: AccessCounter = field(default_factory=AccessCounter)
    cache: dict[Any, Any] = field(default_factory=dict)
    _ones: int | None = None

    @property
    def binary(self) -> bool:
        return self.dtype == np.bool_

    @property
    def ones(self) -> int:
        """Number of stored 1 bits (computed once; the stored words never change)."""
        if self._ones is None:
            self._ones = int(kernels._count(self.words))
        return self._ones


def parse_granularity(value: Any) -> str:
    """The :class:`ReadGranularity` value of ``value``; a clear error for anything else."""
    try:
        return ReadGranularity(value).value
    except ValueError:
        valid = [g.value for g in ReadGranularity]
        raise MemsimError(
            f"unknown read granularity {value!r}{suggest(str(value), valid)}; valid: {', '.join(valid)}"
        ) from None


def _check_probability(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise MemsimError(f"{label} must be a number in [0, 1], got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and 0.0 <= x <= 1.0):
        raise MemsimError(f"{label} must be in [0, 1], got {x!r}")
    return x


class ApproximateMemory:
    """A memory that holds named arrays as bits and returns them with fresh errors on every read.

    The stored data never changes; each :meth:`read` is its own random event drawn
    from the fault model at the current error rates. Rates are 0 until
    :meth:`set_operating_point` or :meth:`set_ber` is called.

    Parameters
    ----------
    fault_model : str or FaultModel, default "transient"
        ``transient`` (symmetric, fresh per read), ``asymmetric``, ``persistent``,
        ``mixed`` (persistent + transient), or an instance (see
        :mod:`memsim.memory.faults`).
    seed : int, optional
        Seed of every random draw (via ``numpy.random.SeedSequence``). The same seed
        and the same sequence of calls give the same flips, whatever the thread count.
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
        self.seed = seed
        self._key = seed_key(seed)
        self._event = 0
        self._arrays: dict[str, _Stored] = {}
        self._p01 = 0.0
        self._p10 = 0.0
        self._op: OperatingPoint | None = None
        self._profile = profile
        self.counters = AccessCounter()

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
        """The operating point last set (None after :meth:`set_ber`)."""
        return self._op

    def set_operating_point(self, op: OperatingPoint) -> None:
        """Use the error rates and read energy of an operating point (cheap; allowed between reads).

        Raises
        ------
        MemsimError
            If ``op`` is not an :class:`OperatingPoint`, or belongs to another profile
            than the one the memory was built for.
        """
        if not isinstance(op, OperatingPoint):
            raise MemsimError(f"expected an OperatingPoint (from Profile.at), got {type(op).__name__}")
        if self._profile is not None and op.profile != self._profile.name:
            raise MemsimError(
                f"this memory models profile {self._profile.name!r} (knobs {', '.join(self._profile.knobs)}); "
                f"got an operating point of profile {op.profile!r} with knobs {', '.join(op.knobs)}"
            )
        self._p01 = _check_probability(op.p01, "operating point p01")
        self._p10 = _check_probability(op.p10, "operating point p10")
        self._op = op

    def set_ber(self, ber: float | None = None, *, p01: float | None = None, p10: float | None = None) -> None:
        """Set the error rates directly: ``set_ber(0.01)`` (symmetric) or ``set_ber(p01=.., p10=..)``.

        Raises
        ------
        MemsimError
            For a value outside [0, 1], NaN, or an ambiguous combination of arguments.
        """
        if ber is not None and (p01 is not None or p10 is not None):
            raise MemsimError("give either ber or both p01 and p10, not both")
        if ber is not None:
            self._p01 = self._p10 = _check_probability(ber, "ber")
        elif p01 is not None and p10 is not None:
            self._p01, self._p10 = _check_probability(p01, "p01"), _check_probability(p10, "p10")
        else:
            raise MemsimError("give a ber, or both p01 and p10")
        self._op = None

    def set_rates(self, rates: OperatingPoint | float | tuple[float, float]) -> None:
        """:meth:`set_operating_point` for an operating point, :meth:`set_ber` for a BER or a ``(p01, p10)`` pair."""
        if isinstance(rates, OperatingPoint):
            self.set_operating_point(rates)
        elif isinstance(rates, tuple):
            if len(rates) != 2:
                raise MemsimError(f"a rate pair is (p01, p10), got {rates!r}")
            self.set_ber(p01=rates[0], p10=rates[1])
        else:
            self.set_ber(rates)

    # ---------------------------------------------------------------- arrays
    def store(self, name: str, array: np.ndarray | PackedBits) -> None:
        """Write an array into the memory (replacing one of the same name).

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
        MemsimError
            For an unsupported dtype or an array the fault model's map does not fit.
        """
        if not isinstance(name, str) or not name:
            raise MemsimError(f"array names are non-empty strings, got {name!r}")
        if isinstance(array, PackedBits):
            words, nbits, shape, dtype = array.words.copy(), array.nbits, array.shape, np.dtype(bool)
        else:
            arr = np.asarray(array)
            if arr.dtype == np.bool_:
                packed = pack_bits(arr)
                words, nbits, shape, dtype = packed.words, packed.nbits, packed.shape, np.dtype(bool)
            elif arr.dtype.name in WORD_DTYPES:
                raw = np.ascontiguousarray(arr).view(np.uint8).ravel()
                nbits = raw.size * 8
                padded = np.zeros(n_words(nbits) * 8, dtype=np.uint8)
                padded[: raw.size] = raw
                words, shape, dtype = padded.view(np.uint64), tuple(arr.shape), arr.dtype
            else:
                raise MemsimError(
                    f"cannot store array {name!r} of dtype {arr.dtype}; supported: bool (binary weights, "
                    f"True = +1; convert +-1 weights with `w >= 0`), {', '.join(WORD_DTYPES)} (multi-bit words) "
                    "or memsim.bits.PackedBits"
                )
        self._fault_model.check_shape(name, nbits)
        words = np.ascontiguousarray(words)
        words.setflags(write=False)
        self._arrays[name] = _Stored(words, nbits, shape, dtype, derive_key(self._key, name))
        self.counters.writes += 1
        self.counters.bits_written += nbits

    @property
    def names(self) -> list[str]:
        """Names of the stored arrays, in storing order."""
        return list(self._arrays)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def _get(self, name: str) -> _Stored:
        try:
            return self._arrays[name]
        except KeyError:
            stored = ", ".join(self._arrays) or "(nothing stored yet)"
            raise UnknownNameError(
                f"no array named {name!r} in this memory{suggest(str(name), self._arrays)}; stored: {stored}"
            ) from None

    def info(self, name: str) -> dict[str, Any]:
        """Shape, dtype, bit count and read counter of a stored array."""
        s = self._get(name)
        return {"name": name, "shape": s.shape, "dtype": str(s.dtype), "nbits": s.nbits, "counter": s.counter.to_dict()}

    def counter(self, name: str) -> AccessCounter:
        """The read counter of one stored array."""
        return self._get(name).counter

    def reset_counters(self) -> None:
        """Zero all counters (totals and per array)."""
        self.counters = AccessCounter()
        for s in self._arrays.values():
            s.counter = AccessCounter()

    def stored(self, name: str) -> np.ndarray:
        """The stored (error-free) array, without a read: for reference computations."""
        s = self._get(name)
        return self._decode(s, s.words)

    # ----------------------------------------------------------------- reads
    def read_packed(
        self,
        name: str,
        rng: np.random.Generator | None = None,
        granularity: ReadGranularity | str | None = None,
    ) -> PackedBits:
        """Read an array as packed words with this read's errors (the engine's fast path).

        Parameters
        ----------
        name : str
            A stored array.
        rng : numpy.random.Generator, optional
            Source of this read's randomness; default: the memory's own seeded stream.
        granularity : ReadGranularity or str, optional
            Tag counted in ``counters.by_granularity`` (``per_batch``, ``per_sample``, ``per_access``).

        Returns
        -------
        PackedBits
            Words with the flips applied; ``shape`` is the array's shape for binary
            arrays and ``(nbits,)`` for multi-bit words.
        """
        s = self._get(name)
        tag = None if granularity is None else parse_granularity(granularity)
        read_key, event = self.draw_read_key(rng)
        if self._p01 == 0.0 and self._p10 == 0.0 and self._fault_model.name in ("transient", "asymmetric", "mixed"):
            out, flipped = s.words.copy(), 0  # an error-free read is the stored data, bit for bit
        else:
            ctx = ReadContext(name, s.nbits, self._p01, self._p10, self._op, read_key, event, s.cell_key, s.cache)
            flips = self._fault_model.flips(s.words, ctx)
            out = np.empty_like(s.words)
            flipped = int(kernels._xor_count(s.words, flips, out))
        energy = None if self._op is None else self._op.read_energy_pj_per_bit
        for counter in (self.counters, s.counter):
            counter._add_read(s.nbits, flipped, energy, tag)
        return PackedBits(out, s.nbits, s.shape if s.binary else (s.nbits,))

    def draw_read_key(self, rng: np.random.Generator | None = None) -> tuple[tuple[int, int], int]:
        """The stream key and event number of the next read event (advances the memory's stream).

        With ``rng``, the key is drawn from it (event 0); else it is the memory's seeded key
        with its next event number. Kernels derive every random number of the event from these.
        """
        if rng is not None:
            if not isinstance(rng, np.random.Generator):
                raise MemsimError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
            k0, k1 = (int(v) for v in rng.integers(0, 2**64, size=2, dtype=np.uint64))
            return (k0, k1), 0
        event = self._event
        self._event += 1
        return self._key, event

    def account_reads(
        self,
        name: str,
        count: int,
        key: tuple[tuple[int, int], int],
        granularity: ReadGranularity | str | None = None,
    ) -> None:
        """Count ``count`` reads of ``name`` whose flips a consumer sampled in aggregate.

        The BNN engine's exact fast path never materialises flipped weights; it still
        reads every weight once per image. This records those reads, their bits and
        energy, and a number of flipped bits drawn from its exact distribution,
        ``Bin(zeros * count, p01) + Bin(ones * count, p10)`` (seeded by ``key``).
        """
        s = self._get(name)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise MemsimError(f"count must be a non-negative integer, got {count!r}")
        tag = None if granularity is None else parse_granularity(granularity)
        (k0, k1), event = key
        ones = s.ones
        gen = np.random.default_rng([k0 & 0xFFFFFFFF, k0 >> 32, k1 & 0xFFFFFFFF, k1 >> 32, event])
        flipped = int(gen.binomial(count * (s.nbits - ones), self._p01)) + int(gen.binomial(count * ones, self._p10))
        energy = None if self._op is None else self._op.read_energy_pj_per_bit
        for counter in (self.counters, s.counter):
            counter._add_read(s.nbits, flipped, energy, tag, count)

    def read(
        self,
        name: str,
        rng: np.random.Generator | None = None,
        granularity: ReadGranularity | str | None = None,
    ) -> np.ndarray:
        """Read an array with fresh errors; same shape and dtype as stored.

        Parameters are as for :meth:`read_packed`. Every call is an independent
        read event, counted in :attr:`counters`.
        """
        s = self._get(name)
        return self._decode(s, self.read_packed(name, rng, granularity).words)

    @staticmethod
    def _decode(s: _Stored, words: np.ndarray) -> np.ndarray:
        if s.binary:
            return unpack_bits(words, s.nbits).reshape(s.shape)
        nbytes = s.nbits // 8
        return np.ascontiguousarray(words).view(np.uint8)[:nbytes].copy().view(s.dtype).reshape(s.shape)

    def __repr__(self) -> str:
        return (
            f"ApproximateMemory(fault_model={self._fault_model!r}, p01={self._p01:g}, p10={self._p10:g}, "
            f"arrays={self.names})"
        )
