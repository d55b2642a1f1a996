"""Small helpers that check parsed YAML and raise errors naming file, field and value.

They keep the parser in :mod:`memsim.profile.core` declarative: each helper
checks one thing and raises :class:`~memsim.errors.ProfileError` with the dotted
path of the field, the offending value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from memsim.errors import ProfileError, format_problem, suggest

PROVENANCES = (
    "figure",
    "table",
    "dataset",
    "abstract",
    "spec",
    "derived",
    "measured",
    "unverified",
)


def _type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__ if value is not None else "null"
    )


class Checker:
    """Raises :class:`ProfileError` for one source file; ``path`` arguments are dotted fields."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str | None, message: str) -> ProfileError:
        """Build (not raise) the error for ``path``."""
        return ProfileError(format_problem(self.source, path, message))

    def mapping(
        self,
        value: Any,
        path: str,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        open_keys: bool = False,
    ) -> dict[str, Any]:
        """Check ``value`` is a mapping with the ``required`` keys and no unknown keys."""
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {_type_name(value)} {value!r}")
        required = list(required)
        allowed = [*required, *optional]
        for key in required:
            if key not in value:
                raise self.fail(_join(path, key), f"missing key; required keys: {', '.join(required)}")
        if not open_keys:
            for key in value:
                if key not in allowed:
                    raise self.fail(
                        _join(path, str(key)),
                        f"unknown key {key!r}{suggest(str(key), allowed)}; allowed keys: {', '.join(allowed)}",
                    )
        return value

    def string(self, value: Any, path: str, choices: Iterable[str] | None = None) -> str:
        """Check ``value`` is a string (and one of ``choices``, if given)."""
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {_type_name(value)} {value!r}")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise self.fail(
                    path,
                    f"{value!r} is not allowed{suggest(value, choices)}; allowed: {', '.join(choices)}",
                )
        return value

    def number(
        self,
        value: Any,
        path: str,
        low: float | None = None,
        high: float | None = None,
        what: str = "a number",
    ) -> float:
        """Check ``value`` is a finite real number in ``[low, high]``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"expected {what}, got {_type_name(value)} {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.fail(path, f"{value!r} is not finite; expected {what}")
        if (low is not None and value < low) or (high is not None and value > high):
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            raise self.fail(path, f"{value:g} is outside the allowed range [{lo}, {hi}]")
        return value

    def nonnegative(self, value: Any, path: str) -> float:
        """Check ``value`` is a finite number >= 0 (energies, powers, latencies)."""
        number = self.number(value, path)
        if number < 0:
            raise self.fail(path, f"{number:g} is negative; must be >= 0")
        return number

    def probability(self, value: Any, path: str, high: float = 1.0) -> float:
        """Check ``value`` is a probability in ``[0, high]``."""
        return self.number(value, path, 0.0, high, what=f"a probability in [0, {high:g}]")

    def sequence(self, value: Any, path: str, min_len: int = 0) -> list[Any]:
        """Check ``value`` is a list with at least ``min_len`` items."""
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_type_name(value)} {value!r}")
        if len(value) < min_len:
            raise self.fail(path, f"expected at least {min_len} items, got {len(value)}")
        return value

    def cited(self, block: Mapping[str, Any], path: str, citations: Iterable[str]) -> None:
        """Check a block names a known ``source`` citation key and a ``provenance`` tag."""
        citations = list(citations)
        for key in ("source", "provenance"):
            if key not in block:
                raise self.fail(_join(path, key), "missing key; every number must cite a source and a provenance")
        source = self.string(block["source"], _join(path, "source"))
        if source not in citations:
            raise self.fail(
                _join(path, "source"),
                f"{source!r} is not a key of 'citations'{suggest(source, citations)}; "
                f"known keys: {', '.join(citations) or '(none)'}",
            )
        self.string(block["provenance"], _join(path, "provenance"), PROVENANCES)


def _join(path: str | None, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


join = _join
