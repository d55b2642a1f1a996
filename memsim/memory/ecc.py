"""Error-correcting codes on the approximate memory: SECDED Hamming codes, their decoder and its price.

A code protects each group of ``k`` data bits of an array with ``n - k`` check bits stored in the
same memory, where they flip like data bits. A read is decoded per codeword from its syndrome, as a
hardware decoder does it (:func:`decode_errors`):

- syndrome 0: nothing to do (an error pattern that is itself a codeword passes undetected);
- odd overall parity and a syndrome that names a bit: that bit is flipped back (a single error is
  corrected; three errors whose syndrome names a fourth bit are *mis-corrected*, as in real
  decoders);
- odd parity and a syndrome naming no bit of the shortened code, or even parity and a nonzero
  syndrome: *detected uncorrectable*, handled by the policy: ``leave`` the word as read, ``zero``
  it, or ``count`` it as a detected failure (left as read and reported per read).

Each codeword of a read that held any raw flip ends in one of three outcomes: ``corrected`` (its
data is right after decoding), ``detected`` (uncorrectable, flagged) or ``silent`` (its data is
wrong and nothing flagged it). The codes are extended Hamming codes (Hamming 1950; the parity
bit over the whole word makes them SECDED), shortened to ``k`` data bits:

======== ===== ===== ================
name       n     k   check bits
======== ===== ===== ================
secded8    13     8   5 (62.5 %)
secded16   22    16   6 (37.5 %)
secded32   39    32   7 (21.9 %)
secded64   72    64   8 (12.5 %)
======== ===== ===== ================

Decoder energy and delay are not published for these codes at a node memsim's profiles use, so
they are *derived* and marked so (:data:`DECODER_SOURCE`): a syndrome tree of ``r`` parity checks
over the codeword's columns (XOR gates), a syndrome decoder and a correcting XOR per data bit,
each two-input gate charged at Horowitz's 32-bit add (ISSCC 2014, 45 nm: 0.1 pJ for about 32 full
adders of 5 gates, 0.6 fJ per gate). Override them (``Code.with_costs``) for your decoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import numba as nb
import numpy as np

from memsim.errors import ConfigError, UnknownNameError, suggest

__all__ = [
    "CODES",
    "DECODER_SOURCE",
    "POLICIES",
    "Code",
    "DecodeCounts",
    "decode_errors",
    "decode_reads",
    "encode_array",
    "get_code",
]

#: What happens to a detected-uncorrectable codeword's data.
POLICIES = ("leave", "zero", "count")

#: Energy of one two-input gate evaluation, in pJ: Horowitz ISSCC 2014 (45 nm) 32-bit add 0.1 pJ over
#: about 160 gate equivalents (32 full adders of 5 gates).
_GATE_PJ = 0.1 / 160
#: Delay of one two-input XOR level, in ns (about one FO4 at 45 nm: 15-20 ps; Horowitz's scaling notes).
_GATE_NS = 0.02
DECODER_SOURCE = (
    "derived, not measured: two-input gates of the syndrome trees, a syndrome match per data bit and the "
    "correcting XORs x 0.6 fJ per gate (Horowitz ISSCC 2014, 45 nm: 32-bit add 0.1 pJ / 160 gates); delay: the "
    "gate levels (tree depth + match + XOR) x 20 ps"
)


@dataclass(frozen=True)
class Code:
    """A shortened extended-Hamming SECDED code: ``k`` data bits, ``n - k`` check bits per codeword.

    Attributes
    ----------
    name : str
    n, k : int
        Codeword and data bits (``k`` divides 64: a codeword's data never straddles two stored words).
    columns : ndarray of int64, shape (n,)
        The parity-check matrix by column: data bits first, then the Hamming check bits, then the
        overall parity bit. Bits ``0..r-1`` of a column are its Hamming syndrome, bit ``r`` its
        overall parity (``r = n - k - 1``).
    decode_pj : float
        Energy of decoding one codeword, in pJ (:data:`DECODER_SOURCE`).
    decode_ns : float
        Delay the decoder adds to a read, in ns.
    """

    name: str
    n: int
    k: int
    columns: np.ndarray
    decode_pj: float
    decode_ns: float

    @property
    def check_bits(self) -> int:
        """Check bits per codeword (``n - k``)."""
        return self.n - self.k

    @property
    def r(self) -> int:
        """Hamming syndrome bits (the check bits but the overall parity)."""
        return self.n - self.k - 1

    @property
    def overhead(self) -> float:
        """Stored bits per data bit, minus one (0.125 for ``secded64``)."""
        return self.check_bits / self.k

    def with_costs(self, decode_pj: float | None = None, decode_ns: float | None = None) -> Code:
        """This code with another decoder energy [pJ per codeword] or delay [ns]."""
        for label, value in (("decode_pj", decode_pj), ("decode_ns", decode_ns)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{label} must be a non-negative number, got {value!r}")
        return replace(
            self,
            decode_pj=self.decode_pj if decode_pj is None else float(decode_pj),
            decode_ns=self.decode_ns if decode_ns is None else float(decode_ns),
        )

    @property
    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lookup tables of the decoder: data syndromes per byte lane, check-bit syndromes, bit per syndrome."""
        return _tables(self.name, self.n, self.k)

    def encode(self, data: np.ndarray) -> np.ndarray:
        """Check bits of each ``k``-bit data group, as integers (bit ``j``: check bit ``j``).

        Parameters
        ----------
        data : ndarray of uint64
            One data group per element (its low ``k`` bits).
        """
        lane, _, _ = self.tables
        syn = np.zeros(np.shape(data), dtype=np.int64)
        d = np.asarray(data, dtype=np.uint64)
        for b in range(self.k // 8):
            syn ^= lane[b][((d >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.intp)]
        # check bit j (j < r) has column e_j + overall; the overall bit has column "overall" alone
        hamming = syn & ((1 << self.r) - 1)
        parity = ((syn >> self.r) & 1) ^ (_popcount(hamming) & 1)
        return hamming | (parity << self.r)

    def __repr__(self) -> str:
        return f"Code({self.name}: ({self.n},{self.k}) SECDED, {self.decode_pj:.3g} pJ per codeword decoded)"


def _popcount(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    y = x.copy()
    while np.any(y):
        out += y & 1
        y >>= 1
    return out


def _hamming(k: int) -> Code:
    r = 1
    while (1 << r) - r - 1 < k:
        r += 1
    n = k + r + 1
    positions = [p for p in range(1, 1 << r) if p & (p - 1)][:k]  # Hamming positions that are not powers of 2
    overall = 1 << r
    columns = [p | overall for p in positions] + [(1 << j) | overall for j in range(r)] + [overall]
    row_weights = [sum(c >> i & 1 for c in columns) for i in range(r + 1)]
    gates_tree = sum(row_weights) - (r + 1)  # two-input XORs of the r + 1 parity trees
    gates = gates_tree + (r + 1) * k + k  # + an (r+1)-input match per data bit + its correcting XOR
    depth = math.ceil(math.log2(max(row_weights))) + math.ceil(math.log2(r + 1)) + 1
    return Code(f"secded{k}", n, k, np.array(columns, dtype=np.int64), gates * _GATE_PJ, depth * _GATE_NS)


#: The codes by name.
CODES: dict[str, Code] = {c.name: c for c in (_hamming(8), _hamming(16), _hamming(32), _hamming(64))}


def get_code(name: str | Code) -> Code:
    """A code by name (``secded64``, ``secded32``, ``secded16``, ``secded8``) or the code itself."""
    if isinstance(name, Code):
        return name
    aliases = {"secded": "secded64", "hamming72": "secded64", "hamming39": "secded32", "hamming22": "secded16"}
    key = aliases.get(str(name).lower(), str(name).lower())
    if key not in CODES:
        raise UnknownNameError(f"unknown code {name!r}{suggest(str(name), CODES)}; codes: {', '.join(CODES)}")
    return CODES[key]


@cache
def _tables(name: str, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    code = CODES[name] if name in CODES else _hamming(k)
    cols = code.columns
    lanes = np.zeros((max(k // 8, 1), 256), dtype=np.int64)
    for b in range(lanes.shape[0]):
        for v in range(256):
            s = 0
            for j in range(8):
                if v >> j & 1 and 8 * b + j < k:
                    s ^= int(cols[8 * b + j])
            lanes[b, v] = s
    checks = np.zeros(1 << (n - k), dtype=np.int64)
    for v in range(checks.size):
        s = 0
        for j in range(n - k):
            if v >> j & 1:
                s ^= int(cols[k + j])
        checks[v] = s
    # the bit a syndrome names: data bit j -> j, check bit j -> k + j, none -> -1
    position = np.full(1 << (n - k), -1, dtype=np.int64)
    for j, c in enumerate(cols):
        position[int(c)] = j
    return lanes, checks, position


# ----------------------------------------------------------------------------- decoding
@dataclass(frozen=True)
class DecodeCounts:
    """What decoding counted, over reads.

    Attributes
    ----------
    raw_flips : int
        Flipped bits as read, data and check bits.
    corrected, detected, silent : int
        Codewords with raw flips whose data came out right, that were flagged uncorrectable, and
        whose data came out wrong unflagged (mis-corrected or undetected).
    codewords : int
        Codewords decoded.
    detected_reads : ndarray of int64
        Per read, its detected-uncorrectable codewords.
    """

    raw_flips: int = 0
    corrected: int = 0
    detected: int = 0
    silent: int = 0
    codewords: int = 0
    detected_reads: np.ndarray | None = None

    def __add__(self, other: DecodeCounts) -> DecodeCounts:
        return DecodeCounts(
            self.raw_flips + other.raw_flips,
            self.corrected + other.corrected,
            self.detected + other.detected,
            self.silent + other.silent,
            self.codewords + other.codewords,
            None,
        )

    def to_dict(self) -> dict[str, int]:
        """The counters (without the per-read detail)."""
        return {
            "raw_flips": self.raw_flips,
            "corrected": self.corrected,
            "detected": self.detected,
            "silent": self.silent,
            "codewords": self.codewords,
        }


@nb.njit(cache=True, inline="always")
def _popcount64(x: np.uint64) -> np.int64:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@nb.njit(cache=True)
def _decode_row(
    data: np.ndarray,
    check: np.ndarray,
    stored: np.ndarray,
    stored_check: np.ndarray,
    ncw: int,
    k: int,
    nc: int,
    lanes: np.ndarray,
    checks: np.ndarray,
    position: np.ndarray,
    zero: bool,
    counts: np.ndarray,
) -> int:
    """Decode one read in place (``data``, ``check``: its received words); returns its detected codewords.

    A linear code's syndrome is the error pattern's: ``e = received ^ stored`` per codeword, zero for
    almost every codeword at the error rates a memory is run at, which costs one compare; a single
    flipped bit is always corrected, without its syndrome.
    """
    per_word = 64 // k
    kmask = np.uint64(0xFFFFFFFFFFFFFFFF) if k == 64 else (np.uint64(1) << np.uint64(k)) - np.uint64(1)
    cmask = (np.uint64(1) << np.uint64(nc)) - np.uint64(1)
    r = nc - 1
    detected = 0
    for w in range(data.shape[0]):
        word_err = data[w] ^ stored[w]
        first = w * per_word
        last = min(first + per_word, ncw)
        # the check fields of this word's codewords, bits first * nc .. last * nc of the check array: at most
        # 40 bits (secded8: 8 codewords x 5), so one or two stored words
        lo = first * nc
        hi = last * nc
        cw = lo >> 6
        check_err = (check[cw] ^ stored_check[cw]) >> np.uint64(lo & 63)
        if (lo & 63) + (hi - lo) > 64:
            check_err |= (check[cw + 1] ^ stored_check[cw + 1]) << np.uint64(64 - (lo & 63))
        if hi - lo < 64:
            check_err &= (np.uint64(1) << np.uint64(hi - lo)) - np.uint64(1)
        if word_err == 0 and check_err == 0:
            continue
        residual = word_err
        for i in range(first, last):
            sh = np.uint64((i - first) * k)
            e = (word_err >> sh) & kmask
            c = (check_err >> np.uint64((i - first) * nc)) & cmask
            if e == 0 and c == 0:
                continue
            flips = _popcount64(e) + _popcount64(c)
            counts[0] += flips
            if flips == 1:  # a single error: the decoder corrects it
                counts[1] += 1
                residual &= ~(kmask << sh)
                continue
            s = checks[np.int64(c)]
            x = e
            b = 0
            while x != 0:
                byte = np.int64(x & np.uint64(0xFF))
                if byte:
                    s ^= lanes[b, byte]
                x >>= np.uint64(8)
                b += 1
            flagged = False
            if s != 0:
                if (s >> r) & 1:  # odd number of errors: correct the bit the syndrome names, if any
                    j = position[s]  # the overall bit alone names the parity bit: data untouched
                    if j < 0:
                        flagged = True
                    elif j < k:
                        e ^= np.uint64(1) << np.uint64(j)
                else:  # even, nonzero: two (or more) errors seen
                    flagged = True
            if flagged:
                counts[2] += 1
                detected += 1
                if zero:  # the word reads as 0: its residual error is the stored data
                    e = (stored[w] >> sh) & kmask
            elif e == 0:
                counts[1] += 1
            else:
                counts[3] += 1
            residual = (residual & ~(kmask << sh)) | (e << sh)
        data[w] = stored[w] ^ residual
    return detected


@nb.njit(cache=True, parallel=True)
def _decode_kernel(
    data: np.ndarray,
    check: np.ndarray,
    stored: np.ndarray,
    stored_check: np.ndarray,
    ncw: int,
    k: int,
    nc: int,
    lanes: np.ndarray,
    checks: np.ndarray,
    position: np.ndarray,
    zero: bool,
    counts: np.ndarray,
    detected_reads: np.ndarray,
) -> None:
    """Decode every read (one per row, in parallel: a read's result depends on that read alone)."""
    for row in nb.prange(data.shape[0]):
        detected_reads[row] = _decode_row(data[row], check[row], stored, stored_check, ncw, k, nc, lanes, checks,
                                          position, zero, counts[row])  # fmt: skip


def decode_reads(
    code: Code,
    data: np.ndarray,
    check: np.ndarray,
    stored: np.ndarray,
    stored_check: np.ndarray,
    nbits: int,
    policy: str = "leave",
) -> DecodeCounts:
    """Decode reads in place: ``data`` (each read's received data words) becomes the decoded words.

    Parameters
    ----------
    code : Code
    data : ndarray of uint64, shape (reads, data words)
        Each read's data as received (packed, ``nbits`` valid bits); overwritten with the decoded data.
    check : ndarray of uint64, shape (reads, check words)
        Each read's check bits as received (packed, ``n - k`` per codeword, in codeword order).
    stored, stored_check : ndarray of uint64
        What was written: the data and its check bits (:func:`encode_array`).
    nbits : int
        Data bits; a multiple of ``code.k``.
    policy : {"leave", "zero", "count"}
        A detected-uncorrectable codeword's data: as read, zero, or as read and counted per read.
    """
    if policy not in POLICIES:
        raise ConfigError(f"policy {policy!r}: choose one of {', '.join(POLICIES)}")
    if nbits % code.k:
        raise ConfigError(f"{nbits} data bits do not split into {code.name}'s {code.k}-bit codewords")
    ncw = nbits // code.k
    lanes, checks, position = code.tables
    per_row = np.zeros((data.shape[0], 4), dtype=np.int64)
    per_read = np.zeros(data.shape[0], dtype=np.int64)
    _decode_kernel(
        data, np.ascontiguousarray(check), stored, stored_check, ncw, code.k, code.check_bits, lanes, checks,
        position, policy == "zero", per_row, per_read,
    )  # fmt: skip
    counts = per_row.sum(axis=0)
    return DecodeCounts(int(counts[0]), int(counts[1]), int(counts[2]), int(counts[3]), ncw * data.shape[0], per_read)


def decode_errors(
    code: Code,
    err_data: np.ndarray,
    err_check: np.ndarray,
    stored: np.ndarray,
    nbits: int,
    policy: str = "leave",
) -> DecodeCounts:
    """Decode reads given as error patterns; ``err_data`` becomes each read's residual data errors (in place).

    The same decoder as :func:`decode_reads` (a linear code's syndrome depends on the error pattern
    only); the check bits' stored values do not matter and are taken as zero.
    """
    received = err_data ^ stored[None, :]
    counts = decode_reads(code, received, err_check, stored, np.zeros(err_check.shape[1], np.uint64), nbits, policy)
    np.bitwise_xor(received, stored[None, :], out=err_data)
    return counts


def encode_array(code: Code, words: np.ndarray, nbits: int) -> np.ndarray:
    """The packed check bits of a packed data array: ``n - k`` bits per ``k``-bit codeword, in codeword order.

    Raises
    ------
    ConfigError
        If ``nbits`` is not a multiple of ``code.k``.
    """
    if nbits % code.k:
        raise ConfigError(f"{nbits} data bits do not split into {code.name}'s {code.k}-bit codewords")
    ncw = nbits // code.k
    per_word = 64 // code.k
    groups = np.empty(ncw, dtype=np.uint64)
    kmask = np.uint64(0xFFFFFFFFFFFFFFFF) if code.k == 64 else np.uint64((1 << code.k) - 1)
    for j in range(per_word):
        idx = np.arange(j, ncw, per_word)
        groups[idx] = (words[idx // per_word] >> np.uint64(j * code.k)) & kmask
    check = code.encode(groups).astype(np.uint64)
    nc = code.check_bits
    out = np.zeros((ncw * nc + 63) // 64, dtype=np.uint64)
    for b in range(nc):  # scatter bit b of every codeword's check field
        pos = np.arange(ncw, dtype=np.int64) * nc + b
        bit = (check >> np.uint64(b)) & np.uint64(1)
        np.bitwise_or.at(out, pos >> 6, bit << (pos & 63).astype(np.uint64))
    return out
