"""File helpers: NPZ archives read safely (never a pickle), atomic writes (temporary file + rename), sha256,
and the search path of named files (profiles, models, data sets)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from memsim.errors import MemsimError, format_problem

__all__ = [
    "load_npz",
    "looks_like_path",
    "search_dirs",
    "sha256",
    "write_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]


def load_npz(
    path: str | Path,
    keys: Iterable[str] | None = None,
    error: type[MemsimError] = MemsimError,
) -> dict[str, np.ndarray]:
    """Load named arrays from an NPZ archive without ever unpickling.

    Parameters
    ----------
    path : path
        The ``.npz`` file.
    keys : iterable of str, optional
        Arrays that must be present.
    error : MemsimError subclass
        The error class to raise (e.g. ``ProfileError``, ``ModelFileError``).

    Raises
    ------
    MemsimError (of class ``error``)
        If the file is unreadable or truncated, holds pickled objects, or lacks a key;
        the message names the file and the array.
    """
    label = str(path)
    out: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as err:
        raise error(format_problem(label, None, f"cannot read the file: {err.strerror or err}")) from None
    if head[:2] != b"PK":  # an NPZ archive is a zip file; anything else would reach numpy's pickle path
        raise error(
            format_problem(label, None, "not an NPZ archive (a .npz file is a zip of .npy arrays, from numpy.savez)")
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    out[key] = archive[key]
                except ValueError as err:
                    if "pickle" in str(err).lower():
                        raise error(
                            format_problem(
                                label,
                                key,
                                "holds pickled Python objects; memsim never loads "
                                "pickles (they can run code): save plain numeric arrays",
                            )
                        ) from None
                    raise error(format_problem(label, key, f"cannot read the array: {err}")) from None
    except MemsimError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise error(
            format_problem(label, None, f"not a readable NPZ archive (missing, truncated or another format): {err}")
        ) from None
    for key in keys or ():
        if key not in out:
            raise error(format_problem(label, key, f"missing array; found: {', '.join(out) or '(none)'}"))
    return out


def write_atomic(path: str | Path, write: Callable[[str], object]) -> None:
    """Have ``write(tmp)`` write a file at ``tmp`` beside ``path``, then rename it to ``path``.

    A crash or an error never leaves a half-written ``path`` behind; the temporary file keeps the
    suffix of ``path`` (writers such as matplotlib choose the format by it) and gets the
    permissions any new file gets (``mkstemp`` makes 0600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomic`)."""
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def search_dirs(variable: str, *defaults: Path) -> list[Path]:
    """Folders to find named files in, in order: those in ``$variable`` (``os.pathsep``-separated), then
    ``defaults`` (an installed copy, a checkout's folder); only those that exist."""
    dirs = [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p]
    return [d for d in [*dirs, *defaults] if d.is_dir()]


def looks_like_path(name_or_path: str | os.PathLike[str], suffixes: tuple[str, ...]) -> bool:
    """Whether a name-or-path argument is a path: a path object, a file name with one of ``suffixes``, or
    a string holding a path separator. Otherwise it is a name to look up in :func:`search_dirs`."""
    text = os.fspath(name_or_path)
    return isinstance(name_or_path, os.PathLike) or text.endswith(suffixes) or os.sep in text
