"""The one bit encoding of memsim, and packed bit arrays.

* A binary value is a bit: **1 <-> +1, 0 <-> -1**; ``sign(0) = +1`` (a zero packs to 1).
* Bits are packed into ``uint64`` words, **element i at bit (i % 64) of word (i // 64)**
  (least significant bit first). Padding bits past ``nbits`` are always 0.
* Multi-bit words (uint8/int8/int16/int32) are stored as their little-endian bytes,
  so bit ``b`` of byte ``j`` is stored bit ``8 j + b``.

:func:`popcount` compiles to ``llvm.ctpop.i64`` inside kernels and returns int64: numba
0.68 does not support ``np.bitwise_count`` in ``@njit``, and an unsigned result
would turn integer accumulations into float adds. It is a plain Python function with
a numba overload, so kernels also run with ``NUMBA_DISABLE_JIT=1``. So are the two
narrow-lane helpers of the convolution kernels: :func:`popcount_lane` (the count at the
operand's own width, so a loop over uint16 lanes vectorises 32 to a 512-bit register)
and :func:`pack_gt` (64 comparisons packed into a word, one vector compare and a mask move
where the CPU has them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from memsim.errors import ConfigError

__all__ = [
    "PackedBits",
    "n_words",
    "pack_bits",
    "pack_gt",
    "pack_signs",
    "pack_words",
    "pad_mask",
    "popcount",
    "popcount_lane",
    "unpack_bits",
    "unpack_words",
]

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("memsim's bit layout assumes a little-endian machine")


def n_words(nbits: int) -> int:
    """Number of uint64 words that hold ``nbits`` bits."""
    return (int(nbits) + 63) // 64


def pad_mask(nbits: int) -> np.uint64:
    """Mask of the valid bits of the last word of an ``nbits``-bit array (all ones if full)."""
    rem = int(nbits) % 64
    return np.uint64(0xFFFFFFFFFFFFFFFF) if rem == 0 else np.uint64((1 << rem) - 1)


def valid_words(nbits: int) -> np.ndarray:
    """All-ones words over ``nbits`` bits, the padding of the last word 0."""
    words = np.full(n_words(nbits), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    if words.size:
        words[-1] = pad_mask(nbits)
    return words


@dataclass(frozen=True, eq=False)
class PackedBits:
    """Bits packed into uint64 words.

    Attributes
    ----------
    words : ndarray of uint64, shape (n_words(nbits),)
        The packed bits (padding bits zero).
    nbits : int
        Number of valid bits.
    shape : tuple of int
        Shape of the unpacked array (``prod(shape) == nbits``).
    """

    words: np.ndarray
    nbits: int
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.words.dtype != np.uint64 or self.words.ndim != 1:
            raise ConfigError(f"words must be a 1-D uint64 array, got {self.words.dtype} with shape {self.words.shape}")
        if self.words.size != n_words(self.nbits):
            raise ConfigError(f"{self.nbits} bits need {n_words(self.nbits)} words, got {self.words.size}")
        if int(np.prod(self.shape, dtype=np.int64)) != self.nbits:
            raise ConfigError(f"shape {self.shape} does not hold {self.nbits} bits")

    def unpack(self) -> np.ndarray:
        """The bits as a bool array of :attr:`shape`."""
        return unpack_bits(self.words, self.nbits).reshape(self.shape)


def pack_words(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Multi-bit words (uint8/int8/int16/int32) as packed uint64 words of their little-endian bytes.

    Returns
    -------
    words : ndarray of uint64
        Bit ``b`` of byte ``j`` is bit ``8 j + b`` of the stream; padding bits are 0.
    nbits : int
        ``8 * array.nbytes``.
    """
    raw = np.ascontiguousarray(array).view(np.uint8).ravel()
    nbits = raw.size * 8
    padded = np.zeros(n_words(nbits) * 8, dtype=np.uint8)
    padded[: raw.size] = raw
    return padded.view(np.uint64), nbits


def unpack_words(words: np.ndarray, nbits: int, dtype: np.dtype | str, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`pack_words`: the first ``nbits // 8`` bytes of ``words`` as ``dtype`` of ``shape``."""
    nbytes = int(nbits) // 8
    return np.ascontiguousarray(words).view(np.uint8)[:nbytes].copy().view(np.dtype(dtype)).reshape(shape)


def pack_bits(bits: np.ndarray) -> PackedBits:
    """Pack a bool (or 0/1) array into :class:`PackedBits` (element i -> bit i % 64 of word i // 64)."""
    arr = np.asarray(bits)
    flat = arr.astype(bool, copy=False).ravel()
    nbits = flat.size
    packed = np.packbits(flat, bitorder="little")
    padded = np.zeros(n_words(nbits) * 8, dtype=np.uint8)
    padded[: packed.size] = packed
    return PackedBits(padded.view(np.uint64), nbits, tuple(arr.shape))


def unpack_bits(words: np.ndarray, nbits: int) -> np.ndarray:
    """Unpack ``nbits`` bits from uint64 ``words`` into a flat bool array."""
    raw = np.ascontiguousarray(words, dtype=np.uint64).view(np.uint8)
    return np.unpackbits(raw, count=int(nbits), bitorder="little").astype(bool)


def pack_signs(values: np.ndarray) -> PackedBits:
    """Pack real values by sign: ``value >= 0`` -> bit 1 (+1), else bit 0 (-1); sign(0) = +1."""
    return pack_bits(np.asarray(values) >= 0)


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    if not isinstance(x, types.Integer):
        return None
    sig = types.int64(x)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        (value,) = args
        value = context.cast(builder, value, signature.args[0], types.uint64)
        return builder.ctpop(value)

    return sig, codegen


def popcount(x: int | np.integer) -> int:
    """Number of set bits of a 64-bit integer, as int64.

    Plain Python under ``NUMBA_DISABLE_JIT=1`` (so kernels run, and are covered, without
    the JIT); inside ``@njit`` code the overload below compiles it to one ``ctpop``.
    """
    return int(np.uint64(x)).bit_count()


@overload(popcount, inline="always")
def _popcount_overload(x):  # type: ignore[no-untyped-def]
    if isinstance(x, types.Integer):
        return lambda x: _ctpop(x)  # type: ignore[call-arg]  # numba passes the typing context
    return None


def _signed(t: types.Type) -> bool:
    """Whether a numba integer type is signed (numba's stubs do not declare the attribute)."""
    return bool(getattr(t, "signed", False))


@intrinsic
def _ctpop_lane(typingctx, x):  # type: ignore[no-untyped-def]
    if not isinstance(x, types.Integer) or _signed(x):
        return None
    sig = x(x)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


def popcount_lane(x: np.unsignedinteger) -> np.unsignedinteger:
    """Number of set bits of an unsigned integer, in its own type (uint16 in, uint16 out).

    Inside ``@njit`` code it compiles to ``ctpop`` at the operand's width, which a loop over
    narrow lanes vectorises at that width (``vpopcntw`` on 32 uint16 lanes, AVX-512 BITALG);
    :func:`popcount` widens to int64 and would widen the lanes with it.
    """
    return type(x)(int(x).bit_count())


@overload(popcount_lane, inline="always")
def _popcount_lane_overload(x):  # type: ignore[no-untyped-def]
    if isinstance(x, types.Integer) and not _signed(x):
        return lambda x: _ctpop_lane(x)  # type: ignore[call-arg]
    return None


@intrinsic
def _pack_gt(typingctx, a, ia, b, ib):  # type: ignore[no-untyped-def]
    # 64 loads of each operand as one <64 x iN> vector, compared into <64 x i1> and bitcast to i64: x86 lowers
    # that to vector compares and a mask move (vpcmpgtw + kmovq with AVX-512), other targets to what they have.
    ok = (
        isinstance(a, types.Array) and isinstance(b, types.Array) and a.ndim == 1 and b.ndim == 1
        and a.dtype == b.dtype and isinstance(a.dtype, types.Integer) and _signed(a.dtype)
        and isinstance(ia, types.Integer) and isinstance(ib, types.Integer)
    )  # fmt: skip
    if not ok:
        return None
    sig = types.uint64(a, ia, b, ib)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aty, iaty, bty, ibty = signature.args
        vec = ir.VectorType(context.get_data_type(aty.dtype), 64)

        def load(arrty, arr, idxty, idx):  # type: ignore[no-untyped-def]
            data = context.make_array(arrty)(context, builder, arr).data
            start = context.cast(builder, idx, idxty, types.intp)
            return builder.load(builder.bitcast(builder.gep(data, [start]), vec.as_pointer()), align=1)

        bits = builder.icmp_signed(">", load(aty, args[0], iaty, args[1]), load(bty, args[2], ibty, args[3]))
        return builder.bitcast(bits, ir.IntType(64))

    return sig, codegen


def pack_gt(a: np.ndarray, ia: int, b: np.ndarray, ib: int) -> np.uint64:
    """The word whose bit ``j`` is ``a[ia + j] > b[ib + j]``, for ``j`` in 0..63.

    ``a`` and ``b`` are 1-D contiguous arrays of one signed integer type with 64 elements
    from ``ia`` and ``ib`` (not checked inside kernels: the caller guarantees it).
    """
    gt = np.asarray(a[ia : ia + 64]) > np.asarray(b[ib : ib + 64])
    return np.uint64(int(np.packbits(gt, bitorder="little").view("<u8")[0]))


@overload(pack_gt, inline="always")
def _pack_gt_overload(a, ia, b, ib):  # type: ignore[no-untyped-def]
    return lambda a, ia, b, ib: _pack_gt(a, ia, b, ib)  # type: ignore[call-arg]
