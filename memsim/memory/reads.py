"""Reads named by what they serve: the currency between a memory and the engine.

A read of a stored array is identified by the trial ``seed``, the array, what the
read serves (one image, or one batch of images) with its index in the caller's
*whole* evaluated set, and the read's number within that image (a convolution read
per access reads once per output position). The memory derives every random number
of a read from that identity alone (:func:`memsim.rng.read_events`), so the same
images give the same flips whether they arrive in one call or many, in any order,
on any thread or worker.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from memsim.errors import ConfigError
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.rng import SCOPE_BATCH, SCOPE_IMAGE, read_events

__all__ = ["FlipLaw", "ReadSet", "SymmetricFlips", "resolve_seed"]


def resolve_seed(seed: Any, label: str = "seed") -> int:
    """A trial seed as a non-negative int; None draws one from OS entropy (not reproducible).

    Raises
    ------
    ConfigError
        For a negative or non-integer seed.
    """
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ConfigError(f"{label} must be a non-negative integer or None, got {seed!r}")
    return int(seed)


@dataclass(frozen=True, eq=False)
class ReadSet:
    """A block of reads of one stored array, each named by what it serves.

    Build one with :meth:`images`, :meth:`accesses` or :meth:`batches`.

    Attributes
    ----------
    granularity : ReadGranularity
        What the reads serve (counted by the memory).
    index : ndarray of int64
        Per read, the index of its image (or, for ``per_batch``, its batch) in the
        caller's whole evaluated set.
    access : ndarray of int64
        Per read, its number within the image (0 unless read per access).
    seed : int
        The trial: the same seed and identity give the same read.
    """

    granularity: ReadGranularity
    index: np.ndarray
    access: np.ndarray
    seed: int

    def __post_init__(self) -> None:
        if self.index.shape != self.access.shape or self.index.ndim != 1:
            raise ConfigError(
                f"a ReadSet needs 1-D index and access of one length, got {self.index.shape}, {self.access.shape}"
            )

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def scope(self) -> int:
        """:data:`memsim.rng.SCOPE_BATCH` for per-batch reads, else :data:`memsim.rng.SCOPE_IMAGE`."""
        return SCOPE_BATCH if self.granularity == ReadGranularity.PER_BATCH else SCOPE_IMAGE

    def events(self) -> np.ndarray:
        """The reads' event numbers (uint64), a one-to-one code of (scope, index, access)."""
        return read_events(self.scope, self.index, self.access)

    @classmethod
    def images(
        cls, first: int, count: int, seed: int, granularity: ReadGranularity | str = ReadGranularity.PER_SAMPLE
    ) -> ReadSet:
        """One read for each of the images ``first .. first + count - 1``."""
        index = np.arange(first, first + count, dtype=np.int64)
        return cls(parse_granularity(granularity), index, np.zeros_like(index), seed)

    @classmethod
    def accesses(cls, image: int, count: int, seed: int) -> ReadSet:
        """``count`` reads serving one image, one per access (``per_access``)."""
        access = np.arange(count, dtype=np.int64)
        return cls(ReadGranularity.PER_ACCESS, np.full(count, image, dtype=np.int64), access, seed)

    @classmethod
    def batches(cls, batch_ids: Sequence[int] | np.ndarray, seed: int) -> ReadSet:
        """One read for each batch id (``per_batch``: image i is in batch ``i // batch_size``)."""
        index = np.asarray(batch_ids, dtype=np.int64).ravel()
        return cls(ReadGranularity.PER_BATCH, index, np.zeros_like(index), seed)


@dataclass(frozen=True)
class SymmetricFlips:
    """What a memory serves when every bit of every read flips independently with one probability.

    The engine's exact fast path (:mod:`memsim.bnn.fastpath`) then samples each
    neuron's result from its exact distribution instead of flipping weights. The
    memory has already counted the reads.

    Attributes
    ----------
    p : float
        Flip probability of every bit of every read.
    key : (int, int)
        128-bit key of the sampler's streams; read ``r`` of the set uses the stream of
        event ``ReadSet.events()[r]`` under it.
    """

    p: float
    key: tuple[int, int]


@dataclass(frozen=True, eq=False)
class FlipLaw:
    """What a memory serves when every read is fixed words plus independent flips of the free bits.

    The general form of :class:`SymmetricFlips`: a chip's stuck cells are the same on every
    read (applied to ``words`` once), and the other bits (``free``) flip independently on every
    read with a probability that depends on the bit in ``words`` (``p01`` for a 0, ``p10`` for
    a 1). Stuck cells alone (``p01 = p10 = 0``), asymmetric flips (no stuck cells) and mixed
    faults all have this form; the engine's fast path (:mod:`memsim.bnn.fastpath`) samples a
    dense layer's results from it exactly. The memory has already counted the reads.

    Attributes
    ----------
    words : ndarray of uint64, shape (n_words,)
        What every read starts from: the stored words with the chip's stuck cells applied
        (read-only).
    free : ndarray of uint64 or None
        The bits that flip per read (None: every bit).
    p01, p10 : float
        Flip probabilities of a free bit that holds 0 and 1.
    key : (int, int)
        128-bit key of the sampler's streams (as :attr:`SymmetricFlips.key`).
    """

    words: np.ndarray
    free: np.ndarray | None
    p01: float
    p10: float
    key: tuple[int, int]

    @property
    def fixed(self) -> bool:
        """True if no bit flips per read: every read returns :attr:`words`."""
        return self.p01 == 0.0 and self.p10 == 0.0
