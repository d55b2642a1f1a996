"""Measured data for profiles: BER-vs-knob CSV files and per-cell fault maps.

Readers here never execute or unpickle anything: CSV is parsed as numbers, NPZ
archives are opened with ``allow_pickle=False`` and refused if they hold objects.
The importers turn measurements into a validated profile YAML that references
them (written to a temporary file, checked by loading it, then renamed).

Fault-map kinds (one per profile):

``stuck_at``
    per voltage, boolean masks ``stuck_at_0`` and ``stuck_at_1`` (NPZ) or a pair of
    0/1 text matrices ``..sa0.._v_<V>.txt`` / ``..sa1.._v_<V>.txt``. A stuck-at-0 cell
    reads 0 whatever is stored: ``p10 = 1, p01 = 0`` (and the reverse for stuck-at-1).
``flip_probability``
    per voltage, float arrays ``p01`` and ``p10`` in [0, 1] (NPZ).
``failure_voltage``
    one NPZ array ``failure_voltage_v``: a cell fails (reads the complement) at any
    supply below its failure voltage; NaN means it never fails. Fault sets are
    nested across voltages by construction.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from memsim.errors import ProfileError, format_problem, suggest
from memsim.files import load_npz as _load_npz
from memsim.files import write_text_atomic
from memsim.profile._validate import Checker

if TYPE_CHECKING:
    from memsim.profile.profile import Profile

__all__ = [
    "FaultMapSet",
    "import_csv",
    "import_fault_maps",
    "load_npz",
    "read_bit_matrix",
    "read_curve_csv",
    "write_text_atomic",
]

BER_COLUMNS = ("ber", "p01", "p10")
QUANTITY_COLUMNS = {
    "read_energy_pj_per_bit": ("energy", "read_pj_per_bit"),
    "write_energy_pj_per_bit": ("energy", "write_pj_per_bit"),
    "leakage_mw": ("energy", "leakage_mw"),
    "read_latency_ns": ("latency", "read_ns"),
    "write_latency_ns": ("latency", "write_ns"),
}
MAP_KINDS = ("stuck_at", "flip_probability", "failure_voltage")
NPZ_KEYS = {
    "stuck_at": ("stuck_at_0", "stuck_at_1"),
    "flip_probability": ("p01", "p10"),
    "failure_voltage": ("failure_voltage_v",),
}


def read_csv_table(path: str | Path) -> tuple[list[str], list[list[float]], dict[str, str]]:
    """Read a numeric CSV with a header row; ``#`` lines are comments (``# key: value`` kept).

    Returns
    -------
    header : list of str
    rows : list of list of float
    meta : dict
        ``key: value`` pairs from comment lines (e.g. ``source``).

    Raises
    ------
    ProfileError
        Naming the file, the line and the column of the problem.
    """
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(format_problem(label, None, f"cannot read the file: {err}")) from None
    header: list[str] | None = None
    rows: list[list[float]] = []
    meta: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, sep, value = stripped.lstrip("#").partition(":")
            if sep:
                meta[key.strip()] = value.strip()
            continue
        cells = [c.strip() for c in next(csv.reader([stripped]))]
        if header is None:
            header = cells
            continue
        if len(cells) != len(header):
            raise ProfileError(
                format_problem(
                    label,
                    f"line {lineno}",
                    f"has {len(cells)} values; the header has {len(header)} columns ({', '.join(header)})",
                )
            )
        row = []
        for col, cell in zip(header, cells, strict=True):
            try:
                row.append(float(cell))
            except ValueError:
                raise ProfileError(
                    format_problem(label, f"line {lineno}, column {col}", f"{cell!r} is not a number")
                ) from None
        rows.append(row)
    if header is None:
        raise ProfileError(format_problem(label, None, "no header row; expected e.g. 'vdd_v,ber'"))
    return header, rows, meta


def _split_columns(header: list[str], label: str) -> tuple[str, list[str], list[str]]:
    """Check a curve CSV header: knob column, BER columns, optional quantity columns."""
    knob = header[0]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", knob) or knob in BER_COLUMNS:
        raise ProfileError(
            format_problem(
                label,
                "header",
                f"first column {knob!r} must name the knob with its unit suffix, e.g. 'vdd_v' or 'trcd_ns'",
            )
        )
    allowed = [*BER_COLUMNS, *QUANTITY_COLUMNS]
    for col in header[1:]:
        if col not in allowed:
            raise ProfileError(
                format_problem(
                    label,
                    "header",
                    f"unknown column {col!r}{suggest(col, allowed)}; "
                    f"allowed after the knob column: {', '.join(allowed)}",
                )
            )
    if len(set(header)) != len(header):
        raise ProfileError(format_problem(label, "header", f"duplicate columns in {header}"))
    if "ber" in header and ("p01" in header or "p10" in header):
        raise ProfileError(
            format_problem(label, "header", "give either a 'ber' column or 'p01' and 'p10' columns, not both")
        )
    ber_cols = ["ber"] if "ber" in header else [c for c in ("p01", "p10") if c in header]
    if ber_cols not in (["ber"], ["p01", "p10"]):
        raise ProfileError(
            format_problem(
                label, "header", f"missing column 'ber' (or both 'p01' and 'p10'); found: {', '.join(header)}"
            )
        )
    return knob, ber_cols, [c for c in header[1:] if c in QUANTITY_COLUMNS]


def read_curve_csv(path: str | Path) -> tuple[list[str], list[list[float]], str]:
    """Read the BER curve of a measured CSV: columns ``knob, ber`` or ``knob, p01, p10``.

    Extra columns named like operating-point fields (``read_energy_pj_per_bit``,
    ``leakage_mw``, ...) are allowed and ignored here.

    Returns
    -------
    columns : list of str
        ``[knob, "ber"]`` or ``[knob, "p01", "p10"]``.
    rows : list of list of float
        The curve points, in the order of ``columns``.
    label : str
        The file, for error messages.
    """
    label = str(path)
    header, rows, _ = read_csv_table(path)
    knob, ber_cols, _ = _split_columns(header, label)
    idx = [header.index(c) for c in (knob, *ber_cols)]
    return [knob, *ber_cols], [[row[i] for i in idx] for row in rows], label


def load_npz(path: str | Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Load named arrays from an NPZ archive without unpickling (:func:`memsim.files.load_npz`), as ProfileError."""
    return _load_npz(path, keys, ProfileError)


def read_bit_matrix(path: str | Path) -> np.ndarray:
    """Read a 0/1 text matrix (comma- or whitespace-separated) as a boolean array.

    Raises
    ------
    ProfileError
        If the file is unreadable, ragged, or holds values other than 0 and 1.
    """
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(format_problem(label, None, f"cannot read the file: {err}")) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ProfileError(format_problem(label, None, "no data rows; expected a 0/1 matrix"))
    delimiter = "," if "," in lines[0] else None
    rows = [ln.split(delimiter) for ln in lines]
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ProfileError(
                format_problem(label, f"row {i}", f"has {len(row)} values; row 0 has {width} (ragged matrix)")
            )
    try:
        values = np.array(rows, dtype=np.int64)
    except ValueError:
        raise ProfileError(
            format_problem(label, None, "holds a value that is not an integer; expected only 0 and 1")
        ) from None
    bad = np.argwhere((values != 0) & (values != 1))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise ProfileError(format_problem(label, f"row {r}, column {c}", f"{values[r, c]} is not 0 or 1"))
    return values.astype(bool)


@dataclass
class _MapEntry:
    at: float | None
    paths: dict[str, Path]


class FaultMapSet:
    """Per-cell fault maps referenced by a profile's ``fault_maps`` block.

    Attributes
    ----------
    kind : str
        ``stuck_at``, ``flip_probability`` or ``failure_voltage``.
    knob : str
        The knob the maps are indexed by (usually ``vdd_v``).
    shape : tuple of int
        Shape of every map (cells).
    """

    def __init__(self, kind: str, knob: str, shape: tuple[int, ...], entries: list[_MapEntry], label: str) -> None:
        self.kind = kind
        self.knob = knob
        self.shape = shape
        self.entries = entries
        self.label = label

    @property
    def knob_values(self) -> list[float]:
        """Knob values with a measured map (empty for ``failure_voltage``: any value works)."""
        return [e.at for e in self.entries if e.at is not None]

    def _check_shape(self, array: np.ndarray, where: str) -> np.ndarray:
        if tuple(array.shape) != self.shape:
            raise ProfileError(
                format_problem(
                    where,
                    None,
                    f"map shape {tuple(array.shape)} does not match the declared fault_maps.shape {self.shape}; "
                    "all maps must have one shape",
                )
            )
        return array

    def _load_entry(self, entry: _MapEntry) -> dict[str, np.ndarray]:
        if "npz" in entry.paths:
            arrays = load_npz(entry.paths["npz"], NPZ_KEYS[self.kind])
            return {
                k: self._check_shape(np.asarray(arrays[k]), f"{entry.paths['npz']}: {k}") for k in NPZ_KEYS[self.kind]
            }
        return {
            "stuck_at_0": self._check_shape(read_bit_matrix(entry.paths["sa0"]), str(entry.paths["sa0"])),
            "stuck_at_1": self._check_shape(read_bit_matrix(entry.paths["sa1"]), str(entry.paths["sa1"])),
        }

    def cell_rates(self, value: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell ``(p01, p10)`` at knob value ``value``.

        For ``failure_voltage`` any value works; for per-voltage maps it must be
        one of :attr:`knob_values`.

        Returns
        -------
        p01, p10 : ndarray of float32, shape :attr:`shape`
        """
        if self.kind == "failure_voltage":
            vfail = np.asarray(self._load_entry(self.entries[0])["failure_voltage_v"], dtype=float)
            failing = np.nan_to_num(vfail, nan=-np.inf) > value
            rate = failing.astype(np.float32)
            return rate, rate.copy()
        for entry in self.entries:
            if entry.at is not None and np.isclose(entry.at, value, rtol=0, atol=1e-9):
                arrays = self._load_entry(entry)
                if self.kind == "stuck_at":
                    sa0, sa1 = arrays["stuck_at_0"].astype(bool), arrays["stuck_at_1"].astype(bool)
                    if np.any(sa0 & sa1):
                        raise ProfileError(
                            format_problem(
                                self.label,
                                f"fault map at {self.knob}={value:g}",
                                "a cell is both stuck-at-0 and stuck-at-1",
                            )
                        )
                    return sa1.astype(np.float32), sa0.astype(np.float32)
                p01, p10 = (np.asarray(arrays[k], dtype=float) for k in ("p01", "p10"))
                for key, arr in (("p01", p01), ("p10", p10)):
                    if not np.all((arr >= 0) & (arr <= 1)):
                        raise ProfileError(
                            format_problem(
                                self.label,
                                f"fault map {key} at {self.knob}={value:g}",
                                "values must be probabilities in [0, 1]",
                            )
                        )
                return p01.astype(np.float32), p10.astype(np.float32)
        raise ProfileError(
            format_problem(
                self.label,
                "fault_maps",
                f"no map at {self.knob}={value:g}; maps exist at: {', '.join(f'{v:g}' for v in self.knob_values)}",
            )
        )

    def ber_points(self, values: Sequence[float] | None = None) -> list[tuple[float, float, float]]:
        """``(knob value, p01, p10)`` averaged over cells, ascending in the knob value."""
        values = sorted(values if values is not None else self.knob_values)
        points = []
        for v in values:
            p01, p10 = self.cell_rates(v)
            points.append((float(v), float(p01.mean(dtype=np.float64)), float(p10.mean(dtype=np.float64))))
        return points


def parse_fault_map_block(check: Checker, spec: Any, profile: Profile, path: str) -> FaultMapSet:
    """Validate a profile's ``fault_maps`` block (files must exist; shapes are checked on load)."""
    from memsim.profile.profile import CITED

    check.mapping(spec, path, ("kind", "knob", "shape", "files"), CITED)
    check.cited(spec, path, profile.citations)
    kind = check.string(spec["kind"], f"{path}.kind", MAP_KINDS)
    knob = profile._knob(check, spec["knob"], f"{path}.knob", categorical=False)
    shape = tuple(
        int(check.number(s, f"{path}.shape[{i}]", 1))
        for i, s in enumerate(check.sequence(spec["shape"], f"{path}.shape", 1))
    )
    files = check.sequence(spec["files"], f"{path}.files", 1)
    entries: list[_MapEntry] = []
    for i, item in enumerate(files):
        fp = f"{path}.files[{i}]"
        if kind == "failure_voltage":
            check.mapping(item, fp, ("path",))
            entries.append(_MapEntry(None, {"npz": profile._resolve(check.string(item["path"], f"{fp}.path"))}))
            continue
        if isinstance(item, dict) and "path" in item:
            check.mapping(item, fp, ("at", "path"))
            paths = {"npz": profile._resolve(check.string(item["path"], f"{fp}.path"))}
        else:
            if kind != "stuck_at":
                raise check.fail(fp, "flip_probability maps are NPZ files: give 'at' and 'path'")
            check.mapping(item, fp, ("at", "sa0", "sa1"))
            paths = {k: profile._resolve(check.string(item[k], f"{fp}.{k}")) for k in ("sa0", "sa1")}
        at = check.number(item["at"], f"{fp}.at")
        if entries and entries[-1].at is not None and at <= entries[-1].at:
            raise check.fail(
                f"{fp}.at",
                f"{at:g} is not greater than the previous {entries[-1].at:g}; "
                f"maps must be sorted by {knob.name} with no duplicates",
            )
        entries.append(_MapEntry(at, paths))
    if kind == "failure_voltage" and len(entries) != 1:
        raise check.fail(f"{path}.files", "a failure_voltage map is one file")
    for i, entry in enumerate(entries):
        for p in entry.paths.values():
            if not p.is_file():
                raise check.fail(f"{path}.files[{i}]", f"file {str(p)!r} does not exist")
    return FaultMapSet(kind, knob.name, shape, entries, check.source)


# ----------------------------------------------------------------- importers
def _header(name: str, technology: str, description: str, citation_key: str, reference: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": name,
        "technology": technology,
        "description": description,
        "citations": {citation_key: {"reference": reference}},
    }


def _knob_block(knob: str, xs: Sequence[float], nominal: float | None, key: str) -> dict[str, Any]:
    unit = knob.rsplit("_", 1)[-1] if "_" in knob else ""
    unit = {"v": "V", "ns": "ns", "mv": "mV", "c": "C", "ms": "ms"}.get(unit, unit)
    lo, hi = float(min(xs)), float(max(xs))
    nominal = hi if nominal is None else float(nominal)
    return {knob: {"unit": unit, "nominal": nominal, "min": lo, "max": hi, "source": key, "provenance": "measured"}}


def _finish(data: dict[str, Any], out: str | Path) -> Profile:
    from memsim.profile.profile import Profile

    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise ProfileError(format_problem(str(out), None, "the output must be a .yaml file"))
    if not out.parent.is_dir():
        raise ProfileError(format_problem(str(out), None, f"directory {str(out.parent)!r} does not exist"))
    profile = Profile(data, source=str(out), base_dir=out.parent)  # validate before anything is written
    write_text_atomic(out, yaml.safe_dump(data, sort_keys=False, width=100))
    return profile


def _rel(path: Path, out: str | Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(out).resolve().parent)


def import_csv(
    csv_path: str | Path,
    out: str | Path,
    *,
    technology: str,
    reference: str,
    name: str | None = None,
    citation_key: str = "measured",
    persistence: str = "per_read",
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
    nominal : float, optional
        Nominal knob value (default: the largest measured value).

    Returns
    -------
    Profile
        The profile as written, loaded back.
    """
    label = str(csv_path)
    header, rows, meta = read_csv_table(csv_path)
    knob, _, extra = _split_columns(header, label)
    if len(rows) < 2:
        raise ProfileError(format_problem(label, None, f"has {len(rows)} data rows; a curve needs at least 2"))
    xs = [r[0] for r in rows]
    name = name or Path(out).stem
    data = _header(
        name, technology, description or f"Measured BER vs {knob} from {Path(csv_path).name}", citation_key, reference
    )
    data["knobs"] = _knob_block(knob, xs, nominal, citation_key)
    data["mechanisms"] = [
        {
            "name": "measured",
            "persistence": persistence,
            "curve": {
                "knob": knob,
                "csv": _rel(Path(csv_path), out),
                "source": citation_key,
                "provenance": "measured",
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
            "provenance": "measured",
        }
    for section, keys in (("energy", ("read_pj_per_bit",)), ("latency", ("read_ns",))):
        for key in keys:
            data[section].setdefault(
                key,
                {"value": None, "source": citation_key, "provenance": "measured", "note": "not in the measured CSV"},
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


def import_fault_maps(
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
    technology, reference : str
        As for :func:`import_csv`.
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
    block = {
        "kind": kind,
        "knob": knob,
        "shape": [int(s) for s in np.shape(first)],
        "files": entries,
        "source": citation_key,
        "provenance": "measured",
    }
    base = Path(out).resolve().parent
    maps = FaultMapSet(
        kind,
        knob,
        tuple(block["shape"]),
        [
            _MapEntry(
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
    data["knobs"] = _knob_block(knob, [p[0] for p in points], None, citation_key)
    data["mechanisms"] = [
        {
            "name": f"measured_{kind}",
            "persistence": persistence,
            "curve": {
                "knob": knob,
                "columns": [knob, "p01", "p10"],
                "points": [[x, a, b] for x, a, b in points],
                "source": citation_key,
                "provenance": "measured",
                "note": "cell averages of the fault maps",
            },
        }
    ]
    data["energy"] = {
        "read_pj_per_bit": {"value": None, "source": citation_key, "provenance": "measured", "note": "not in the maps"}
    }
    data["latency"] = {
        "read_ns": {"value": None, "source": citation_key, "provenance": "measured", "note": "not in the maps"}
    }
    data["fault_maps"] = block
    return _finish(data, out)
