"""Any model file the experiments run: a BNN for the numba engine, or a torch network (:mod:`memsim.qnn`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from memsim.bnn.modelfile import model_path, read_model_file
from memsim.errors import ModelFileError

__all__ = ["is_qnn_file", "load_network"]


def is_qnn_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a torch network's model file (an NPZ holding ``qnn_json``); False if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return "qnn_json" in archive.files
    except Exception:  # not an NPZ archive: the BNN reader names what is wrong with it
        return False


def load_network(name_or_path: str | os.PathLike[str]) -> Any:
    """The network in a model file, by path or by shipped name: a :class:`~memsim.BNN` or a :class:`~memsim.qnn.QNN`.

    Both have what the experiments use (``store_weights``, ``predict``, ``layer_ops``,
    ``n_weight_bits``, ``compute_pj_per_op``). A torch network's file needs the ``train`` extra;
    without torch the error says so.

    Raises
    ------
    ModelFileError, UnknownNameError
        A file that is neither, or a name no model directory holds.
    """
    path = model_path(name_or_path)
    if not is_qnn_file(path):
        return read_model_file(path)
    try:
        from memsim.qnn import load_qnn
    except ImportError as err:
        raise ModelFileError(
            f"{path}: a torch network's model file; running it needs torch (pip install 'memsim[train]'): {err}"
        ) from None
    return load_qnn(path)
