"""Model files (``models/*.npz``, schema v1): the contract between training and the engine.

An NPZ archive of named numeric arrays (never pickles; strings are 0-d unicode arrays):

=========================  ==========================================================
key                        content
=========================  ==========================================================
``schema_version``         int, 1
``arch``                   str, e.g. ``fashion-fcnn``
``input_shape``            int64 (3,): C, H, W
``input_threshold``        uint8 (C,): a pixel is +1 iff its value > threshold
``n_layers``               int
``metadata_json``          str: JSON object of training metadata (loss, b, train_ber,
                           epochs, seed, dataset, clean_accuracy, ...)
``layer{i}_kind``          str: ``conv`` or ``dense``
``layer{i}_weights``       uint8: the weight bits, ``np.packbits(bits, bitorder="little")``
                           of the stored-order bit stream (1 = +1)
``layer{i}_shape``         int64: stored weight shape, ``(c_out, 3, 3, c_in)`` for a
                           convolution; ``(n_out, n_in)`` for a dense layer after the
                           input or a dense layer; ``(n_out, H, W, C)`` for a dense layer
                           after a convolution (inputs in height-width-channel order)
``layer{i}_padding``       int (conv): 0 or 1 (zero padding: outside pixels add nothing)
``layer{i}_pool``          bool (conv): 2x2 max-pool of the integer pre-activations
``layer{i}_threshold``     int32 (out,), absent for the output layer: the neuron outputs
                           +1 iff ``h > threshold`` ...
``layer{i}_invert``        bool (out,): ... or iff ``h <= threshold`` where set (batch
                           norm with a negative scale)
=========================  ==========================================================

Pre-activations are ``h = 2 * popcount(XNOR(x, w)) - n`` over the ``n`` valid input bits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from memsim.bits import n_words
from memsim.bnn.architectures import (
    ARCHITECTURES,
    BUILT_IN,
    architecture_from_mapping,
    describe_architecture,
    register_architecture,
)
from memsim.bnn.layers import Conv, Dense, Layer
from memsim.bnn.network import BNN
from memsim.errors import ConfigError, ModelFileError, UnknownNameError, suggest
from memsim.fileio import load_npz, looks_like_path, search_dirs, write_bytes_atomic

__all__ = ["SCHEMA_VERSION", "ModelFileError", "available_models", "load_model", "model_path", "save_model"]

SCHEMA_VERSION = 1
_PACKAGE = Path(__file__).resolve().parent.parent


def _words_from_bytes(raw: np.ndarray, nbits: int) -> np.ndarray:
    padded = np.zeros(n_words(nbits) * 8, dtype=np.uint8)
    padded[: raw.size] = raw
    words = padded.view(np.uint64).copy()
    if nbits % 64:  # bits past nbits in the last byte must be 0
        words[-1] &= np.uint64((1 << (nbits % 64)) - 1)
    return words


def save_model(net: BNN, path: str | os.PathLike[str]) -> None:
    """Write ``net`` (a :class:`~memsim.BNN`) as a schema-v1 model file, atomically.

    Raises
    ------
    ModelFileError
        If the network is inconsistent or the path's directory does not exist.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ModelFileError(f"{path}: model files end in .npz")
    if not path.parent.is_dir():
        raise ModelFileError(f"{path}: directory {str(path.parent)!r} does not exist")
    net.validate(str(path))
    try:
        metadata = json.dumps(net.metadata, sort_keys=True, default=_jsonable)
    except (TypeError, ValueError) as err:  # the json module's contract for unserialisable values
        raise ModelFileError(f"{path}: metadata: {err}") from None
    arrays: dict[str, Any] = {
        "schema_version": np.int64(SCHEMA_VERSION),
        "arch": np.str_(net.arch),
        "input_shape": np.asarray(net.input_shape, dtype=np.int64),
        "input_threshold": np.asarray(net.input_threshold, dtype=np.uint8),
        "n_layers": np.int64(len(net.layers)),
        "metadata_json": np.str_(metadata),
    }
    if net.arch not in BUILT_IN and net.arch in ARCHITECTURES:  # a user's architecture travels with its models
        arrays["arch_json"] = np.str_(json.dumps(describe_architecture(net.arch)))
    for i, layer in enumerate(net.layers):
        key = f"layer{i}_"
        arrays[key + "kind"] = np.str_(layer.kind)
        arrays[key + "shape"] = np.asarray(layer.shape, dtype=np.int64)
        arrays[key + "weights"] = np.ascontiguousarray(layer.weights).view(np.uint8)[: (layer.nbits + 7) // 8].copy()
        if isinstance(layer, Conv):
            arrays[key + "padding"] = np.int64(layer.padding)
            arrays[key + "pool"] = np.bool_(layer.pool)
        if layer.threshold is not None:
            arrays[key + "threshold"] = np.asarray(layer.threshold, dtype=np.int32)
            arrays[key + "invert"] = np.asarray(layer.invert, dtype=bool)
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"value {value!r} is not JSON-serialisable")  # json.dumps expects TypeError from `default`


def _vector(arrays: dict[str, np.ndarray], key: str, label: str, kinds: str, dtype: type) -> np.ndarray:
    """A 1-D array of the given dtype kinds (``"iu"`` integers, ``"b"`` booleans), or a ModelFileError."""
    value = np.asarray(arrays[key])
    if value.ndim != 1 or value.dtype.kind not in kinds:
        raise ModelFileError(
            f"{label}: {key} must be a 1-D {'integer' if 'i' in kinds else 'bool'} array, "
            f"got {value.dtype} of shape {value.shape}"
        )
    return value.astype(dtype)


def _int_vector(arrays: dict[str, np.ndarray], key: str, label: str) -> tuple[int, ...]:
    return tuple(int(v) for v in _vector(arrays, key, label, "iu", np.int64))


def _scalar(arrays: dict[str, np.ndarray], key: str, label: str, kind: type) -> Any:
    if key not in arrays:
        raise ModelFileError(f"{label}: missing key {key!r}{suggest(key, arrays)}")
    value = arrays[key]
    if value.ndim != 0:
        raise ModelFileError(f"{label}: {key} must be a single value, got shape {value.shape}")
    try:
        return kind(value.item())
    except (TypeError, ValueError):
        raise ModelFileError(f"{label}: {key} = {value.item()!r} is not a {kind.__name__}") from None


def read_model_file(path: str | os.PathLike[str]) -> BNN:
    """Read and validate a model file; returns a :class:`~memsim.BNN`.

    Raises
    ------
    ModelFileError
        Naming the file and the key: wrong schema version, missing layer or key,
        weights of the wrong size, shape mismatch between consecutive layers,
        thresholds of the wrong length, pickled content.
    """
    label = str(path)
    arrays = load_npz(Path(path), error=ModelFileError)
    if "qnn_json" in arrays:
        raise ModelFileError(f"{label}: a torch network's model file, not a BNN's: load it with memsim.load_network")
    version = _scalar(arrays, "schema_version", label, int)
    if version != SCHEMA_VERSION:
        raise ModelFileError(f"{label}: schema_version {version} is not supported; this memsim reads {SCHEMA_VERSION}")
    arch = _scalar(arrays, "arch", label, str)
    if arch not in BUILT_IN and "arch_json" in arrays:
        try:
            described = json.loads(_scalar(arrays, "arch_json", label, str))
        except json.JSONDecodeError as err:
            raise ModelFileError(f"{label}: arch_json is not valid JSON ({err})") from None
        try:
            if not isinstance(described, dict) or described.get("name") != arch:
                raise ConfigError(f"it does not describe the architecture {arch!r}")
            register_architecture(architecture_from_mapping(described, f"{label}: arch_json"), label)
        except ConfigError as err:
            raise ModelFileError(f"{label}: arch_json: {err}") from None
    if arch not in ARCHITECTURES:  # the name picks the data set and the shapes the layers are checked against
        known = ", ".join(ARCHITECTURES)
        raise ModelFileError(
            f"{label}: arch {arch!r} is not an architecture{suggest(arch, ARCHITECTURES)}; known: {known}"
        )
    for key in ("input_shape", "input_threshold"):
        if key not in arrays:
            raise ModelFileError(f"{label}: missing key {key!r}")
    input_shape = _int_vector(arrays, "input_shape", label)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ModelFileError(f"{label}: input_shape {input_shape} must be (C, H, W) with positive sizes")
    n_layers = _scalar(arrays, "n_layers", label, int)
    try:
        metadata = json.loads(_scalar(arrays, "metadata_json", label, str)) if "metadata_json" in arrays else {}
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{label}: metadata_json is not valid JSON ({err})") from None
    layers: list[Layer] = []
    for i in range(n_layers):
        key = f"layer{i}_"
        where = f"{label}: layer {i}"
        for part in ("kind", "shape", "weights"):
            if key + part not in arrays:
                raise ModelFileError(f"{where}: missing key {key + part!r} (the file declares {n_layers} layers)")
        kind = _scalar(arrays, key + "kind", label, str)
        shape = _int_vector(arrays, key + "shape", where)
        if not shape or min(shape) < 1:
            raise ModelFileError(f"{where}: shape {shape} must hold positive sizes")
        raw = np.asarray(arrays[key + "weights"])
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ModelFileError(
                f"{where}: weights must be a 1-D uint8 array of packed bits, got {raw.dtype} {raw.shape}"
            )
        nbits = int(np.prod(shape, dtype=np.int64))
        if raw.size != (nbits + 7) // 8:
            raise ModelFileError(f"{where}: weights hold {raw.size} bytes; shape {shape} needs {(nbits + 7) // 8}")
        words = _words_from_bytes(raw, nbits)
        last = i == n_layers - 1
        has_threshold = key + "threshold" in arrays
        if has_threshold != (key + "invert" in arrays):
            raise ModelFileError(f"{where}: give both {key}threshold and {key}invert, or neither (output layer)")
        threshold = _vector(arrays, key + "threshold", where, "iu", np.int32) if has_threshold else None
        invert = _vector(arrays, key + "invert", where, "b", np.bool_) if has_threshold else None
        if kind == "conv":
            if len(shape) != 4 or shape[1:3] != (3, 3):
                raise ModelFileError(f"{where}: conv weight shape {shape} must be (c_out, 3, 3, c_in)")
            if not has_threshold:
                raise ModelFileError(f"{where}: missing key {key}threshold (a convolution needs thresholds)")
            padding = _scalar(arrays, key + "padding", label, int)
            pool = _scalar(arrays, key + "pool", label, bool)
            layers.append(Conv(shape[3], shape[0], padding, pool, words, threshold, invert))  # type: ignore[arg-type]
        elif kind == "dense":
            if len(shape) not in (2, 4):
                raise ModelFileError(f"{where}: dense weight shape {shape} must be (n_out, n_in) or (n_out, H, W, C)")
            if not last and not has_threshold:
                raise ModelFileError(f"{where}: missing key {key}threshold (only the last layer has none)")
            in_shape = shape[1:]
            layers.append(Dense(int(np.prod(in_shape)), shape[0], in_shape, words, threshold, invert))
        else:
            raise ModelFileError(f"{where}: kind {kind!r} is not 'conv' or 'dense'")
    extra = sorted(k for k in arrays if k.startswith("layer") and int(k[5:].split("_")[0]) >= n_layers)
    if extra:
        raise ModelFileError(f"{label}: keys {', '.join(extra)} belong to layers beyond n_layers = {n_layers}")
    threshold_in = _vector(arrays, "input_threshold", label, "iu", np.int64)
    if threshold_in.size and (threshold_in.min() < 0 or threshold_in.max() > 255):
        raise ModelFileError(f"{label}: input_threshold {threshold_in.tolist()} must lie in [0, 255] (pixel values)")
    net = BNN(arch, input_shape, threshold_in.astype(np.uint8), layers, metadata)
    net.validate(label)
    return net


def model_dirs() -> list[Path]:
    """Directories searched for models by name: ``MEMSIM_MODEL_PATH``, the installed copy, a checkout's ``models/``
    and ``models/quantized/`` (the m-bit CNNs: megabytes each, so they stay out of the wheel)."""
    checkout = _PACKAGE.parent / "models"
    return search_dirs("MEMSIM_MODEL_PATH", _PACKAGE / "_models", checkout, checkout / "quantized")


def available_models() -> list[str]:
    """Names of the models :func:`load_model` finds by name (file stems), sorted."""
    return sorted({p.stem for d in model_dirs() for p in d.glob("*.npz")})


def model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The file of a model given by path (``.npz``) or by the name of a shipped model.

    Raises
    ------
    UnknownNameError
        For a name no model directory holds (with the closest names).
    """
    text = os.fspath(name_or_path)
    if looks_like_path(name_or_path, (".npz",)):
        return Path(text)
    found = {p.stem: p for d in reversed(model_dirs()) for p in d.glob("*.npz")}
    if text not in found:
        raise UnknownNameError(
            f"unknown model {text!r}{suggest(text, found)}; "
            f"available models: {', '.join(sorted(found)) or '(none found)'}"
        )
    return found[text]


def load_model(name_or_path: str | os.PathLike[str], arch: str | None = None) -> BNN:
    """Load a BNN from a model file, by path or by the name of a shipped model.

    Parameters
    ----------
    name_or_path : str or path
        A ``.npz`` path, or a name from :func:`available_models`.
    arch : str, optional
        Require this architecture (an error names both if the file holds another).

    Returns
    -------
    BNN
    """
    path = model_path(name_or_path)
    net = read_model_file(path)
    if arch is not None and net.arch != arch:
        raise ModelFileError(f"{path}: the model is a {net.arch!r} network, not the requested {arch!r}")
    return net
