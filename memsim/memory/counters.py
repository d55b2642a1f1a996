"""Read and write statistics of a memory and of each stored array."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from memsim.memory.energy import read_energy_pj
from memsim.profile.operating_point import OperatingPoint

__all__ = ["AccessCounter"]


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
        Bits that came back wrong. For reads the engine served in aggregate (the exact
        fast path), a count drawn from its exact distribution, keyed per read.
    read_energy_pj : float or None
        ``bits_read`` x read energy per bit at the operating point of each read, in pJ;
        None once a read happened at a point without a read energy (a bare ``set_ber``,
        or a profile that does not publish one).
    writes : int
        Number of ``store`` calls.
    bits_written : int
        Bits stored.
    by_granularity : dict
        Reads per :class:`~memsim.memory.granularity.ReadGranularity` tag given by the caller.
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

    def add_reads(
        self,
        nbits: int,
        flipped: int,
        op: OperatingPoint | None,
        granularity: str | None,
        count: int = 1,
    ) -> None:
        """Record ``count`` reads of ``nbits`` bits each, ``flipped`` bits wrong in total.

        Parameters
        ----------
        nbits : int
            Bits per read.
        flipped : int
            Bits that came back wrong, over all ``count`` reads.
        op : OperatingPoint or None
            The operating point of the reads: their energy is :func:`memsim.memory.energy.read_energy_pj`
            (None without one, or one without a read energy).
        granularity : str or None
            Tag counted in :attr:`by_granularity`.
        count : int
            Number of reads.
        """
        self.reads += count
        self.bits_read += count * nbits
        self.bits_flipped += flipped
        if self.read_energy_pj is not None:
            energy = read_energy_pj(op, count * nbits)
            self.read_energy_pj = None if energy is None else self.read_energy_pj + energy
        if granularity is not None:
            self.by_granularity[granularity] = self.by_granularity.get(granularity, 0) + count

    def add_write(self, nbits: int) -> None:
        """Record one write of ``nbits`` bits."""
        self.writes += 1
        self.bits_written += nbits

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable)."""
        return {**asdict(self), "flip_rate": self.flip_rate}
