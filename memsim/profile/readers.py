"""Readers of measured data: numeric CSV tables and curves, 0/1 text matrices, NPZ archives.

Readers never execute or unpickle anything: CSV is parsed as numbers, NPZ archives
are opened with ``allow_pickle=False`` and refused if they hold objects.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from memsim.errors import ProfileError, format_problem, suggest
from memsim.fileio import load_npz as _load_npz

__all__ = [
    "BER_COLUMNS",
    "COUNT_COLUMNS",
    "KNOB_UNITS",
    "QUANTITY_COLUMNS",
    "is_knob_column",
    "load_npz",
    "read_bit_matrix",
    "read_csv_table",
    "read_curve_csv",
    "split_columns",
]

BER_COLUMNS = ("ber", "p01", "p10")
#: Columns of raw counts: bit errors seen and bits tested (read) at one operating point.
COUNT_COLUMNS = ("errors", "bits")
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
    leading = 1
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
            # the knob columns lead (one for a curve, several for measurements over a grid)
            leading = max(1, next((j for j, c in enumerate(header) if not is_knob_column(c)), len(header)))
            continue
        if len(cells) != len(header):
            raise ProfileError(
                format_problem(
                    label,
                    f"line {lineno}",
                    f"has {len(cells)} values; the header has {len(header)} columns ({', '.join(header)})",
                )
            )
        row: list[float] = []
        for i, (col, cell) in enumerate(zip(header, cells, strict=True)):
            try:
                number = float(cell)
            except ValueError:
                raise ProfileError(
                    format_problem(label, f"line {lineno}, column {col}", f"{cell!r} is not a number")
                ) from None
            problem = _cell_problem(col, number, knob=i < leading)
            if problem:
                raise ProfileError(format_problem(label, f"line {lineno}, column {col}", f"{cell} {problem}"))
            row.append(number)
        rows.append(row)
    if header is None:
        raise ProfileError(format_problem(label, None, "no header row; expected e.g. 'vdd_v,ber'"))
    return header, rows, meta


def _cell_problem(column: str, value: float, knob: bool) -> str | None:
    """What is wrong with one number of a curve CSV, by its column (None: nothing), so the CSV is blamed."""
    if not math.isfinite(value):
        return "is not a finite number"
    if column in BER_COLUMNS and not 0.0 <= value <= 1.0:
        return "is not a probability in [0, 1]"
    if column in QUANTITY_COLUMNS and value < 0:
        return "is negative; energies, powers and latencies are >= 0"
    if column in COUNT_COLUMNS:
        if value < 0 or value != math.floor(value):
            return "is not a count (a whole number >= 0)"
        if column == "bits" and value == 0:
            return "bits tested must be > 0"
    unit = column.rsplit("_", 1)[-1]
    if knob and unit == "c" and value < -273.15:
        return "is below absolute zero (-273.15 C): not a temperature"
    if knob and (unit in POSITIVE_UNITS or "_over_" in column) and value <= 0:
        return f"is not positive; a knob in {KNOB_UNITS.get(unit, unit)} is a physical quantity > 0"
    return None


def is_knob_column(column: str) -> bool:
    """True if ``column`` names a knob with its unit suffix (``vdd_v``, ``refresh_ms``, ``x_over_y``)."""
    if column in BER_COLUMNS or column in COUNT_COLUMNS or column in QUANTITY_COLUMNS:
        return False
    if not re.fullmatch(r"[a-z][a-z0-9_]*", column):
        return False
    return ("_" in column and column.rsplit("_", 1)[-1] in KNOB_UNITS) or "_over_" in column


#: Unit suffixes a knob column may carry (lower case), and how a profile writes them.
KNOB_UNITS = {"v": "V", "mv": "mV", "ns": "ns", "us": "us", "ms": "ms", "s": "s", "c": "C", "k": "K", "mhz": "MHz"}
#: Units of knobs that are positive (all but degrees Celsius).
POSITIVE_UNITS = frozenset(KNOB_UNITS) - {"c"}


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
    """Load named arrays from an NPZ archive without unpickling (:func:`memsim.fileio.load_npz`), as ProfileError."""
    return _load_npz(path, keys, ProfileError)


def read_bit_matrix(path: str | Path) -> np.ndarray:
    """Read a 0/1 text matrix (comma- or whitespace-separated) as a boolean array.

    numpy's C reader parses a well-formed map (a 14.6 Mbit chip's in about 0.4 s, with memory
    for the result); anything it refuses, or a value other than 0 and 1, is read again line by
    line for an error naming the line and column.

    Raises
    ------
    ProfileError
        If the file is unreadable, ragged, or holds values other than 0 and 1.
    """
    try:
        with Path(path).open("rb") as f:
            first = next((ln for ln in f if ln.strip() and not ln.lstrip().startswith((b"#", b"\xef\xbb\xbf#"))), b"")
        delimiter = "," if b"," in first else None
        with warnings.catch_warnings():  # an empty file: the error below says so
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(path, dtype=np.uint8, delimiter=delimiter, comments="#", encoding="utf-8-sig", ndmin=2)
    except (ValueError, OverflowError, UnicodeDecodeError, OSError):
        return _read_bit_matrix_by_line(path)
    if values.size == 0 or values.max() > 1:
        return _read_bit_matrix_by_line(path)
    return values.astype(bool)


def _read_bit_matrix_by_line(path: str | Path) -> np.ndarray:
    # The slow reader, line by line: each row's tokens split in C and checked as one byte string.
    label = str(path)
    rows: list[np.ndarray] = []
    delimiter: bytes | None = None
    width = first_line = 0
    try:
        with Path(path).open("rb") as f:
            for lineno, raw in enumerate(f, start=1):
                line = raw.removeprefix(b"\xef\xbb\xbf") if lineno == 1 else raw  # a byte-order mark (Excel)
                if not line.strip() or line.lstrip().startswith(b"#"):
                    continue
                if not rows:
                    delimiter = b"," if b"," in line else None
                tokens = [t.strip() for t in line.split(delimiter)] if delimiter else line.split()
                if not rows:
                    width, first_line = len(tokens), lineno
                if len(tokens) != width:  # line numbers counted from 1, as in CSV errors
                    problem = f"has {len(tokens)} values; line {first_line} has {width} (ragged matrix)"
                    raise ProfileError(format_problem(label, f"line {lineno}", problem))
                joined = b"".join(tokens)
                bits = np.frombuffer(joined, dtype=np.uint8) - ord("0")
                if len(joined) != width or np.any(bits > 1):
                    _bad_token(label, lineno, tokens)
                rows.append(bits.astype(bool))
    except OSError as err:
        raise ProfileError(format_problem(label, None, f"cannot read the file: {err}")) from None
    if not rows:
        raise ProfileError(format_problem(label, None, "no data rows; expected a 0/1 matrix"))
    return np.stack(rows)


def _bad_token(label: str, lineno: int, tokens: list[bytes]) -> None:
    """Raise the error for the first token of a row that is not 0 or 1."""
    for column, token in enumerate(tokens, start=1):
        if token not in (b"0", b"1"):
            text = token.decode("utf-8", "replace")
            try:
                int(text)
            except ValueError:
                problem = f"{text!r} is not an integer; expected only 0 and 1"
            else:
                problem = f"{text} is not 0 or 1"
            raise ProfileError(format_problem(label, f"line {lineno}, column {column}", problem))
