"""Audit a memory: its observed flips against the rates it was set to (the ``memsim memory`` command)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from memsim.errors import ConfigError
from memsim.experiment.rates import Rates, apply_rates
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.faults import FaultModel

__all__ = ["ReadAudit", "audit_reads"]


@dataclass(frozen=True)
class ReadAudit:
    """Observed vs expected flips of repeated reads of a random array.

    Attributes
    ----------
    fault_model : str
        The fault model used.
    nbits, reads : int
        Bits per read and number of reads.
    expected_p01, expected_p10, expected_ber : float
        The rates the memory was set to.
    observed_p01, observed_p10, observed_ber : float
        Flipped fraction of stored 0s, of stored 1s, and of all bits.
    z_ber : float
        ``(flips - n p) / sqrt(n p (1 - p))`` over all bits read (nan if p is 0 or 1).
    read_energy_pj_per_read : float or None
        Energy of one read at the operating point, in pJ.
    seconds_per_read : float
        Wall time of one read as packed words (fault sampling, XOR, counting), in s.
    """

    fault_model: str
    nbits: int
    reads: int
    expected_p01: float
    expected_p10: float
    expected_ber: float
    observed_p01: float
    observed_p10: float
    observed_ber: float
    z_ber: float
    read_energy_pj_per_read: float | None
    seconds_per_read: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable)."""
        return asdict(self)


def audit_reads(
    rates: Rates,
    nbits: int = 1 << 20,
    reads: int = 10,
    fault_model: str | FaultModel = "transient",
    seed: int | None = 0,
    **fault_options: Any,
) -> ReadAudit:
    """Store ``nbits`` random bits, read them ``reads`` times, and compare flips with the rates.

    Parameters
    ----------
    rates : OperatingPoint, float or (p01, p10)
        An operating point (from ``Profile.at``), a symmetric BER, or a pair.
    nbits : int
        Bits in the array (e.g. 5,820,416 for the Fashion FCNN's weights).
    reads : int
        Number of reads.
    fault_model, seed, **fault_options
        As for :class:`ApproximateMemory`.

    Returns
    -------
    ReadAudit
    """
    if isinstance(nbits, bool) or not isinstance(nbits, int) or nbits < 1:
        raise ConfigError(f"nbits must be a positive integer, got {nbits!r}")
    if isinstance(reads, bool) or not isinstance(reads, int) or reads < 1:
        raise ConfigError(f"reads must be a positive integer, got {reads!r}")

    def memory(size: int) -> tuple[ApproximateMemory, np.ndarray]:
        mem = ApproximateMemory(fault_model, seed=seed, **fault_options)
        apply_rates(mem, rates)
        data = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).random(size) < 0.5
        mem.store("data", data)
        return mem, data

    warm, _ = memory(64)
    warm.read_packed("data")  # load the compiled kernels before timing
    mem, data = memory(nbits)
    ones = int(np.count_nonzero(data))
    zeros = nbits - ones
    flips01 = flips10 = 0
    elapsed = 0.0
    for _ in range(reads):
        start = time.perf_counter()
        packed = mem.read_packed("data")
        elapsed += time.perf_counter() - start
        flipped = packed.unpack() != data
        flips10 += int(np.count_nonzero(flipped & data))
        flips01 += int(np.count_nonzero(flipped & ~data))
    n = nbits * reads
    p = mem.ber
    z = (flips01 + flips10 - n * p) / math.sqrt(n * p * (1 - p)) if 0.0 < p < 1.0 else math.nan
    energy = mem.totals.read_energy_pj
    return ReadAudit(
        fault_model=mem.fault_model.name,
        nbits=nbits,
        reads=reads,
        expected_p01=mem.p01,
        expected_p10=mem.p10,
        expected_ber=p,
        observed_p01=flips01 / (zeros * reads) if zeros else math.nan,
        observed_p10=flips10 / (ones * reads) if ones else math.nan,
        observed_ber=(flips01 + flips10) / n,
        z_ber=z,
        read_energy_pj_per_read=None if energy is None else energy / reads,
        seconds_per_read=elapsed / reads,
    )
