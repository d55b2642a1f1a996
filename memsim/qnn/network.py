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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memsim.errors import ConfigError
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.memory.quant import Quantized, quantize, unpack_codes
from memsim.memory.reads import ReadSet, resolve_seed

__all__ = ["QNN", "from_torch"]

#: Module kinds whose weights the memory holds.
STORED = (nn.Linear, nn.Conv1d, nn.Conv2d)
#: Module kinds whose own parameters stay exact (they are small: affine per channel).
EXACT = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


@dataclass
class _Layer:
    name: str  # the module's path in the network, e.g. "features.0"
    module: nn.Module
    q: Quantized
    words: np.ndarray  # the clean packed codes, as the memory holds them


def from_torch(
    module: nn.Module,
    example_input: torch.Tensor | np.ndarray,
    bits: int = 8,
    scheme: str = "symmetric",
    per_channel: bool = False,
    clip: float | tuple[float, float] | None = None,
) -> QNN:
    """A :class:`QNN` of ``module`` with its Linear and Conv weights quantized to ``bits`` bits.

    Parameters
    ----------
    module : torch.nn.Module
        Any network; it is copied (the original is left as it is) and put in eval mode.
    example_input : tensor or ndarray
        One batch of inputs as the module takes them (float), to check the network runs and to
        count its multiply-accumulates.
    bits, scheme, per_channel, clip
        As for :func:`memsim.memory.quant.quantize`.

    Raises
    ------
    ConfigError
        For a layer whose weights cannot be stored (naming it and its kind), a convolution with
        a padding mode other than zeros, or an input the module cannot run.
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    net = copy.deepcopy(module).eval()
    layers = []
    for name, sub in net.named_modules():
        if isinstance(sub, STORED):
            if isinstance(sub, (nn.Conv1d, nn.Conv2d)) and sub.padding_mode != "zeros":
                raise ConfigError(
                    f"layer {name!r} ({type(sub).__name__}): padding_mode {sub.padding_mode!r}; "
                    "only 'zeros' is supported"
                )
            if isinstance(sub, (nn.Conv1d, nn.Conv2d)) and isinstance(sub.padding, str):
                raise ConfigError(f"layer {name!r}: padding {sub.padding!r}; give the padding as numbers")
            q = quantize(sub.weight.detach().cpu().numpy(), bits, scheme, per_channel, clip)
            with torch.no_grad():
                sub.weight.copy_(torch.from_numpy(q.dequantize()))
            layers.append(_Layer(name, sub, q, q.packed().words))
        elif not isinstance(sub, EXACT) and any(p.dim() >= 2 for p in sub.parameters(recurse=False)):
            raise ConfigError(
                f"layer {name!r} ({type(sub).__name__}) holds weights memsim cannot store; the memory holds "
                f"the weights of {', '.join(k.__name__ for k in STORED)}"
            )
    if not layers:
        raise ConfigError(f"{type(module).__name__} has no Linear or Conv layer: nothing to store")
    qnn = QNN(net, layers)
    qnn.layer_ops = qnn._count_ops(_as_tensor(example_input))
    return qnn


def _as_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return x.float() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


class QNN:
    """A torch network with m-bit weights in an approximate memory (build it with :func:`from_torch`).

    The same protocol as :class:`~memsim.BNN` where the experiment layer needs it:
    :meth:`store_weights`, :meth:`forward`, :meth:`predict`, :attr:`n_weight_bits`, :attr:`layer_ops`.
    Inputs are float tensors or arrays as the module takes them; uint8 images are scaled to
    [0, 1] (``x / 255``).
    """

    def __init__(self, module: nn.Module, layers: list[_Layer]) -> None:
        self.module = module
        self.layers = layers
        self.layer_ops: list[int] = []

    @property
    def n_weight_bits(self) -> int:
        """Bits of every stored weight: m per weight."""
        return sum(layer.q.nbits for layer in self.layers)

    def weight_names(self, prefix: str = "") -> list[str]:
        """The memory's array names of the stored layers, in module order."""
        return [f"{prefix}{layer.name}.weight" for layer in self.layers]

    def store_weights(self, memory: Any, prefix: str = "") -> list[str]:
        """Write every stored layer's packed codes into ``memory``; returns their names."""
        for name, layer in zip(self.weight_names(prefix), self.layers, strict=True):
            memory.store(name, layer.q.packed())
        return self.weight_names(prefix)

    def _count_ops(self, x: torch.Tensor) -> list[int]:
        ops: list[int] = []

        def count(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
            weight = module.weight
            assert isinstance(weight, torch.Tensor)
            per_output = weight[0].numel()  # inputs of one output (in / groups x kernel)
            ops.append(int(out[0].numel()) * int(per_output))

        handles = [layer.module.register_forward_hook(count) for layer in self.layers]
        try:
            with torch.no_grad():
                self.module(x[:1])
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
        return ops

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
            index = np.arange(first, first + len(xb), dtype=np.int64)
            if gran is ReadGranularity.PER_BATCH:
                batch_ids = index // batch_size
                ids, row = np.unique(batch_ids, return_inverse=True)
                reads = ReadSet.batches(ids, seed)
            else:
                row = np.arange(len(xb))
                reads = ReadSet.images(first, len(xb), seed, gran)
            with self._corrections(memory, reads, row, prefix), torch.no_grad():
                outs.append(self.module(xb))
        if not outs:
            return np.zeros((0,), dtype=np.float32)
        return torch.cat(outs).numpy()

    def predict(self, images: torch.Tensor | np.ndarray, **kwargs: Any) -> np.ndarray:
        """Class predictions (argmax of :meth:`forward` over the last axis)."""
        return np.asarray(self.forward(images, **kwargs).argmax(-1))

    def _inputs(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        arr = images if isinstance(images, torch.Tensor) else np.asarray(images)
        if isinstance(arr, np.ndarray) and arr.dtype == np.uint8:
            return torch.as_tensor(arr, dtype=torch.float32) / 255.0
        return _as_tensor(arr)

    @contextmanager
    def _corrections(self, memory: Any, reads: ReadSet, row: np.ndarray, prefix: str) -> Iterator[None]:
        """Forward hooks that add each image's correction to every stored layer's output."""
        handles = []
        for name, layer in zip(self.weight_names(prefix), self.layers, strict=True):
            flips = _flipped(memory.read_words(name, reads), layer)
            handles.append(layer.module.register_forward_hook(_hook(layer, flips, row)))
        try:
            yield
        finally:
            for h in handles:
                h.remove()

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
            codes = unpack_codes(memory.read_words(name, reads), int(layer.q.codes.size), layer.q.bits)
            weights = layer.q.dequantize(codes.reshape(layer.q.shape))
            with torch.no_grad():
                stored[layer.name].weight.copy_(torch.from_numpy(weights))
        return module

    def __repr__(self) -> str:
        q = self.layers[0].q
        return (
            f"QNN({type(self.module).__name__}: {len(self.layers)} stored layers, {q.bits}-bit {q.scheme}, "
            f"{self.n_weight_bits} weight bits)"
        )


# ---------------------------------------------------------------------- corrections
@dataclass
class _Flips:
    """The weights a block of reads got wrong: read row, flat weight index, and weight change."""

    read: np.ndarray
    weight: np.ndarray
    delta: np.ndarray


def _flipped(words: np.ndarray, layer: _Layer) -> _Flips:
    """Which weights each read got wrong, and by how much (dequantized units)."""
    diff = np.asarray(words) != layer.words[None, :]
    r_idx, w_idx = np.nonzero(diff)
    if r_idx.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Flips(empty, empty, np.zeros(0, dtype=np.float32))
    q = layer.q
    m = q.bits
    changed = np.asarray(words)[r_idx, w_idx] ^ layer.words[w_idx]
    # every flipped bit names its weight; a weight with several flipped bits counts once
    bit_rows, bit_pos = [], []
    for b in range(64):
        hit = (changed >> np.uint64(b)) & np.uint64(1) == 1
        if hit.any():
            bit_rows.append(r_idx[hit])
            bit_pos.append(w_idx[hit].astype(np.int64) * 64 + b)
    rows, bits = np.concatenate(bit_rows), np.concatenate(bit_pos)
    weight = bits // m
    keep = weight < q.codes.size  # padding bits of the last word hold no weight
    pairs = np.unique(np.stack([rows[keep], weight[keep]]), axis=1)
    read, weight = pairs[0], pairs[1]
    new = _codes_at(np.asarray(words), read, weight, m)
    old = q.codes.ravel()[weight].astype(np.int64)
    channel = weight // (q.codes.size // q.shape[0])
    delta = _value(q, new, channel) - _value(q, old, channel)
    return _Flips(read, weight, delta.astype(np.float32))


def _codes_at(words: np.ndarray, read: np.ndarray, weight: np.ndarray, m: int) -> np.ndarray:
    """The m-bit codes of ``weight`` in rows ``read`` of packed ``words`` (a code may straddle two words)."""
    start = weight * m
    w0, r = start // 64, (start % 64).astype(np.uint64)
    lo = words[read, w0] >> r
    spill = (r + np.uint64(m)) > np.uint64(64)
    hi = np.zeros_like(lo)
    if spill.any():
        nxt = words[read[spill], w0[spill] + 1]
        hi[spill] = nxt << (np.uint64(64) - r[spill])
    return ((lo | hi) & np.uint64((1 << m) - 1)).astype(np.int64)


def _value(q: Quantized, codes: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """Dequantized values of codes of the given output channels (float64)."""
    c = codes.astype(np.int64)
    if q.scheme == "symmetric":
        c = np.where(c >= 1 << (q.bits - 1), c - (1 << q.bits), c)
    scale = q.scale[channel] if q.scale.size > 1 else q.scale[0]
    zero = q.zero_point[channel] if q.zero_point.size > 1 else q.zero_point[0]
    return np.asarray(scale * (c - zero), dtype=np.float64)


def _hook(layer: _Layer, flips: _Flips, row: np.ndarray) -> Callable[..., torch.Tensor]:
    """A forward hook adding, to output image ``k``, the corrections of read ``row[k]``.

    ``per_sample`` reads serve one image each; a ``per_batch`` read serves every image of its batch.
    """
    served = [np.nonzero(row == r)[0] for r in flips.read]  # the images each flip's read serves
    counts = np.array([len(i) for i in served], dtype=np.int64)
    img = torch.from_numpy(np.concatenate(served).astype(np.int64)) if served else torch.zeros(0, dtype=torch.long)
    w = np.repeat(flips.weight, counts)
    d = torch.from_numpy(np.repeat(flips.delta, counts))

    def hook(mod: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
        if img.numel() == 0:
            return out
        x, out = args[0], out.clone()
        if isinstance(mod, nn.Linear):  # out[k, ..., o] += d x[k, ..., j]
            o, j = torch.from_numpy(w // mod.in_features), torch.from_numpy(w % mod.in_features)
            vals = x[img, ..., j] * d.view(-1, *([1] * (x.dim() - 2)))
            out.movedim(-1, 1).index_put_((img, o), vals, accumulate=True)
            return out
        assert isinstance(mod, (nn.Conv1d, nn.Conv2d))
        return _conv_correction(mod, x, out, img, w, d)

    return hook


def _conv_correction(
    mod: nn.Conv1d | nn.Conv2d, x: torch.Tensor, out: torch.Tensor, img: torch.Tensor, w: np.ndarray, d: torch.Tensor
) -> torch.Tensor:
    """Add ``d`` times each flipped weight's input slice (its tap, shifted and strided) to its output channel."""
    dims = 2 if isinstance(mod, nn.Conv2d) else 1
    c_out, c_in_g, *kernel = mod.weight.shape
    per_group = c_out // mod.groups
    o, rest = np.divmod(w, c_in_g * math.prod(kernel))
    c, tap = np.divmod(rest, math.prod(kernel))
    cin = (o // per_group) * c_in_g + c
    padding: tuple[int, ...] = tuple(mod.padding)  # type: ignore[arg-type]
    pads = [p for p in reversed(padding) for _ in range(2)]
    xp = F.pad(x, pads) if any(pads) else x
    spatial = out.shape[2:]
    taps = np.stack(np.unravel_index(tap, kernel), axis=1) if dims == 2 else tap[:, None]
    for t in np.unique(taps, axis=0):
        hit = np.nonzero(np.all(taps == t, axis=1))[0]
        index = [slice(None), slice(None)]
        for k in range(dims):
            start = int(t[k]) * mod.dilation[k]
            stop = start + mod.stride[k] * (spatial[k] - 1) + 1
            index.append(slice(start, stop, mod.stride[k]))
        window = xp[tuple(index)]  # (N, C_in, *spatial): what tap t of every output position sees
        sel = torch.from_numpy(hit)
        vals = window[img[sel], torch.from_numpy(cin[hit])] * d[sel].view(-1, *([1] * dims))
        out.index_put_((img[sel], torch.from_numpy(o[hit])), vals, accumulate=True)
    return out
