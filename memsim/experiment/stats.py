"""Confidence intervals of measured accuracies, over the independent units of randomness.

Which interval a result carries depends on what is random in it (:func:`interval`):

``wilson-images``
    Flips drawn afresh for every image's read (transient or asymmetric faults read per
    sample or per access, or the random cells of one measured chip): given the network and
    the images, every prediction is an independent Bernoulli outcome, and the 95 % Wilson
    interval over all trials x images covers the flip noise. It is slightly conservative:
    an image's outcome under flips varies less than a coin of the same mean.
``t-chips``
    Stuck cells (drawn persistent faults, the stuck part of mixed faults): one chip serves
    every image of a trial, so the trials (chips) are the independent units; the interval is
    a Student t interval over the per-trial accuracies, with ``trials - 1`` degrees of
    freedom. One chip gives no interval (run two or more trials).
``t-batches``
    One flip pattern per batch (``per_batch``): the images of a batch share their flips, the
    (trial, batch) pairs are the independent units; the interval is the cluster-robust
    (ratio-estimator) t interval over the batches' counts, ``K - 1`` degrees of freedom for
    K batches. With equal batch sizes it is the t interval over batch accuracies.

None of them covers the choice of test images: they say how far another draw of the
flips (or chips) on these images could move the accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CI_METHODS",
    "Interval",
    "clopper_pearson",
    "cluster_interval",
    "drop_upper_bound",
    "image_interval",
    "row_df",
    "row_se",
    "wilson_interval",
    "yield_lower_bound",
]

#: The interval kinds a sweep row's ``ci_method`` column can name, and what each is over.
CI_METHODS = {
    "wilson-images": "Wilson over all predictions (trials x images): flips fresh per image read, or the "
    "images of one measured chip (its cells fixed: nothing said of other chips)",
    "t-chips": "Student t over per-chip (trial) accuracies: stuck cells shared by all images of a chip",
    "t-batches": "cluster-robust t over (trial, batch) counts: one flip pattern per batch",
}

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """An accuracy estimate with its two-sided interval.

    Attributes
    ----------
    estimate : float
        Correct predictions over all predictions.
    low, high : float
        The interval (NaN where it is undefined: fewer than two independent units).
    se : float
        Standard error of the estimate over the independent units (NaN if undefined).
    df : float
        Degrees of freedom of the t quantile (``inf`` for a normal/Wilson interval).
    units : int
        Number of independent units the interval is over (predictions, chips or batches).
    method : str
        A key of :data:`CI_METHODS`.
    """

    estimate: float
    low: float
    high: float
    se: float
    df: float
    units: int
    method: str


def wilson_interval(correct: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of an accuracy ``correct / n`` (95 % by default)."""
    if n == 0:
        return (math.nan, math.nan)
    phat = correct / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _t_quantile(df: float, level: float) -> float:
    from scipy.stats import t

    return float(t.ppf(level, df)) if math.isfinite(df) else float(_normal_quantile(level))


def _normal_quantile(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(level))


def cluster_interval(correct: Sequence[int], n: Sequence[int], method: str, confidence: float = 0.95) -> Interval:
    """The ratio estimate ``sum(correct) / sum(n)`` and its cluster-robust t interval over K units.

    Parameters
    ----------
    correct, n : sequence of int
        Per independent unit (chip or batch): correct predictions and predictions.
    method : str
        The :data:`CI_METHODS` key to record (``t-chips`` or ``t-batches``).
    confidence : float
        Two-sided level.

    Notes
    -----
    ``se^2 = K / (K - 1) * sum_k (c_k - p n_k)^2 / (sum n)^2`` (the linearised variance of a
    ratio estimator; with equal ``n_k`` it is the variance of the unit means over K), and
    the interval is ``p +- t_{K-1} se``, clipped to [0, 1]. Fewer than two units: NaN.
    """
    if len(correct) != len(n) or not n:
        raise ValueError("need one count pair per unit, at least one unit")
    total, k = float(sum(n)), len(n)
    p = sum(correct) / total if total else math.nan
    if k < 2 or not total:
        return Interval(p, math.nan, math.nan, math.nan, math.nan, k, method)
    resid = sum((c - p * m) ** 2 for c, m in zip(correct, n, strict=True))
    se = math.sqrt(k / (k - 1) * resid) / total
    half = _t_quantile(k - 1, 0.5 + confidence / 2) * se
    return Interval(p, max(0.0, p - half), min(1.0, p + half), se, float(k - 1), k, method)


def image_interval(correct: int, n: int) -> Interval:
    """The 95 % Wilson interval over ``n`` independent predictions, as an :class:`Interval`."""
    low, high = wilson_interval(correct, n)
    p = correct / n if n else math.nan
    se = math.sqrt(p * (1 - p) / n) if n else math.nan
    return Interval(p, low, high, se, math.inf, n, "wilson-images")


def drop_upper_bound(
    a0: float,
    se0: float,
    df0: float,
    a1: float,
    se1: float,
    df1: float,
    confidence: float = 0.95,
    paired: Sequence[float] | None = None,
) -> float:
    """One-sided upper bound of the accuracy drop ``a0 - a1`` at ``confidence``.

    Two rows of independent randomness: ``(a0 - a1) + q sqrt(se0^2 + se1^2)`` with ``q`` the
    t quantile at the smaller of the two degrees of freedom (normal for Wilson rows). Rows
    on the same chips (``paired``: the per-chip drops ``a0_t - a1_t``): the one-sided t bound
    of their mean, which removes the chip-to-chip part both rows share. NaN where a row has
    no standard error (one chip).
    """
    if paired is not None and len(paired) >= 2:
        k = len(paired)
        mean = sum(paired) / k
        sd = math.sqrt(sum((d - mean) ** 2 for d in paired) / (k - 1))
        return mean + _t_quantile(k - 1, confidence) * sd / math.sqrt(k)
    if not (math.isfinite(se0) and math.isfinite(se1)):
        return math.nan
    return (a0 - a1) + _t_quantile(min(df0, df1), confidence) * math.sqrt(se0 * se0 + se1 * se1)


def row_se(row: Mapping[str, Any]) -> float:
    """The standard error of a sweep row's accuracy over its units (NaN where it has none: one chip).

    Rows written before ``accuracy_se`` existed get the binomial one over trials x images.
    """
    value = row.get("accuracy_se")
    if value not in (None, ""):
        return float(value)
    if row.get("ci_method"):
        return math.nan
    a, n = float(row["accuracy"]), float(row["trials"]) * float(row["n_images"])
    return math.sqrt(a * (1 - a) / n)


def row_df(row: Mapping[str, Any]) -> float:
    """Degrees of freedom of a sweep row's interval (``inf`` for Wilson rows)."""
    value = row.get("ci_df")
    return math.inf if value in (None, "") else float(value)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of a proportion ``k / n`` (chips that qualify)."""
    from scipy.stats import beta

    if n == 0:
        return (math.nan, math.nan)
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (low, high)


def yield_lower_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson lower bound: the yield is at least this with probability ``confidence``."""
    from scipy.stats import beta

    if n == 0:
        return math.nan
    return 0.0 if k == 0 else float(beta.ppf(1.0 - confidence, k, n - k + 1))
