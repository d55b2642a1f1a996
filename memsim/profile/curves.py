"""The runtime model of a profile: knobs, error mechanisms, energy and latency quantities.

Parsed from a profile's YAML by :mod:`memsim.profile.schema`; evaluated by
:meth:`memsim.Profile.at`. BER curves interpolate linearly in log-BER; a named analytic
form (:mod:`memsim.profile.forms`) stands behind a curve for extrapolation only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim.errors import OutOfRangeError, ProfileError, format_problem
from memsim.profile.forms import get_form

#: Knob values this close to a range end or a map's knob value are that value: a sweep built with
#: ``np.arange(0.53, 0.595, 0.01)`` ends at 0.5900000000000001, which must still be 0.59 V.
#: Relative to the value (and at least absolute for values near 0): ``|x - y| <= KNOB_TOLERANCE * max(1, |y|)``.
KNOB_TOLERANCE = 1e-9


def knob_close(x: float, y: float) -> bool:
    """True if knob values ``x`` and ``y`` are the same within :data:`KNOB_TOLERANCE`."""
    return abs(x - y) <= KNOB_TOLERANCE * max(1.0, abs(y))


__all__ = [
    "KNOB_TOLERANCE",
    "SCALING_LAWS",
    "AnalyticModel",
    "Knob",
    "Mechanism",
    "Quantity",
    "interpolate_log",
    "knob_close",
]


@dataclass(frozen=True)
class Knob:
    """One operating-point axis of a profile.

    Attributes
    ----------
    name : str
        Knob name; numeric knobs carry their unit as a suffix (``vdd_v``, ``trcd_ns``).
    unit : str
        Unit of a numeric knob (``""`` for categorical knobs).
    nominal : float or str
        Nominal value (a category name for categorical knobs).
    min, max : float or None
        Range in which the profile's data is valid (None for categorical knobs).
    categories : tuple of str or None
        Allowed values of a categorical knob.
    description : str
        What the knob is.
    """

    name: str
    unit: str
    nominal: float | str
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    description: str = ""

    @property
    def is_categorical(self) -> bool:
        """True for knobs that take one of named ``categories``."""
        return self.categories is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        if self.is_categorical:
            return {
                "name": self.name,
                "categories": list(self.categories or ()),
                "nominal": self.nominal,
                "description": self.description,
            }
        return {
            "name": self.name,
            "unit": self.unit,
            "nominal": self.nominal,
            "min": self.min,
            "max": self.max,
            "description": self.description,
        }


def interpolate_log(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """Interpolate ``ys`` over ascending ``xs`` at ``x`` linearly in log(y).

    A zero at either end of a segment means "no errors measured": the result is
    0 everywhere on that segment except at its non-zero end point. ``x`` must lie
    within ``[xs[0], xs[-1]]``.

    Parameters
    ----------
    x : float
        Knob value.
    xs : ndarray
        Strictly increasing knob values.
    ys : ndarray
        Non-negative values (BER, p01 or p10) at ``xs``.
    """
    i = int(np.searchsorted(xs, x, side="right")) - 1
    i = min(max(i, 0), len(xs) - 2)
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
    if x == x0:
        return float(y0)
    if x == x1:
        return float(y1)
    if y0 <= 0.0 or y1 <= 0.0:
        return 0.0
    t = (x - x0) / (x1 - x0)
    return float(math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0))))


@dataclass
class AnalyticModel:
    form_name: str
    knob: str
    params: dict[str, float]

    def ber(self, x: float) -> float:
        return float(get_form(self.form_name)(x, self.params))


@dataclass
class Mechanism:
    """One error mechanism of a profile (parsed; see ``profiles/README.md``).

    Attributes
    ----------
    name : str
        Mechanism name.
    persistence : str
        One of ``transient``, ``stuck``, ``programmed``, ``accumulating``.
    kind : str
        ``curve``, ``table`` or ``value``: how the BER is given.
    knob : str or None
        The knob the BER depends on (None for a constant).
    calibrated : bool
        False if the profile marks the numbers as uncalibrated.
    p01_share : float or None
        Fixed share of flips that are 0->1 for equiprobable data (None if the data gives p01/p10).
    persistent_fraction : float
        Share of a ``transient`` mechanism's errors that come from stuck cells (the profile's
        cited ``persistent_fraction.value``; 0 if not given).
    """

    name: str
    persistence: str
    kind: str
    knob: str | None
    calibrated: bool
    p01_share: float | None
    xs: np.ndarray | None = None
    p01s: np.ndarray | None = None
    p10s: np.ndarray | None = None
    rows: dict[str, tuple[float, float]] = field(default_factory=dict)
    model: AnalyticModel | None = None
    description: str = ""
    persistent_fraction: float = 0.0

    def _split(self, ber: float, share: float) -> tuple[float, float]:
        return min(1.0, 2.0 * share * ber), min(1.0, 2.0 * (1.0 - share) * ber)

    def rates(self, knobs: Mapping[str, float | str], extrapolate: bool, label: str) -> tuple[float, float]:
        """Return ``(p01, p10)`` of this mechanism at ``knobs``."""
        if self.kind == "value":
            return self.rows["*"]
        if self.kind == "table":
            return self.rows[str(knobs[self.knob or ""])]
        assert self.xs is not None and self.p01s is not None and self.p10s is not None
        x = float(knobs[self.knob or ""])
        if self.xs[0] <= x <= self.xs[-1]:
            rates = (interpolate_log(x, self.xs, self.p01s), interpolate_log(x, self.xs, self.p10s))
            if self.model is not None and 0.0 in rates and not np.any(self.xs == x):
                # A segment that ends in "no errors measured" interpolates to exactly 0 all along it; the
                # fitted model is the better guess between the last error seen and the zero point.
                i = min(max(int(np.searchsorted(self.xs, x, side="right")) - 1, 0), len(self.xs) - 2)
                ends = [j for j in (i, i + 1) if self.p01s[j] + self.p10s[j] > 0]
                if ends:
                    total = self.p01s[ends[0]] + self.p10s[ends[0]]
                    end_share = self.p01_share if self.p01_share is not None else float(self.p01s[ends[0]] / total)
                    cap = 0.5 * float(total)  # never above the measured end's BER: the segment stays monotone
                    return self._split(min(self.model.ber(x), cap), end_share)
            return rates
        if not extrapolate:  # Profile.at checks ranges first; this guards direct use
            raise OutOfRangeError(format_problem(label, f"mechanisms.{self.name}", f"{x:g} is outside the curve"))
        if self.model is None:
            raise ProfileError(
                format_problem(
                    label,
                    f"mechanisms.{self.name}",
                    f"{self.knob}={x:g} is outside the curve [{self.xs[0]:g}, {self.xs[-1]:g}] and the "
                    "mechanism has no 'model' to extrapolate with",
                )
            )
        share = self.p01_share
        if share is None:  # keep the direction split of the nearest measured end point
            j = 0 if x < self.xs[0] else -1
            total = self.p01s[j] + self.p10s[j]
            share = 0.5 if total == 0 else float(self.p01s[j] / total)
        return self._split(min(self.model.ber(x), 0.5), share)


@dataclass
class Quantity:
    """An energy or latency entry: value at nominal with scaling laws, or points over a knob."""

    value: float | None
    scaling: list[dict[str, Any]]
    knob: str | None = None
    xs: np.ndarray | None = None
    ys: np.ndarray | None = None

    def evaluate(self, knobs: Mapping[str, float | str], nominal: Mapping[str, float | str]) -> float | None:
        if self.xs is not None and self.ys is not None:
            return float(np.interp(float(knobs[self.knob or ""]), self.xs, self.ys))
        if self.value is None:
            return None
        out = self.value
        for law in self.scaling:
            kind, k = law["law"], law["knob"]
            if kind == "category_factor":
                out *= float(law["factors"][str(knobs[k])])
                continue
            x, x0 = float(knobs[k]), float(nominal[k])
            if kind == "power":
                out *= (x / x0) ** float(law["exponent"])
            elif kind == "v_exp":
                out *= (x / x0) * math.exp(float(law["k_per_unit"]) * (x - x0))
            elif kind == "linear":
                out += float(law["slope"]) * (x - x0)
        return max(out, 0.0)


SCALING_LAWS = {
    "power": ("exponent",),
    "v_exp": ("k_per_unit",),
    "linear": ("slope",),
    "category_factor": ("factors",),
}
