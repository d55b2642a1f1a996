"""The error hierarchy of memsim.

Every error memsim raises on bad input derives from :class:`MemsimError` and from
the matching builtin, so callers can catch either (``except ValueError`` keeps
working). Messages name the file, the field (a dotted path), the value and what
is allowed; :func:`format_problem` builds them the same way everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from os import PathLike

__all__ = [
    "ConfigError",
    "DatasetError",
    "MemsimError",
    "ModelFileError",
    "OutOfRangeError",
    "ProfileError",
    "ResultError",
    "UnknownNameError",
    "format_problem",
    "suggest",
]


class MemsimError(Exception):
    """Base class of every error memsim raises on bad input.

    Never raised itself: every error is one of the subclasses below, each also the
    fitting builtin (``ValueError``, ``LookupError``, ``OSError``).
    """


class ConfigError(MemsimError, ValueError):
    """A bad argument or option: a rate outside [0, 1], a negative seed, a zero batch size."""


class ResultError(ConfigError):
    """A result folder (``sweep.csv``, ``sweep.json``) is damaged, edited or not a sweep's: the message names
    the file, the line and the column."""


class ProfileError(MemsimError, ValueError):
    """A profile file, a measured-data file or a profile lookup is invalid."""


class OutOfRangeError(ProfileError):
    """A knob value lies outside a profile's range and extrapolation was not asked for."""


class UnknownNameError(MemsimError, LookupError):
    """A name (profile, knob, form, fault model) is not known; the message lists the valid ones."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class ModelFileError(MemsimError, ValueError):
    """A model file (or an in-memory network) is malformed or does not fit its architecture."""


class DatasetError(MemsimError, OSError):
    """A data set is missing, corrupt or fails its checksum."""


def suggest(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``.

    Parameters
    ----------
    name : str
        The name that was not found.
    valid : iterable of str
        The names that would have been accepted.
    """
    by_lower = {str(v).lower(): str(v) for v in valid}
    matches = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[matches[0]]!r}?)" if matches else ""


def format_problem(
    source: str | PathLike[str] | None,
    field: str | None,
    message: str,
) -> str:
    """Format ``"<file>: <field>: <message>"``, leaving out parts that are unknown.

    Parameters
    ----------
    source : str, path or None
        The file the problem is in (or a label such as ``"<dict>"``).
    field : str or None
        Dotted path of the offending field, e.g. ``"energy.read_pj_per_bit.value"``.
    message : str
        What is wrong and what is allowed.
    """
    parts = [str(p) for p in (source, field) if p not in (None, "")]
    return ": ".join([*parts, message])
