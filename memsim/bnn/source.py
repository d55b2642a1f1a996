"""The one interface between the engine and whatever holds its weights.

:meth:`memsim.BNN.forward` reads a layer's weights through :class:`WeightSource`:
as one image, batch or access sees them (:meth:`~WeightSource.read_words`), or, where
the source can serve them, as exact per-read flip statistics
(:meth:`~WeightSource.symmetric_flips`, the fast path). The engine never inspects a
fault model, and the source counts its own reads. :class:`memsim.ApproximateMemory`
implements it; so can a user's memory model, with no engine change.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from memsim.memory.reads import ReadSet, SymmetricFlips

__all__ = ["ReadSet", "SymmetricFlips", "WeightSource"]


@runtime_checkable
class WeightSource(Protocol):
    """What the engine needs from a memory that holds a network's weights."""

    def stored_bits(self, name: str) -> int:
        """Bits stored under ``name``; raises :class:`~memsim.errors.UnknownNameError` if none."""
        ...

    def read_words(self, name: str, reads: ReadSet) -> np.ndarray:
        """Packed words ``(len(reads), n_words)`` of each read, a function of the read's identity only."""
        ...

    def symmetric_flips(self, name: str, reads: ReadSet) -> SymmetricFlips | None:
        """Count ``reads`` and return their flip law if every bit flips i.i.d. with one probability; else None."""
        ...
