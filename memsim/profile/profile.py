"""Profile: one memory technology's map from operating point to BER, energy and latency.

A profile is a YAML file (schema v1, documented in ``profiles/README.md``). This
module parses and validates it and evaluates it at an operating point:

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memsim.errors import ConfigError, OutOfRangeError, ProfileError, UnknownNameError, format_problem, suggest
from memsim.profile._validate import Checker, join
from memsim.profile.forms import get_form
from memsim.profile.operating_point import MechanismRate, OperatingPoint

__all__ = ["PERSISTENCES", "SCHEMA_VERSION", "TECHNOLOGIES", "Knob", "Mechanism", "Profile"]

SCHEMA_VERSION = 1
TECHNOLOGIES = ("sram", "dram", "rram", "stt_mram")
PERSISTENCES = ("per_read", "stuck", "programmed", "accumulating")
MONOTONE = ("non_increasing", "non_decreasing")
QUANTITIES = {
    "energy": ("read_pj_per_bit", "write_pj_per_bit", "leakage_mw"),
    "latency": ("read_ns", "write_ns"),
}
CITED = ("source", "provenance", "note")
TOP_REQUIRED = (
    "schema_version",
    "name",
    "technology",
    "description",
    "citations",
    "knobs",
    "mechanisms",
    "energy",
    "latency",
)
TOP_OPTIONAL = ("notes", "conditions", "fault_maps")


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
class _Model:
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
        One of ``per_read``, ``stuck``, ``programmed``, ``accumulating``.
    kind : str
        ``curve``, ``table`` or ``value``: how the BER is given.
    knob : str or None
        The knob the BER depends on (None for a constant).
    calibrated : bool
        False if the profile marks the numbers as uncalibrated.
    p01_share : float or None
        Fixed share of flips that are 0->1 for equiprobable data (None if the data gives p01/p10).
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
    model: _Model | None = None
    description: str = ""

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
            return (interpolate_log(x, self.xs, self.p01s), interpolate_log(x, self.xs, self.p10s))
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
class _Quantity:
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
        self._parse(self._raw)

    # ------------------------------------------------------------------ parsing
    def _parse(self, data: Any) -> None:
        check = Checker(self.source)
        if data is None:
            raise check.fail(None, "the file is empty; expected a profile mapping (see profiles/README.md)")
        check.mapping(data, "", TOP_REQUIRED, TOP_OPTIONAL)
        version = data["schema_version"]
        if version != SCHEMA_VERSION:
            raise check.fail(
                "schema_version", f"{version!r} is not supported; this memsim reads version {SCHEMA_VERSION}"
            )
        self.name = check.string(data["name"], "name")
        self.technology = check.string(data["technology"], "technology", TECHNOLOGIES)
        self.description = check.string(data["description"], "description")
        self.notes = check.string(data.get("notes", ""), "notes")
        self.conditions = dict(check.mapping(data.get("conditions", {}), "conditions", open_keys=True))
        citations = check.mapping(data["citations"], "citations", open_keys=True)
        if not citations:
            raise check.fail("citations", "expected at least one citation")
        for key, cite in citations.items():
            check.mapping(cite, f"citations.{key}", ("reference",), ("url", "note", "repository"))
            check.string(cite["reference"], f"citations.{key}.reference")
        self.citations: dict[str, dict[str, str]] = {k: dict(v) for k, v in citations.items()}
        self._citation_keys = list(citations)
        self.knobs: dict[str, Knob] = self._parse_knobs(check, data["knobs"])
        mechs = check.sequence(data["mechanisms"], "mechanisms", min_len=1)
        self.mechanisms: list[Mechanism] = [
            self._parse_mechanism(check, m, f"mechanisms[{i}]") for i, m in enumerate(mechs)
        ]
        names = [m.name for m in self.mechanisms]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise check.fail(f"mechanisms[{i}].name", f"duplicate mechanism name {name!r}")
        self._quantities: dict[str, _Quantity] = {}
        for section, keys in QUANTITIES.items():
            block = check.mapping(data[section], section, optional=keys)
            for key in keys:
                if key in block:
                    self._quantities[f"{section}.{key}"] = self._parse_quantity(check, block[key], f"{section}.{key}")
        self.fault_maps = data.get("fault_maps")
        if self.fault_maps is not None:
            from memsim.profile.io import parse_fault_map_block

            self.fault_maps = parse_fault_map_block(check, self.fault_maps, self, "fault_maps")

    def _parse_knobs(self, check: Checker, block: Any) -> dict[str, Knob]:
        check.mapping(block, "knobs", open_keys=True)
        if not block:
            raise check.fail("knobs", "expected at least one knob")
        knobs = {}
        for name, spec in block.items():
            path = f"knobs.{name}"
            check.string(name, path)
            if isinstance(spec, dict) and "categories" in spec:
                check.mapping(spec, path, ("categories", "nominal"), ("description", *CITED))
                cats = [
                    check.string(c, f"{path}.categories[{i}]")
                    for i, c in enumerate(check.sequence(spec["categories"], f"{path}.categories", 1))
                ]
                if len(set(cats)) != len(cats):
                    raise check.fail(f"{path}.categories", f"duplicate categories in {cats}")
                nominal = check.string(spec["nominal"], f"{path}.nominal", cats)
                knobs[name] = Knob(
                    name, "", nominal, categories=tuple(cats), description=str(spec.get("description", ""))
                )
                continue
            check.mapping(spec, path, ("unit", "nominal", "min", "max"), ("description", *CITED))
            lo = check.number(spec["min"], f"{path}.min")
            hi = check.number(spec["max"], f"{path}.max")
            if not lo < hi:
                raise check.fail(f"{path}.max", f"{hi:g} must be greater than min {lo:g}")
            nominal = check.number(spec["nominal"], f"{path}.nominal", lo, hi)
            knobs[name] = Knob(
                name,
                check.string(spec["unit"], f"{path}.unit"),
                nominal,
                lo,
                hi,
                description=str(spec.get("description", "")),
            )
        return knobs

    def _knob(self, check: Checker, value: Any, path: str, categorical: bool) -> Knob:
        name = check.string(value, path)
        if name not in self.knobs:
            raise check.fail(path, f"unknown knob {name!r}{suggest(name, self.knobs)}; knobs: {', '.join(self.knobs)}")
        knob = self.knobs[name]
        if knob.is_categorical != categorical:
            want = "categorical" if categorical else "numeric"
            raise check.fail(path, f"knob {name!r} is not {want}")
        return knob

    def _parse_mechanism(self, check: Checker, spec: Any, path: str) -> Mechanism:
        check.mapping(
            spec,
            path,
            ("name", "persistence"),
            ("description", "curve", "table", "value", "model", "asymmetry", "persistent_fraction", "status", "note"),
        )
        name = check.string(spec["name"], f"{path}.name")
        persistence = check.string(spec["persistence"], f"{path}.persistence", PERSISTENCES)
        status = check.string(spec.get("status", "calibrated"), f"{path}.status", ("calibrated", "uncalibrated"))
        given = [k for k in ("curve", "table", "value") if k in spec]
        if len(given) != 1:
            raise check.fail(
                path, f"give exactly one of 'curve', 'table' or 'value' for the BER; got {given or 'none'}"
            )
        share = None
        if "asymmetry" in spec:
            asym = check.mapping(spec["asymmetry"], f"{path}.asymmetry", ("p01_share",), ("range_seen", *CITED))
            share = check.probability(asym["p01_share"], f"{path}.asymmetry.p01_share")
            check.cited(asym, f"{path}.asymmetry", self._citation_keys)
        if "persistent_fraction" in spec:
            pf = check.mapping(
                spec["persistent_fraction"], f"{path}.persistent_fraction", ("value",), ("range_seen", *CITED)
            )
            check.probability(pf["value"], f"{path}.persistent_fraction.value")
            check.cited(pf, f"{path}.persistent_fraction", self._citation_keys)
        mech = Mechanism(
            name,
            persistence,
            given[0],
            None,
            status == "calibrated",
            share,
            description=str(spec.get("description", "")),
        )
        if "curve" in spec:
            self._parse_curve(check, spec["curve"], f"{path}.curve", mech)
        elif "table" in spec:
            self._parse_table(check, spec["table"], f"{path}.table", mech)
        else:
            block = check.mapping(spec["value"], f"{path}.value", (), ("ber", "p01", "p10", *CITED))
            check.cited(block, f"{path}.value", self._citation_keys)
            mech.rows["*"] = self._rates(check, block, f"{path}.value", share)
        if "model" in spec:
            mpath = f"{path}.model"
            block = check.mapping(spec["model"], mpath, ("form", "knob", "params"), ("status", "fit", *CITED))
            check.cited(block, mpath, self._citation_keys)
            try:
                form = get_form(check.string(block["form"], f"{mpath}.form"))
            except UnknownNameError as err:
                raise check.fail(f"{mpath}.form", str(err)) from None
            knob = self._knob(check, block["knob"], f"{mpath}.knob", categorical=False)
            if mech.knob is not None and knob.name != mech.knob:
                raise check.fail(f"{mpath}.knob", f"{knob.name!r} differs from the curve's knob {mech.knob!r}")
            params = check.mapping(block["params"], f"{mpath}.params", form.params, tuple(form.optional))
            mech.model = _Model(
                form.name, knob.name, {k: check.number(v, f"{mpath}.params.{k}") for k, v in params.items()}
            )
        return mech

    def _rates(self, check: Checker, block: Mapping[str, Any], path: str, share: float | None) -> tuple[float, float]:
        """(p01, p10) from a block holding either ``ber`` or ``p01`` and ``p10``."""
        if "ber" in block and not ("p01" in block or "p10" in block):
            ber = check.probability(block["ber"], join(path, "ber"), high=0.5)
            split = 0.5 if share is None else share
            p01, p10 = 2.0 * split * ber, 2.0 * (1.0 - split) * ber
            if p01 > 1.0 or p10 > 1.0:
                raise check.fail(
                    join(path, "ber"), f"{ber:g} with p01_share {split:g} gives a flip probability above 1"
                )
            return p01, p10
        if "p01" in block and "p10" in block and "ber" not in block:
            return check.probability(block["p01"], join(path, "p01")), check.probability(
                block["p10"], join(path, "p10")
            )
        raise check.fail(path, "give either 'ber' or both 'p01' and 'p10'")

    def _parse_curve(self, check: Checker, spec: Any, path: str, mech: Mechanism) -> None:
        check.mapping(spec, path, ("knob",), ("columns", "points", "csv", "monotone", *CITED))
        check.cited(spec, path, self._citation_keys)
        knob = self._knob(check, spec["knob"], f"{path}.knob", categorical=False)
        mech.knob = knob.name
        if ("points" in spec) == ("csv" in spec):
            raise check.fail(path, "give exactly one of 'points' or 'csv'")
        if "csv" in spec:
            from memsim.profile.io import read_curve_csv

            csv_path = self._resolve(check.string(spec["csv"], f"{path}.csv"))
            columns, rows, label = read_curve_csv(csv_path)
            row_path = f"{label} row"
        else:
            columns = spec.get("columns", [knob.name, "ber"])
            rows = check.sequence(spec["points"], f"{path}.points", min_len=2)
            label, row_path = None, f"{path}.points"
        cpath = f"{path}.columns" if label is None else f"{label} header"
        allowed = ([knob.name, "ber"], [knob.name, "p01", "p10"])
        if columns not in allowed:
            raise check.fail(cpath, f"{columns!r} is not allowed; expected {allowed[0]} or {allowed[1]}")
        rcheck = Checker(label) if label is not None else check
        if len(rows) < 2:
            raise rcheck.fail(row_path, "a curve needs at least 2 points")
        table = []
        for i, row in enumerate(rows):
            rpath = f"{row_path}[{i}]"
            rcheck.sequence(row, rpath)
            if len(row) != len(columns):
                raise rcheck.fail(
                    rpath, f"{row!r} has {len(row)} values; expected {len(columns)} ({', '.join(columns)})"
                )
            x = rcheck.number(row[0], f"{rpath}[0]")
            if table and x <= table[-1][0]:
                raise rcheck.fail(
                    f"{rpath}[0]",
                    f"{knob.name}={x:g} is not greater than the previous {table[-1][0]:g}; "
                    "knob values must be strictly increasing (sorted, no duplicates)",
                )
            block = dict(zip(columns[1:], row[1:], strict=True))
            table.append((x, *self._rates(rcheck, {k: v for k, v in block.items()}, rpath, mech.p01_share)))
        arr = np.array(table, dtype=float)
        mech.xs, mech.p01s, mech.p10s = arr[:, 0], arr[:, 1], arr[:, 2]
        monotone = check.string(spec.get("monotone", "non_increasing"), f"{path}.monotone", MONOTONE)
        for name, ys in (("p01", mech.p01s), ("p10", mech.p10s)):
            steps = np.diff(ys)
            bad = np.nonzero(steps > 0)[0] if monotone == "non_increasing" else np.nonzero(steps < 0)[0]
            if bad.size:
                j = int(bad[0]) + 1
                verb = "rises" if monotone == "non_increasing" else "falls"
                raise rcheck.fail(
                    f"{row_path}[{j}]",
                    f"{name} {verb} from {ys[j - 1]:.3g} to {ys[j]:.3g} as {knob.name} grows from "
                    f"{mech.xs[j - 1]:g} to {mech.xs[j]:g}; the curve is declared {monotone}"
                    + (" (BER must not rise with voltage or timing)" if monotone == "non_increasing" else ""),
                )
        assert knob.min is not None and knob.max is not None
        if mech.xs[0] > knob.min or mech.xs[-1] < knob.max:
            raise check.fail(
                f"{path}.points" if label is None else f"{path}.csv",
                f"the curve covers {knob.name} in [{mech.xs[0]:g}, {mech.xs[-1]:g}] but the knob's range is "
                f"[{knob.min:g}, {knob.max:g}]; the curve must cover the knob's range",
            )

    def _parse_table(self, check: Checker, spec: Any, path: str, mech: Mechanism) -> None:
        check.mapping(spec, path, ("knob", "rows"), ())
        knob = self._knob(check, spec["knob"], f"{path}.knob", categorical=True)
        mech.knob = knob.name
        rows = check.mapping(spec["rows"], f"{path}.rows", open_keys=True)
        cats = knob.categories or ()
        for cat in rows:
            if cat not in cats:
                raise check.fail(
                    f"{path}.rows.{cat}",
                    f"{cat!r} is not a category of {knob.name}{suggest(str(cat), cats)}; categories: {', '.join(cats)}",
                )
        for cat in cats:
            if cat not in rows:
                raise check.fail(f"{path}.rows.{cat}", f"missing key; every category of {knob.name} needs a row")
            rpath = f"{path}.rows.{cat}"
            block = check.mapping(rows[cat], rpath, (), ("ber", "p01", "p10", *CITED))
            check.cited(block, rpath, self._citation_keys)
            mech.rows[cat] = self._rates(check, block, rpath, mech.p01_share)

    def _parse_quantity(self, check: Checker, spec: Any, path: str) -> _Quantity:
        check.mapping(spec, path, (), ("value", "scaling", "knob", "points", *CITED))
        check.cited(spec, path, self._citation_keys)
        if "points" in spec:
            if "value" in spec or "scaling" in spec:
                raise check.fail(
                    path, "give either 'points' (with 'knob') or 'value' (with optional 'scaling'), not both"
                )
            knob = self._knob(check, spec.get("knob"), f"{path}.knob", categorical=False)
            rows = check.sequence(spec["points"], f"{path}.points", min_len=2)
            xs, ys = [], []
            for i, row in enumerate(rows):
                rp = f"{path}.points[{i}]"
                if not isinstance(row, list) or len(row) != 2:
                    raise check.fail(rp, f"{row!r} is not a [{knob.name}, value] pair")
                x = check.number(row[0], f"{rp}[0]")
                if xs and x <= xs[-1]:
                    raise check.fail(
                        f"{rp}[0]",
                        f"{knob.name}={x:g} is not greater than the previous {xs[-1]:g}; "
                        "knob values must be strictly increasing (sorted, no duplicates)",
                    )
                xs.append(x)
                ys.append(check.nonnegative(row[1], f"{rp}[1]"))
            return _Quantity(None, [], knob.name, np.array(xs), np.array(ys))
        if "value" not in spec:
            raise check.fail(join(path, "value"), "missing key; give 'value' (null if not published) or 'points'")
        value = None if spec["value"] is None else check.nonnegative(spec["value"], f"{path}.value")
        laws = check.sequence(spec.get("scaling", []), f"{path}.scaling")
        for i, law in enumerate(laws):
            lp = f"{path}.scaling[{i}]"
            check.mapping(law, lp, ("law", "knob"), (*{p for ps in SCALING_LAWS.values() for p in ps}, *CITED))
            kind = check.string(law["law"], f"{lp}.law", SCALING_LAWS)
            knob = self._knob(check, law["knob"], f"{lp}.knob", categorical=kind == "category_factor")
            check.mapping(law, lp, ("law", "knob", *SCALING_LAWS[kind]), CITED)
            check.cited(law, lp, self._citation_keys)
            if kind == "category_factor":
                factors = check.mapping(law["factors"], f"{lp}.factors", knob.categories or ())
                for cat, f in factors.items():
                    check.nonnegative(f, f"{lp}.factors.{cat}")
            else:
                check.number(law[SCALING_LAWS[kind][0]], f"{lp}.{SCALING_LAWS[kind][0]}")
                if kind in ("power", "v_exp") and float(knob.nominal) == 0.0:  # type: ignore[arg-type]
                    raise check.fail(f"{lp}.knob", f"the {kind} law needs a non-zero nominal {knob.name}")
        return _Quantity(value, list(laws))

    def _resolve(self, relative: str) -> Path:
        path = Path(relative)
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path

    # --------------------------------------------------------------- evaluation
    @property
    def nominal(self) -> dict[str, float | str]:
        """Knob name to nominal value."""
        return {k.name: k.nominal for k in self.knobs.values()}

    def _check_knobs(self, values: Mapping[str, Any], extrapolate: bool) -> tuple[dict[str, float | str], bool]:
        knobs: dict[str, float | str] = self.nominal
        outside = False
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
            if not knob.min <= x <= knob.max:
                if not extrapolate:
                    models = [m.model.form_name for m in self.mechanisms if m.knob == name and m.model is not None]
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
                outside = True
            knobs[name] = x
        return knobs, outside

    def at(self, extrapolate: bool = False, **knobs: float | str) -> OperatingPoint:
        """Evaluate the profile at an operating point.

        Parameters
        ----------
        extrapolate : bool, default False
            Allow knob values outside the profile's range; BER then comes from the
            mechanisms' analytic models (an error if a mechanism has none).
        **knobs
            Knob values by name, in the knob's unit (e.g. ``vdd_v=1.1``,
            ``trcd_ns=10.0``, ``programming="nominal"``). Knobs not given take
            their nominal value; ``at()`` with no arguments is the nominal point.

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
            at_nominal = mech.knob is None or values[mech.knob] == self.knobs[mech.knob].nominal
            rates.append(MechanismRate(mech.name, mech.persistence, p01, p10, mech.calibrated or at_nominal))
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
            read_latency_ns=quantity("latency.read_ns"),
            write_latency_ns=quantity("latency.write_ns"),
            mechanisms=tuple(rates),
            extrapolated=outside,
        )

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
        if n is not None:
            if n < 1:
                raise ConfigError(f"n must be >= 1, got {n}")
            return [float(v) for v in np.linspace(knob.min, knob.max, n)] if n > 1 else [float(knob.nominal)]
        xs = {float(knob.min), float(knob.max), float(knob.nominal)}
        for mech in self.mechanisms:
            if mech.knob == name and mech.xs is not None:
                xs.update(float(x) for x in mech.xs if knob.min <= x <= knob.max)
        return sorted(xs)

    def grid(self, extrapolate: bool = False, **axes: Sequence[float | str] | int) -> list[OperatingPoint]:
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
            self.at(extrapolate=extrapolate, **dict(zip(names, combo, strict=True)))
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
        data = copy.deepcopy(self._raw)
        for dotted, value in overrides.items():
            node = data
            parts = dotted.split(".")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if isinstance(node, list):
                    if not part.isdigit() or int(part) >= len(node):
                        raise ProfileError(
                            format_problem(self.source, dotted, f"{part!r} is not an index of a list of {len(node)}")
                        )
                    if last:
                        node[int(part)] = value
                    else:
                        node = node[int(part)]
                elif isinstance(node, dict):
                    if last:
                        node[part] = value
                    elif part not in node:
                        raise ProfileError(
                            format_problem(self.source, dotted, f"no field {part!r}{suggest(part, node)}")
                        )
                    else:
                        node = node[part]
                else:
                    raise ProfileError(format_problem(self.source, dotted, f"cannot descend into {node!r}"))
        return Profile(data, source=f"{self.source} (with overrides)", base_dir=self.base_dir)

    def with_vmin(self, vmin_v: float) -> Profile:
        """A copy in absolute volts: the relative knob ``vdd_over_vmin`` becomes ``vdd_v = vdd_over_vmin * vmin_v``.

        For profiles published relative to Vmin (such as the 14 nm SRAM) when the user knows
        the Vmin of their own array. Curve points, knob ranges, ``gaussian_threshold`` /
        ``log_linear`` models and energy/latency scaling laws are rescaled; BER values and
        energy ratios are unchanged.

        Parameters
        ----------
        vmin_v : float
            The absolute Vmin, in V (> 0).

        Raises
        ------
        ProfileError
            If the profile has no ``vdd_over_vmin`` knob, or data that cannot be rescaled
            (a curve in a CSV file, another model form, fault maps).
        """
        old, new = "vdd_over_vmin", "vdd_v"
        if old not in self.knobs:
            raise ProfileError(
                format_problem(self.source, "knobs", f"no {old!r} knob to rescale; knobs: {', '.join(self.knobs)}")
            )
        if isinstance(vmin_v, bool) or not isinstance(vmin_v, (int, float)) or not math.isfinite(vmin_v) or vmin_v <= 0:
            raise ProfileError(format_problem(self.source, "vmin_v", f"{vmin_v!r} must be a positive number of volts"))
        f = float(vmin_v)
        data = copy.deepcopy(self._raw)
        if data.get("fault_maps") is not None:
            raise ProfileError(
                format_problem(self.source, "fault_maps", "fault maps are indexed by their own knob values")
            )

        def scale(x: float) -> float:  # 12 significant digits: 0.75 * 0.8 is 0.6, not 0.6000000000000001
            return float(f"{x * f:.12g}")

        knob = data["knobs"].pop(old)
        data["knobs"] = {
            new: {**knob, "unit": "V", **{k: scale(knob[k]) for k in ("nominal", "min", "max")}},
            **data["knobs"],
        }

        def rename(block: dict[str, Any], path: str) -> None:
            if block.get("knob") != old:
                return
            block["knob"] = new
            if "points" in block:
                block["points"] = [[scale(row[0]), *row[1:]] for row in block["points"]]
            if "columns" in block:
                block["columns"] = [new, *block["columns"][1:]]
            if "csv" in block:
                raise ProfileError(format_problem(self.source, path, "a curve in a CSV file cannot be rescaled"))
            if block.get("law") in ("v_exp", "linear"):
                key = "k_per_unit" if block["law"] == "v_exp" else "slope"
                block[key] = block[key] / f

        for i, mech in enumerate(data["mechanisms"]):
            for part in ("curve", "table"):
                if part in mech:
                    rename(mech[part], f"mechanisms[{i}].{part}")
            model = mech.get("model")
            if model is not None and model.get("knob") == old:
                model["knob"] = new
                params = model["params"]
                if model["form"] == "gaussian_threshold":
                    params["mean"], params["std"] = params["mean"] * f, params["std"] * f
                elif model["form"] == "log_linear":
                    params["slope"] = params["slope"] / f
                else:
                    raise ProfileError(format_problem(self.source, f"mechanisms[{i}].model.form",
                                                      f"{model['form']!r} cannot be rescaled"))  # fmt: skip
        for section in ("energy", "latency"):
            for key, entry in data[section].items():
                rename(entry, f"{section}.{key}")
                for j, law in enumerate(entry.get("scaling", [])):
                    rename(law, f"{section}.{key}.scaling[{j}]")
        data["name"] = f"{self.name}_vmin{f:g}v"
        data["description"] = f"{self.description} Rescaled to absolute volts with Vmin = {f:g} V (user-supplied)."
        return Profile(data, source=f"{self.source} (Vmin = {f:g} V)", base_dir=self.base_dir)

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, technology={self.technology!r}, knobs={list(self.knobs)})"
