"""Profiles written from measurements: a BER-vs-knob CSV file, or per-cell fault maps.

Each importer turns measurements into a validated profile YAML that references them
(validated by loading it, written to a temporary file, then renamed).
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from memsim.errors import MemsimError, ProfileError, format_problem, suggest
from memsim.fileio import write_text_atomic
from memsim.profile.core import Profile
from memsim.profile.curves import grid_axes, knob_close
from memsim.profile.fault_maps import NPZ_KEYS, FaultMapSet, MapEntry
from memsim.profile.readers import (
    BER_COLUMNS,
    COUNT_COLUMNS,
    KNOB_UNITS,
    QUANTITY_COLUMNS,
    is_knob_column,
    load_npz,
    read_csv_table,
    split_columns,
)

__all__ = ["Aggregate", "aggregate_measurements", "profile_from_csv", "profile_from_fault_maps"]


def _header(name: str, technology: str, description: str, citation_key: str, reference: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": name,
        "technology": technology,
        "description": description,
        "citations": {citation_key: {"reference": reference}},
    }


def _knob_block(
    knob: str, xs: Sequence[float], nominal: float | None, key: str, provenance: str = "measured"
) -> dict[str, Any]:
    unit = knob.rsplit("_", 1)[-1] if "_" in knob else ""
    unit = KNOB_UNITS.get(unit, unit)
    lo, hi = float(min(xs)), float(max(xs))
    nominal = hi if nominal is None else float(nominal)
    return {knob: {"unit": unit, "nominal": nominal, "min": lo, "max": hi, "source": key, "provenance": provenance}}


def _check_out(out: str | Path) -> Path:
    """The output profile path, checked before any input is read (so its errors name it, not an input)."""
    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise ProfileError(format_problem(str(out), None, "the output must be a .yaml file"))
    if not out.parent.is_dir():
        raise ProfileError(format_problem(str(out), None, f"directory {str(out.parent)!r} does not exist"))
    return out


def _finish(data: dict[str, Any], out: str | Path) -> Profile:
    out = _check_out(out)
    profile = Profile(data, source=str(out), base_dir=out.parent)  # validate before anything is written
    write_text_atomic(out, yaml.safe_dump(data, sort_keys=False, width=100, default_flow_style=None))
    return profile


def _rel(path: Path, out: str | Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(out).resolve().parent)


@dataclass(frozen=True)
class Aggregate:
    """Measurements of a CSV pooled per operating point (:func:`aggregate_measurements`).

    Attributes
    ----------
    knobs : tuple of str
        The knob columns kept, in the file's order.
    points : dict
        Knob values (a tuple, in ``knobs`` order) to ``(p01, p10)``.
    rows : dict
        Knob values to the number of CSV rows pooled there.
    how : str
        How rows of one point were pooled, for the profile's note.
    pooled : tuple of str
        Knob columns dropped (pooled over).
    """

    knobs: tuple[str, ...]
    points: dict[tuple[float, ...], tuple[float, float]]
    rows: dict[tuple[float, ...], int]
    how: str
    pooled: tuple[str, ...] = ()


def aggregate_measurements(csv_path: str | Path, pool: Sequence[str] = ()) -> Aggregate:
    """Pool the rows of a measurement CSV per operating point.

    The header names one or more knob columns (each with its unit suffix: ``vdd_v``,
    ``refresh_ms``, ``temperature_c``) and either ``errors,bits`` (bit errors seen and bits
    tested) or ``ber`` (or ``p01,p10``). Rows of one operating point, and of every value of a
    ``pool`` knob, are pooled:

    * counts: ``ber = sum(errors) / sum(bits)``, the maximum-likelihood estimate of one
      per-bit error rate behind all of them (repeated tests weigh by the bits they read);
    * rates: the plain mean of the rows' ``ber`` (or ``p01``, ``p10``): the file gives no
      weights.

    Raises
    ------
    ProfileError
        Naming the file, column and value: no knob column, ``errors`` without ``bits`` (or the
        reverse), both counts and rates, a pooled column that is not a knob, a BER above 0.5.
    """
    label = str(csv_path)
    header, rows, _ = read_csv_table(csv_path)
    knobs = [c for c in header if is_knob_column(c)]
    counts = [c for c in header if c in COUNT_COLUMNS]
    rates = [c for c in header if c in BER_COLUMNS]
    other = [c for c in header if c not in knobs and c not in counts and c not in rates]
    if other:
        allowed = "knob columns with a unit suffix, then errors,bits or ber (or p01,p10)"
        raise ProfileError(format_problem(label, "header", f"unknown column {other[0]!r}; allowed: {allowed}"))
    if not knobs:
        raise ProfileError(
            format_problem(label, "header", "no knob column; name each with its unit, e.g. vdd_v, refresh_ms")
        )
    if "errors" in counts and "bits" not in counts:
        raise ProfileError(
            format_problem(label, "column errors", "counts without the number of bits tested: add a 'bits' column")
        )
    if "bits" in counts and "errors" not in counts:
        raise ProfileError(format_problem(label, "column bits", "bits tested without an 'errors' column"))
    if counts and rates:
        raise ProfileError(
            format_problem(label, "header", "give either counts (errors,bits) or rates (ber or p01,p10), not both")
        )
    if not counts and rates not in (["ber"], ["p01", "p10"], ["p10", "p01"]):
        raise ProfileError(
            format_problem(label, "header", "missing the measurement: errors,bits or ber (or both p01 and p10)")
        )
    for col in pool:
        if col not in knobs:
            raise ProfileError(
                format_problem(label, "header", f"cannot pool over {col!r}: not a knob column ({', '.join(knobs)})")
            )
    kept = tuple(k for k in knobs if k not in pool)
    if not kept:
        raise ProfileError(format_problem(label, "header", "every knob column is pooled; keep at least one"))
    idx = {c: header.index(c) for c in header}
    sums: dict[tuple[float, ...], list[float]] = {}
    n: dict[tuple[float, ...], int] = {}
    for row in rows:
        key = tuple(row[idx[k]] for k in kept)
        if counts:
            vals = [row[idx["errors"]], row[idx["bits"]]]
            if vals[0] > vals[1]:
                raise ProfileError(
                    format_problem(label, "column errors", f"{vals[0]:g} errors in {vals[1]:g} bits tested")
                )
        elif rates == ["ber"]:
            vals = [row[idx["ber"]]]
        else:
            vals = [row[idx["p01"]], row[idx["p10"]]]
        acc = sums.setdefault(key, [0.0] * len(vals))
        for i, v in enumerate(vals):
            acc[i] += v
        n[key] = n.get(key, 0) + 1
    points: dict[tuple[float, ...], tuple[float, float]] = {}
    for key, acc in sums.items():
        if counts:
            ber = acc[0] / acc[1]
            pair = (ber, ber)
        elif len(acc) == 1:
            pair = (acc[0] / n[key], acc[0] / n[key])
        else:
            pair = (acc[0] / n[key], acc[1] / n[key])
        if 0.5 * (pair[0] + pair[1]) > 0.5:
            where = ", ".join(f"{k}={v:g}" for k, v in zip(kept, key, strict=True))
            raise ProfileError(format_problem(label, where, f"BER {0.5 * (pair[0] + pair[1]):g} is above 0.5"))
        points[key] = pair
    how = (
        "BER = sum(errors) / sum(bits) over the rows of each point"
        if counts
        else "the mean of the rows' rates at each point (the file gives no weights)"
    )
    if pool:
        how += f", pooled over {', '.join(pool)}"
    return Aggregate(kept, dict(sorted(points.items())), n, how, tuple(pool))


def _check_full_grid(agg: Aggregate, label: str) -> None:
    """Every combination of the knobs' measured values must be a point: the grid is interpolated axis by axis."""
    axes, missing = grid_axes(agg.points, len(agg.knobs))
    for knob, values in zip(agg.knobs, axes, strict=True):
        if len(values) < 2:
            raise ProfileError(
                format_problem(label, f"column {knob}", f"one value ({values[0]:g}); a knob needs at least 2")
            )
    if missing:
        where = ", ".join(f"{k}={v:g}" for k, v in zip(agg.knobs, missing[0], strict=True))
        total = math.prod(len(a) for a in axes)
        raise ProfileError(
            format_problem(
                label,
                ", ".join(agg.knobs),
                f"the knob columns do not form a grid: no measurement at {where} ({len(missing)} of {total} "
                "combinations missing); the BER is interpolated axis by axis, which needs every combination "
                "(measure it, or pool over a knob)",
            )
        )


def _trend(agg: Aggregate, label: str) -> dict[str, str]:
    """Per knob, whether the BER falls (``non_increasing``) or rises along it; an error if it does both."""
    out: dict[str, str] = {}
    keys = list(agg.points)
    for j, knob in enumerate(agg.knobs):
        up = down = False
        others: dict[tuple[float, ...], list[tuple[float, float]]] = {}
        for key in keys:
            rest = key[:j] + key[j + 1 :]
            others.setdefault(rest, []).append((key[j], sum(agg.points[key])))
        for series in others.values():
            ys = [y for _, y in sorted(series)]
            up |= any(b > a for a, b in itertools.pairwise(ys))
            down |= any(b < a for a, b in itertools.pairwise(ys))
        if up and down:
            raise ProfileError(
                format_problem(
                    label,
                    f"column {knob}",
                    "the BER both rises and falls along this knob; a profile's BER is monotone in each knob "
                    f"(pool over {knob} if it does not matter, or fix the data)",
                )
            )
        out[knob] = "non_increasing" if down else "non_decreasing"
    return out


def _profile_from_measurements(
    csv_path: str | Path,
    out: str | Path,
    agg: Aggregate,
    *,
    technology: str,
    reference: str,
    name: str | None,
    citation_key: str,
    provenance: str,
    persistence: str,
    nominal: float | Mapping[str, float] | None,
    description: str | None,
) -> Profile:
    label = str(csv_path)
    _check_full_grid(agg, label)
    trend = _trend(agg, label)
    name = name or Path(out).stem
    what = ", ".join(agg.knobs)
    data = _header(
        name, technology, description or f"Measured BER vs {what} from {Path(csv_path).name}", citation_key, reference
    )
    if isinstance(nominal, Mapping):
        for knob in nominal:
            if knob not in agg.knobs:
                raise ProfileError(
                    format_problem(
                        label,
                        None,
                        f"nominal value for {knob!r}, which is not a knob of the file{suggest(knob, agg.knobs)}"
                        f" (knobs: {what})",
                    )
                )
    data["knobs"] = {}
    for j, knob in enumerate(agg.knobs):
        values = sorted({k[j] for k in agg.points})
        if isinstance(nominal, Mapping):
            if knob in nominal:
                value: float | None = float(nominal[knob])
            else:  # the end of the range with the fewest errors: nominal operation is the safe end
                value = values[-1] if trend[knob] == "non_increasing" else values[0]
        elif nominal is not None and len(agg.knobs) == 1:
            value = float(nominal)
        elif nominal is not None:
            raise ProfileError(
                format_problem(label, None, f"give the nominal value of each knob ({what}) as knob=value")
            )
        else:
            value = values[-1] if trend[knob] == "non_increasing" else values[0]
        data["knobs"].update(_knob_block(knob, values, value, citation_key, provenance))
    note = f"aggregated from {Path(csv_path).name} ({sum(agg.rows.values())} rows): {agg.how}"
    symmetric = all(p01 == p10 for p01, p10 in agg.points.values())
    rows = [[*key, p01] if symmetric else [*key, p01, p10] for key, (p01, p10) in agg.points.items()]
    columns = [*agg.knobs, "ber"] if symmetric else [*agg.knobs, "p01", "p10"]
    block: dict[str, Any] = {"source": citation_key, "provenance": provenance, "note": note}
    if len(agg.knobs) == 1:
        block = {"knob": agg.knobs[0], "columns": columns, "monotone": trend[agg.knobs[0]], "points": rows, **block}
        mech = {"name": "measured", "persistence": persistence, "curve": block}
    else:
        block = {"knobs": list(agg.knobs), "columns": columns, "monotone": trend, "points": rows, **block}
        mech = {"name": "measured", "persistence": persistence, "grid": block}
    data["mechanisms"] = [mech]
    data["energy"] = {"read_pj_per_bit": {"value": None, "source": citation_key, "provenance": provenance,
                                          "note": "not in the measured CSV"}}  # fmt: skip
    data["latency"] = {"read_ns": {"value": None, "source": citation_key, "provenance": provenance,
                                   "note": "not in the measured CSV"}}  # fmt: skip
    return _finish(data, out)


def profile_from_csv(
    csv_path: str | Path,
    out: str | Path,
    *,
    technology: str,
    reference: str,
    name: str | None = None,
    citation_key: str = "measured",
    provenance: str = "measured",
    persistence: str = "transient",
    nominal: float | Mapping[str, float] | None = None,
    description: str | None = None,
    pool: Sequence[str] = (),
) -> Profile:
    """Write a profile YAML for a measured BER CSV.

    Two forms. A **curve**: header ``<knob>,ber`` or ``<knob>,p01,p10``, one row per knob
    value, optional energy and latency columns; the profile references the CSV. **Measurements**:
    one or more knob columns (``vdd_v``, ``refresh_ms``, ``temperature_c``, ...) with
    ``errors,bits`` (bit errors and bits tested) or ``ber``, any number of rows per operating
    point; rows are pooled per point (:func:`aggregate_measurements`) and written into the
    profile as a curve (one knob) or a grid (several knobs: every combination of the knobs'
    values must be measured, since the BER is interpolated axis by axis in log space).

    Parameters
    ----------
    csv_path : path
        The CSV file.
    out : path
        The ``.yaml`` file to write (its stem becomes the profile name unless ``name``).
    technology : str
        ``sram``, ``dram``, ``rram`` or ``stt_mram``.
    reference : str
        Citation of the measurements (paper, lab notebook, chip id).
    citation_key : str, default "measured"
        Key of that citation in the profile (e.g. ``chang2017`` for a published data set).
    provenance : str, default "measured"
        Provenance tag of every imported number: ``measured`` for your own measurements,
        ``dataset``, ``figure`` or ``table`` for published data.
    nominal : float or mapping, optional
        Nominal knob value (a curve: default the largest measured value), or per knob for
        measurements (default: the end of each knob's range with the fewest errors).
    pool : sequence of str
        Knob columns of a measurement CSV to pool over (e.g. a supply voltage that does not
        change retention errors).

    Returns
    -------
    Profile
        The profile as written, loaded back.
    """
    _check_out(out)
    label = str(csv_path)
    header, rows, meta = read_csv_table(csv_path)
    knobs = [c for c in header if is_knob_column(c)]
    repeated = len({r[0] for r in rows}) != len(rows)
    if len(knobs) > 1 or any(c in COUNT_COLUMNS for c in header) or pool or repeated or isinstance(nominal, Mapping):
        agg = aggregate_measurements(csv_path, pool)
        return _profile_from_measurements(
            csv_path, out, agg, technology=technology, reference=reference, name=name, citation_key=citation_key,
            provenance=provenance, persistence=persistence, nominal=nominal, description=description,
        )  # fmt: skip
    knob, _, extra = split_columns(header, label)
    if len(rows) < 2:
        raise ProfileError(format_problem(label, None, f"has {len(rows)} data rows; a curve needs at least 2"))
    xs = [r[0] for r in rows]
    name = name or Path(out).stem
    data = _header(
        name, technology, description or f"Measured BER vs {knob} from {Path(csv_path).name}", citation_key, reference
    )
    data["knobs"] = _knob_block(knob, xs, nominal, citation_key, provenance)
    data["mechanisms"] = [
        {
            "name": "measured",
            "persistence": persistence,
            "curve": {
                "knob": knob,
                "csv": _rel(Path(csv_path), out),
                "source": citation_key,
                "provenance": provenance,
                **({"note": f"CSV comment source: {meta['source']}"} if "source" in meta else {}),
            },
        }
    ]
    data["energy"], data["latency"] = {}, {}
    for col in extra:
        section, key = QUANTITY_COLUMNS[col]
        i = header.index(col)
        data[section][key] = {
            "knob": knob,
            "points": [[r[0], r[i]] for r in rows],
            "source": citation_key,
            "provenance": provenance,
        }
    for section, keys in (("energy", ("read_pj_per_bit",)), ("latency", ("read_ns",))):
        for key in keys:
            data[section].setdefault(
                key,
                {"value": None, "source": citation_key, "provenance": provenance, "note": "not in the measured CSV"},
            )
    return _finish(data, out)


_VOLT = re.compile(r"v[_-]?(\d+(?:[.p]\d+)?)", re.IGNORECASE)


def _voltage_from_name(path: Path) -> float:
    matches = _VOLT.findall(path.stem)
    if not matches:
        raise ProfileError(
            format_problem(
                str(path), None, "no voltage in the file name; expected e.g. 'fmap_sa0_v_0.60.txt' or 'chip1_v0.60.npz'"
            )
        )
    value = float(matches[-1].replace("p", "."))
    if value <= 0:
        raise ProfileError(format_problem(str(path), None, f"the voltage in the file name, {value:g}, is not positive"))
    return value


def profile_from_fault_maps(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    technology: str,
    reference: str,
    name: str | None = None,
    citation_key: str = "measured",
    knob: str = "vdd_v",
    voltages: Sequence[float] | None = None,
    persistence: str = "stuck",
    provenance: str = "measured",
    nominal: float | None = None,
    energy: Mapping[str, float] | None = None,
    energy_from: str | os.PathLike[str] | Profile | None = None,
    energy_vmin_v: float | None = None,
) -> Profile:
    """Write a profile YAML for per-cell fault maps (which it references).

    Parameters
    ----------
    paths : sequence of path
        Map files, or directories holding them. Per-voltage files carry the
        voltage in their name (``fmap_sa0_v_0.60.txt``, ``chip_v0.60.npz``). Text
        pairs are matched by ``sa0``/``sa1`` in the name. One NPZ with
        ``failure_voltage_v`` describes all voltages.
    out : path
        The ``.yaml`` file to write.
    technology, reference, citation_key, provenance : str
        As for :func:`profile_from_csv`.
    knob : str, default "vdd_v"
        Knob the maps are indexed by.
    voltages : sequence of float, optional
        For a failure-voltage map: where to tabulate the BER curve (default: 9
        evenly spaced values over the range of finite failure voltages).
    nominal : float, optional
        The nominal knob value, against which sweeps report savings (default: the
        highest measured value; for per-voltage maps it must be one of them).
    energy : mapping, optional
        Energy and latency at nominal, by field: ``read_pj_per_bit``, ``write_pj_per_bit``
        (pJ/bit, scaled as C V^2 over a voltage knob), ``leakage_mw`` (mW), ``read_ns``,
        ``write_ns`` (ns), the last three constant. Cited as ``citation_key``.
    energy_from : str, path or Profile, optional
        Take energy and latency from this profile instead, tabulated at the maps'
        voltages (it must have the knob, or be relative to Vmin with ``energy_vmin_v``).
    energy_vmin_v : float, optional
        For an ``energy_from`` profile relative to Vmin: the Vmin in volts.

    Returns
    -------
    Profile
        The profile as written, loaded back; its curve is the cell-average
        ``p01``/``p10`` of the maps. Without energy, sweeps on it report accuracy only.
    """
    _check_out(out)
    if energy is not None and energy_from is not None:
        raise ProfileError(format_problem(str(out), None, "give energy values or energy_from, not both"))
    kind, entries = _map_entries(_map_files(paths), out, knob)
    base = Path(out).resolve().parent
    maps = FaultMapSet(
        kind,
        knob,
        None,  # learnt from the first map the scan reads
        [
            MapEntry(
                e.get("at"), {("npz" if k == "path" else k): base / e[k] for k in ("path", "sa0", "sa1") if k in e}
            )
            for e in entries
        ],
        str(out),
    )
    points = maps.ber_points(_tabulation(maps, voltages, out))
    xs = [p[0] for p in points]
    if nominal is not None and kind != "failure_voltage" and not any(knob_close(nominal, x) for x in xs):
        where = ", ".join(f"{x:g}" for x in xs)
        raise ProfileError(format_problem(str(out), "nominal", f"{nominal:g} has no map; maps exist at: {where}"))
    data = _header(
        name or Path(out).stem,
        technology,
        f"Per-cell {kind.replace('_', '-')} fault maps over {knob}",
        citation_key,
        reference,
    )
    data["knobs"] = _knob_block(knob, xs, nominal, citation_key, provenance)
    data["mechanisms"] = [
        {
            "name": f"measured_{kind}",
            "persistence": persistence,
            "curve": {
                "knob": knob,
                "columns": [knob, "p01", "p10"],
                "points": [[x, a, b] for x, a, b in points],
                "source": citation_key,
                "provenance": provenance,
                "note": "cell averages of the fault maps",
            },
        }
    ]
    if energy_from is not None:
        _energy_from(data, energy_from, energy_vmin_v, knob, xs, str(out))
    else:
        _energy_values(data, energy or {}, knob, citation_key, str(out))
    data["fault_maps"] = {
        "kind": kind,
        "knob": knob,
        "shape": list(maps.shape),
        "files": entries,
        "source": citation_key,
        "provenance": provenance,
    }
    return _finish(data, out)


def _map_files(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix in (".npz", ".txt", ".csv")))
        elif p.is_file():
            files.append(p)
        else:
            raise ProfileError(format_problem(str(p), None, "no such file or directory"))
    if not files:
        raise ProfileError(
            format_problem(", ".join(map(str, paths)), None, "no fault-map files (.npz, .txt, .csv) found")
        )
    return files


def _map_entries(files: list[Path], out: str | Path, knob: str) -> tuple[str, list[dict[str, Any]]]:
    """The maps' kind and their ``fault_maps.files`` entries, sorted by knob value."""
    npz = [f for f in files if f.suffix == ".npz"]
    text = [f for f in files if f.suffix != ".npz"]
    if npz and text:
        raise ProfileError(format_problem(str(files[0].parent), None, "mixes NPZ and text maps; give one kind"))
    kind, entries = _npz_entries(npz, out) if npz else ("stuck_at", _text_entries(text, out, knob))
    if kind == "failure_voltage" and len(entries) != 1:
        raise ProfileError(format_problem(str(npz[0].parent), None, "give one failure_voltage_v map"))
    return kind, sorted(entries, key=lambda e: e.get("at", 0.0))


def _npz_entries(npz: list[Path], out: str | Path) -> tuple[str, list[dict[str, Any]]]:
    kinds, entries = set(), []
    for f in npz:
        keys = set(load_npz(f))
        kind = next((k for k, need in NPZ_KEYS.items() if set(need) <= keys), None)
        if kind is None:
            expected = " or ".join(str(list(v)) for v in NPZ_KEYS.values())
            raise ProfileError(format_problem(str(f), None, f"holds {sorted(keys)}; expected {expected}"))
        kinds.add(kind)
        entry = {"path": _rel(f, out)}
        entries.append(entry if kind == "failure_voltage" else {"at": _voltage_from_name(f), **entry})
    if len(kinds) != 1:
        raise ProfileError(
            format_problem(str(npz[0].parent), None, f"maps of different kinds {sorted(kinds)}; give one kind")
        )
    return kinds.pop(), entries


def _text_entries(text: list[Path], out: str | Path, knob: str) -> list[dict[str, Any]]:
    """Pairs of 0/1 text maps, stuck-at-0 and stuck-at-1, matched by voltage."""
    pairs: dict[float, dict[str, Path]] = {}
    for f in text:
        tag = "sa0" if re.search(r"sa_?0", f.stem, re.I) else "sa1" if re.search(r"sa_?1", f.stem, re.I) else None
        if tag is None:
            raise ProfileError(
                format_problem(
                    str(f), None, "cannot tell stuck-at-0 from stuck-at-1: the name must contain 'sa0' or 'sa1'"
                )
            )
        pair = pairs.setdefault(_voltage_from_name(f), {})
        if tag in pair:
            raise ProfileError(format_problem(str(f), None, f"a second {tag} map for the same voltage as {pair[tag]}"))
        pair[tag] = f
    entries = []
    for v, pair in pairs.items():
        if set(pair) != {"sa0", "sa1"}:
            missing = ({"sa0", "sa1"} - set(pair)).pop()
            raise ProfileError(
                format_problem(str(next(iter(pair.values()))), None, f"no matching {missing} map for {knob}={v:g}")
            )
        entries.append({"at": v, "sa0": _rel(pair["sa0"], out), "sa1": _rel(pair["sa1"], out)})
    return entries


def _tabulation(maps: FaultMapSet, voltages: Sequence[float] | None, out: str | Path) -> list[float] | None:
    """Where to tabulate the BER curve: None for per-voltage maps (their own voltages, read in one scan)."""
    if maps.kind != "failure_voltage":
        if len(maps.knob_values) < 2:
            raise ProfileError(
                format_problem(
                    str(out),
                    "fault_maps.files",
                    f"maps at {len(maps.knob_values)} voltage(s); a BER curve needs maps at 2 or more",
                )
            )
        return None
    path = maps.entries[0].paths["npz"]
    vfail = np.asarray(load_npz(path)["failure_voltage_v"], dtype=float)
    finite = vfail[np.isfinite(vfail)]
    if voltages is None:
        if finite.size == 0:
            raise ProfileError(
                format_problem(
                    str(path), "failure_voltage_v", "no finite failure voltage; give voltages to tabulate at"
                )
            )
        return [float(v) for v in np.linspace(finite.min(), finite.max(), 9)]
    values = [float(v) for v in voltages]
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise ProfileError(format_problem(str(path), "voltages", f"{bad[0]!r} is not a positive, finite voltage"))
    if len(set(values)) < 2:
        raise ProfileError(format_problem(str(path), None, "tabulate the curve at 2 or more voltages"))
    return values


#: Energy and latency fields a maps profile takes, and whether each scales as C V^2 over a voltage knob.
ENERGY_FIELDS = {
    "read_pj_per_bit": ("energy", True),
    "write_pj_per_bit": ("energy", True),
    "leakage_mw": ("energy", False),
    "read_ns": ("latency", False),
    "write_ns": ("latency", False),
}


def _energy_values(data: dict[str, Any], values: Mapping[str, float], knob: str, key: str, label: str) -> None:
    """Energy and latency at nominal, given by the user (None where not given)."""
    data["energy"], data["latency"] = {}, {}
    for field, value in values.items():
        if field not in ENERGY_FIELDS:
            raise ProfileError(
                format_problem(
                    label,
                    "energy",
                    f"unknown field {field!r}{suggest(field, ENERGY_FIELDS)}; fields: {', '.join(ENERGY_FIELDS)}",
                )
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise ProfileError(format_problem(label, f"energy.{field}", f"{value!r} is not a finite number >= 0"))
    voltage = knob.startswith("vdd")
    for field, (section, cv2) in ENERGY_FIELDS.items():
        if field not in values:
            if field in ("read_pj_per_bit", "read_ns"):  # the schema's required entries
                data[section][field] = {
                    "value": None,
                    "source": key,
                    "provenance": "measured",
                    "note": "not given with the maps",
                }
            continue
        entry: dict[str, Any] = {
            "value": float(values[field]),
            "source": key,
            "provenance": "measured",
            "note": "given at nominal",
        }
        if cv2 and voltage:
            entry["scaling"] = [
                {
                    "law": "power",
                    "knob": knob,
                    "exponent": 2.0,
                    "source": key,
                    "provenance": "derived",
                    "note": "dynamic energy C V^2",
                }
            ]
        data[section][field] = entry


def _energy_from(
    data: dict[str, Any],
    other: str | os.PathLike[str] | Profile,
    vmin_v: float | None,
    knob: str,
    xs: Sequence[float],
    label: str,
) -> None:
    """Energy and latency of another profile, tabulated at ``xs`` of ``knob`` (it is cited)."""
    from memsim.profile.catalog import load_profile

    prof = other if isinstance(other, Profile) else load_profile(other)
    if vmin_v is not None:
        prof = prof.with_vmin(vmin_v)
    if knob not in prof.knobs:
        hint = "; give its Vmin in volts (energy_vmin_v, --energy-vmin-v)" if "vdd_over_vmin" in prof.knobs else ""
        raise ProfileError(
            format_problem(
                label,
                "energy_from",
                f"profile {prof.name!r} has no knob {knob!r} (its knobs: {', '.join(prof.knobs)}){hint}",
            )
        )
    spec = prof.knobs[knob]
    assert spec.min is not None and spec.max is not None
    outside = [x for x in xs if not (spec.min <= x <= spec.max or knob_close(x, spec.min) or knob_close(x, spec.max))]
    if outside:
        raise ProfileError(
            format_problem(
                label,
                "energy_from",
                f"the maps' {knob} {', '.join(f'{x:g}' for x in outside)} {spec.unit} lie outside profile "
                f"{prof.name!r}'s range [{spec.min:g}, {spec.max:g}] {spec.unit}",
            )
        )
    try:
        ops = [prof.at_knobs({knob: x}) for x in xs]
    except MemsimError as err:
        raise ProfileError(format_problem(label, "energy_from", f"at the maps' voltages: {err}")) from None
    cite = f"energy_{prof.name}"
    data["citations"][cite] = {"reference": f"memsim profile {prof.name}: {prof.description.strip()}"}
    data["energy"], data["latency"] = {}, {}
    attrs = {
        "read_pj_per_bit": "read_energy_pj_per_bit",
        "write_pj_per_bit": "write_energy_pj_per_bit",
        "leakage_mw": "leakage_mw",
        "read_ns": "read_latency_ns",
        "write_ns": "write_latency_ns",
    }
    for field, (section, _) in ENERGY_FIELDS.items():
        ys = [getattr(op, attrs[field]) for op in ops]
        if any(y is None for y in ys):
            data[section][field] = {
                "value": None,
                "source": cite,
                "provenance": "derived",
                "note": f"not in {prof.name}",
            }
        else:
            data[section][field] = {
                "knob": knob,
                "points": [[x, y] for x, y in zip(xs, ys, strict=True)],
                "source": cite,
                "provenance": "derived",
                "note": f"tabulated from {prof.name} at the maps' voltages",
            }
