"""The error rates an experiment sets: an operating point, a symmetric BER, or a (p01, p10) pair."""

from __future__ import annotations

from typing import TypeAlias

from memsim.errors import ConfigError
from memsim.memory.approximate import ApproximateMemory
from memsim.profile.operating_point import OperatingPoint

__all__ = ["Rates", "apply_rates"]

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
