"""Schema v1 of a profile file: parsing and validation into the runtime model.

:class:`ProfileParser` checks every field of a profile's YAML mapping (documented in
``profiles/README.md``) and builds the :mod:`memsim.profile.curves` objects; errors name
the file, the dotted field, the value and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from memsim.errors import UnknownNameError, suggest
from memsim.profile._validate import Checker, join
from memsim.profile.curves import SCALING_LAWS, AnalyticModel, Knob, Mechanism, Quantity, grid_axes
from memsim.profile.fault_maps import MAP_KINDS, FaultMapSet, MapEntry
from memsim.profile.forms import get_form
from memsim.profile.readers import read_csv_table, read_curve_csv

__all__ = ["CITED", "PERSISTENCES", "QUANTITIES", "SCHEMA_VERSION", "TECHNOLOGIES", "ProfileParser"]

#: What a profile name may hold: it becomes a file stem, a CSV field and a command-line word.
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SCHEMA_VERSION = 1
TECHNOLOGIES = ("sram", "dram", "rram", "stt_mram")
PERSISTENCES = ("transient", "stuck", "programmed", "accumulating")
MONOTONE = ("non_increasing", "non_decreasing")
QUANTITIES = {
    "energy": ("read_pj_per_bit", "write_pj_per_bit", "leakage_mw", "refresh_mw", "power_ratio"),
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


def _check_row(check: Checker, row: Any, path: str, columns: list[str]) -> None:
    """A curve's or grid's row: a list with one value per column."""
    check.sequence(row, path)
    if len(row) != len(columns):
        raise check.fail(path, f"{row!r} has {len(row)} values; expected {len(columns)} ({', '.join(columns)})")


class ProfileParser:
    """Validates one profile mapping; after :meth:`parse` its attributes hold the parsed profile.

    Parameters
    ----------
    source : str
        Where the data came from (a file path), used in error messages.
    base_dir : Path or None
        Directory that relative data paths (CSV curves, fault maps) resolve against.
    """

    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.fault_maps: FaultMapSet | None = None

    def parse(self, data: Any) -> ProfileParser:
        """Validate ``data`` and fill this parser's attributes; returns ``self``."""
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
        if not PROFILE_NAME.fullmatch(self.name):
            raise check.fail(
                "name", f"{self.name!r} is not a profile name: letters, digits, '_', '.' and '-' (it names files)"
            )
        self.technology = check.string(data["technology"], "technology", TECHNOLOGIES)
        self.description = check.string(data["description"], "description")
        self.notes = check.string(data.get("notes", ""), "notes")
        self.conditions = dict(check.mapping(data.get("conditions", {}), "conditions", open_keys=True))
        citations = check.mapping(data["citations"], "citations", open_keys=True)
        if not citations:
            raise check.fail("citations", "expected at least one citation")
        for key, cite in citations.items():
            check.mapping(cite, f"citations.{key}", ("reference",), ("url", "note", "repository"))
            if not check.string(cite["reference"], f"citations.{key}.reference").strip():
                raise check.fail(f"citations.{key}.reference", "is empty; say where the numbers come from")
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
        self._quantities: dict[str, Quantity] = {}
        for section, keys in QUANTITIES.items():
            block = check.mapping(data[section], section, optional=keys)
            for key in keys:
                if key in block:
                    self._quantities[f"{section}.{key}"] = self._parse_quantity(check, block[key], f"{section}.{key}")
        block = data.get("fault_maps")
        self.fault_maps = None if block is None else self._parse_fault_maps(check, block, "fault_maps")
        return self

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
            value = check.number(spec["nominal"], f"{path}.nominal", lo, hi)
            knobs[name] = Knob(
                name,
                check.string(spec["unit"], f"{path}.unit"),
                value,
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
            (
                "description",
                "curve",
                "grid",
                "table",
                "value",
                "model",
                "asymmetry",
                "persistent_fraction",
                "status",
                "note",
            ),
        )
        name = check.string(spec["name"], f"{path}.name")
        if spec["persistence"] == "per_read":  # the name before 0.2: say what it is now
            raise check.fail(f"{path}.persistence", "'per_read' is now called 'transient' (fresh on every read)")
        persistence = check.string(spec["persistence"], f"{path}.persistence", PERSISTENCES)
        status = check.string(spec.get("status", "calibrated"), f"{path}.status", ("calibrated", "uncalibrated"))
        given = [k for k in ("curve", "grid", "table", "value") if k in spec]
        if len(given) != 1:
            raise check.fail(
                path, f"give exactly one of 'curve', 'grid', 'table' or 'value' for the BER; got {given or 'none'}"
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
        mech.persistent_fraction = 1.0 if persistence == "stuck" else 0.0
        if "persistent_fraction" in spec:
            mech.persistent_fraction = float(spec["persistent_fraction"]["value"])
        if "curve" in spec:
            self._parse_curve(check, spec["curve"], f"{path}.curve", mech)
        elif "grid" in spec:
            self._parse_grid(check, spec["grid"], f"{path}.grid", mech)
        elif "table" in spec:
            self._parse_table(check, spec["table"], f"{path}.table", mech)
        else:
            block = check.mapping(spec["value"], f"{path}.value", (), ("ber", "p01", "p10", *CITED))
            check.cited(block, f"{path}.value", self._citation_keys)
            mech.rows["*"] = self._rates(check, block, f"{path}.value", share)
        if "model" in spec:
            mech.model = self._parse_model(check, spec["model"], f"{path}.model", mech)
        return mech

    def _parse_model(self, check: Checker, spec: Any, mpath: str, mech: Mechanism) -> AnalyticModel:
        grid = bool(mech.grid_knobs)
        block = check.mapping(spec, mpath, ("form", "knobs" if grid else "knob", "params"), ("status", "fit", *CITED))
        check.cited(block, mpath, self._citation_keys)
        try:
            form = get_form(check.string(block["form"], f"{mpath}.form"))
        except UnknownNameError as err:
            raise check.fail(f"{mpath}.form", str(err)) from None
        params = check.mapping(block["params"], f"{mpath}.params", form.params, tuple(form.optional))
        values = {k: check.number(v, f"{mpath}.params.{k}") for k, v in params.items()}
        if grid:
            names = tuple(
                self._knob(check, k, f"{mpath}.knobs[{i}]", categorical=False).name
                for i, k in enumerate(check.sequence(block["knobs"], f"{mpath}.knobs", 1))
            )
            if names != mech.grid_knobs:
                raise check.fail(
                    f"{mpath}.knobs", f"{list(names)} differs from the grid's knobs {list(mech.grid_knobs)}"
                )
            if form.arity != len(names):
                raise check.fail(
                    f"{mpath}.form", f"form {form.name!r} takes {form.arity} knob(s), the grid has {len(names)}"
                )
            return AnalyticModel(form.name, names[0], values, names)
        if form.arity != 1:
            raise check.fail(f"{mpath}.form", f"form {form.name!r} takes {form.arity} knobs: it models a grid")
        knob = self._knob(check, block["knob"], f"{mpath}.knob", categorical=False)
        if mech.knob is not None and knob.name != mech.knob:
            raise check.fail(f"{mpath}.knob", f"{knob.name!r} differs from the curve's knob {mech.knob!r}")
        return AnalyticModel(form.name, knob.name, values)

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
        table: list[tuple[float, float, float]] = []
        for i, row in enumerate(rows):
            rpath = f"{row_path}[{i}]"
            _check_row(rcheck, row, rpath, columns)
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

    def _parse_grid(self, check: Checker, spec: Any, path: str, mech: Mechanism) -> None:
        """A BER over several numeric knobs: every combination of the axes' values once (a full grid)."""
        check.mapping(spec, path, ("knobs",), ("columns", "points", "csv", "monotone", *CITED))
        check.cited(spec, path, self._citation_keys)
        knobs = [
            self._knob(check, k, f"{path}.knobs[{i}]", categorical=False).name
            for i, k in enumerate(check.sequence(spec["knobs"], f"{path}.knobs", 2))
        ]
        if len(set(knobs)) != len(knobs):
            raise check.fail(f"{path}.knobs", f"duplicate knobs in {knobs}")
        if ("points" in spec) == ("csv" in spec):
            raise check.fail(path, "give exactly one of 'points' or 'csv'")
        if "csv" in spec:
            csv_path = self._resolve(check.string(spec["csv"], f"{path}.csv"))
            header, rows, _ = read_csv_table(csv_path)
            label = str(csv_path)
            want = [*knobs, "ber"] if "ber" in header else [*knobs, "p01", "p10"]
            missing = [c for c in want if c not in header]
            if missing:
                raise Checker(label).fail(
                    "header", f"missing column(s) {', '.join(missing)}; the grid needs {', '.join(want)}"
                )
            idx = [header.index(c) for c in want]
            columns, rows = want, [[r[i] for i in idx] for r in rows]
            row_path, rcheck = f"{label} row", Checker(label)
        else:
            columns = spec.get("columns", [*knobs, "ber"])
            rows = check.sequence(spec["points"], f"{path}.points", min_len=2)
            row_path, rcheck = f"{path}.points", check
        allowed = ([*knobs, "ber"], [*knobs, "p01", "p10"])
        if columns not in allowed:
            raise check.fail(f"{path}.columns", f"{columns!r} is not allowed; expected {allowed[0]} or {allowed[1]}")
        d = len(knobs)
        points: dict[tuple[float, ...], tuple[float, float]] = {}
        for i, row in enumerate(rows):
            rpath = f"{row_path}[{i}]"
            _check_row(rcheck, row, rpath, columns)
            key = tuple(rcheck.number(v, f"{rpath}[{j}]") for j, v in enumerate(row[:d]))
            if key in points:
                where = ", ".join(f"{k}={v:g}" for k, v in zip(knobs, key, strict=True))
                raise rcheck.fail(rpath, f"duplicate grid point {where}; give each combination once")
            points[key] = self._rates(rcheck, dict(zip(columns[d:], row[d:], strict=True)), rpath, mech.p01_share)
        axes, holes = grid_axes(points, d)
        for name, a in zip(knobs, axes, strict=True):
            if a.size < 2:
                raise rcheck.fail(row_path, f"the grid has one value of {name} ({a[0]:g}); each axis needs at least 2")
        shape = tuple(a.size for a in axes)
        if holes:
            where = ", ".join(f"{k}={v:g}" for k, v in zip(knobs, holes[0], strict=True))
            raise rcheck.fail(
                row_path,
                f"the points do not form a full grid: no point at {where} ({len(holes)} of {math.prod(shape)} "
                "combinations missing); interpolation per axis needs every combination of the axes' values",
            )
        p01 = np.empty(shape)
        p10 = np.empty(shape)
        for key, (r01, r10) in points.items():
            at = tuple(int(np.searchsorted(a, v)) for a, v in zip(axes, key, strict=True))
            p01[at], p10[at] = r01, r10
        monotone = spec.get("monotone", {})
        check.mapping(monotone, f"{path}.monotone", (), knobs)
        for j, (name, a) in enumerate(zip(knobs, axes, strict=True)):
            how = check.string(monotone.get(name, "non_decreasing"), f"{path}.monotone.{name}", MONOTONE)
            for label_, grid in (("p01", p01), ("p10", p10)):
                steps = np.diff(grid, axis=j)
                bad = np.argwhere(steps > 0 if how == "non_increasing" else steps < 0)
                if bad.size:
                    node = [int(v) for v in bad[0]]
                    lo = [axes[m][node[m]] for m in range(d)]
                    hi = list(lo)
                    hi[j] = a[node[j] + 1]
                    verb = "rises" if how == "non_increasing" else "falls"
                    where = ", ".join(f"{k}={v:g}" for k, v in zip(knobs, lo, strict=True) if k != name)
                    raise rcheck.fail(
                        row_path,
                        f"{label_} {verb} as {name} grows from {lo[j]:g} to {hi[j]:g} (at {where}); "
                        f"the grid is declared {how} in {name}",
                    )
        for name, a in zip(knobs, axes, strict=True):
            knob = self.knobs[name]
            assert knob.min is not None and knob.max is not None
            if a[0] > knob.min or a[-1] < knob.max:
                raise check.fail(
                    path,
                    f"the grid covers {name} in [{a[0]:g}, {a[-1]:g}] but the knob's range is "
                    f"[{knob.min:g}, {knob.max:g}]; the grid must cover the knob's range",
                )
        mech.knob = knobs[0]
        mech.grid_knobs, mech.grid_axes, mech.grid_p01, mech.grid_p10 = tuple(knobs), tuple(axes), p01, p10

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

    def _parse_quantity(self, check: Checker, spec: Any, path: str) -> Quantity:
        check.mapping(spec, path, (), ("value", "scaling", "knob", "points", *CITED))
        check.cited(spec, path, self._citation_keys)
        if "points" in spec:
            if "value" in spec or "scaling" in spec:
                raise check.fail(
                    path, "give either 'points' (with 'knob') or 'value' (with optional 'scaling'), not both"
                )
            knob = self._knob(check, spec.get("knob"), f"{path}.knob", categorical=False)
            rows = check.sequence(spec["points"], f"{path}.points", min_len=2)
            xs: list[float] = []
            ys: list[float] = []
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
            return Quantity(None, [], knob.name, np.array(xs), np.array(ys))
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
                if kind in ("power", "v_exp") and float(knob.nominal) == 0.0:
                    raise check.fail(f"{lp}.knob", f"the {kind} law needs a non-zero nominal {knob.name}")
        return Quantity(value, list(laws))

    def _resolve(self, relative: str) -> Path:
        path = Path(relative)
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path

    def _parse_fault_maps(self, check: Checker, spec: Any, path: str) -> FaultMapSet:
        """Validate a profile's ``fault_maps`` block (files must exist; shapes are checked on load)."""
        check.mapping(spec, path, ("kind", "knob", "shape", "files"), CITED)
        check.cited(spec, path, self._citation_keys)
        kind = check.string(spec["kind"], f"{path}.kind", MAP_KINDS)
        knob = self._knob(check, spec["knob"], f"{path}.knob", categorical=False)
        shape = tuple(
            int(check.number(s, f"{path}.shape[{i}]", 1))
            for i, s in enumerate(check.sequence(spec["shape"], f"{path}.shape", 1))
        )
        files = check.sequence(spec["files"], f"{path}.files", 1)
        entries: list[MapEntry] = []
        for i, item in enumerate(files):
            fp = f"{path}.files[{i}]"
            if kind == "failure_voltage":
                check.mapping(item, fp, ("path",))
                entries.append(MapEntry(None, {"npz": self._resolve(check.string(item["path"], f"{fp}.path"))}))
                continue
            if isinstance(item, dict) and "path" in item:
                check.mapping(item, fp, ("at", "path"))
                paths = {"npz": self._resolve(check.string(item["path"], f"{fp}.path"))}
            else:
                if kind != "stuck_at":
                    raise check.fail(fp, "flip_probability maps are NPZ files: give 'at' and 'path'")
                check.mapping(item, fp, ("at", "sa0", "sa1"))
                paths = {k: self._resolve(check.string(item[k], f"{fp}.{k}")) for k in ("sa0", "sa1")}
            at = check.number(item["at"], f"{fp}.at")
            if entries and entries[-1].at is not None and at <= entries[-1].at:
                raise check.fail(
                    f"{fp}.at",
                    f"{at:g} is not greater than the previous {entries[-1].at:g}; "
                    f"maps must be sorted by {knob.name} with no duplicates",
                )
            entries.append(MapEntry(at, paths))
        if kind == "failure_voltage" and len(entries) != 1:
            raise check.fail(f"{path}.files", "a failure_voltage map is one file")
        for i, entry in enumerate(entries):
            for p in entry.paths.values():
                if not p.is_file():
                    raise check.fail(f"{path}.files[{i}]", f"file {str(p)!r} does not exist")
        return FaultMapSet(kind, knob.name, shape, entries, check.source)
