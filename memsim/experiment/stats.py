"""Confidence intervals of measured accuracies and rates."""

from __future__ import annotations

import math

__all__ = ["wilson_interval"]


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of an accuracy ``correct / n`` (95 % by default)."""
    if n == 0:
        return (math.nan, math.nan)
    phat = correct / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
