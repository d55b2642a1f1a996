"""QNN: a torch module whose Linear and Conv weights are read from an approximate memory, image by image.

A read's flips are sparse, so image ``i``'s output equals the clean batched output plus, layer by
layer, a correction for each weight its read got wrong: for a dense layer ``delta x x[i, j]`` on
output ``o``; for a convolution ``delta`` times the shifted, strided slice of one input channel
that the weight's tap sees. The corrections enter before the next module, so later layers see
the corrupted activations, exactly as if image ``i`` had run alone on the weights it read
(:meth:`QNN.materialize` builds that module; the tests hold the two equal).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memsim.bnn import BNN
from memsim.errors import ConfigError
from memsim.memory.energy import mac_pj
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.memory.quant import Quantized, quantize, unpack_codes
from memsim.memory.reads import FlipLaw, ReadSet, resolve_seed
from memsim.memory.sparse import flip_bits, walk_params
from memsim.qnn import kernels, modelfile

__all__ = ["QNN", "from_torch", "load_qnn"]

#: Module kinds whose weights the memory holds.
STORED = (nn.Linear, nn.Conv1d, nn.Conv2d)
#: Module kinds whose own parameters stay exact (they are small: affine per channel).
EXACT = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


@dataclass
class _Layer:
    name: str  # the module's path in the network, e.g. "features.0"
    module: Any  # the Linear or Conv module (typed loosely: torch types its weight as Tensor | Module)
    q: Quantized
    words: np.ndarray  # the clean packed codes, as the memory holds them


def from_torch(
    module: nn.Module,
    example_input: torch.Tensor | np.ndarray,
    bits: int = 8,
    scheme: str = "symmetric",
    per_channel: bool = False,
    clip: float | tuple[float, float] | None = None,
    rounding: str = "nearest",
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    name: str | None = None,
    dataset: str | None = None,
) -> QNN | BNN:
    """A :class:`QNN` of ``module`` with its Linear and Conv weights quantized to ``bits`` bits.

    With ``bits=1``, a binarized network in memsim's own layout (:class:`memsim.train.TorchBNN`,
    built from a named architecture or an architecture file) is exported to the numba engine: a
    :class:`~memsim.BNN`, its thresholds folded from batch norm, identical outputs. Any other
    network runs here with binary weights (``+-scale``, the ``binary`` scheme): a binarized
    network trained in torch keeps its signs, and its activations run as the module defines them.

    Parameters
    ----------
    module : torch.nn.Module
        Any network; it is copied (the original is left as it is), made float32 and put in eval mode.
    example_input : tensor or ndarray
        One batch of inputs as the module takes them, ``(N, C, H, W)`` float (or uint8 images), to
        check the network runs, fix its input shape and count its multiply-accumulates.
    bits, scheme, per_channel, clip, rounding
        As for :func:`memsim.memory.quant.quantize` (``bits=1``: the ``binary`` scheme).
    mean, std : float or sequence of float, optional
        Per-channel normalisation applied to every input after uint8 images are scaled to [0, 1]
        (``(x - mean) / std``); saved with the model.
    preprocess : callable, optional
        Applied to every input batch (a float tensor) after that; not saved (a model file holds
        no code): use ``mean``/``std`` for a model you save.
    name : str, optional
        The model's architecture name in reports (default: the module's class name).
    dataset : str, optional
        The data set the model was trained for (``memsim sweep`` uses it unless told another).

    Raises
    ------
    ConfigError
        For a layer whose weights cannot be stored (naming it and its kind), a convolution with
        a padding mode other than zeros, or an input the module cannot run.
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    from memsim.train.model import TorchBNN, export_bnn

    if bits == 1 and isinstance(module, TorchBNN):
        return export_bnn(module.eval(), {"dataset": dataset} if dataset else None)
    net = copy.deepcopy(module).float().eval()
    layers = []
    for path, sub in net.named_modules():
        if isinstance(sub, STORED):
            if isinstance(sub, (nn.Conv1d, nn.Conv2d)) and sub.padding_mode != "zeros":
                raise ConfigError(
                    f"layer {path!r} ({type(sub).__name__}): padding_mode {sub.padding_mode!r}; "
                    "only 'zeros' is supported"
                )
            if isinstance(sub, (nn.Conv1d, nn.Conv2d)) and isinstance(sub.padding, str):
                raise ConfigError(f"layer {path!r}: padding {sub.padding!r}; give the padding as numbers")
            weights = sub.weight.detach().cpu().double().numpy()
            q = quantize(weights, bits, "binary" if bits == 1 else scheme, per_channel, clip, rounding)
            with torch.no_grad():
                sub.weight.copy_(torch.from_numpy(q.dequantize()))
            layers.append(_Layer(path, sub, q, q.packed().words))
        elif not isinstance(sub, EXACT) and any(p.dim() >= 2 for p in sub.parameters(recurse=False)):
            raise ConfigError(
                f"layer {path!r} ({type(sub).__name__}) holds weights memsim cannot store; the memory holds "
                f"the weights of {', '.join(k.__name__ for k in STORED)}"
            )
    if not layers:
        raise ConfigError(f"{type(module).__name__} has no Linear or Conv layer: nothing to store")
    x = _as_tensor(example_input)
    if x.dim() < 2:
        raise ConfigError(f"example_input must be a batch (N, ...), got shape {tuple(x.shape)}")
    qnn = QNN(
        net,
        layers,
        input_shape=tuple(int(v) for v in x.shape[1:]),
        mean=_channels(mean, "mean"),
        std=_channels(std, "std"),
        preprocess=preprocess,
        arch=name or type(module).__name__,
        metadata={"dataset": dataset} if dataset else {},
    )
    qnn.finish(qnn._inputs(example_input))
    return qnn


def load_qnn(path: str | os.PathLike[str]) -> QNN:
    """A network saved by :meth:`QNN.save` (:mod:`memsim.qnn.modelfile`; nothing in the file is executed).

    Raises
    ------
    ModelFileError
        Naming the file and what is wrong with it.
    """
    parts = modelfile.read_qnn(path)
    module = parts["module"]
    layers = [_Layer(name, module.get_submodule(name), q, q.packed().words) for name, q in parts["stored"]]
    net = QNN(module, layers, parts["input_shape"], parts["mean"], parts["std"], None, parts["arch"], parts["metadata"])
    net.finish(torch.zeros(1, *net.input_shape))
    return net


def _channels(value: Sequence[float] | float | None, label: str) -> list[float] | None:
    if value is None:
        return None
    values = [float(v) for v in np.atleast_1d(np.asarray(value, dtype=np.float64))]
    if not values or not all(math.isfinite(v) for v in values) or (label == "std" and min(values) <= 0):
        raise ConfigError(f"{label} must be finite numbers{' > 0' if label == 'std' else ''}, got {value!r}")
    return values


def _as_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return x.float() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


class QNN:
    """A torch network with m-bit weights in an approximate memory (build it with :func:`from_torch`).

    The same protocol as :class:`~memsim.BNN` where the experiment layer needs it:
    :meth:`store_weights`, :meth:`forward`, :meth:`predict`, :attr:`n_weight_bits`, :attr:`layer_ops`.
    Inputs are float tensors or arrays as the module takes them; uint8 images are scaled to
    [0, 1] (``x / 255``).
    """

    def __init__(
        self,
        module: nn.Module,
        layers: list[_Layer],
        input_shape: tuple[int, ...],
        mean: list[float] | None = None,
        std: list[float] | None = None,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        arch: str = "qnn",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.module = module
        self.layers = layers
        self.input_shape = input_shape
        self.mean, self.std, self.preprocess = mean, std, preprocess
        self.arch = arch
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._ops: list[int] = []
        self.n_classes = 0

    def finish(self, example: torch.Tensor) -> None:
        """Run ``example`` (model inputs) once: count each stored layer's MACs and the outputs."""
        self._ops, self.n_classes = self._count_ops(example)

    @property
    def bits(self) -> int:
        """Bits per stored weight (the widest layer's, if they differ)."""
        return max(layer.q.bits for layer in self.layers)

    @property
    def compute_pj_per_op(self) -> float:
        """Energy of one multiply-accumulate at this precision, in pJ (:func:`~memsim.memory.energy.mac_pj`)."""
        return mac_pj(self.bits)

    @property
    def n_weight_bits(self) -> int:
        """Bits of every stored weight: m per weight."""
        return sum(layer.q.nbits for layer in self.layers)

    def layer_ops(self) -> list[int]:
        """Multiply-accumulates per image of each stored layer, in module order."""
        return list(self._ops)

    def weight_names(self, prefix: str = "") -> list[str]:
        """The memory's array names of the stored layers, in module order."""
        return [f"{prefix}{layer.name}.weight" for layer in self.layers]

    def store_weights(self, memory: Any, prefix: str = "") -> list[str]:
        """Write every stored layer's packed codes into ``memory``; returns their names."""
        for name, layer in zip(self.weight_names(prefix), self.layers, strict=True):
            memory.store(name, layer.q.packed())
        return self.weight_names(prefix)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the network to a model file (:func:`memsim.qnn.modelfile.save_qnn`)."""
        modelfile.save_qnn(self, path)

    def _count_ops(self, x: torch.Tensor) -> tuple[list[int], int]:
        ops: list[int] = []

        def count(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
            weight = module.weight
            assert isinstance(weight, torch.Tensor)
            per_output = weight[0].numel()  # inputs of one output (in / groups x kernel)
            ops.append(int(out[0].numel()) * int(per_output))

        handles = [layer.module.register_forward_hook(count) for layer in self.layers]
        try:
            with torch.no_grad():
                out = self.module(x[:1])
        except Exception as err:  # the module's own error on this input, in one line
            raise ConfigError(
                f"the network does not run on the example input of shape {tuple(x.shape)}: "
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            ) from None
        finally:
            for h in handles:
                h.remove()
        if len(ops) != len(self.layers):
            raise ConfigError("a stored layer runs more or less than once per forward; memsim needs each once")
        if not isinstance(out, torch.Tensor) or out.dim() < 2:
            raise ConfigError("the network must return one tensor of scores (N, classes)")
        return ops, int(out.shape[-1])

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        images: torch.Tensor | np.ndarray,
        memory: Any = None,
        granularity: ReadGranularity | str = ReadGranularity.PER_SAMPLE,
        seed: int = 0,
        first_index: int = 0,
        batch_size: int = 256,
        prefix: str = "",
    ) -> np.ndarray:
        """The network's outputs, float32 ``(N, ...)``; with ``memory``, each image's weights read afresh.

        Image ``k`` of the call is image ``first_index + k`` of the set: its reads are keyed by that
        index and ``seed`` (``per_sample``), or by its batch ``(first_index + k) // batch_size``
        (``per_batch``), so any split of the images into calls gives the same outputs.
        """
        x = self._inputs(images)
        gran = parse_granularity(granularity)
        if gran not in (ReadGranularity.PER_SAMPLE, ReadGranularity.PER_BATCH):
            raise ConfigError(f"granularity {gran.value!r}: a QNN reads per_sample or per_batch")
        seed = resolve_seed(seed, "seed")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        outs = []
        for j0 in range(0, len(x), batch_size):
            xb = x[j0 : j0 + batch_size]
            first = first_index + j0
            if memory is None:
                with torch.no_grad():
                    outs.append(self.module(xb))
                continue
            if gran is ReadGranularity.PER_BATCH:  # a call's images of one batch are contiguous
                batch_of = np.arange(first, first + len(xb), dtype=np.int64) // batch_size
                ids, starts = np.unique(batch_of, return_index=True)
                reads = ReadSet.batches(ids, seed)
                served = np.append(starts, len(xb)).astype(np.int64)
            else:
                reads = ReadSet.images(first, len(xb), seed, gran)
                served = np.arange(len(xb) + 1, dtype=np.int64)
            with self._corrections(memory, reads, served, prefix), torch.no_grad():
                outs.append(self.module(xb))
        if not outs:
            return np.zeros((0,), dtype=np.float32)
        return torch.cat(outs).numpy()

    def predict(
        self, images: torch.Tensor | np.ndarray, in_memory: str | Collection[str] = ("weights",), **kwargs: Any
    ) -> np.ndarray:
        """Class predictions (argmax of :meth:`forward` over the last axis); the memory holds the weights."""
        parts = {in_memory} if isinstance(in_memory, str) else set(in_memory)
        if parts - {"weights"}:
            raise ConfigError(f"in_memory {sorted(parts)}: a torch network's memory holds its weights only")
        return np.asarray(self.forward(images, **kwargs).argmax(-1))

    def _inputs(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Model inputs of a batch: uint8 images scaled to [0, 1], laid out as the model takes them, normalised."""
        arr = images if isinstance(images, torch.Tensor) else np.asarray(images)
        if isinstance(arr, np.ndarray) and arr.dtype == np.uint8:
            x = torch.tensor(arr, dtype=torch.float32) / 255.0  # a copy: data sets are read-only arrays
        else:
            x = _as_tensor(arr)
        shape = tuple(x.shape[1:])
        if self.input_shape and shape != self.input_shape:
            if x.dim() == 3 and self.input_shape == (1, *shape):  # (N, H, W) grey images
                x = x[:, None]
            elif x.dim() == 4 and self.input_shape == (shape[2], shape[0], shape[1]):  # (N, H, W, C)
                x = x.permute(0, 3, 1, 2).contiguous()
            else:
                raise ConfigError(f"inputs of shape {shape} do not match the model's input shape {self.input_shape}")
        if self.mean is not None or self.std is not None:
            view = (1, -1, *([1] * (x.dim() - 2)))
            if self.mean is not None:
                x = x - torch.tensor(self.mean, dtype=torch.float32).view(view)
            if self.std is not None:
                x = x / torch.tensor(self.std, dtype=torch.float32).view(view)
        return self.preprocess(x) if self.preprocess is not None else x

    @contextmanager
    def _corrections(self, memory: Any, reads: ReadSet, first: np.ndarray, prefix: str) -> Iterator[None]:
        """Forward hooks that add each image's correction to every stored layer's output.

        Every read of a layer starts from the same words (the stored codes, or a chip's with its
        stuck cells); where those differ from the clean codes the layer runs on them for the
        whole batch, so the corrections are only each read's own flips.
        """
        handles, restore = [], []
        images = int(first[-1] - first[0])
        try:
            for name, layer in zip(self.weight_names(prefix), self.layers, strict=True):
                served = _layer_flips(memory, name, layer, reads)
                if len(reads) == 1 and images > 1:
                    # One read serves every image here (a batch's pattern): where its flips times the images they
                    # would correct outnumber the weights, the layer runs once on the read's weights instead.
                    offsets, bits = served.lists(layer.q.nbits)
                    if bits.size * images > layer.q.codes.size:
                        words = served.base.copy()
                        np.bitwise_xor.at(words, bits >> 6, np.left_shift(np.uint64(1), (bits & 63).astype(np.uint64)))
                        restore.append((layer, layer.module.weight.detach().clone()))
                        with torch.no_grad():
                            layer.module.weight.copy_(torch.from_numpy(_weights_of(layer, words)))
                        continue
                    served = _Served(served.base, None, served.events, offsets, bits)
                if served.base is not layer.words and not np.array_equal(served.base, layer.words):
                    restore.append((layer, layer.module.weight.detach().clone()))
                    with torch.no_grad():
                        layer.module.weight.copy_(torch.from_numpy(_weights_of(layer, served.base)))
                handles.append(layer.module.register_forward_hook(_hook(layer, served, first)))
            yield
        finally:
            for h in handles:
                h.remove()
            with torch.no_grad():
                for layer, weight in restore:
                    layer.module.weight.copy_(weight)

    # ------------------------------------------------------------------ the naive twin
    def materialize(
        self,
        memory: Any = None,
        index: int = 0,
        seed: int = 0,
        granularity: ReadGranularity | str = ReadGranularity.PER_SAMPLE,
        batch_size: int = 256,
        prefix: str = "",
    ) -> nn.Module:
        """A copy of the module holding the dequantized weights image ``index`` of trial ``seed`` read.

        Without ``memory``, the clean quantized weights. The reads are those :meth:`forward` makes
        for that image (the same keys), so ``materialize(...)(x[i:i+1])`` is image ``i``'s output.
        """
        module = copy.deepcopy(self.module)
        if memory is None:
            return module
        gran = parse_granularity(granularity)
        if gran is ReadGranularity.PER_BATCH:
            reads = ReadSet.batches([index // batch_size], resolve_seed(seed, "seed"))
        else:
            reads = ReadSet.images(index, 1, resolve_seed(seed, "seed"), gran)
        stored = {n: m for n, m in module.named_modules()}
        for name, layer in zip(self.weight_names(prefix), self.layers, strict=True):
            served = _layer_flips(memory, name, layer, reads)
            bits = served.lists(layer.q.nbits)[1]
            words = served.base.copy()
            np.bitwise_xor.at(words, bits >> 6, np.left_shift(np.uint64(1), (bits & 63).astype(np.uint64)))
            with torch.no_grad():
                stored[layer.name].weight.copy_(torch.from_numpy(_weights_of(layer, words)))
        return module

    def __repr__(self) -> str:
        q = self.layers[0].q
        return (
            f"QNN({type(self.module).__name__}: {len(self.layers)} stored layers, {q.bits}-bit {q.scheme}, "
            f"{self.n_weight_bits} weight bits)"
        )


# ---------------------------------------------------------------------- corrections
@dataclass
class _Served:
    """What a block of reads of one layer got: the words every read starts from, and its flips.

    ``law`` (flips drawn as the corrections go) or the flips as lists ``bits[offsets[r]:offsets[r + 1]]``.
    """

    base: np.ndarray
    law: FlipLaw | None
    events: np.ndarray
    offsets: np.ndarray | None = None
    bits: np.ndarray | None = None

    def lists(self, nbits: int) -> tuple[np.ndarray, np.ndarray]:
        """The flips as (offsets, bit numbers)."""
        if self.law is not None:
            return flip_bits(self.law, nbits, self.events)
        assert self.offsets is not None and self.bits is not None
        return self.offsets, self.bits


def _layer_flips(memory: Any, name: str, layer: _Layer, reads: ReadSet) -> _Served:
    """What every read of a layer starts from, and each read's flipped bits.

    A memory that serves the reads as independent flips (:class:`~memsim.memory.reads.SymmetricFlips`)
    or as a :class:`~memsim.memory.reads.FlipLaw` (every built-in fault model) has its flips drawn
    one by one (:mod:`memsim.memory.sparse`); any other fault model's reads are read as words and
    compared with the stored ones.
    """
    events = reads.events()
    sym = memory.symmetric_flips(name, reads)
    law = FlipLaw(layer.words, None, sym.p, sym.p, sym.key) if sym is not None else memory.flip_law(name, reads)
    if law is not None:
        return _Served(np.asarray(law.words), law, events)
    diff = np.asarray(memory.read_words(name, reads)) ^ layer.words[None, :]
    offsets, parts = [0], []
    for row in diff:
        hit = np.nonzero(row)[0]
        bits_of = np.unpackbits(row[hit].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        k, b = np.nonzero(bits_of)
        parts.append(hit[k] * 64 + b)
        offsets.append(offsets[-1] + k.size)
    bits = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
    return _Served(layer.words, None, events, np.asarray(offsets, dtype=np.int64), bits)


def _weights_of(layer: _Layer, words: np.ndarray) -> np.ndarray:
    """The dequantized weights (float32, the layer's shape) of packed ``words``."""
    q = layer.q
    return q.dequantize(unpack_codes(words, int(q.codes.size), q.bits).reshape(q.shape))


def _hook(layer: _Layer, served: _Served, first: np.ndarray) -> Callable[..., torch.Tensor]:
    """A forward hook adding to image ``k`` the corrections of the read serving it (``first``)."""
    q = layer.q
    # a binary weight moves by 2 scale when its bit flips: the kernels' step of 2^0 times 2 scale
    scale = np.ascontiguousarray(q.scale * (2.0 if q.scheme == "binary" else 1.0), dtype=np.float64).ravel()
    per_channel = q.codes.size // scale.size
    symmetric = q.scheme == "symmetric"
    words = np.ascontiguousarray(served.base, dtype=np.uint64)
    law = served.law
    if law is not None:
        gap_scale, a01, a10 = walk_params(law)
        if gap_scale < 0.0:  # nothing flips
            return lambda mod, args, out: out
        has_free = law.free is not None
        free = np.ascontiguousarray(law.free if has_free else np.zeros(0, dtype=np.uint64), dtype=np.uint64)
        walk = (free, has_free, np.int64(q.nbits), gap_scale, a01, a10, *(np.uint64(k) for k in law.key), served.events)
    elif served.bits is not None and served.bits.size == 0:
        return lambda mod, args, out: out
    quant = (first, q.bits, symmetric, scale, per_channel)

    def hook(mod: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
        x, out = args[0].detach(), out.detach().clone().contiguous()
        n = x.shape[0]
        if isinstance(mod, nn.Linear):
            xn = x.contiguous().numpy().reshape(n, -1, mod.in_features)
            on = out.numpy().reshape(n, -1, mod.out_features)
            if law is not None:
                kernels.linear_walk(xn, on, words, *walk, *quant)  # type: ignore[call-arg]
            else:
                kernels.linear_list(xn, on, words, served.offsets, served.bits, *quant)
            return out
        assert isinstance(mod, (nn.Conv1d, nn.Conv2d))
        padding: tuple[int, ...] = tuple(mod.padding)  # type: ignore[arg-type]
        pads = [p for p in reversed(padding) for _ in range(2)]
        xp = (F.pad(x, pads) if any(pads) else x).contiguous().numpy()
        on = out.numpy()
        kernel, stride, dilation = (tuple(v) for v in (mod.kernel_size, mod.stride, mod.dilation))
        if isinstance(mod, nn.Conv1d):  # a 1-d convolution as a 2-d one of height 1
            xp, on = xp[:, :, None, :], on[:, :, None, :]
            kernel, stride, dilation = (1, *kernel), (1, *stride), (1, *dilation)
        c_out, c_in_g = mod.weight.shape[:2]
        geometry = np.array([*kernel, *stride, *dilation, c_in_g, c_out // mod.groups], dtype=np.int64)
        if law is not None:
            kernels.conv_walk(xp, on, words, *walk, *quant, geometry)  # type: ignore[call-arg]
        else:
            kernels.conv_list(xp, on, words, served.offsets, served.bits, *quant, geometry)
        return out

    return hook
