"""Energy of one inference at an operating point: memory reads, leakage, refresh, writes and compute.

``E = bits_read x read_pj_per_bit + (leakage_mw + refresh_mw) x latency_ns
+ bits_written x write_pj_per_bit + ops x compute_pj_per_op`` (mW x ns = pJ). The memory part is
all but the last; refresh is its own part (DRAM only: its power scales with 64 ms over the
refresh interval, so relaxing refresh shows up there). Every part
the profile does not publish (or that needs a latency memsim does not have) is ``None``
with the reason in :attr:`EnergyBreakdown.missing`, never a made-up number, and the sums
name what they leave out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from memsim.errors import ConfigError
from memsim.profile.operating_point import OperatingPoint

__all__ = [
    "COMPUTE_PJ_PER_OP",
    "COMPUTE_PJ_SOURCE",
    "MAC_PJ_SOURCE",
    "EnergyBreakdown",
    "inference_energy",
    "mac_pj",
    "read_energy_pj",
    "refresh_energy_pj",
]

#: Energy of one XNOR-popcount bit operation, in pJ: an upper bound. Horowitz, "Computing's energy
#: problem (and what we can do about it)", ISSCC 2014, gives 0.03 pJ for an 8-bit integer add in
#: 45 nm at 0.9 V; one XNOR plus its share of a popcount adder tree costs no more than that add.
#: Override it for your accelerator (``compute_pj_per_op=``, CLI ``--compute-pj-per-op``).
COMPUTE_PJ_PER_OP = 0.03
COMPUTE_PJ_SOURCE = "Horowitz, ISSCC 2014 (45 nm 8-bit add, 0.03 pJ): an upper bound per XNOR-popcount bit op"

#: Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V): 8-bit integer multiply 0.2 pJ, 32-bit integer
#: add 0.1 pJ (32-bit multiply 3.1 pJ: an array multiplier's energy grows with the product of
#: its operand widths, 0.2 x 32 x 32 / 64 = 3.2 pJ).
_MULT8_PJ, _ADD32_PJ = 0.2, 0.1
MAC_PJ_SOURCE = (
    "Horowitz, ISSCC 2014 (45 nm): 8x8-bit multiply 0.2 pJ scaled by the product of the operand widths, "
    "plus a 32-bit accumulate 0.1 pJ"
)


def mac_pj(weight_bits: int, activation_bits: int = 8) -> float:
    """Energy of one multiply-accumulate of an m-bit weight and an activation, in pJ.

    ``0.2 pJ x (m x a) / 64 + 0.1 pJ`` (:data:`MAC_PJ_SOURCE`): 0.30 pJ for 8-bit weights, 0.20 pJ
    for 4-bit, 0.50 pJ for 16-bit, with 8-bit activations. A first-order model: override it for
    your accelerator (``compute_pj_per_op=``, CLI ``--compute-pj-per-op``).
    """
    if weight_bits < 1 or activation_bits < 1:
        raise ConfigError(f"operand widths must be positive, got {weight_bits} and {activation_bits} bits")
    return _MULT8_PJ * weight_bits * activation_bits / 64.0 + _ADD32_PJ


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one inference, in pJ, by part.

    Attributes
    ----------
    read_pj, leakage_pj, write_pj, compute_pj : float or None
        Each part; None where it cannot be computed (see :attr:`missing`).
    missing : dict
        Part name to why it is None.
    refresh_pj : float or None
        Refresh power times the inference time (0 for memories that do not refresh).
    power_ratio : float or None
        The memory's measured power relative to its nominal point, where the profile gives
        only that ratio (then :meth:`saving` over the memory part uses it).
    memory_pj : float or None
        Sum of the memory parts that are known (None if none is).
    total_pj : float or None
        ``memory_pj + compute_pj`` (None if the memory part is unknown).
    """

    read_pj: float | None
    leakage_pj: float | None
    write_pj: float | None
    compute_pj: float | None
    missing: dict[str, str] = field(default_factory=dict)
    refresh_pj: float | None = 0.0
    power_ratio: float | None = None

    @property
    def memory_pj(self) -> float | None:
        """Sum of the known memory parts; None if neither reads nor leakage are known."""
        known = [p for p in (self.read_pj, self.leakage_pj) if p is not None]
        return sum(known) + (self.write_pj or 0.0) + (self.refresh_pj or 0.0) if known else None

    @property
    def total_pj(self) -> float | None:
        """Memory plus compute; None if the memory part is unknown."""
        memory = self.memory_pj
        return None if memory is None else memory + (self.compute_pj or 0.0)

    @property
    def left_out(self) -> str:
        """The parts the sums leave out, e.g. ``"leakage"`` (empty if none)."""
        return ";".join(sorted(self.missing))

    def saving(self, nominal: EnergyBreakdown, part: str = "memory") -> float | None:
        """Fraction of ``nominal``'s energy this point saves, over the ``memory`` or ``total`` energy.

        None unless both are known and leave out the same parts (a like-for-like comparison).
        """
        if part not in ("memory", "total"):
            raise ConfigError(f"part must be 'memory' or 'total', got {part!r}")
        mine = self.memory_pj if part == "memory" else self.total_pj
        theirs = nominal.memory_pj if part == "memory" else nominal.total_pj
        if (mine is None or theirs is None) and part == "memory":
            # only the measured power ratio is published: the memory saves what its power does (the same
            # inference time: the undervolting studies keep the clock)
            if self.power_ratio is not None and nominal.power_ratio:
                return 1.0 - self.power_ratio / nominal.power_ratio
            return None
        if mine is None or theirs is None or theirs <= 0 or set(self.missing) != set(nominal.missing):
            return None
        return 1.0 - mine / theirs

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form with the sums."""
        return {**asdict(self), "memory_pj": self.memory_pj, "total_pj": self.total_pj}


def read_energy_pj(op: OperatingPoint | None, bits: float) -> float | None:
    """Energy of reading ``bits`` bits at ``op``, in pJ; None without a published read energy.

    The one place read energy is computed: :func:`inference_energy` (sweeps) and the memory's
    per-read counters (:class:`~memsim.memory.counters.AccessCounter`, ``evaluate``) both use it.
    """
    if op is None or op.read_energy_pj_per_bit is None:
        return None
    return bits * op.read_energy_pj_per_bit


def inference_energy(
    op: OperatingPoint | None,
    bits_read: float,
    ops: float,
    latency_ns: float | None,
    bits_written: float = 0.0,
    compute_pj_per_op: float = COMPUTE_PJ_PER_OP,
) -> EnergyBreakdown:
    """The energy of one inference.

    Parameters
    ----------
    op : OperatingPoint or None
        The memory's operating point (None for a bare BER: no memory energy).
    bits_read : float
        Weight bits read per inference, as the memory counted them (granularity included).
    ops : float
        XNOR-popcount bit operations per inference.
    latency_ns : float or None
        Inference time, for the leakage (None: leakage unknown).
    bits_written : float
        Bits written per inference (0 for inference from stored weights).
    compute_pj_per_op : float
        Energy per bit operation, in pJ (:data:`COMPUTE_PJ_PER_OP`).

    Raises
    ------
    ConfigError
        For negative counts or a negative or non-finite energy per op.
    """
    for label, value in (("bits_read", bits_read), ("ops", ops), ("bits_written", bits_written)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{label} must be a non-negative number, got {value!r}")
    if not (
        isinstance(compute_pj_per_op, (int, float)) and math.isfinite(compute_pj_per_op) and compute_pj_per_op >= 0
    ):
        raise ConfigError(f"compute_pj_per_op must be a non-negative number of pJ, got {compute_pj_per_op!r}")
    missing: dict[str, str] = {}
    where = "a bare BER (no profile)" if op is None else f"profile {op.profile!r}"
    read = write = leakage = None
    read = read_energy_pj(op, bits_read)
    if read is None:
        missing["read"] = f"{where} publishes no read energy"
    if bits_written:
        if op is None or op.write_energy_pj_per_bit is None:
            missing["write"] = f"{where} publishes no write energy"
        else:
            write = bits_written * op.write_energy_pj_per_bit
    else:
        write = 0.0
    if op is None or op.leakage_mw is None:
        missing["leakage"] = f"{where} publishes no leakage power"
    elif latency_ns is None:
        missing["leakage"] = "no inference time (no read latency published and no access time given)"
    else:
        leakage = op.leakage_mw * latency_ns
    refresh = refresh_energy_pj(op, latency_ns, missing)
    ratio = None if op is None else op.power_ratio
    return EnergyBreakdown(read, leakage, write, ops * compute_pj_per_op, missing, refresh, ratio)


def refresh_energy_pj(op: OperatingPoint | None, latency_ns: float | None, missing: dict[str, str]) -> float | None:
    """Refresh power times the inference time, in pJ (0 for a memory that does not refresh).

    Records why it is None in ``missing`` (a DRAM profile without a refresh power, or no
    inference time).
    """
    if op is None or op.refresh_mw == 0.0:
        return 0.0
    if op.refresh_mw is None:
        missing["refresh"] = f"profile {op.profile!r} publishes no refresh power"
        return None
    if latency_ns is None:
        missing["refresh"] = "no inference time (no read latency published and no access time given)"
        return None
    return op.refresh_mw * latency_ns
