"""Binomial checks for statistical tests (99.9 % two-sided, z = 3.2905)."""

from __future__ import annotations

import math

Z999 = 3.2905


def wilson_interval(k: int, n: int, z: float = Z999) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n."""
    phat = k / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def check_rate(k: int, n: int, p: float, label: str) -> str:
    """Assert that p lies in the 99.9 % Wilson interval of k / n; return the numbers as text."""
    lo, hi = wilson_interval(k, n)
    z = (k - n * p) / math.sqrt(n * p * (1 - p)) if 0 < p < 1 else float("nan")
    text = f"{label}: observed {k}/{n} = {k / n:.6g}, expected p = {p:.6g}, 99.9% interval [{lo:.6g}, {hi:.6g}], z = {z:+.2f}"
    print(text)
    assert lo <= p <= hi, text
    return text


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """z statistic of the difference of two binomial proportions (pooled)."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (k1 / n1 - k2 / n2) / se
