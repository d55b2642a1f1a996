"""The error rates an experiment sets: an operating point, a symmetric BER, or a (p01, p10) pair."""

from __future__ import annotations

from typing import TypeAlias

from memsim.errors import ConfigError
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.faults import (
    AsymmetricFaults,
    FaultModel,
    MixedFaults,
    PersistentFaults,
    TransientFaults,
    get_fault_model,
)
from memsim.profile.core import Profile
from memsim.profile.operating_point import OperatingPoint

__all__ = ["Rates", "apply_rates", "default_fault_model", "describe_fault_model", "resolve_fault_model"]

#: An operating point of a profile, a symmetric bit error rate, or ``(p01, p10)``.
Rates: TypeAlias = OperatingPoint | float | tuple[float, float]


def apply_rates(memory: ApproximateMemory, rates: Rates) -> None:
    """Set ``memory`` to ``rates``: :meth:`~ApproximateMemory.set_operating_point`,
    :meth:`~ApproximateMemory.set_ber` or :meth:`~ApproximateMemory.set_rates`.

    Raises
    ------
    ConfigError
        For a pair of the wrong length or a value outside [0, 1].
    """
    if isinstance(rates, OperatingPoint):
        memory.set_operating_point(rates)
    elif isinstance(rates, tuple):
        if len(rates) != 2:
            raise ConfigError(f"a rate pair is (p01, p10), got {rates!r}")
        memory.set_rates(rates[0], rates[1])
    else:
        memory.set_ber(rates)


def default_fault_model(profile: Profile | None, op: OperatingPoint | None) -> FaultModel:
    """The fault model a profile's own data implies at an operating point.

    * a profile with per-cell fault maps: those maps (``persistent``, laid over the memory's
      cells, wrapping when the chip is used up);
    * else, by the persistence of the mechanisms that contribute errors at ``op``: all
      ``stuck`` -> drawn stuck cells (``persistent``); ``stuck`` and ``transient`` together ->
      ``mixed`` with the stuck share of the BER; otherwise fresh flips per read, ``transient``
      when ``p01 == p10`` and ``asymmetric`` when not. A mechanism's cited
      ``persistent_fraction`` counts that share of its BER as stuck: for a transient one the
      measured SRAM chips' 0.09-0.45 (the shipped SRAM profile cites 0, the reference papers'
      model); for a stuck one less than 1 where some of its cells come and go (DRAM retention:
      variable retention time).

    A bare BER (no profile) gives ``transient``.
    """
    if profile is not None and profile.fault_maps is not None:
        return PersistentFaults(profile.fault_maps, tile=True)
    if op is None:
        return TransientFaults()
    # persistent_fraction is each mechanism's stuck share: 1 for `stuck` unless its profile cites less (DRAM cells
    # with variable retention time), 0 for the others unless cited (measured SRAM's 0.09-0.45)
    stuck = sum(m.ber * m.persistent_fraction for m in op.mechanisms)
    other = sum(m.ber * (1.0 - m.persistent_fraction) for m in op.mechanisms)
    if stuck > 0 and other == 0:
        return PersistentFaults()
    if stuck > 0 and other > 0:
        return MixedFaults(persistent_fraction=min(1.0, stuck / (stuck + other)))
    return TransientFaults() if op.p01 == op.p10 else AsymmetricFaults()


def resolve_fault_model(
    name: str | None, profile: Profile | None, op: OperatingPoint | None, persistent_fraction: float | None = None
) -> FaultModel:
    """The fault model of an experiment: ``name`` if given, else what the profile implies.

    ``persistent`` on a profile with per-cell fault maps means those maps (never drawn cells
    at the same rate), as it does in :func:`default_fault_model`.
    """
    if name is None or (name == "persistent" and profile is not None and profile.fault_maps is not None):
        return default_fault_model(profile, op)
    options = {} if persistent_fraction is None else {"persistent_fraction": persistent_fraction}
    return get_fault_model(name, **options)


def describe_fault_model(fault: FaultModel) -> str:
    """A fault model's name, with where its cells come from for persistent faults."""
    if isinstance(fault, PersistentFaults):
        return (
            "persistent (the profile's measured cell maps)"
            if fault.cell_map is not None
            else "persistent (drawn stuck cells)"
        )
    if isinstance(fault, MixedFaults):
        return f"mixed (persistent fraction {fault.persistent_fraction:g})"
    return fault.name
