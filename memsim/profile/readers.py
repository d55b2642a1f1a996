"""Readers of measured data: numeric CSV tables and curves, 0/1 text matrices, NPZ archives.

Readers never execute or unpickle anything: CSV is parsed as numbers, NPZ archives
are opened with ``allow_pickle=False`` and refused if they hold objects.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from memsim.errors import ProfileError, format_problem, suggest
from memsim.files import load_npz as _load_npz

__all__ = [
    "BER_COLUMNS",
    "KNOB_UNITS",
    "QUANTITY_COLUMNS",
    "load_npz",
    "read_bit_matrix",
    "read_csv_table",
    "read_curve_csv",
    "split_columns",
]

BER_COLUMNS = ("ber", "p01", "p10")
QUANTITY_COLUMNS = {
    "read_energy_pj_per_bit": ("energy", "read_pj_per_bit"),
    "write_energy_pj_per_bit": ("energy", "write_pj_per_bit"),
    "leakage_mw": ("energy", "leakage_mw"),
    "read_latency_ns": ("latency", "read_ns"),
    "write_latency_ns": ("latency", "write_ns"),
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
        text = Path(path).read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Excel) is not data
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
            header = [c.lower() for c in cells]  # units and names match case-insensitively: VDD_V is vdd_v
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


#: Unit suffixes a knob column may carry (lower case), and how a profile writes them.
KNOB_UNITS = {"v": "V", "mv": "mV", "ns": "ns", "us": "us", "ms": "ms", "s": "s", "c": "C", "k": "K", "mhz": "MHz"}


def split_columns(header: list[str], label: str) -> tuple[str, list[str], list[str]]:
    """Check a curve CSV header: knob column, BER columns, optional quantity columns."""
    knob = header[0]
    has_unit = (knob.rsplit("_", 1)[-1] in KNOB_UNITS and "_" in knob) or "_over_" in knob
    if not re.fullmatch(r"[a-z][a-z0-9_]*", knob) or knob in BER_COLUMNS or not has_unit:
        raise ProfileError(
            format_problem(
                label,
                "header",
                f"first column {knob!r} must name the knob with its unit suffix, e.g. 'vdd_v' or 'trcd_ns' "
                f"(units: {', '.join(KNOB_UNITS)}; a ratio of two quantities is named 'x_over_y')",
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
    ber_cols: list[str] = ["ber"] if "ber" in header else [c for c in ("p01", "p10") if c in header]
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
    knob, ber_cols, _ = split_columns(header, label)
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
        text = Path(path).read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Excel) is not data
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(format_problem(label, None, f"cannot read the file: {err}")) from None
    numbered = [
        (n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not numbered:
        raise ProfileError(format_problem(label, None, "no data rows; expected a 0/1 matrix"))
    delimiter = "," if "," in numbered[0][1] else None
    rows = [ln.split(delimiter) for _, ln in numbered]
    width = len(rows[0])
    for (lineno, _), row in zip(numbered, rows, strict=True):  # line numbers from 1, as in CSV errors
        if len(row) != width:
            raise ProfileError(
                format_problem(
                    label, f"line {lineno}", f"has {len(row)} values; line {numbered[0][0]} has {width} (ragged matrix)"
                )
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
        where = f"line {numbered[r][0]}, column {c + 1}"  # counted from 1, as in CSV errors
        raise ProfileError(format_problem(label, where, f"{values[r, c]} is not 0 or 1"))
    return values.astype(bool)
