"""Finding profiles by name: the shipped ``profiles/`` folder and user folders.

Search order (first match of a name wins):

1. the directories in ``MEMSIM_PROFILE_PATH`` (separated by ``os.pathsep``);
2. the copy installed with the package (``memsim/_profiles``, from a wheel);
3. the ``profiles/`` folder of a source checkout (next to the ``memsim`` package).

A profile's lookup name is its file stem, which must equal the ``name`` field.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from memsim.errors import ProfileError, UnknownNameError, format_problem, suggest
from memsim.fileio import looks_like_path, search_dirs
from memsim.profile.core import Profile

__all__ = ["available_profiles", "load_profile", "profile_dirs", "profile_path", "read_profile_file"]

_PACKAGE = Path(__file__).resolve().parent.parent


def profile_dirs() -> list[Path]:
    """Directories searched for profiles, in order (only those that exist)."""
    return search_dirs("MEMSIM_PROFILE_PATH", _PACKAGE / "_profiles", _PACKAGE.parent / "profiles")


def _index() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in profile_dirs():
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*/*.yaml")]):
            found.setdefault(path.stem, path)
    return found


def available_profiles() -> list[str]:
    """Names of all profiles that :func:`load_profile` finds, sorted.

    Returns
    -------
    list of str
        Profile names (file stems), e.g. ``"sram_14nm_chandramoorthy2019"``.
    """
    return sorted(_index())


def profile_path(name: str) -> Path:
    """The file of the profile called ``name``.

    Raises
    ------
    UnknownNameError
        If no profile has that name; the message lists the valid names.
    """
    index = _index()
    if name not in index:
        raise UnknownNameError(
            f"unknown profile {name!r}{suggest(name, index)}; available profiles: "
            f"{', '.join(sorted(index)) or '(none found)'} (searched: {', '.join(map(str, profile_dirs()))})"
        )
    return index[name]


def read_profile_file(path: str | Path) -> Profile:
    """Read and validate one profile YAML file.

    Raises
    ------
    ProfileError
        If the file cannot be read, is not YAML, or does not follow the schema.
    """
    path = Path(path)
    label = str(path)
    if path.is_dir():
        yamls = sorted(q.name for q in path.glob("*.y*ml"))
        hint = f" (it holds {', '.join(yamls[:5])})" if yamls else ""
        raise ProfileError(format_problem(label, None, f"is a folder; give a profile's .yaml file or name{hint}"))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(format_problem(label, None, f"cannot read the file: {err}")) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ProfileError(
            format_problem(label, where, f"not valid YAML ({problem}); is the file truncated?")
        ) from None
    profile = Profile(data, source=label, base_dir=path.parent)
    if profile.name != path.stem:
        raise ProfileError(
            format_problem(
                label, "name", f"{profile.name!r} differs from the file stem {path.stem!r}; they must be equal"
            )
        )
    return profile


def load_profile(name_or_path: str | os.PathLike[str]) -> Profile:
    """Load a profile by name (see :func:`available_profiles`) or from a YAML path.

    Parameters
    ----------
    name_or_path : str or path
        A profile name such as ``"dram_ddr3l_voltron2017_vendorb"``, or a path to a
        ``.yaml`` file.

    Returns
    -------
    Profile

    Raises
    ------
    UnknownNameError
        For an unknown name (the message lists the valid ones).
    ProfileError
        For a file that cannot be read or does not follow the schema.
    """
    text = os.fspath(name_or_path)
    if looks_like_path(name_or_path, (".yaml", ".yml")):
        return read_profile_file(text)
    return read_profile_file(profile_path(text))
