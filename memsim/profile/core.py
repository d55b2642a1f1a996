"""Profile: one memory technology's map from operating point to BER, energy and latency.

A profile is a YAML file (schema v1, documented in ``profiles/README.md``), parsed by
:mod:`memsim.profile.schema` into the runtime model of :mod:`memsim.profile.curves`.
This module evaluates it at an operating point:

* **BER** comes from one or more error *mechanisms*. Each gives its BER as a
  curve over one numeric knob (interpolated linearly in log-BER), a table over
  the categories of a categorical knob, or a constant. A named analytic form
  (:mod:`memsim.profile.forms`) may stand behind a curve; it is used only when the
  caller asks to extrapolate beyond the knob's range. Mechanisms combine per
  direction as ``p = 1 - prod(1 - p_m)``; ``ber = (p01 + p10) / 2``.
* **Energy and latency** are a value at the nominal point with scaling laws
  (power, v_exp, linear, category_factor), or points over one knob (linear).

Errors name the file, the dotted field, the value and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from memsim.errors import ConfigError, OutOfRangeError, ProfileError, UnknownNameError, format_problem, suggest
from memsim.profile import transforms
from memsim.profile._validate import join
from memsim.profile.curves import Knob, Mechanism, Quantity, knob_close
from memsim.profile.fault_maps import FaultMapSet
from memsim.profile.operating_point import MechanismRate, OperatingPoint
from memsim.profile.schema import PERSISTENCES, SCHEMA_VERSION, TECHNOLOGIES, ProfileParser

__all__ = ["PERSISTENCES", "SCHEMA_VERSION", "TECHNOLOGIES", "Knob", "Mechanism", "Profile"]


#: Units of temperature knobs: degrees Celsius go down to absolute zero, kelvins stay positive.
CELSIUS_UNITS = frozenset({"C", "°C", "degC"})
ABSOLUTE_ZERO_C = -273.15


def physical_problem(knob: Knob, x: float) -> str | None:
    """Why ``x`` cannot be a value of ``knob`` at all, extrapolated or not (None if it can).

    A temperature in Celsius stays above absolute zero; any other quantity whose range is
    positive (a voltage, an interval, a time) stays positive.
    """
    if knob.unit in CELSIUS_UNITS:
        if x < ABSOLUTE_ZERO_C:
            return f"{x:g} {knob.unit} is below absolute zero ({ABSOLUTE_ZERO_C} C): not a temperature"
        return None
    if knob.min is not None and knob.min > 0 and x <= 0:
        return f"{x:g} {knob.unit} is not physical: {knob.name} must be positive"
    return None


class Profile:
    """A memory technology profile: knobs -> BER, energy per bit, leakage and latency.

    Load one with :func:`memsim.load_profile` (by name or path); evaluate it with
    :meth:`at`. Profiles are immutable; :meth:`with_overrides` returns a changed copy.

    Parameters
    ----------
    data : dict
        Parsed YAML (schema v1).
    source : str
        Where the data came from (file path), used in error messages.
    base_dir : path, optional
        Directory that relative data paths (CSV curves, fault maps) resolve against.

    Raises
    ------
    ProfileError
        If the data does not follow the schema; the message names file, field and value.
    """

    def __init__(self, data: Any, source: str = "<dict>", base_dir: str | Path | None = None) -> None:
        self.source = str(source)
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self._raw = copy.deepcopy(data)
        parsed = ProfileParser(self.source, self.base_dir).parse(self._raw)
        self.name: str = parsed.name
        self.technology: str = parsed.technology
        self.description: str = parsed.description
        self.notes: str = parsed.notes
        self.conditions: dict[str, Any] = parsed.conditions
        self.citations: dict[str, dict[str, str]] = parsed.citations
        self.knobs: dict[str, Knob] = parsed.knobs
        self.mechanisms: list[Mechanism] = parsed.mechanisms
        self.fault_maps: FaultMapSet | None = parsed.fault_maps
        self._quantities: dict[str, Quantity] = parsed._quantities

    # --------------------------------------------------------------- evaluation
    @property
    def nominal(self) -> dict[str, float | str]:
        """Knob name to nominal value."""
        return {k.name: k.nominal for k in self.knobs.values()}

    def _check_knobs(self, values: Mapping[str, Any], extrapolate: bool) -> tuple[dict[str, float | str], set[str]]:
        knobs: dict[str, float | str] = self.nominal
        outside: set[str] = set()
        for name, value in values.items():
            if name not in self.knobs:
                raise UnknownNameError(
                    format_problem(
                        self.source,
                        "knobs",
                        f"unknown knob {name!r}{suggest(name, self.knobs)}; "
                        f"profile {self.name!r} has knobs: {', '.join(self.knobs)}",
                    )
                )
            knob = self.knobs[name]
            path = f"knobs.{name}"
            if knob.is_categorical:
                cats = knob.categories or ()
                if value not in cats:
                    raise ProfileError(
                        format_problem(
                            self.source,
                            path,
                            f"{value!r} is not a category{suggest(str(value), cats)}; allowed: {', '.join(cats)}",
                        )
                    )
                knobs[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ProfileError(
                    format_problem(self.source, path, f"expected a number in {knob.unit}, got {value!r}")
                )
            x = float(value)
            if not math.isfinite(x):
                raise ProfileError(format_problem(self.source, path, f"{x!r} is not a finite number"))
            assert knob.min is not None and knob.max is not None
            if knob_close(x, knob.min):  # floating-point noise at a range end is the end
                x = float(knob.min)
            elif knob_close(x, knob.max):
                x = float(knob.max)
            problem = physical_problem(knob, x)
            if problem:
                raise OutOfRangeError(format_problem(self.source, path, problem))
            if not knob.min <= x <= knob.max:
                if not extrapolate:
                    models = [
                        m.model.form_name for m in self.mechanisms if name in m.knob_names and m.model is not None
                    ]
                    hint = (
                        f"; pass extrapolate=True (CLI: --extrapolate) to use the model {', '.join(models)}"
                        if models
                        else "; the profile has no model to extrapolate with"
                    )
                    raise OutOfRangeError(
                        format_problem(
                            self.source,
                            path,
                            f"{x:g} {knob.unit} is outside the profile's range "
                            f"[{knob.min:g}, {knob.max:g}] {knob.unit}{hint}",
                        )
                    )
                outside.add(name)
            knobs[name] = self._measured_value(name, x)
        return knobs, outside

    def _measured_value(self, name: str, x: float) -> float:
        """``x`` itself, or for the knob of per-voltage fault maps the map value it names (else an error).

        A measured chip is known only where it was measured: between two maps there is no chip,
        so every path (``at``, a sweep's preflight, ``memory``) refuses the same values.
        """
        maps = self.fault_maps
        if maps is None or maps.kind == "failure_voltage" or name != maps.knob:
            return x
        for v in maps.knob_values:
            if knob_close(x, v):
                return float(v)
        unit = self.knobs[name].unit
        where = ", ".join(f"{v:g}" for v in maps.knob_values)
        raise OutOfRangeError(
            format_problem(
                self.source, f"knobs.{name}", f"{x:g} {unit} has no measured fault map; the chip is known at {where}"
            )
        )

    def at(self, *, extrapolate: bool = False, **knobs: float | str) -> OperatingPoint:
        """Evaluate the profile at an operating point given as keyword arguments.

        ``p.at(vdd_v=1.1)`` is ``p.at_knobs({"vdd_v": 1.1})``; see :meth:`at_knobs`.
        ``at()`` with no arguments is the nominal point.
        """
        return self.at_knobs(knobs, extrapolate=extrapolate)

    def at_knobs(self, knobs: Mapping[str, float | str], *, extrapolate: bool = False) -> OperatingPoint:
        """Evaluate the profile at an operating point.

        Parameters
        ----------
        knobs : mapping
            Knob values by name, in the knob's unit (e.g. ``{"vdd_v": 1.1}``,
            ``trcd_ns=10.0``, ``programming="nominal"``). Knobs not given take
            their nominal value.
        extrapolate : bool, default False
            Allow knob values outside the profile's range; BER then comes from the
            mechanisms' analytic models (an error if a mechanism has none).

        Returns
        -------
        OperatingPoint
            BER, p01, p10, per-mechanism rates, energies (pJ/bit), leakage (mW)
            and latencies (ns) at that point.

        Raises
        ------
        UnknownNameError
            For a knob the profile does not have.
        OutOfRangeError
            For a value outside ``[min, max]`` without ``extrapolate=True``.
        ProfileError
            For a value of the wrong type or an unknown category.
        """
        values, outside = self._check_knobs(knobs, extrapolate)
        rates = []
        # log1p/expm1 keep 1 - prod(1 - p_m) exact for p ~ 1e-12 (and p itself for one mechanism).
        log_keep01 = log_keep10 = 0.0
        for mech in self.mechanisms:
            p01, p10 = mech.rates(values, extrapolate, self.source)
            # An uncalibrated model still stands for the spec at the nominal knob value.
            at_nominal = all(values[k] == self.knobs[k].nominal for k in mech.knob_names)
            # beyond the data the BER is a fitted model's, not a measurement: flagged like an uncalibrated one
            fitted = bool(outside.intersection(mech.knob_names))
            calibrated = (mech.calibrated or at_nominal) and not fitted
            rates.append(MechanismRate(mech.name, mech.persistence, p01, p10, calibrated, mech.persistent_fraction))
            log_keep01 += math.log1p(-p01) if p01 < 1.0 else -math.inf
            log_keep10 += math.log1p(-p10) if p10 < 1.0 else -math.inf
        p01, p10 = max(0.0, -math.expm1(log_keep01)), max(0.0, -math.expm1(log_keep10))
        nominal = self.nominal

        def quantity(key: str) -> float | None:
            q = self._quantities.get(key)
            return None if q is None else q.evaluate(values, nominal)

        return OperatingPoint(
            profile=self.name,
            technology=self.technology,
            knobs=values,
            ber=0.5 * (p01 + p10),
            p01=p01,
            p10=p10,
            read_energy_pj_per_bit=quantity("energy.read_pj_per_bit"),
            write_energy_pj_per_bit=quantity("energy.write_pj_per_bit"),
            leakage_mw=quantity("energy.leakage_mw"),
            refresh_mw=self._refresh_mw(quantity),
            power_ratio=quantity("energy.power_ratio"),
            read_latency_ns=quantity("latency.read_ns"),
            write_latency_ns=quantity("latency.write_ns"),
            mechanisms=tuple(rates),
            extrapolated=bool(outside),
        )

    @property
    def refreshes(self) -> bool:
        """True if the profile publishes a refresh power (``energy.refresh_mw``): its sweeps report that part."""
        return "energy.refresh_mw" in self._quantities

    def _refresh_mw(self, quantity: Any) -> float | None:
        # Only DRAM refreshes: other technologies spend nothing on it; a DRAM profile without the entry
        # has not published it (None, named in the energy's left-out parts, never a made-up 0).
        if "energy.refresh_mw" not in self._quantities:
            return None if self.technology == "dram" else 0.0
        value: float | None = quantity("energy.refresh_mw")
        return value

    def knob_values(self, name: str, n: int | None = None) -> list[float | str]:
        """Values of knob ``name`` for a sweep.

        Parameters
        ----------
        name : str
            Knob name.
        n : int, optional
            Number of evenly spaced values over ``[min, max]`` of a numeric knob.
            Without ``n``: the union of the knob values at which the profile has
            data (curve points), or all categories of a categorical knob.
        """
        if name not in self.knobs:
            raise UnknownNameError(
                format_problem(
                    self.source,
                    "knobs",
                    f"unknown knob {name!r}{suggest(name, self.knobs)}; knobs: {', '.join(self.knobs)}",
                )
            )
        knob = self.knobs[name]
        if knob.is_categorical:
            return list(knob.categories or ())
        assert knob.min is not None and knob.max is not None
        maps = self.fault_maps
        if maps is not None and maps.kind != "failure_voltage" and name == maps.knob:
            return [float(v) for v in maps.knob_values]  # a measured chip exists only at its maps (any n)
        if n is not None:
            if n < 1:
                raise ConfigError(f"n must be >= 1, got {n}")
            return [float(v) for v in np.linspace(knob.min, knob.max, n)] if n > 1 else [float(knob.nominal)]
        xs = {float(knob.min), float(knob.max), float(knob.nominal)}
        for mech in self.mechanisms:
            axis = mech.axis_values(name)
            if axis is not None:
                xs.update(float(x) for x in axis if knob.min <= x <= knob.max)
        return sorted(xs)

    def grid(self, extrapolate: bool = False, **axes: Any) -> list[OperatingPoint]:
        """Operating points on the Cartesian product of knob values, for sweeps.

        Parameters
        ----------
        extrapolate : bool, default False
            As in :meth:`at`.
        **axes
            Per knob, a sequence of values, or an int ``n`` for ``n`` evenly spaced
            values over the knob's range. Knobs not named stay nominal. With no
            axes, the first knob is swept over the points where the profile has data.

        Returns
        -------
        list of OperatingPoint
            In row-major order of the axes as given.
        """
        if not axes:
            first = next(iter(self.knobs))
            axes = {first: self.knob_values(first)}
        names = list(axes)
        lists = [
            self.knob_values(k, v) if isinstance(v, int) and not isinstance(v, bool) else list(v)
            for k, v in axes.items()
        ]
        return [
            self.at_knobs(dict(zip(names, combo, strict=True)), extrapolate=extrapolate)
            for combo in itertools.product(*lists)
        ]

    # ------------------------------------------------------------ introspection
    def provenance(self) -> list[dict[str, str]]:
        """Every cited number block: its field, source key and provenance tag."""
        out: list[dict[str, str]] = []

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                if "source" in node and "provenance" in node:
                    out.append(
                        {
                            "field": path,
                            "source": str(node["source"]),
                            "provenance": str(node["provenance"]),
                            "note": str(node.get("note", "")),
                        }
                    )
                for key, value in node.items():
                    walk(value, join(path, str(key)))
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, join(path, i))

        for key in ("knobs", "mechanisms", "energy", "latency"):
            walk(self._raw.get(key), key)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the profile's data as loaded (the YAML mapping)."""
        return copy.deepcopy(self._raw)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Profile:
        """Return a copy with fields replaced, validated like a file.

        Parameters
        ----------
        overrides : mapping
            Dotted path to new value, e.g. ``{"energy.leakage_mw.value": 0.5}``;
            list items by index: ``"mechanisms.0.asymmetry"``.

        Raises
        ------
        ProfileError
            If a path does not exist or the result is invalid.
        """
        data = transforms.apply_overrides(self._raw, overrides, self.source)
        return Profile(data, source=f"{self.source} (with overrides)", base_dir=self.base_dir)

    def with_vmin(self, vmin_v: float) -> Profile:
        """A copy in absolute volts: the relative knob ``vdd_over_vmin`` becomes ``vdd_v = vdd_over_vmin * vmin_v``.

        For profiles published relative to Vmin (such as the 14 nm SRAM) when the user knows
        the Vmin of their own array. Curve points, knob ranges, analytic models (each form
        says how its parameters scale, :meth:`memsim.profile.forms.Form.rescale`) and
        energy/latency scaling laws are rescaled; BER values and energy ratios are unchanged.

        Parameters
        ----------
        vmin_v : float
            The absolute Vmin, in V (> 0).

        Raises
        ------
        ProfileError
            If the profile has no ``vdd_over_vmin`` knob, or data that cannot be rescaled
            (a curve in a CSV file, a form without a rescaling rule, fault maps).
        """
        data = transforms.relative_to_volts(self._raw, vmin_v, self.source, "vdd_over_vmin", "vdd_v")
        return Profile(data, source=f"{self.source} (Vmin = {float(vmin_v):g} V)", base_dir=self.base_dir)

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, technology={self.technology!r}, knobs={list(self.knobs)})"
