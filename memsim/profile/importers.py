"""Profiles written from measurements: a BER-vs-knob CSV file, or per-cell fault maps.

Each importer turns measurements into a validated profile YAML that references them
(validated by loading it, written to a temporary file, then renamed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from memsim.errors import ProfileError, format_problem
from memsim.files import write_text_atomic
from memsim.profile.fault_maps import NPZ_KEYS, FaultMapSet, MapEntry
from memsim.profile.profile import Profile
from memsim.profile.readers import (
    KNOB_UNITS,
    QUANTITY_COLUMNS,
    load_npz,
    read_bit_matrix,
    read_csv_table,
    split_columns,
)

__all__ = ["profile_from_csv", "profile_from_fault_maps"]


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
    write_text_atomic(out, yaml.safe_dump(data, sort_keys=False, width=100))
    return profile


def _rel(path: Path, out: str | Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(out).resolve().parent)


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
    nominal: float | None = None,
    description: str | None = None,
) -> Profile:
    """Write a profile YAML for a measured BER-vs-knob CSV (which it references).

    Parameters
    ----------
    csv_path : path
        CSV with header ``<knob>,ber`` or ``<knob>,p01,p10`` and optional columns
        ``read_energy_pj_per_bit``, ``write_energy_pj_per_bit``, ``leakage_mw``,
        ``read_latency_ns``, ``write_latency_ns``.
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
    nominal : float, optional
        Nominal knob value (default: the largest measured value).

    Returns
    -------
    Profile
        The profile as written, loaded back.
    """
    _check_out(out)
    label = str(csv_path)
    header, rows, meta = read_csv_table(csv_path)
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
    return float(matches[-1].replace("p", "."))


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

    Returns
    -------
    Profile
        The profile as written, loaded back; its curve is the cell-average
        ``p01``/``p10`` of the maps.
    """
    _check_out(out)
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
    npz = [f for f in files if f.suffix == ".npz"]
    text = [f for f in files if f.suffix != ".npz"]
    if npz and text:
        raise ProfileError(format_problem(str(files[0].parent), None, "mixes NPZ and text maps; give one kind"))
    entries: list[dict[str, Any]] = []
    if npz:
        kinds = set()
        for f in npz:
            keys = set(load_npz(f))
            kind = next((k for k, need in NPZ_KEYS.items() if set(need) <= keys), None)
            if kind is None:
                raise ProfileError(
                    format_problem(
                        str(f),
                        None,
                        f"holds {sorted(keys)}; expected {' or '.join(str(list(v)) for v in NPZ_KEYS.values())}",
                    )
                )
            kinds.add(kind)
            entries.append(
                {"path": _rel(f, out)}
                if kind == "failure_voltage"
                else {"at": _voltage_from_name(f), "path": _rel(f, out)}
            )
        if len(kinds) != 1:
            raise ProfileError(
                format_problem(str(npz[0].parent), None, f"maps of different kinds {sorted(kinds)}; give one kind")
            )
        kind = kinds.pop()
    else:
        kind = "stuck_at"
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
                raise ProfileError(
                    format_problem(str(f), None, f"a second {tag} map for the same voltage as {pair[tag]}")
                )
            pair[tag] = f
        for v, pair in pairs.items():
            if set(pair) != {"sa0", "sa1"}:
                missing = ({"sa0", "sa1"} - set(pair)).pop()
                raise ProfileError(
                    format_problem(str(next(iter(pair.values()))), None, f"no matching {missing} map for {knob}={v:g}")
                )
            entries.append({"at": v, "sa0": _rel(pair["sa0"], out), "sa1": _rel(pair["sa1"], out)})
    if kind == "failure_voltage" and len(entries) != 1:
        raise ProfileError(format_problem(str(npz[0].parent), None, "give one failure_voltage_v map"))
    entries.sort(key=lambda e: e.get("at", 0.0))
    first = load_npz(npz[0])[NPZ_KEYS[kind][0]] if npz else read_bit_matrix(text[0])
    name = name or Path(out).stem
    shape = tuple(int(s) for s in np.shape(first))
    block = {
        "kind": kind,
        "knob": knob,
        "shape": list(shape),
        "files": entries,
        "source": citation_key,
        "provenance": provenance,
    }
    base = Path(out).resolve().parent
    maps = FaultMapSet(
        kind,
        knob,
        shape,
        [
            MapEntry(
                e.get("at"), {("npz" if k == "path" else k): base / e[k] for k in ("path", "sa0", "sa1") if k in e}
            )
            for e in entries
        ],
        str(out),
    )
    if kind == "failure_voltage":
        vfail = np.asarray(load_npz(npz[0])["failure_voltage_v"], dtype=float)
        finite = vfail[np.isfinite(vfail)]
        if finite.size == 0 and voltages is None:
            raise ProfileError(
                format_problem(
                    str(npz[0]), "failure_voltage_v", "no finite failure voltage; give voltages to tabulate at"
                )
            )
        values = (
            list(voltages) if voltages is not None else [float(v) for v in np.linspace(finite.min(), finite.max(), 9)]
        )
        if len(values) < 2:
            raise ProfileError(format_problem(str(npz[0]), None, "tabulate the curve at 2 or more voltages"))
    else:
        values = maps.knob_values
        if len(values) < 2:
            raise ProfileError(
                format_problem(
                    str(out),
                    "fault_maps.files",
                    f"maps at {len(values)} voltage(s); a BER curve needs maps at 2 or more",
                )
            )
    points = maps.ber_points(values)
    data = _header(
        name, technology, f"Per-cell {kind.replace('_', '-')} fault maps over {knob}", citation_key, reference
    )
    data["knobs"] = _knob_block(knob, [p[0] for p in points], None, citation_key, provenance)
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
    data["energy"] = {
        "read_pj_per_bit": {"value": None, "source": citation_key, "provenance": provenance, "note": "not in the maps"}
    }
    data["latency"] = {
        "read_ns": {"value": None, "source": citation_key, "provenance": provenance, "note": "not in the maps"}
    }
    data["fault_maps"] = block
    return _finish(data, out)
