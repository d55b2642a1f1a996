"""The reference papers' architectures by name, your own from a YAML or JSON file, and the shape walk over them.

An architecture file lists the engine's layers (3x3 binary convolutions, stride 1, zero padding
0 or 1, an optional 2x2 max-pool; then dense layers; the last dense layer is the output)::

    name: my-bnn                # how models, checkpoints and reports name it
    input_shape: [1, 28, 28]    # C, H, W
    dataset: fashion-mnist      # optional: what `memsim train` trains on by default
    layers:
      - {conv: 32, pool: true}            # padding 1 unless given
      - {conv: 64, pool: true, padding: 0}
      - {dense: 512}
      - {dense: 10}

:func:`resolve_architecture` accepts a name or such a file; a file's architecture is registered
under its name (a model file of it carries the description, so it loads without the file).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memsim.errors import ConfigError, UnknownNameError, suggest

__all__ = [
    "ARCHITECTURES",
    "BUILT_IN",
    "INPUT_THRESHOLD",
    "LayerShape",
    "architecture_from_mapping",
    "architecture_spec",
    "describe_architecture",
    "layer_shapes",
    "load_architecture",
    "register_architecture",
    "resolve_architecture",
    "weight_bits",
]

#: A pixel (0-255) binarizes to +1 iff it is greater than this: the threshold of every
#: shipped model (about the dark background level of Fashion-MNIST), stored in each model file.
INPUT_THRESHOLD = 40

#: Architectures by name: input shape ``(C, H, W)``, layer specs ``("conv", c_out, pool[, padding])``
#: (3x3, padding 1 unless given) or ``("dense", n_out)``, and the data set they are trained on. The
#: reference papers' three (DESIGN.md) are built in; :func:`register_architecture` adds others.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "fashion-fcnn": {
        "input_shape": (1, 28, 28),
        "layers": [("dense", 2048), ("dense", 2048), ("dense", 10)],
        "dataset": "fashion-mnist",
    },
    "fashion-cnn": {
        "input_shape": (1, 28, 28),
        "layers": [("conv", 64, True), ("conv", 64, True), ("dense", 2048), ("dense", 10)],
        "dataset": "fashion-mnist",
    },
    "cifar10-cnn": {
        "input_shape": (3, 32, 32),
        "dataset": "cifar10",
        "layers": [
            ("conv", 128, False),
            ("conv", 128, True),
            ("conv", 256, False),
            ("conv", 256, True),
            ("conv", 512, False),
            ("conv", 512, True),
            ("dense", 1024),
            ("dense", 10),
        ],
    },
}


@dataclass(frozen=True)
class LayerShape:
    """One layer of a named architecture.

    Attributes
    ----------
    kind : str
        ``"conv"`` (3x3, stride 1, zero padding :attr:`padding`) or ``"dense"``.
    c_in : int
        Input channels (conv) or input bits (dense).
    n_out : int
        Output channels or neurons.
    in_shape : tuple of int
        ``(H, W, C)`` of a conv's input or a dense layer after a conv; ``(n_in,)`` otherwise.
    pool : bool
        2x2 max-pool after a convolution.
    nbits : int
        Weight bits.
    padding : int
        Zero padding of a convolution (0 or 1).
    """

    kind: str
    c_in: int
    n_out: int
    in_shape: tuple[int, ...]
    pool: bool
    nbits: int
    padding: int = 1


def layer_shapes(arch: str) -> list[LayerShape]:
    """The layers of architecture ``arch`` with their shapes, walked from the input.

    Raises
    ------
    UnknownNameError
        For an architecture not in :data:`ARCHITECTURES`.
    """
    spec = architecture_spec(arch)
    c, h, w = spec["input_shape"]
    flat: int | None = None
    out: list[LayerShape] = []
    for item in spec["layers"]:
        if item[0] == "conv":
            c_out, pool = item[1], item[2]
            padding = item[3] if len(item) > 3 else 1
            out.append(LayerShape("conv", c, c_out, (h, w, c), pool, c_out * 9 * c, padding))
            h, w = h + 2 * padding - 2, w + 2 * padding - 2
            h, w = (h // 2, w // 2) if pool else (h, w)
            c = c_out
        else:
            n_out = item[1]
            in_shape = (flat,) if flat is not None else ((h, w, c) if out else (c * h * w,))
            n_in = 1
            for d in in_shape:
                n_in *= d
            out.append(LayerShape("dense", n_in, n_out, in_shape, False, n_out * n_in))
            flat = n_out
    return out


def weight_bits(arch: str) -> int:
    """Weight bits of architecture ``arch`` (5,820,416 for ``fashion-fcnn``)."""
    return sum(layer.nbits for layer in layer_shapes(arch))


def architecture_spec(arch: str) -> dict[str, Any]:
    """The spec of an architecture by name, or of an architecture file (registered on first use).

    Raises
    ------
    UnknownNameError
        For a name that is neither built in, registered, nor a ``.yaml``/``.yml``/``.json`` file.
    ConfigError
        For a file that does not describe an architecture (naming the file, layer and field).
    """
    return ARCHITECTURES[resolve_architecture(arch)]


def resolve_architecture(arch: str | os.PathLike[str]) -> str:
    """The name of an architecture given by name or by file (a file's is registered under its ``name``)."""
    text = os.fspath(arch)
    if text in ARCHITECTURES:
        return text
    if Path(text).suffix.lower() in (".yaml", ".yml", ".json"):
        return load_architecture(text)
    raise UnknownNameError(
        f"unknown architecture {text!r}{suggest(text, ARCHITECTURES)}; valid: {', '.join(ARCHITECTURES)}, "
        "or a .yaml/.json architecture file"
    )


def load_architecture(path: str | os.PathLike[str]) -> str:
    """Read, check and register an architecture file; returns its name.

    Raises
    ------
    ConfigError
        Naming the file, the layer and the field: an unreadable file, a missing or bad
        ``name``/``input_shape``/``layers``, a layer that is neither ``conv`` nor ``dense``, a
        convolution after a dense layer, a feature map that vanishes, a name already taken by
        another architecture.
    """
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{label}: cannot read the architecture file: {err}") from None
    try:
        if label.lower().endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{label}: not valid JSON: {err}") from None
    except Exception as err:  # yaml.YAMLError: the parser's own message, in one line
        raise ConfigError(f"{label}: not valid YAML: {str(err).splitlines()[0]}") from None
    return register_architecture(architecture_from_mapping(data, label), label)


def architecture_from_mapping(data: Any, label: str) -> dict[str, Any]:
    """A checked spec from a mapping as a file holds it (``name``, ``input_shape``, ``layers``, ``dataset``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: an architecture file holds a mapping with name, input_shape and layers")
    unknown = sorted(set(data) - {"name", "input_shape", "layers", "dataset"})
    if unknown:
        raise ConfigError(f"{label}: unknown field(s) {', '.join(unknown)}; fields: name, input_shape, layers, dataset")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{label}: name must be letters, digits, '_', '.' or '-', got {name!r}")
    shape = data.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_positive(v) for v in shape)):
        raise ConfigError(f"{label}: input_shape must be [C, H, W] of positive integers, got {shape!r}")
    items = data.get("layers")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{label}: layers must be a non-empty list, got {items!r}")
    layers: list[tuple[Any, ...]] = []
    for i, item in enumerate(items):
        where = f"{label}: layers[{i}]"
        if not isinstance(item, dict) or len({"conv", "dense"} & set(item)) != 1:
            raise ConfigError(
                f"{where}: a layer is {{conv: C_OUT[, pool: true][, padding: 0|1]}} or {{dense: N}}, got {item!r}"
            )
        if "dense" in item:
            if set(item) != {"dense"} or not _positive(item["dense"]):
                raise ConfigError(f"{where}: dense takes a positive number of neurons and nothing else, got {item!r}")
            layers.append(("dense", int(item["dense"])))
            continue
        extra = sorted(set(item) - {"conv", "pool", "padding"})
        if extra:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(extra)} (conv takes pool and padding)")
        if layers and layers[-1][0] == "dense":
            raise ConfigError(f"{where}: a convolution cannot follow a dense layer")
        pool, padding = item.get("pool", False), item.get("padding", 1)
        if not _positive(item["conv"]):
            raise ConfigError(f"{where}: conv takes a positive number of output channels, got {item['conv']!r}")
        if not isinstance(pool, bool):
            raise ConfigError(f"{where}: pool must be true or false, got {pool!r}")
        if padding not in (0, 1) or isinstance(padding, bool):
            raise ConfigError(f"{where}: padding must be 0 or 1 (3x3 kernels), got {padding!r}")
        layers.append(("conv", int(item["conv"]), pool, int(padding)))
    if layers[-1][0] != "dense":
        raise ConfigError(f"{label}: the last layer must be dense (the output layer)")
    dataset = data.get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        raise ConfigError(f"{label}: dataset must be a data set's name, got {dataset!r}")
    spec: dict[str, Any] = {"name": name, "input_shape": tuple(int(v) for v in shape), "layers": layers}
    if dataset:
        spec["dataset"] = dataset
    _, h, w = spec["input_shape"]
    for i, item in enumerate(layers):
        if item[0] == "conv":
            h, w = h + 2 * item[3] - 2, w + 2 * item[3] - 2
            h, w = (h // 2, w // 2) if item[2] else (h, w)
            if h < 1 or w < 1:
                raise ConfigError(f"{label}: layers[{i}]: the feature map vanishes ({h}x{w})")
    return spec


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def register_architecture(spec: dict[str, Any], label: str = "<spec>") -> str:
    """Add an architecture (a spec as :func:`load_architecture` checks it) under ``spec["name"]``; returns the name.

    Registering the same spec again is a no-op; another spec under a taken name is an error.
    """
    name = spec["name"]
    entry = {k: v for k, v in spec.items() if k != "name"}
    known = ARCHITECTURES.get(name)
    if known is not None and _canonical(known) != _canonical(entry):
        raise ConfigError(f"{label}: architecture name {name!r} is taken by another architecture; choose another name")
    ARCHITECTURES[name] = entry
    return str(name)


def describe_architecture(name: str) -> dict[str, Any]:
    """The JSON-able description of a registered architecture (what a model file of it carries)."""
    spec = ARCHITECTURES[name]
    layers = [
        {"dense": item[1]} if item[0] == "dense" else {"conv": item[1], "pool": bool(item[2]),
                                                       "padding": item[3] if len(item) > 3 else 1}
        for item in spec["layers"]
    ]  # fmt: skip
    out = {"name": name, "input_shape": list(spec["input_shape"]), "layers": layers}
    if spec.get("dataset"):
        out["dataset"] = spec["dataset"]
    return out


def _canonical(entry: dict[str, Any]) -> str:
    layers = [tuple(item) + ((1,) if item[0] == "conv" and len(item) == 3 else ()) for item in entry["layers"]]
    return json.dumps({**entry, "layers": layers, "input_shape": list(entry["input_shape"])}, sort_keys=True)


BUILT_IN = frozenset(ARCHITECTURES)
