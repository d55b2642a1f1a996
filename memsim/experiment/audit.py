"""Audit a memory: its observed flips against the rates it was set to (the ``memsim memory`` command)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from memsim.errors import ConfigError
from memsim.experiment.conditions import Rates, apply_rates
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
        ``(flips - n p) / sd`` of the flips over all reads, with ``sd`` over the independent units
        (``z_over``); nan if p is 0 or 1, or for a measured map.
    z_over : str
        What ``z_ber`` is over: ``bits x reads`` (fresh flips on every read: the binomial sd),
        ``bits`` (stuck cells repeat in every read, so only bits are independent: the sd of the sum
        of per-bit flip counts, from their sample variance), or ``none`` (a measured map: the cells
        read are one fixed part of one chip, not a sample, so the observed rate is the rate of the
        cells read and differs from the whole chip's without any error).
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
    z_over: str
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
    chip = mem.fault_model.chip_faults(mem.p01, mem.p10)
    per_bit = np.zeros(nbits, dtype=np.int32)  # flips of each bit over the reads
    elapsed = 0.0
    for _ in range(reads):
        start = time.perf_counter()
        packed = mem.read_packed("data")
        elapsed += time.perf_counter() - start
        per_bit += packed.unpack() != data
    flips10 = int(per_bit[data].sum())
    flips01 = int(per_bit[~data].sum())
    n = nbits * reads
    p = mem.ber
    # A stored 0 flips with p01, a stored 1 with p10: the expectation is over the array's own 0s and 1s.
    mean = reads * (zeros * mem.p01 + ones * mem.p10)
    z, over = math.nan, "none"
    if chip == "none":  # every read fresh: bits x reads independent Bernoulli draws
        over = "bits x reads"
        var = reads * (zeros * mem.p01 * (1 - mem.p01) + ones * mem.p10 * (1 - mem.p10))
        if var > 0.0:
            z = (flips01 + flips10 - mean) / math.sqrt(var)
    elif chip == "drawn":  # a bit's flips repeat across reads: the bits are the independent units
        over = "bits"
        var = float(per_bit.var(ddof=1)) if nbits > 1 else 0.0
        if var > 0.0:
            z = (flips01 + flips10 - mean) / math.sqrt(nbits * var)
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
        z_over=over,
        read_energy_pj_per_read=None if energy is None else energy / reads,
        seconds_per_read=elapsed / reads,
    )
