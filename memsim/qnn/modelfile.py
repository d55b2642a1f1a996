"""A QNN's model file: an NPZ of plain arrays plus a JSON description of the network; never a pickle.

The network is described by its ``torch.fx`` graph (:func:`torch.fx.symbolic_trace`): every node
with its operation, its target and its arguments, where a called function or method must be one
of a list of known, side-effect-free torch operations (:data:`FUNCTIONS`, :data:`METHODS`) and a
called module one of the torch.nn kinds in :data:`MODULES` with its constructor arguments. Loading
rebuilds the modules, the graph and a ``torch.fx.GraphModule`` from that description, so a file
can name only operations memsim lists: nothing in it is executed as code. The stored layers'
m-bit codes, scales and zero points are saved as they are (the memory holds exactly those codes
again); every other parameter and buffer as a float array.

Keys: ``qnn_json`` (the description), ``state/<name>`` (parameters and buffers that are not
stored weights), ``codes/<layer>``, ``scale/<layer>``, ``zero/<layer>``.
"""

from __future__ import annotations

import inspect
import json
import math
import operator
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from memsim.bits import n_words
from memsim.errors import ConfigError, ModelFileError
from memsim.fileio import load_npz, write_atomic
from memsim.memory.quant import Quantized, unpack_codes

__all__ = ["ATTRIBUTES", "FORMAT", "FUNCTIONS", "METHODS", "MODULES", "read_qnn", "save_qnn"]

FORMAT, VERSION = "memsim-qnn", 1

#: torch.nn modules a file may hold (constructor arguments are read back from the module's attributes).
MODULES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm,
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Hardtanh,
        nn.Softmax, nn.LogSoftmax, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
        nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Dropout,
        nn.Dropout2d, nn.Identity,
    )
}  # fmt: skip

#: Functions a graph may call, by the name the file gives them.
FUNCTIONS: dict[str, Any] = {
    **{f"operator.{n}": getattr(operator, n) for n in ("add", "sub", "mul", "truediv", "neg", "getitem", "iadd")},
    "builtins.getattr": getattr,
    **{
        f"torch.{n}": getattr(torch, n)
        for n in ("flatten", "cat", "add", "mul", "relu", "sigmoid", "tanh", "mean", "sum", "reshape", "sign")
    },
    **{
        f"torch.nn.functional.{n}": getattr(F, n)
        for n in (
            "relu", "relu6", "gelu", "silu", "leaky_relu", "hardtanh", "elu", "softmax", "log_softmax",
            "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
            "adaptive_max_pool2d", "dropout",
        )
    },
}  # fmt: skip
_NAMES = {id(fn): name for name, fn in FUNCTIONS.items()}

#: Attributes ``builtins.getattr`` may read in a graph (fx traces ``x.shape`` as a getattr).
ATTRIBUTES = frozenset({"shape", "dtype", "ndim"})

#: Tensor methods a graph may call.
METHODS = frozenset(
    "view reshape flatten size relu mean sum permute transpose contiguous squeeze unsqueeze add mul sigmoid "
    "tanh clamp softmax float dim".split()
)


# ---------------------------------------------------------------------- describe
def _module_args(name: str, module: nn.Module) -> dict[str, Any]:
    kind = type(module).__name__
    if MODULES.get(kind) is not type(module):
        known = ", ".join(sorted(MODULES))
        raise ConfigError(f"layer {name!r} ({kind}) cannot be saved in a model file; the file holds {known}")
    args: dict[str, Any] = {}
    for param in list(inspect.signature(type(module).__init__).parameters)[1:]:
        if param in ("device", "dtype") or not hasattr(module, param):
            continue
        value = getattr(module, param)
        if param in ("bias", "elementwise_affine") and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None
        args[param] = _encode(value, name)
    return {"kind": kind, "args": args}


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, where) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"slice": [_encode(v, where) for v in (value.start, value.stop, value.step)]}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if value is Ellipsis:
        return {"ellipsis": True}
    raise ConfigError(f"{where}: an argument of type {type(value).__name__} cannot be saved in a model file")


def _decode(value: Any, nodes: dict[str, fx.Node], where: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, nodes, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ModelFileError(f"{where}: an argument {value!r} is not one memsim writes")
    (tag, inner), = value.items()  # fmt: skip
    if tag == "node":
        if inner not in nodes:
            raise ModelFileError(f"{where}: refers to node {inner!r} before it is defined")
        return nodes[inner]
    if tag == "float":
        return float(inner)
    if tag == "tuple":
        return tuple(_decode(v, nodes, where) for v in inner)
    if tag == "dict":
        return {k: _decode(v, nodes, where) for k, v in inner.items()}
    if tag == "slice":
        return slice(*(_decode(v, nodes, where) for v in inner))
    if tag == "dtype" and isinstance(getattr(torch, str(inner), None), torch.dtype):
        return getattr(torch, inner)
    if tag == "ellipsis":
        return Ellipsis
    raise ModelFileError(f"{where}: an argument {value!r} is not one memsim writes")


def describe(module: nn.Module) -> dict[str, Any]:
    """The JSON-able description of ``module``: its fx graph and its leaf modules with their arguments.

    Raises
    ------
    ConfigError
        If torch.fx cannot trace the module, or it calls a function, method or module kind that
        a model file cannot name (which one, and where).
    """
    try:
        traced = fx.symbolic_trace(module)
    except Exception as err:  # fx's own error on data-dependent control flow and the like, in one line
        first = str(err).splitlines()[0] if str(err) else ""
        raise ConfigError(
            f"{type(module).__name__} cannot be saved: torch.fx cannot trace it ({type(err).__name__}: {first}); "
            "it still runs in this session"
        ) from None
    graph, modules = [], {}
    for node in traced.graph.nodes:
        where = f"node {node.name!r}"
        target: Any = node.target
        if node.op == "call_module":
            modules[target] = _module_args(target, traced.get_submodule(target))
        elif node.op == "call_function":
            if target is getattr and (len(node.args) < 2 or node.args[1] not in ATTRIBUTES):
                raise ConfigError(
                    f"{where} reads attribute {node.args[1:2]!r}; a model file names only {sorted(ATTRIBUTES)}"
                )
            if id(target) not in _NAMES:
                name = getattr(target, "__qualname__", repr(target))
                raise ConfigError(
                    f"{where} calls {name}, which a model file cannot name; it still runs in this session"
                )
            target = _NAMES[id(target)]
        elif node.op == "call_method" and target not in METHODS:
            raise ConfigError(f"{where} calls the method .{target}(), which a model file cannot name")
        graph.append(
            {
                "name": node.name,
                "op": node.op,
                "target": target if isinstance(target, str) else None,
                "args": _encode(tuple(node.args), where),
                "kwargs": _encode(dict(node.kwargs), where),
            }
        )
    return {"graph": graph, "modules": modules}


# ---------------------------------------------------------------------- rebuild
def rebuild(description: dict[str, Any], label: str) -> fx.GraphModule:
    """The ``GraphModule`` a description names (weights uninitialised)."""
    root = nn.Module()
    for path, spec in description["modules"].items():
        where = f"{label}: module {path!r}"
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind not in MODULES:
            raise ModelFileError(f"{where}: kind {kind!r} is not one memsim reads; known: {', '.join(sorted(MODULES))}")
        try:
            args = spec.get("args", {})
            if not isinstance(args, dict):
                raise ModelFileError(f"{where}: args must be a mapping, got {args!r}")
            leaf = MODULES[kind](**{k: _decode(v, {}, where) for k, v in args.items()})
        except (TypeError, ValueError) as err:
            raise ModelFileError(f"{where}: {kind} arguments {spec.get('args')}: {err}") from None
        parent = root
        *heads, last = path.split(".")
        for head in heads:
            if not hasattr(parent, head):
                parent.add_module(head, nn.Module())
            parent = getattr(parent, head)
        parent.add_module(last, leaf)
    graph = fx.Graph()
    nodes: dict[str, fx.Node] = {}
    for entry in description["graph"]:
        where = f"{label}: node {entry.get('name')!r}"
        op, target = entry.get("op"), entry.get("target")
        args = _decode(entry.get("args", {"tuple": []}), nodes, where)
        kwargs = _decode(entry.get("kwargs", {"dict": {}}), nodes, where)
        if op == "placeholder":
            node = graph.placeholder(str(target))
        elif op == "call_module":
            if target not in description["modules"]:
                raise ModelFileError(f"{where}: calls module {target!r}, which the file does not describe")
            node = graph.call_module(target, args, kwargs)
        elif op == "call_function":
            if target not in FUNCTIONS:
                raise ModelFileError(f"{where}: function {target!r} is not one memsim reads")
            if target == "builtins.getattr" and (len(args) < 2 or args[1] not in ATTRIBUTES):
                raise ModelFileError(f"{where}: getattr of {args[1:2]!r}; memsim reads only {sorted(ATTRIBUTES)}")
            node = graph.call_function(FUNCTIONS[target], args, kwargs)
        elif op == "call_method":
            if target not in METHODS:
                raise ModelFileError(f"{where}: method {target!r} is not one memsim reads")
            node = graph.call_method(target, args, kwargs)
        elif op == "get_attr":
            node = graph.get_attr(str(target))
        elif op == "output":
            graph.output(args[0])
            continue
        else:
            raise ModelFileError(f"{where}: op {op!r} is not a torch.fx op")
        nodes[entry["name"]] = node
    try:
        return fx.GraphModule(root, graph)
    except Exception as err:
        raise ModelFileError(f"{label}: the graph does not fit its modules ({type(err).__name__}: {err})") from None


# ---------------------------------------------------------------------- files
def save_qnn(net: Any, path: str | os.PathLike[str]) -> None:
    """Write a :class:`~memsim.qnn.QNN` to ``path`` (``.npz``), atomically.

    Raises
    ------
    ConfigError
        If the network cannot be described (not traceable, an operation a file cannot name, a
        ``preprocess`` callable: give ``mean``/``std`` instead).
    ModelFileError
        If the path does not end in ``.npz`` or its directory does not exist.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ModelFileError(f"{path}: model files end in .npz")
    if not path.parent.is_dir():
        raise ModelFileError(f"{path}: directory {str(path.parent)!r} does not exist")
    if net.preprocess is not None:
        raise ConfigError(f"{path}: a preprocess callable cannot be saved safely; give mean= and std= to from_torch")
    description = describe(net.module)
    stored = {f"{layer.name}.weight" for layer in net.layers}
    arrays: dict[str, np.ndarray] = {}
    for key, value in net.module.state_dict().items():
        if key not in stored:
            arrays[f"state/{key}"] = value.detach().cpu().numpy()
    layers = []
    for layer in net.layers:
        q = layer.q
        arrays[f"codes/{layer.name}"] = q.packed().words  # m bits per weight: the memory's own image
        arrays[f"scale/{layer.name}"] = q.scale
        arrays[f"zero/{layer.name}"] = q.zero_point
        layers.append({"name": layer.name, "bits": q.bits, "scheme": q.scheme, "shape": list(q.shape)})
    header = {
        "format": FORMAT,
        "version": VERSION,
        **description,
        "stored": layers,
        "input_shape": list(net.input_shape),
        "mean": net.mean,
        "std": net.std,
        "arch": net.arch,
        "metadata": net.metadata,
    }
    arrays["qnn_json"] = np.array(json.dumps(header))
    write_atomic(path, lambda tmp: np.savez_compressed(tmp, **arrays))  # type: ignore[arg-type]


def _codes(raw: np.ndarray, entry: dict[str, Any], where: str) -> np.ndarray:
    """A layer's codes from the file: packed words (m bits per weight) or one code per weight."""
    shape = tuple(int(v) for v in entry["shape"])
    count, bits = math.prod(shape), int(entry["bits"])
    if raw.dtype == np.uint64 and raw.ndim == 1 and raw.size == n_words(count * bits):
        return unpack_codes(raw, count, bits).reshape(shape)
    if raw.shape == shape and np.issubdtype(raw.dtype, np.unsignedinteger):
        return raw.astype(np.uint32)
    raise ModelFileError(
        f"{where}: codes of {raw.dtype} {raw.shape} fit neither {n_words(count * bits)} packed words nor {shape}"
    )


def read_qnn(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a QNN model file written by :func:`save_qnn`: the rebuilt module and its stored layers.

    Returns a mapping with ``module`` (a ``torch.fx.GraphModule`` in eval mode, the stored
    layers' weights dequantized from their codes), ``stored`` (``(name, Quantized)`` per stored
    layer, in file order), ``input_shape``, ``mean``, ``std``, ``arch`` and ``metadata``;
    :func:`memsim.qnn.load_qnn` makes the network of it.

    Raises
    ------
    ModelFileError
        Naming the file and the key or node that is wrong; nothing in the file is executed.
    """
    label = str(path)
    arrays = load_npz(Path(path), ["qnn_json"], error=ModelFileError)
    try:
        header = json.loads(str(arrays["qnn_json"]))
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{label}: qnn_json is not valid JSON ({err})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{label}: qnn_json is not a {FORMAT} description")
    if header.get("version") != VERSION:
        raise ModelFileError(f"{label}: version {header.get('version')!r} is not supported; memsim reads {VERSION}")
    for key in ("graph", "modules", "stored", "input_shape"):
        if key not in header:
            raise ModelFileError(f"{label}: qnn_json lacks {key!r}")
    module = rebuild(header, label)
    state = {
        k.removeprefix("state/"): torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("state/")
    }
    stored = []
    for entry in header["stored"]:
        name = entry["name"]
        for part in ("codes", "scale", "zero"):
            if f"{part}/{name}" not in arrays:
                raise ModelFileError(f"{label}: layer {name!r} lacks the array '{part}/{name}'")
        q = Quantized(
            _codes(np.asarray(arrays[f"codes/{name}"]), entry, f"{label}: layer {name!r}"),
            np.asarray(arrays[f"scale/{name}"], dtype=np.float64),
            np.asarray(arrays[f"zero/{name}"], dtype=np.int64),
            int(entry["bits"]),
            str(entry["scheme"]),
        )
        state[f"{name}.weight"] = torch.from_numpy(q.dequantize())
        try:
            module.get_submodule(name)
        except AttributeError:
            raise ModelFileError(f"{label}: stored layer {name!r} is not a module of the graph") from None
        stored.append((name, q))
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{label}: the arrays do not fit the network: {str(err).splitlines()[0]}") from None
    return {
        "module": module.eval(),
        "stored": stored,
        "input_shape": tuple(int(v) for v in header["input_shape"]),
        "mean": header.get("mean"),
        "std": header.get("std"),
        "arch": str(header.get("arch") or "qnn"),
        "metadata": dict(header.get("metadata") or {}),
    }
