"""File helpers: NPZ archives read safely (never a pickle), and atomic writes (temporary file + rename)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from memsim.errors import MemsimError, format_problem

__all__ = ["load_npz", "write_bytes_atomic", "write_text_atomic"]


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
        raise error(format_problem(label, None, f"not a readable NPZ archive (missing, truncated or another format): "
                                   f"{err}")) from None  # fmt: skip
    for key in keys or ():
        if key not in out:
            raise error(format_problem(label, key, f"missing array; found: {', '.join(out) or '(none)'}"))
    return out


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    A crash or an error never leaves a half-written ``path`` behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))
