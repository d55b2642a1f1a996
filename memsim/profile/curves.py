"""The runtime model of a profile: knobs, error mechanisms, energy and latency quantities.

Parsed from a profile's YAML by :mod:`memsim.profile.schema`; evaluated by
:meth:`memsim.Profile.at`. BER curves interpolate linearly in log-BER; a named analytic
form (:mod:`memsim.profile.forms`) stands behind a curve for extrapolation only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
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
    "grid_axes",
    "interpolate_log",
    "interpolate_log_grid",
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


def _log_blend(v0: np.ndarray, v1: np.ndarray, t: float) -> np.ndarray:
    """``exp((1 - t) log v0 + t log v1)`` elementwise, 0 where either end is 0 (no errors measured)."""
    both = (v0 > 0.0) & (v1 > 0.0)
    a = np.log(np.where(both, v0, 1.0))
    b = np.log(np.where(both, v1, 1.0))
    return np.where(both, np.exp(a + t * (b - a)), 0.0)


def grid_axes(points: Mapping[tuple[float, ...], Any], d: int) -> tuple[list[np.ndarray], list[tuple[float, ...]]]:
    """The sorted values of each of the ``d`` axes of ``points`` (keyed by knob values), and the combinations missing.

    A grid is interpolated axis by axis, which needs every combination of the axes' values:
    the schema and the importer both refuse a grid with missing combinations, naming the first.
    """
    axes = [np.array(sorted({k[j] for k in points}), dtype=float) for j in range(d)]
    missing = [c for c in itertools.product(*(a.tolist() for a in axes)) if c not in points]
    return axes, missing


def interpolate_log_grid(x: Sequence[float], axes: Sequence[np.ndarray], values: np.ndarray) -> float:
    """Interpolate a rectangular grid of non-negative values at ``x``, linearly in log(value), axis by axis.

    The tensor-product form of :func:`interpolate_log`: along the first axis the two
    neighbouring slabs are blended in log space, then along the next axis, and so on.
    A zero at either end of a segment means "no errors measured": the blend is 0 on that
    segment except at the non-zero end. On a grid node the node's value is returned exactly.

    Parameters
    ----------
    x : sequence of float
        One value per axis, each within its axis' range.
    axes : sequence of ndarray
        Strictly increasing values of each axis (at least 2 each).
    values : ndarray
        Shape ``tuple(len(a) for a in axes)``.
    """
    v = np.asarray(values, dtype=float)
    for xi, a in zip(x, axes, strict=True):
        i = min(max(int(np.searchsorted(a, xi, side="right")) - 1, 0), len(a) - 2)
        if xi == a[i]:
            v = v[i]
        elif xi == a[i + 1]:
            v = v[i + 1]
        else:
            v = _log_blend(v[i], v[i + 1], (xi - a[i]) / (a[i + 1] - a[i]))
    return float(v)


@dataclass
class AnalyticModel:
    """A named form (:mod:`memsim.profile.forms`) over one knob, or over several (``knobs``)."""

    form_name: str
    knob: str
    params: dict[str, float]
    knobs: tuple[str, ...] = ()

    def ber(self, x: float | Sequence[float]) -> float:
        return float(get_form(self.form_name)(x, self.params))

    def at(self, knobs: Mapping[str, float | str]) -> float:
        """The form's BER at an operating point (its knob, or its knobs in order)."""
        if self.knobs:
            return self.ber([float(knobs[k]) for k in self.knobs])
        return self.ber(float(knobs[self.knob]))


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
        ``curve``, ``grid``, ``table`` or ``value``: how the BER is given.
    knob : str or None
        The knob the BER depends on (None for a constant; the first grid axis for a grid).
    grid_knobs : tuple of str
        A grid's knobs, in axis order (empty otherwise).
    calibrated : bool
        False if the profile marks the numbers as uncalibrated.
    p01_share : float or None
        Fixed share of flips that are 0->1 for equiprobable data (None if the data gives p01/p10).
    persistent_fraction : float
        Share of the mechanism's errors that come from stuck cells: the profile's cited
        ``persistent_fraction.value``; if not given, 1 for ``stuck`` and 0 otherwise. A
        ``stuck`` mechanism below 1 has a transient part (e.g. DRAM cells with variable
        retention time, which fail on some reads and not others).
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
    grid_knobs: tuple[str, ...] = ()
    grid_axes: tuple[np.ndarray, ...] = ()
    grid_p01: np.ndarray | None = None
    grid_p10: np.ndarray | None = None

    @property
    def knob_names(self) -> tuple[str, ...]:
        """Every knob the BER depends on (a curve's or table's one, a grid's axes; none for a constant)."""
        if self.grid_knobs:
            return self.grid_knobs
        return () if self.knob is None else (self.knob,)

    def axis_values(self, name: str) -> np.ndarray | None:
        """The knob values at which this mechanism has data along knob ``name`` (None if it has none)."""
        if self.grid_knobs:
            return self.grid_axes[self.grid_knobs.index(name)] if name in self.grid_knobs else None
        return self.xs if self.knob == name else None

    def _grid_rates(self, knobs: Mapping[str, float | str], extrapolate: bool, label: str) -> tuple[float, float]:
        assert self.grid_p01 is not None and self.grid_p10 is not None
        x = [float(knobs[k]) for k in self.grid_knobs]
        inside = all(a[0] <= xi <= a[-1] for xi, a in zip(x, self.grid_axes, strict=True))
        if inside:
            return (
                interpolate_log_grid(x, self.grid_axes, self.grid_p01),
                interpolate_log_grid(x, self.grid_axes, self.grid_p10),
            )
        where = ", ".join(f"{k}={xi:g}" for k, xi in zip(self.grid_knobs, x, strict=True))
        if not extrapolate:
            raise OutOfRangeError(format_problem(label, f"mechanisms.{self.name}", f"{where} is outside the grid"))
        if self.model is None:
            raise self._no_model(label, f"{where} is outside the grid")
        # Anchored at the nearest edge of the data: the model gives the shape (the ratio between the
        # point and the edge), the data the level, so the BER is continuous where the grid ends.
        edge = [min(max(xi, a[0]), a[-1]) for xi, a in zip(x, self.grid_axes, strict=True)]
        e01 = interpolate_log_grid(edge, self.grid_axes, self.grid_p01)
        e10 = interpolate_log_grid(edge, self.grid_axes, self.grid_p10)
        model = self.model.at(knobs)
        base = self.model.at(dict(zip(self.grid_knobs, edge, strict=True)))
        if e01 + e10 > 0.0:
            ber = 0.5 * (e01 + e10) * (model / base if base > 0.0 else 1.0)
            share = float(e01 / (e01 + e10))
        else:  # none measured at the edge: the model's own value, but never below the edge's zero's side
            ber = model if model > base else 0.0
            share = 0.5 if self.p01_share is None else self.p01_share
        return self._split(min(ber, 0.5), share)

    def _no_model(self, label: str, where: str) -> ProfileError:
        return ProfileError(
            format_problem(
                label, f"mechanisms.{self.name}", f"{where} and the mechanism has no 'model' to extrapolate with"
            )
        )

    def _split(self, ber: float, share: float) -> tuple[float, float]:
        return min(1.0, 2.0 * share * ber), min(1.0, 2.0 * (1.0 - share) * ber)

    def rates(self, knobs: Mapping[str, float | str], extrapolate: bool, label: str) -> tuple[float, float]:
        """Return ``(p01, p10)`` of this mechanism at ``knobs``."""
        if self.kind == "value":
            return self.rows["*"]
        if self.kind == "table":
            return self.rows[str(knobs[self.knob or ""])]
        if self.kind == "grid":
            return self._grid_rates(knobs, extrapolate, label)
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
            raise self._no_model(label, f"{self.knob}={x:g} is outside the curve [{self.xs[0]:g}, {self.xs[-1]:g}]")
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
