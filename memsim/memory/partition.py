"""A memory made of regions, each at its own operating point and optionally with an error-correcting code.

What a designer changes besides the voltage: the first and last layers or the thresholds kept at
nominal voltage while the bulk runs low, SECDED on the words that matter, the top bits of every
weight in a safe array. A :class:`Partitioning` names the regions (knob values of the profile, a
fixed BER, or the swept point), assigns arrays to them by name pattern (``layer0``, ``*.threshold``,
``*.weight``; the rest go to the default region, ``main``) and moves named bit positions of chosen
arrays (the sign bit of a threshold, the top bits of an m-bit weight) to a protected region.
:class:`PartitionedMemory` is the memory it describes: a :class:`~memsim.bnn.source.WeightSource`
(the engine runs on it unchanged), one :class:`~memsim.memory.approximate.ApproximateMemory` per
region, the check bits of a coded region stored beside the data in that region (they flip like data
bits) and decoded per read (:mod:`memsim.memory.ecc`).

Each region is its own physical array: its stuck cells come from its own chip key (the default
region's is the memory's, so a partitioning that puts everything in ``main`` reads exactly as a plain
:class:`~memsim.memory.approximate.ApproximateMemory`). Reads of a region without a code or protected
bits keep the engine's exact fast paths; the others are read and decoded explicitly.

What a read costs is counted per region (:meth:`PartitionedMemory.region_counts`): data and check bits
read, codewords decoded, and the decoder's counters; :func:`partition_energy` turns them into energy
per inference by part.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim.bits import PackedBits, pack_bits, valid_words
from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.counters import AccessCounter
from memsim.memory.ecc import POLICIES, Code, DecodeCounts, decode_reads, encode_array, get_code
from memsim.memory.energy import read_energy_pj
from memsim.memory.faults import FaultModel, get_fault_model
from memsim.memory.reads import FlipLaw, ReadSet, SymmetricFlips
from memsim.profile.operating_point import OperatingPoint
from memsim.rng import child_key, seed_key

__all__ = [
    "DEFAULT_REGION",
    "REGION_FIELDS",
    "PartitionEnergy",
    "PartitionedMemory",
    "Partitioning",
    "Protect",
    "Region",
    "RegionCounts",
    "partition_energy",
]

#: The region every array not assigned elsewhere lives in; it follows the swept operating point.
DEFAULT_REGION = "main"

#: Pattern aliases: what a designer calls them, and the memory's array names.
_ALIASES = {"thresholds": "*.threshold", "weights": "*weight*"}


def _alias(pattern: str) -> str:
    return _ALIASES.get(pattern, pattern)


@dataclass(frozen=True)
class Region:
    """One region of a partitioned memory.

    Attributes
    ----------
    name : str
    knobs : tuple of (knob, value)
        Knob values this region holds whatever the sweep does (``nominal`` for all of the profile's
        nominal values, ``ber`` for a bare bit error rate); knobs not named follow the swept point.
        Empty: the region follows the swept point entirely.
    code : str or None
        An error-correcting code on its words (:data:`memsim.memory.ecc.CODES`).
    policy : {"leave", "zero", "count"}
        What a detected-uncorrectable codeword reads as (:mod:`memsim.memory.ecc`).
    decode_pj, decode_ns : float or None
        The decoder's energy per codeword [pJ] and delay [ns]; None: the code's derived values.
    """

    name: str
    knobs: tuple[tuple[str, Any], ...] = ()
    code: str | None = None
    policy: str = "leave"
    decode_pj: float | None = None
    decode_ns: float | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"region names are letters, digits, '-' and '_', got {self.name!r}")
        if self.code is not None:
            get_code(self.code)
        if self.policy not in POLICIES:
            raise ConfigError(f"region {self.name!r}: policy {self.policy!r}; choose one of {', '.join(POLICIES)}")

    @property
    def ecc(self) -> Code | None:
        """The code with this region's decoder costs, or None."""
        if self.code is None:
            return None
        return get_code(self.code).with_costs(self.decode_pj, self.decode_ns)

    @property
    def follows(self) -> bool:
        """Whether the region's operating point moves with the sweep (no fixed knob)."""
        return not self.knobs

    @classmethod
    def parse(cls, text: str) -> Region:
        """``NAME=KNOB:VALUE[,KNOB:VALUE...]``: ``safe=nominal``, ``low=vdd_over_vmin:0.8,ecc:secded64``,
        ``main=ecc:secded64,policy:zero``, ``exact=ber:0``; ``NAME`` alone follows the sweep."""
        name, _, rest = text.partition("=")
        name = name.strip()
        knobs: list[tuple[str, Any]] = []
        options: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            if part == "nominal":
                knobs.append(("nominal", True))
                continue
            key, sep, value = part.partition(":")
            if not sep or not value:
                raise ConfigError(
                    f"--partition {text!r}: {part!r} is not KNOB:VALUE (e.g. vdd_over_vmin:0.8, ecc:secded64, "
                    "policy:zero, nominal)"
                )
            key = key.strip().replace("-", "_")
            if key in ("ecc", "code"):
                options["code"] = None if value == "none" else value
            elif key == "policy":
                options["policy"] = value
            elif key in ("decode_pj", "decode_ns"):
                options[key] = _number(value, f"--partition {text!r}: {key}")
            else:
                knobs.append((key, _value(value)))
        return cls(name, tuple(knobs), **options)

    def describe(self) -> str:
        """The region as :meth:`parse` reads it."""
        parts = [f"{k}:{v}" if k != "nominal" else "nominal" for k, v in self.knobs]
        if self.code:
            parts.append(f"ecc:{self.code}")
            if self.policy != "leave":
                parts.append(f"policy:{self.policy}")
        return f"{self.name}={','.join(parts)}" if parts else self.name


def _number(text: str, label: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{label} must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{label} must be a non-negative number, got {text!r}")
    return value


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Protect:
    """Bit positions of each word of the matching arrays, kept in another region.

    Attributes
    ----------
    pattern : str
        Array names (``fnmatch``; ``thresholds`` and ``weights`` are aliases).
    msb : int
        The top ``msb`` bits of each word (the sign bit of a two's complement word is its top bit).
    region : str
    """

    pattern: str
    msb: int
    region: str

    @classmethod
    def parse(cls, text: str) -> Protect:
        """``PATTERN=msb:K@REGION``: ``thresholds=msb:1@safe`` keeps every threshold's sign bit in ``safe``."""
        pattern, sep, rest = text.partition("=")
        what, at, region = rest.partition("@")
        key, colon, count = what.partition(":")
        if not (sep and at and colon and key.strip() == "msb" and pattern.strip() and region.strip()):
            raise ConfigError(f"--protect {text!r}: expected PATTERN=msb:K@REGION, e.g. thresholds=msb:1@safe")
        try:
            k = int(count)
        except ValueError:
            raise ConfigError(f"--protect {text!r}: msb:K needs a whole number of bits, got {count!r}") from None
        if k < 1:
            raise ConfigError(f"--protect {text!r}: msb:K needs K >= 1, got {k}")
        return cls(pattern.strip(), k, region.strip())

    def describe(self) -> str:
        return f"{self.pattern}=msb:{self.msb}@{self.region}"


@dataclass(frozen=True)
class Partitioning:
    """The regions of a memory, which arrays live where, and which bits are protected where.

    Parameters
    ----------
    regions : sequence of Region
        The regions; ``main`` (following the swept point, no code) is added if not given.
    assign : sequence of (pattern, region)
        Arrays whose name matches ``pattern`` live in ``region``; an array two patterns match is
        an error, and so is a pattern that matches no array.
    protect : sequence of Protect
        Bit positions kept in another region.

    Examples
    --------
    >>> p = Partitioning.parse(["safe=nominal"], ["thresholds=safe"], ecc="secded64")
    >>> p.describe()
    'main=ecc:secded64; safe=nominal; thresholds->safe'
    """

    regions: tuple[Region, ...] = ()
    assign: tuple[tuple[str, str], ...] = ()
    protect: tuple[Protect, ...] = ()

    def __post_init__(self) -> None:
        regions = tuple(self.regions)
        names = [r.name for r in regions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"region {dupes[0]!r} is defined twice")
        if DEFAULT_REGION not in names:
            regions = (Region(DEFAULT_REGION), *regions)
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "assign", tuple((str(p), str(r)) for p, r in self.assign))
        object.__setattr__(self, "protect", tuple(self.protect))
        known = {r.name for r in regions}
        for pattern, region in self.assign:
            if region not in known:
                raise UnknownNameError(
                    f"--assign {pattern}={region}: no region named {region!r}{suggest(region, known)}; "
                    f"regions: {', '.join(sorted(known))}"
                )
        for p in self.protect:
            if p.region not in known:
                raise UnknownNameError(
                    f"--protect {p.describe()}: no region named {p.region!r}{suggest(p.region, known)}; "
                    f"regions: {', '.join(sorted(known))}"
                )

    @classmethod
    def parse(
        cls,
        partitions: Iterable[str] = (),
        assign: Iterable[str] = (),
        ecc: str | None = None,
        protect: Iterable[str] = (),
        policy: str | None = None,
    ) -> Partitioning:
        """From the CLI's ``--partition``, ``--assign PATTERN=REGION``, ``--ecc`` (a code on ``main``,
        unless ``main`` is defined with its own) and ``--protect``."""
        regions = [Region.parse(t) for t in partitions]
        pairs = []
        for text in assign:
            pattern, sep, region = text.partition("=")
            if not sep or not pattern.strip() or not region.strip():
                raise ConfigError(f"--assign {text!r}: expected PATTERN=REGION, e.g. layer0=safe or thresholds=safe")
            pairs.append((pattern.strip(), region.strip()))
        if ecc is not None or policy is not None:
            main = next((r for r in regions if r.name == DEFAULT_REGION), Region(DEFAULT_REGION))
            regions = [r for r in regions if r.name != DEFAULT_REGION]
            main = Region(main.name, main.knobs, ecc if ecc is not None else main.code,
                          policy if policy is not None else main.policy, main.decode_pj, main.decode_ns)  # fmt: skip
            regions.insert(0, main)
        return cls(tuple(regions), tuple(pairs), tuple(Protect.parse(t) for t in protect))

    @property
    def trivial(self) -> bool:
        """One region following the sweep, no code, nothing assigned or protected: a plain memory."""
        return len(self.regions) == 1 and self.regions[0].code is None and not self.assign and not self.protect

    def region(self, name: str) -> Region:
        """A region by name."""
        for r in self.regions:
            if r.name == name:
                return r
        raise UnknownNameError(f"no region named {name!r}; regions: {', '.join(r.name for r in self.regions)}")

    def region_of(self, array: str) -> str:
        """The region an array lives in (the default unless a pattern assigns it)."""
        hits = [(p, r) for p, r in self.assign if fnmatch.fnmatchcase(array, _alias(p))]
        if len({r for _, r in hits}) > 1:
            raise ConfigError(
                f"array {array!r} is assigned twice: {' and '.join(f'{p}={r}' for p, r in hits)}; make the "
                "patterns disjoint"
            )
        return hits[0][1] if hits else DEFAULT_REGION

    def protection_of(self, array: str) -> Protect | None:
        """The protected bits of an array, or None."""
        hits = [p for p in self.protect if fnmatch.fnmatchcase(array, _alias(p.pattern))]
        if len(hits) > 1:
            raise ConfigError(
                f"array {array!r} has two protections: {' and '.join(p.describe() for p in hits)}; make the "
                "patterns disjoint"
            )
        return hits[0] if hits else None

    def check_names(self, names: Sequence[str]) -> None:
        """Refuse patterns that match none of the stored arrays (a typo would silently protect nothing)."""
        for pattern, region in self.assign:
            if not any(fnmatch.fnmatchcase(n, _alias(pattern)) for n in names):
                raise ConfigError(
                    f"--assign {pattern}={region} matches no array; the arrays: {', '.join(names)}"
                    + suggest(pattern, names)
                )
        for p in self.protect:
            if not any(fnmatch.fnmatchcase(n, _alias(p.pattern)) for n in names):
                raise ConfigError(
                    f"--protect {p.describe()} matches no array; the arrays: {', '.join(names)}"
                    + suggest(p.pattern, names)
                )
        for n in names:
            self.region_of(n)
            self.protection_of(n)

    def point(self, region: Region, swept: Any, profile: Any) -> Any:
        """The rates of ``region`` when the sweep is at ``swept`` (an operating point, or a BER)."""
        if region.follows:
            return swept
        knobs = dict(region.knobs)
        if "ber" in knobs:
            ber = knobs.pop("ber")
            if knobs:
                raise ConfigError(f"region {region.name!r}: 'ber' fixes the rate alone; drop {', '.join(knobs)}")
            if not isinstance(ber, float) or not 0.0 <= ber <= 0.5:
                raise ConfigError(f"region {region.name!r}: ber must be a number in [0, 0.5], got {ber!r}")
            return ber
        if profile is None:
            raise ConfigError(
                f"region {region.name!r} sets knobs ({region.describe()}) but the sweep has no profile: sweep a "
                "profile, or fix the region's rate with ber:VALUE"
            )
        nominal = knobs.pop("nominal", False)
        base = {} if nominal or not isinstance(swept, OperatingPoint) else dict(swept.knobs)
        for k in knobs:
            if k not in profile.knobs:
                raise UnknownNameError(
                    f"region {region.name!r}: profile {profile.name!r} has no knob {k!r}{suggest(k, profile.knobs)}; "
                    f"its knobs: {', '.join(profile.knobs)}"
                )
        base.update(knobs)
        extrapolate = bool(getattr(swept, "extrapolated", False))
        return profile.at_knobs(base, extrapolate=extrapolate)

    def describe(self) -> str:
        """One line: the regions, assignments and protections."""
        parts = [r.describe() for r in self.regions]
        parts += [f"{p}->{r}" for p, r in self.assign]
        parts += [p.describe() for p in self.protect]
        return "; ".join(parts)


# ------------------------------------------------------------------------------ the memory
@dataclass
class RegionCounts:
    """What the reads of one region cost: bits stored and read (check bits included) and decoding.

    Attributes
    ----------
    bits_stored : int
        Cells the region's arrays occupy (data, check bits, protected bits).
    check_bits_stored : int
    bits_read, check_bits_read : int
        Bits read (data and check) and the check bits among them.
    codewords : int
        Codewords decoded.
    decode : DecodeCounts
        Raw flips, corrected, detected and silent codewords.
    """

    bits_stored: int = 0
    check_bits_stored: int = 0
    bits_read: int = 0
    check_bits_read: int = 0
    codewords: int = 0
    decode: DecodeCounts = field(default_factory=DecodeCounts)


@dataclass
class _Array:
    name: str
    region: str
    nbits: int
    word_bits: int
    words: np.ndarray
    check: np.ndarray | None = None
    protect: Protect | None = None
    mask: np.ndarray | None = None  # the protected positions (packed)
    protected_bits: int = 0
    check_bits: int = 0


class PartitionedMemory:
    """A memory of regions at their own operating points (a :class:`~memsim.bnn.source.WeightSource`).

    Parameters
    ----------
    partitioning : Partitioning
    fault_model : str or FaultModel
        The fault model of every region.
    seed : int, optional
        The chip: the default region's stuck cells are those of an
        :class:`~memsim.memory.approximate.ApproximateMemory` with this seed; another region's come
        from (seed, region name).
    profile : Profile, optional
        The profile whose knobs the regions set (required where a region fixes knobs).
    word_bits : mapping, optional
        Bits per word of arrays stored as packed bits (an m-bit network's codes), by name: the
        protected positions are counted from each word's top. Words of ``int16`` and friends know
        their width; a binary array's word is one bit.
    """

    def __init__(
        self,
        partitioning: Partitioning,
        fault_model: str | FaultModel = "transient",
        seed: int | None = None,
        *,
        profile: Any = None,
        word_bits: Mapping[str, int] | None = None,
        **fault_options: Any,
    ) -> None:
        self.partitioning = partitioning
        self._fault = get_fault_model(fault_model, **fault_options)
        self.seed = seed
        self._profile = profile
        self.word_bits = dict(word_bits or {})
        self._mems: dict[str, ApproximateMemory] = {}
        for r in partitioning.regions:
            own = seed is None or r.name == DEFAULT_REGION
            mem_seed = seed if own else child_key(seed_key(seed), "region", r.name)[0] >> 1
            self._mems[r.name] = ApproximateMemory(self._fault, seed=mem_seed, profile=profile)
        self._arrays: dict[str, _Array] = {}
        self._counts = {r.name: RegionCounts() for r in partitioning.regions}
        self._swept: Any = 0.0
        self._points: dict[str, Any] = {}
        self.detected_events: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ rates
    def _apply(self, swept: Any) -> None:
        self._swept = swept
        for r in self.partitioning.regions:
            point = self.partitioning.point(r, swept, self._profile)
            self._points[r.name] = point
            mem = self._mems[r.name]
            if isinstance(point, OperatingPoint):
                mem.set_operating_point(point)
            elif isinstance(point, tuple):
                mem.set_rates(*point)
            else:
                mem.set_ber(point)

    def set_operating_point(self, op: OperatingPoint) -> None:
        """The swept point: regions that follow it take it, the others their own knobs over it."""
        self._apply(op)

    def set_ber(self, ber: float) -> None:
        """A bare BER for the regions that follow the sweep (regions with fixed knobs need a profile)."""
        self._apply(ber)

    def set_rates(self, p01: float, p10: float) -> None:
        """Direction-dependent rates for the regions that follow the sweep."""
        self._apply((p01, p10))

    def region_point(self, name: str) -> Any:
        """The operating point (or BER) a region is at."""
        return self._points.get(name, self._swept)

    @property
    def fault_model(self) -> FaultModel:
        return self._fault

    @property
    def ber(self) -> float:
        """The default region's symmetric BER."""
        return self._mems[DEFAULT_REGION].ber

    @property
    def p01(self) -> float:
        return self._mems[DEFAULT_REGION].p01

    @property
    def p10(self) -> float:
        return self._mems[DEFAULT_REGION].p10

    # ----------------------------------------------------------------- arrays
    def store(self, name: str, array: np.ndarray | PackedBits) -> None:
        """Write an array into its region (with its check bits, and its protected bits in theirs).

        Everything is checked before anything is stored: a code whose data size does not divide the
        array, protected bits of a word narrower than them, a code and protected bits together.
        """
        region_name = self.partitioning.region_of(name)
        region = self.partitioning.region(region_name)
        if isinstance(array, PackedBits):
            nbits, width = int(array.nbits), 1
        else:
            arr = np.asarray(array)
            width = 1 if arr.dtype == np.bool_ else int(arr.dtype.itemsize * 8)
            nbits = int(arr.size) * width
        width = int(self.word_bits.get(name, width))
        code = region.ecc
        if code is not None and nbits % code.k:
            raise ConfigError(
                f"array {name!r} holds {nbits} bits, not a multiple of {code.name}'s {code.k}-bit codewords: "
                f"choose a code whose data size divides {nbits} (secded8, 16, 32 or 64)"
            )
        protect = self.partitioning.protection_of(name)
        if protect is not None:
            if code is not None:
                raise ConfigError(
                    f"--protect {protect.describe()}: {name!r} lives in {region_name!r}, which has a code; protected "
                    "bits move out of a region without one (protect, or code, not both yet)"
                )
            if self.partitioning.region(protect.region).ecc is not None:
                raise ConfigError(
                    f"--protect {protect.describe()}: a protected region with a code is not supported yet; protect "
                    "into a region at a safe operating point instead"
                )
            if protect.region == region_name:
                raise ConfigError(f"--protect {protect.describe()}: {name!r} already lives in {region_name!r}")
            if protect.msb > width:
                raise ConfigError(
                    f"--protect {protect.describe()}: {name!r} has {width}-bit words, fewer than {protect.msb} bits"
                )
            if nbits % width:
                raise ConfigError(f"array {name!r}: {nbits} bits are not whole {width}-bit words")
        old = self._arrays.pop(name, None)
        if old is not None:  # replaced: its cells are counted anew
            self._counts[old.region].bits_stored -= (
                old.nbits - old.protected_bits + (0 if old.check is None else old.check_bits)
            )
            self._counts[old.region].check_bits_stored -= 0 if old.check is None else old.check_bits
            if old.protect is not None:
                self._counts[old.protect.region].bits_stored -= old.protected_bits
        mem = self._mems[region_name]
        mem.store(name, array)
        words = np.asarray(mem._get(name).words)
        entry = _Array(name, region_name, nbits, width, words)
        counts = self._counts[region_name]
        counts.bits_stored += nbits
        if code is not None:
            entry.check = encode_array(code, words, nbits)
            entry.check_bits = nbits // code.k * code.check_bits
            mem.store(f"{name}#check", PackedBits(entry.check, entry.check_bits, (entry.check_bits,)))
            counts.bits_stored += entry.check_bits
            counts.check_bits_stored += entry.check_bits
        if protect is not None:
            bits = np.zeros(nbits, dtype=bool)
            for j in range(width - protect.msb, width):
                bits[j::width] = True
            entry.mask = pack_bits(bits).words
            entry.protect = protect
            entry.protected_bits = int(bits.sum())
            # the protected region holds the whole array for the simulation; it is charged the protected bits only
            self._mems[protect.region].store(f"{name}#protected", PackedBits(words.copy(), nbits, (nbits,)))
            self._counts[protect.region].bits_stored += entry.protected_bits
            counts.bits_stored -= entry.protected_bits
        self._arrays[name] = entry

    @property
    def names(self) -> list[str]:
        """The stored arrays (data only), in storing order."""
        return list(self._arrays)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def _get(self, name: str) -> _Array:
        try:
            return self._arrays[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"no array named {name!r} in this memory{suggest(str(name), self._arrays)}; "
                f"stored: {', '.join(self._arrays) or '(nothing stored yet)'}"
            ) from None

    def stored_bits(self, name: str) -> int:
        """Data bits of a stored array (check bits and protected copies are the memory's business)."""
        return self._get(name).nbits

    def stored(self, name: str) -> np.ndarray:
        """The stored array, without a read."""
        a = self._get(name)
        return self._mems[a.region].stored(name)

    def region_counts(self) -> dict[str, RegionCounts]:
        """Per region: bits stored and read, check bits, codewords decoded and their outcomes."""
        return self._counts

    def arrays_in(self, region: str) -> int:
        """How many stored arrays live in ``region``."""
        return sum(a.region == region for a in self._arrays.values())

    def region_of(self, name: str) -> str:
        """The region a stored array lives in."""
        return self._get(name).region

    # ------------------------------------------------------------------ reads
    def _plain(self, a: _Array) -> bool:
        return a.check is None and a.protect is None

    def _charge(self, a: _Array, reads: int) -> None:
        counts = self._counts[a.region]
        counts.bits_read += reads * (a.nbits - a.protected_bits)
        if a.protect is not None:
            self._counts[a.protect.region].bits_read += reads * a.protected_bits

    def symmetric_flips(self, name: str, reads: ReadSet) -> SymmetricFlips | None:
        """The default region's exact fast path for arrays without a code or protected bits."""
        a = self._get(name)
        if not self._plain(a):
            return None
        out = self._mems[a.region].symmetric_flips(name, reads)
        if out is not None:
            self._charge(a, len(reads))
        return out

    def flip_law(self, name: str, reads: ReadSet) -> FlipLaw | None:
        """A region's flip law for arrays without a code; protected bits join it where their region is exact."""
        a = self._get(name)
        if a.check is not None:
            return None
        if a.protect is not None:
            pmem = self._mems[a.protect.region]
            if pmem.fault_model.iid_rate(pmem.p01, pmem.p10) != 0.0:
                return None
        mem = self._mems[a.region]
        law = mem.flip_law(name, reads)
        if law is None and a.protect is not None:  # i.i.d. flips are the law of the stored words, all bits free
            sym = mem.symmetric_flips(name, reads)
            law = None if sym is None else FlipLaw(a.words, None, sym.p, sym.p, sym.key)
        if law is None:
            return None
        self._charge(a, len(reads))
        if a.protect is None:
            return law
        assert a.mask is not None
        # protected bits are read exactly: the stored bit, never free
        words = (np.asarray(law.words) & ~a.mask) | (a.words & a.mask)
        free = (valid_words(a.nbits) if law.free is None else law.free) & ~a.mask
        return FlipLaw(words, free, law.p01, law.p10, law.key)

    def read_words(self, name: str, reads: ReadSet) -> np.ndarray:
        """Each read's words, decoded where the region has a code, with the protected bits from their region."""
        a = self._get(name)
        mem = self._mems[a.region]
        words = mem.read_words(name, reads)
        self._charge(a, len(reads))
        if self._plain(a):
            return words
        if a.check is not None:
            region = self.partitioning.region(a.region)
            code = region.ecc
            assert code is not None
            check = mem.read_words(f"{name}#check", reads)
            if not words.flags.writeable or words.strides[0] == 0:
                words = np.array(words)  # one row broadcast (no flips, or stuck cells only): decode a copy
            counts = decode_reads(code, words, check, a.words, a.check, a.nbits, region.policy)
            c = self._counts[a.region]
            check_bits = len(reads) * (a.nbits // code.k) * code.check_bits
            c.check_bits_read += check_bits
            c.bits_read += check_bits
            c.codewords += counts.codewords
            c.decode = c.decode + counts
            if region.policy == "count" and counts.detected_reads is not None:
                for row in np.nonzero(counts.detected_reads)[0]:
                    self.detected_events.add((reads.granularity.value, int(reads.index[row])))
        if a.protect is not None:
            assert a.mask is not None
            prot = self._mems[a.protect.region].read_words(f"{a.name}#protected", reads)
            words = (words & ~a.mask) | (prot & a.mask)
        return words

    def reset_counters(self) -> None:
        """Zero every count."""
        self._counts = {r.name: RegionCounts(bits_stored=c.bits_stored, check_bits_stored=c.check_bits_stored)
                        for r, c in zip(self.partitioning.regions, self._counts.values(), strict=True)}  # fmt: skip
        for m in self._mems.values():
            m.reset_counters()
        self.detected_events.clear()

    def counter_for(self, name: str) -> AccessCounter:
        """The read counter of a stored array's data (in its region; check bits and protected bits apart)."""
        a = self._get(name)
        return self._mems[a.region].counter_for(name)

    @property
    def totals(self) -> AccessCounter:
        """Reads over every region: data and check bits read (protected bits once, in their region), raw flips
        of data and check bits as read (flips at protected positions are counted in the main region's array),
        and their read energy at each region's point."""
        out = AccessCounter()
        for a in self._arrays.values():
            out.reads += self._mems[a.region].counter_for(a.name).reads
        energy: float | None = 0.0
        for region, counts in self._counts.items():
            mem = self._mems[region]
            out.bits_read += counts.bits_read
            part = read_energy_pj(mem.operating_point, counts.bits_read)
            energy = None if part is None or energy is None else energy + part
        for a in self._arrays.values():
            mem = self._mems[a.region]
            out.bits_flipped += mem.counter_for(a.name).bits_flipped
            if a.check is not None:
                out.bits_flipped += mem.counter_for(f"{a.name}#check").bits_flipped
        out.read_energy_pj = energy
        return out

    def __repr__(self) -> str:
        return f"PartitionedMemory({self.partitioning.describe()}, arrays={self.names})"


#: Fields of a region's counts as :class:`~memsim.experiment.evaluate.Evaluation` carries them.
REGION_FIELDS = (
    "bits_read", "check_bits_read", "codewords", "raw_flips", "corrected", "detected", "silent", "bits_stored",
    "arrays",
)  # fmt: skip


@dataclass(frozen=True)
class PartitionEnergy:
    """The energy of one inference on a partitioned memory, with the price of protection apart.

    Attributes
    ----------
    breakdown : EnergyBreakdown
        Reads (data, check bits and decoding, each region at its point), leakage and refresh
        (each region's share of its point's power by the bits it stores), compute.
    regions : dict
        Per region, its read, decoding and leakage energy [pJ] (None where its point publishes none).
    ecc_pj : float or None
        What the codes cost: their check bits' reads plus decoding [pJ].
    decoder_pj : float
        Decoding alone [pJ].
    decode_ns : float
        Delay the decoders add to one inference [ns] (one decoder latency per coded array fetched).
    """

    breakdown: Any
    regions: dict[str, float | None]
    ecc_pj: float | None
    decoder_pj: float
    decode_ns: float


def partition_energy(
    partitioning: Partitioning,
    points: Mapping[str, Any],
    per_inference: Mapping[str, Sequence[float]],
    ops: float,
    latency_ns: float | None,
    compute_pj_per_op: float,
) -> PartitionEnergy:
    """The energy of one inference from each region's counts per inference (:data:`REGION_FIELDS` order).

    ``points``: each region's operating point (or bare BER: no energy). Leakage is each region's
    point's leakage power times the inference time, times the region's share of the stored bits.
    """
    from memsim.memory.energy import EnergyBreakdown, refresh_energy_pj

    stored_total = sum(float(c[7]) for c in per_inference.values()) or 1.0
    read: float | None = 0.0
    leak: float | None = 0.0
    refresh: float | None = 0.0
    ecc: float | None = 0.0
    decoder = 0.0
    decode_ns = 0.0
    missing: dict[str, str] = {}
    regions: dict[str, float | None] = {}
    for region in partitioning.regions:
        c = per_inference.get(region.name)
        if c is None:
            continue
        bits, check_bits, codewords, stored, arrays = float(c[0]), float(c[1]), float(c[2]), float(c[7]), float(c[8])
        op = points.get(region.name)
        code = region.ecc
        dec = 0.0 if code is None else codewords * code.decode_pj
        decode_ns += 0.0 if code is None or not codewords else arrays * code.decode_ns
        decoder += dec
        per_bit = op.read_energy_pj_per_bit if isinstance(op, OperatingPoint) else None
        if per_bit is None:
            if bits:
                missing["read"] = f"region {region.name!r}: its point publishes no read energy"
            read = ecc = None
            regions[region.name] = None
            continue
        mine = bits * per_bit + dec
        if read is not None:
            read += mine
        if ecc is not None and code is not None:
            ecc += check_bits * per_bit + dec
        lk = None
        if isinstance(op, OperatingPoint) and op.leakage_mw is not None and latency_ns is not None:
            lk = op.leakage_mw * latency_ns * stored / stored_total
        elif stored:
            missing["leakage"] = f"region {region.name!r}: no leakage power or no inference time"
            leak = None
        if leak is not None and lk is not None:
            leak += lk
        # each region refreshes its own cells at its own interval: its share of the rank's refresh power
        rf = refresh_energy_pj(op if isinstance(op, OperatingPoint) else None, latency_ns, missing)
        rf = None if rf is None else rf * stored / stored_total
        refresh = None if (refresh is None or rf is None) else refresh + rf
        regions[region.name] = mine + (lk or 0.0) + (rf or 0.0)
    breakdown = EnergyBreakdown(read, leak, 0.0, ops * compute_pj_per_op, missing, refresh)
    return PartitionEnergy(breakdown, regions, ecc, decoder, decode_ns)
