"""Text reports: numbers and aligned tables for terminals and logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["format_value", "table", "to_json"]


def format_value(value: Any) -> str:
    """A number as a table cell: ``-`` for None, 4 significant digits, scientific below 1e-3 or above 1e5."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table: numbers right-aligned, text left-aligned, a rule under the header.

    Parameters
    ----------
    headers : sequence of str
        Column names.
    rows : sequence of sequences
        Cells; numbers are formatted with :func:`format_value`.
    """
    cells = [[format_value(v) for v in row] for row in rows]
    numeric = [[isinstance(v, (int, float)) or v is None for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row, kinds in zip(cells, numeric, strict=True):
        lines.append(
            "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, kinds, strict=True)).rstrip()
        )
    return "\n".join(lines)


def to_json(data: Any) -> str:
    """Indented JSON; values JSON does not know (paths, enums) as strings."""
    return json.dumps(data, indent=2, default=str, allow_nan=True)
