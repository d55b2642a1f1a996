"""How often a consumer reads its weights: per batch, per sample, or per access."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from memsim.errors import ConfigError, suggest

__all__ = ["ReadGranularity", "parse_granularity"]


class ReadGranularity(StrEnum):
    """How often a consumer reads its weights; results carry it.

    ``per_batch``: one read (one flip pattern) shared by a batch of inputs, as common
    fault-injection tools do. ``per_sample``: each input reads every weight once,
    with fresh flips (the default). ``per_access``: every use of a weight is a read
    (a 3x3 convolution re-reads its weights at every output position).
    """

    PER_BATCH = "per_batch"
    PER_SAMPLE = "per_sample"
    PER_ACCESS = "per_access"


def parse_granularity(value: Any) -> ReadGranularity:
    """The :class:`ReadGranularity` of ``value`` (a member or its name).

    Raises
    ------
    ConfigError
        For any other value; the message lists the valid ones.
    """
    try:
        return ReadGranularity(value)
    except ValueError:
        valid = [g.value for g in ReadGranularity]
        raise ConfigError(
            f"unknown read granularity {value!r}{suggest(str(value), valid)}; valid: {', '.join(valid)}"
        ) from None
