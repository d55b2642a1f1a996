"""OperatingPoint: the knobs of a memory and what follows from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["MechanismRate", "OperatingPoint"]


@dataclass(frozen=True)
class MechanismRate:
    """The flip probabilities one error mechanism contributes at an operating point.

    Attributes
    ----------
    name : str
        Mechanism name from the profile.
    persistence : str
        ``transient`` (fresh per read), ``stuck`` (fixed per chip and operating point),
        ``programmed`` (fixed per write) or ``accumulating`` (grows with reads or time).
    p01, p10 : float
        Probability that a stored 0 reads as 1, and a stored 1 as 0.
    calibrated : bool
        False where the profile marks the mechanism's numbers as uncalibrated.
    persistent_fraction : float
        Share of the errors that come from stuck cells: 1 for ``stuck``; for ``transient``, the
        profile's cited ``persistent_fraction`` (0 if not given).
    """

    name: str
    persistence: str
    p01: float
    p10: float
    calibrated: bool = True
    persistent_fraction: float = 0.0

    @property
    def ber(self) -> float:
        """Bit error rate for equiprobable data, ``(p01 + p10) / 2``."""
        return 0.5 * (self.p01 + self.p10)


@dataclass(frozen=True)
class OperatingPoint:
    """One operating point of a memory profile: knob values, error rates, energy and latency.

    Built by :meth:`memsim.Profile.at`; not meant to be constructed by hand.
    Units are in the names: V, ns, pJ, mW (mW x ns = pJ, so energies add up
    without conversion factors). A field that the profile does not give is ``None``.

    Attributes
    ----------
    profile : str
        Name of the profile it was computed from.
    technology : str
        ``sram``, ``dram``, ``rram`` or ``stt_mram``.
    knobs : dict
        Knob name to value (number, or category name for categorical knobs).
    ber : float
        Bit error rate for equiprobable data, ``(p01 + p10) / 2``.
    p01, p10 : float
        Combined probability that a stored 0 reads as 1 (and a 1 as 0), over all
        mechanisms: ``1 - prod(1 - p_m)`` per direction.
    read_energy_pj_per_bit, write_energy_pj_per_bit : float or None
        Dynamic energy per bit read or written, in pJ.
    leakage_mw : float or None
        Leakage (standby) power of the memory, in mW.
    refresh_mw : float or None
        Average power spent refreshing the memory at this point's refresh interval, in mW
        (0 for technologies that do not refresh; None for a DRAM profile that does not publish it).
    power_ratio : float or None
        The memory's measured power relative to its nominal point, where a profile publishes
        the ratio but not absolute energies (FPGA block RAM, HBM2 undervolting studies).
    read_latency_ns, write_latency_ns : float or None
        Access latency, in ns.
    mechanisms : tuple of MechanismRate
        Per-mechanism rates, with their persistence.
    extrapolated : bool
        True if any knob was outside the profile's range (``extrapolate=True``).
    """

    profile: str
    technology: str
    knobs: dict[str, float | str]
    ber: float
    p01: float
    p10: float
    read_energy_pj_per_bit: float | None
    write_energy_pj_per_bit: float | None
    leakage_mw: float | None
    read_latency_ns: float | None
    write_latency_ns: float | None
    refresh_mw: float | None = None
    power_ratio: float | None = None
    mechanisms: tuple[MechanismRate, ...] = field(default=())
    extrapolated: bool = False

    __hash__ = None  # type: ignore[assignment]  # knobs is a dict: equality yes, hashing no

    @property
    def vdd_v(self) -> float | None:
        """Supply voltage in V, if the profile has a ``vdd_v`` knob."""
        value = self.knobs.get("vdd_v")
        return None if value is None else float(value)

    @property
    def uncalibrated(self) -> tuple[str, ...]:
        """Names of mechanisms whose numbers the profile marks as uncalibrated."""
        return tuple(m.name for m in self.mechanisms if not m.calibrated)

    def knob(self, name: str) -> float | str:
        """Value of knob ``name`` at this point."""
        return self.knobs[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output (mechanisms as a list of dicts)."""
        data = asdict(self)
        data["mechanisms"] = [{**asdict(m), "ber": m.ber} for m in self.mechanisms]
        data["uncalibrated"] = list(self.uncalibrated)
        return data
