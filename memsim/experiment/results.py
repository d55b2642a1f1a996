"""Result folders (``sweep.csv`` + ``sweep.json``): checked before anything reads, reports or appends.

A result folder is data a user may have copied, edited, opened in a spreadsheet or cut
short with a kill. Nothing in it is trusted: :func:`read_meta` and :func:`read_results`
check it and name the file, the line and the column of the first problem
(:class:`~memsim.errors.ResultError`). What a kill can leave (a last line cut mid-write) is
dropped; anything else damaged is an error, so a resume never appends to it and a report
never chooses from it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from memsim.errors import ResultError

__all__ = ["RANGES", "REQUIRED", "read_meta", "read_results"]

#: Columns every sweep's rows have, in every memsim version that wrote them.
REQUIRED = ("model", "accuracy", "trials", "n_images", "cell")

#: Allowed range of the numeric columns, and whether the field may be empty or NaN (an interval over one
#: chip, an energy the profile does not publish). Columns not listed are free text (knobs are checked by
#: their profile when a sweep resumes, not here).
RANGES: dict[str, tuple[float, float, bool]] = {
    "accuracy": (0.0, 1.0, False),
    "ci95_low": (0.0, 1.0, True),
    "ci95_high": (0.0, 1.0, True),
    "accuracy_se": (0.0, 1.0, True),
    "ci_df": (0.0, math.inf, True),
    "ber": (0.0, 1.0, True),
    "p01": (0.0, 1.0, True),
    "p10": (0.0, 1.0, True),
    "flip_rate": (0.0, 1.0, True),
    "trials": (1.0, math.inf, False),
    "n_images": (1.0, math.inf, False),
    "energy_pj_per_inference": (0.0, math.inf, True),
    "memory_energy_pj_per_inference": (0.0, math.inf, True),
    "read_energy_pj_per_inference": (0.0, math.inf, True),
    "leakage_energy_pj_per_inference": (0.0, math.inf, True),
    "refresh_energy_pj_per_inference": (0.0, math.inf, True),
    "compute_energy_pj_per_inference": (0.0, math.inf, True),
    "memory_energy_saved": (-math.inf, 1.0, True),
    "energy_saved": (-math.inf, 1.0, True),
    "latency_ns": (0.0, math.inf, True),
    "bank_utilisation": (0.0, 1.0, True),
    "bits_read_per_inference": (0.0, math.inf, True),
}
_INTEGER = ("trials", "n_images")


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """``DIR/sweep.json``, checked: a JSON object whose ``config`` is a mapping and ``columns`` (if any) names.

    Raises
    ------
    ResultError
        Missing, unreadable, not JSON, or of the wrong shape; the message names the file and field.
    """
    path = Path(directory) / "sweep.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultError(f"{path}: missing (a result folder holds sweep.json beside sweep.csv)") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultError(f"{path}: not readable as JSON ({_short(err)})") from None
    if not isinstance(meta, dict):
        raise ResultError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("config"), dict):
        raise ResultError(f"{path}: field 'config' must be a mapping of sweep options, got {_kind(meta.get('config'))}")
    columns = meta.get("columns")
    if columns is not None and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise ResultError(f"{path}: field 'columns' must be a list of column names, got {_kind(columns)}")
    return meta


def read_results(
    directory: str | os.PathLike[str],
    header: Sequence[str] | None = None,
    cells: Collection[str] | None = None,
) -> list[dict[str, str]]:
    """The rows of ``DIR/sweep.csv`` after checking every line.

    Parameters
    ----------
    directory : path
        The result folder.
    header : sequence of str, optional
        The exact columns expected (a resume: this memsim's columns for the folder's config);
        without it, any header holding :data:`REQUIRED` (results of older versions stay readable).
    cells : collection of str, optional
        The cell keys of the sweep's grid (a resume): a row outside it is an error.

    Returns
    -------
    list of dict
        One per complete row, in file order. A last line without its newline (a kill during a
        write) is left out; the caller may truncate it.

    Raises
    ------
    ResultError
        Not UTF-8, empty, a header that is not the expected one, a line with the wrong number of
        fields anywhere but last, a number that does not parse, is not finite or is out of range,
        or a cell key repeated or outside the grid. The message names the file, line and column.
    """
    path = Path(directory) / "sweep.csv"
    if not path.is_file():
        raise ResultError(f"{path}: no sweep results here (run `memsim sweep ... --out {directory}` first)")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a spreadsheet's byte-order mark is harmless
    except UnicodeDecodeError as err:
        raise ResultError(
            f"{path}: not a UTF-8 text file (byte {err.start} is 0x{err.object[err.start]:02x})"
        ) from None
    except OSError as err:
        raise ResultError(f"{path}: cannot read ({_short(err)})") from None
    if "\x00" in text:
        raise ResultError(f"{path}: holds NUL bytes: not a sweep.csv")
    if not text.strip():
        raise ResultError(f"{path}: empty (no header line)")
    if not text.endswith("\n"):  # killed during a write: the cut line is not a row
        text = text[: text.rfind("\n") + 1]
    lines = list(csv.reader(io.StringIO(text)))
    while lines and not lines[-1]:  # blank lines at the end (an editor's or a spreadsheet's): not rows
        lines.pop()
    if not lines:
        raise ResultError(f"{path}: no complete header line (one line, cut before its end)")
    columns = lines[0]
    if header is not None and columns != list(header):
        raise ResultError(
            f"{path}: line 1: its columns are not this sweep's ({_diff(columns, header)}); "
            "written by another version or edited: cannot append to it, use another --out"
        )
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ResultError(f"{path}: line 1: missing column(s) {', '.join(missing)} (not a memsim sweep.csv?)")
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise ResultError(f"{path}: line 1: repeated column(s) {', '.join(dup)}")
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, fields in enumerate(lines[1:], start=2):
        if not fields:
            raise ResultError(f"{path}: line {number}: empty line inside the results")
        if len(fields) != len(columns):
            raise ResultError(
                f"{path}: line {number}: {len(fields)} fields, the header has {len(columns)} (a cut or edited line)"
            )
        row = dict(zip(columns, fields, strict=True))
        for column, (lo, hi, optional) in RANGES.items():
            if column in row:
                _check_number(path, number, column, row[column], lo, hi, optional)
        key = row["cell"]
        if key in seen:
            raise ResultError(f"{path}: line {number}: cell {key!r} repeats line {seen[key]}")
        if cells is not None and key not in cells:
            raise ResultError(f"{path}: line {number}: cell {key!r} is not in this sweep's grid")
        seen[key] = number
        rows.append(row)
    return rows


def _check_number(path: Path, line: int, column: str, value: str, lo: float, hi: float, optional: bool) -> None:
    where = f"{path}: line {line}, column {column}"
    if value.strip() == "" or value.strip().lower() == "nan":
        if optional:
            return
        raise ResultError(f"{where}: empty or NaN; a number in [{lo:g}, {hi:g}] is required")
    try:
        x = float(value)
    except ValueError:
        raise ResultError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise ResultError(f"{where}: {value} is outside [{lo:g}, {hi:g}]")
    if column in _INTEGER and x != int(x):
        raise ResultError(f"{where}: {value} is not a whole number")


def _name(column: str) -> str:
    """A column name fit for a one-line message: quoted if it holds anything unusual, and short."""
    text = column if column.isprintable() and "," not in column else repr(column)
    return text if len(text) <= 40 else text[:37] + "..."


def _diff(found: Sequence[str], expected: Sequence[str]) -> str:
    extra = [_name(c) for c in found if c not in expected]
    lacking = [c for c in expected if c not in found]
    parts = [f"{len(found)} columns, expected {len(expected)}"]
    if lacking:
        parts.append("missing " + ", ".join(lacking[:5]) + (" ..." if len(lacking) > 5 else ""))
    if extra:
        parts.append("unexpected " + ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else ""))
    if not lacking and not extra:
        parts.append("the same names in another order")
    return "; ".join(parts)


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _short(err: BaseException) -> str:
    return str(err).splitlines()[0][:160] if str(err) else type(err).__name__
