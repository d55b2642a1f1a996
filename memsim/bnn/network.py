"""BNN: a binarized network whose weights are read from clean arrays or an approximate memory."""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim import config
from memsim.bits import PackedBits, n_words, pack_bits
from memsim.bnn import convkernels, kernels
from memsim.bnn.architectures import ARCHITECTURES, INPUT_THRESHOLD, layer_shapes, resolve_architecture
from memsim.bnn.fastpath import fire_limit
from memsim.bnn.layers import (
    Conv,
    Dense,
    Layer,
    clean_layer,
    conv_block,
    epilogue,
    is_output,
    neuron_major,
    words_for_kernel,
)
from memsim.bnn.readpaths import MemoryReads
from memsim.bnn.source import WeightSource
from memsim.errors import ConfigError, ModelFileError
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.energy import COMPUTE_PJ_PER_OP
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.memory.reads import ReadSet, resolve_seed

__all__ = ["BNN", "IN_MEMORY_PARTS", "THRESHOLD_DTYPES", "in_memory_label", "parse_in_memory"]

#: What of a network an approximate memory can hold: the weight bits and the hidden layers' integer thresholds.
IN_MEMORY_PARTS = ("weights", "thresholds")
#: Word types a threshold can be stored as (every bit of the word can flip, the sign bit included).
THRESHOLD_DTYPES = ("int16", "int32")


def parse_in_memory(value: str | Collection[str]) -> frozenset[str]:
    """The parts read from the memory: ``"weights"``, ``"thresholds"``, both (``"weights,thresholds"``).

    Raises
    ------
    ConfigError
        For an empty selection or an unknown part.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    parts = frozenset(str(p).strip() for p in items if str(p).strip())
    unknown = sorted(parts - set(IN_MEMORY_PARTS))
    if unknown or not parts:
        raise ConfigError(
            f"in_memory must name one or both of {', '.join(IN_MEMORY_PARTS)} (comma-separated), got {value!r}"
        )
    return parts


def in_memory_label(value: str | Collection[str]) -> str:
    """The canonical comma form of :func:`parse_in_memory`'s parts: ``weights``, ``thresholds`` or both."""
    parts = parse_in_memory(value)
    return ",".join(p for p in IN_MEMORY_PARTS if p in parts)


@dataclass
class BNN(MemoryReads):
    """A binarized neural network (weights and activations +-1, stored as bits 1 <-> +1).

    Build one with :meth:`random`, :func:`memsim.load_model` or :meth:`load`.

    Attributes
    ----------
    arch : str
        Architecture name (``fashion-fcnn``, ``fashion-cnn``, ``cifar10-cnn`` or custom).
    input_shape : tuple of int
        ``(C, H, W)`` of the input images.
    input_threshold : ndarray of uint8, shape (C,)
        A pixel binarizes to +1 iff its value is greater than its channel's threshold.
    layers : list of Conv or Dense
        The layers, the last a :class:`Dense` output layer without threshold.
    metadata : dict
        Training metadata (loss, b, training BER, epochs, seed, dataset, clean accuracy...).
    """

    arch: str
    input_shape: tuple[int, int, int]
    input_threshold: np.ndarray
    layers: list[Layer]
    metadata: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------- construction
    @classmethod
    def random(cls, arch: str, seed: int | None = 0, input_threshold: int = INPUT_THRESHOLD) -> BNN:
        """A network of a named architecture with random weights and thresholds (for tests and benchmarks).

        Thresholds are drawn within about one standard deviation of a neuron's
        pre-activation around 0, and about 1 in 8 neurons has an inverted comparison.

        Parameters
        ----------
        arch : str
            A name in :data:`~memsim.bnn.architectures.ARCHITECTURES`, or an architecture file
            (YAML or JSON, :mod:`memsim.bnn.architectures`).
        seed : int or None
            Seed of the weights and thresholds.
        input_threshold : int
            Pixel value above which an input bit is +1.
        """
        arch = resolve_architecture(arch)
        shapes = layer_shapes(arch)
        rng = np.random.default_rng(None if seed is None else resolve_seed(seed, "seed"))
        layers: list[Layer] = []
        for i, shape in enumerate(shapes):
            if shape.kind == "conv":
                thr, inv = _random_threshold(rng, 9 * shape.c_in, shape.n_out)
                bits = _random_bits(rng, shape.nbits)
                layers.append(Conv(shape.c_in, shape.n_out, shape.padding, shape.pool, bits, thr, inv))
                continue
            last = i == len(shapes) - 1
            thr_d, inv_d = (None, None) if last else _random_threshold(rng, shape.c_in, shape.n_out)
            layers.append(Dense(shape.c_in, shape.n_out, shape.in_shape, _random_bits(rng, shape.nbits), thr_d, inv_d))
        input_shape = ARCHITECTURES[arch]["input_shape"]
        threshold = np.full(input_shape[0], input_threshold, np.uint8)
        net = cls(arch, input_shape, threshold, layers, {"source": "random", "seed": seed})
        net.validate()
        return net

    def validate(self, source: str = "<BNN>") -> None:
        """Check that consecutive layers fit together; raise :class:`ModelFileError` naming the layer."""
        c, h, w = self.input_shape
        if len(self.input_threshold) != c:
            raise ModelFileError(f"{source}: input_threshold has {len(self.input_threshold)} values for {c} channels")
        flat: int | None = None
        if not self.layers:
            raise ModelFileError(f"{source}: the network has no layers")
        for i, layer in enumerate(self.layers):
            where = f"{source}: layer {i} ({layer.kind})"
            if isinstance(layer, Conv):
                if flat is not None:
                    raise ModelFileError(f"{where}: a convolution cannot follow a dense layer")
                if layer.c_in != c:
                    raise ModelFileError(f"{where}: expects {layer.c_in} input channels, the previous layer gives {c}")
                if layer.padding not in (0, 1):
                    raise ModelFileError(f"{where}: padding {layer.padding} is not supported (0 or 1)")
                h, w = layer.output_hw(h, w)
                if h < 1 or w < 1:
                    raise ModelFileError(f"{where}: the feature map vanishes ({h}x{w})")
                c = layer.c_out
                out = layer.c_out
            else:
                expected = (flat,) if flat is not None else ((h, w, c) if i else (c * h * w,))
                if tuple(layer.in_shape) != tuple(expected):
                    raise ModelFileError(
                        f"{where}: input shape {tuple(layer.in_shape)} does not match the previous layer's output "
                        f"{tuple(expected)}"
                    )
                flat = layer.n_out
                out = layer.n_out
                if layer.is_output != (i == len(self.layers) - 1):
                    raise ModelFileError(f"{where}: only the last layer is an output layer (no threshold)")
            if layer.weights.dtype != np.uint64 or layer.weights.size != n_words(layer.nbits):
                raise ModelFileError(
                    f"{where}: weights hold {layer.weights.size} words; {layer.shape} needs {n_words(layer.nbits)}"
                )
            if layer.threshold is not None:
                if layer.threshold.shape != (out,) or layer.invert is None or layer.invert.shape != (out,):
                    got = layer.threshold.shape[0] if layer.threshold.ndim == 1 else layer.threshold.shape
                    raise ModelFileError(f"{where}: thresholds must have length {out} (one per neuron), got {got}")
        if not isinstance(self.layers[-1], Dense):
            raise ModelFileError(f"{source}: the last layer must be a dense output layer")

    # --------------------------------------------------------------- weights
    @property
    def n_classes(self) -> int:
        """Neurons of the output layer."""
        last = self.layers[-1]
        if not isinstance(last, Dense):
            raise ModelFileError("the last layer must be a dense output layer")
        return last.n_out

    @property
    def compute_pj_per_op(self) -> float:
        """Energy of one XNOR-popcount bit operation, in pJ (:data:`~memsim.memory.energy.COMPUTE_PJ_PER_OP`)."""
        return COMPUTE_PJ_PER_OP

    @property
    def n_weight_bits(self) -> int:
        """Total number of weight bits."""
        return sum(layer.nbits for layer in self.layers)

    def layer_ops(self) -> list[int]:
        """XNOR-popcount bit operations of each layer for one image.

        A convolution does ``9 c_in`` per output channel and position (before pooling; the
        padded border's missing inputs are counted too, as a fixed-size array computes them);
        a dense layer ``n_in`` per neuron.
        """
        ops = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Conv):
                ops.append(self._conv_positions(i) * layer.c_out * 9 * layer.c_in)
            else:
                ops.append(layer.n_in * layer.n_out)
        return ops

    def weight_names(self, prefix: str = "") -> list[str]:
        """Names under which :meth:`store_weights` stores each layer."""
        return [f"{prefix}layer{i}" for i in range(len(self.layers))]

    def store_weights(self, memory: ApproximateMemory, prefix: str = "") -> list[str]:
        """Write every layer's weights into ``memory`` (as ``layer0``, ``layer1``, ...); returns the names."""
        names = self.weight_names(prefix)
        for name, layer in zip(names, self.layers, strict=True):
            memory.store(name, PackedBits(layer.weights.copy(), layer.nbits, layer.shape))
        return names

    def threshold_names(self, prefix: str = "") -> list[str]:
        """Names under which :meth:`store_thresholds` stores each hidden layer's thresholds."""
        return [self._threshold_name(prefix, i) for i, layer in enumerate(self.layers) if not is_output(layer)]

    @staticmethod
    def _threshold_name(prefix: str, index: int) -> str:
        return f"{prefix}layer{index}.threshold"

    def store_thresholds(self, memory: ApproximateMemory, prefix: str = "", dtype: str = "int16") -> list[str]:
        """Write every hidden layer's integer thresholds into ``memory`` as ``dtype`` words; returns the names.

        A threshold read from the memory can have any of its bits flipped, the sign bit
        included, so one flip can move it by up to ``2**15`` (int16): :meth:`forward` with
        ``in_memory`` including ``"thresholds"`` reads them per image (per batch with
        ``per_batch``). The ``invert`` flags (the sign of batch norm's scale) stay exact:
        hardware folds them into the comparator.

        Parameters
        ----------
        memory : ApproximateMemory
        prefix : str
            Name prefix, as for :meth:`store_weights`.
        dtype : {"int16", "int32"}
            Word type of a threshold.

        Raises
        ------
        ConfigError
            For another dtype, or a threshold outside its range (named by layer and value).
        """
        if dtype not in THRESHOLD_DTYPES:
            raise ConfigError(f"threshold dtype must be one of {', '.join(THRESHOLD_DTYPES)}, got {dtype!r}")
        info = np.iinfo(dtype)
        words = {}
        for i, layer in enumerate(self.layers):
            if is_output(layer):
                continue
            t = np.asarray(layer.threshold, dtype=np.int64)
            if t.size and (t.min() < info.min or t.max() > info.max):
                bad = int(t.min()) if t.min() < info.min else int(t.max())
                raise ConfigError(
                    f"layer {i}: threshold {bad} does not fit {dtype} (range [{info.min}, {info.max}]); use int32"
                )
            words[self._threshold_name(prefix, i)] = t.astype(dtype)
        for name, values in words.items():  # all checked first: nothing half-stored
            memory.store(name, values)
        return list(words)

    def _clean_kernel_weights(self) -> list[np.ndarray]:
        """Clean weights in kernel layout; dense layers neuron-major (transposed) for the batched kernels."""
        cached = getattr(self, "_kernel_cache", None)
        if cached is None:
            cached = []
            for layer in self.layers:
                words = words_for_kernel(layer, layer.weights)
                # Neuron-major only pays with at least one full group of 64 neurons (not the 10 outputs).
                wide = isinstance(layer, Dense) and neuron_major(layer)
                cached.append(kernels.transpose_dense(words) if wide else words)
            # Built whole, then published once: threads that race build equal lists and all use the first.
            cached = self.__dict__.setdefault("_kernel_cache", cached)
        return cached

    def _fire_limits(self) -> list[np.ndarray | None]:
        """Per hidden dense layer, the largest firing mismatch count ``ceil((n - s) / 2) - 1``."""
        cached = getattr(self, "_fire_cache", None)
        if cached is None:
            cached = [
                fire_limit(layer.n_in, layer.threshold)
                if isinstance(layer, Dense) and layer.threshold is not None
                else None
                for layer in self.layers
            ]
            cached = self.__dict__.setdefault("_fire_cache", cached)
        return cached

    # --------------------------------------------------------------- forward
    def binarize(self, images: np.ndarray) -> np.ndarray:
        """Binarize and pack input images for the first layer.

        Parameters
        ----------
        images : ndarray of uint8
            ``(N, H, W)`` for one channel or ``(N, C, H, W)``.

        Returns
        -------
        ndarray of uint64
            ``(N, nw)`` for a dense first layer, ``(N, H, W, nw_c)`` for a convolution.
        """
        return self._pack(self._check_images(images))

    def _pack(self, imgs: np.ndarray) -> np.ndarray:
        """:meth:`binarize` of checked images ``(N, C, H, W)``."""
        if isinstance(self.layers[0], Dense):
            n = imgs.shape[0]
            flat = imgs.reshape(n, imgs.shape[1], -1)
            return kernels.binarize_flat(flat, self.input_threshold, n_words(self.layers[0].n_in))
        return kernels.binarize_hwc(imgs, self.input_threshold, n_words(self.input_shape[0]))

    def _check_images(self, images: np.ndarray) -> np.ndarray:
        arr = np.asarray(images)
        c, h, w = self.input_shape
        if arr.dtype != np.uint8:
            raise ConfigError(f"images must be uint8 pixels as the data set gives them, got dtype {arr.dtype}")
        if arr.ndim == 3 and c == 1:
            arr = arr[:, None, :, :]
        if arr.ndim != 4 or arr.shape[1:] != (c, h, w):
            want = f"(N, {h}, {w}) or (N, {c}, {h}, {w})" if c == 1 else f"(N, {c}, {h}, {w})"
            raise ConfigError(f"images of shape {np.shape(images)} do not fit {self.arch} ({want})")
        return np.ascontiguousarray(arr)

    def _run_clean(self, x: np.ndarray, spent: np.ndarray | None = None) -> np.ndarray:
        """Integer output pre-activations with the clean weights (batched neuron-major dense kernels).

        ``spent``, if given, gets each layer's seconds added to its entry (where the time goes).
        """
        act = x
        layers = zip(self.layers, self._clean_kernel_weights(), self._fire_limits(), strict=True)
        for i, (layer, w, t_fire) in enumerate(layers):
            start = time.perf_counter()
            act = clean_layer(layer, w, t_fire, act)
            if spent is not None:
                spent[i] += time.perf_counter() - start
        return act

    @staticmethod
    def _dense_clean_h(act: np.ndarray, layer: Dense, w: np.ndarray) -> np.ndarray:
        """Pre-activations of a dense layer with its cached clean weights (either layout)."""
        if not neuron_major(layer):
            return kernels.dense_h(act, w, layer.n_in)
        return layer.n_in - 2 * kernels.dense_mismatch_neuron_major(act, w, layer.n_out)

    def _run(self, x: np.ndarray, weights: Sequence[np.ndarray], thresholds: Sequence[np.ndarray | None]) -> np.ndarray:
        """Integer output pre-activations of packed inputs ``x`` with kernel-layout ``weights`` of one read.

        ``thresholds`` holds per layer the thresholds of that read (None: the layer's own, or no threshold).
        """
        act = x
        for layer, w, s in zip(self.layers, weights, thresholds, strict=True):
            if isinstance(layer, Conv):
                _, act = conv_block(layer, act, w, convkernels.SHARED, s=s)
            else:
                if act.ndim == 4:
                    act = act.reshape(act.shape[0], -1)
                act = epilogue(layer, kernels.dense_h(act, w, layer.n_in), s)
                if layer.is_output:
                    return act
        raise AssertionError("the last layer is an output layer")  # validate() guarantees it

    def hidden(self, images: np.ndarray) -> list[np.ndarray]:
        """Clean integer pre-activations of every layer as its threshold sees them (pooled for pooled convs).

        Returns
        -------
        list of ndarray of int32
            ``(N, H, W, C)`` for convolutions, ``(N, n_out)`` for dense layers.
        """
        act = self.binarize(images)
        out = []
        for layer, w in zip(self.layers, self._clean_kernel_weights(), strict=True):
            if isinstance(layer, Conv):
                h_conv, act = conv_block(layer, act, w, want_h=True)
                assert h_conv is not None
                out.append(h_conv)
            else:
                if act.ndim == 4:
                    act = act.reshape(act.shape[0], -1)
                h = self._dense_clean_h(act, layer, w)
                out.append(h)
                act = epilogue(layer, h)
        return out

    def forward(
        self,
        images: np.ndarray,
        memory: WeightSource | None = None,
        granularity: ReadGranularity | str = "per_sample",
        seed: int | None = 0,
        batch_size: int = 256,
        prefix: str = "",
        fast: bool = True,
        first_index: int = 0,
        in_memory: str | Collection[str] = "weights",
    ) -> np.ndarray:
        """Integer output pre-activations ``h`` (N, classes) of ``images``.

        Parameters
        ----------
        images : ndarray of uint8
            ``(N, H, W)`` or ``(N, C, H, W)`` pixels, as the data set gives them.
        memory : WeightSource, optional
            Read the weights from this memory (an :class:`~memsim.ApproximateMemory`
            after :meth:`store_weights`, or anything implementing
            :class:`~memsim.bnn.source.WeightSource`). Without a memory the weights are clean.
        granularity : {"per_sample", "per_batch", "per_access"}
            ``per_sample`` (default): each image reads every weight once;
            ``per_batch``: image ``i`` shares one read per layer with the other images of
            batch ``i // batch_size`` of the whole set; ``per_access``: as ``per_sample``,
            but a convolution reads its weights afresh at every output position.
        seed : int or None, default 0
            The trial. Every read is a function of (memory seed, ``seed``, layer, image
            index, read within the image): the same seed gives the same result whatever
            the thread count or the split of the images into calls. None draws a fresh
            trial from OS entropy (not reproducible).
        batch_size : int
            Images per read with ``per_batch`` (part of the result, unlike internal
            block sizes, which live in :mod:`memsim.config` and never change a result).
        prefix : str
            Name prefix used with :meth:`store_weights`.
        fast : bool, default True
            Dense layers take the exact-in-distribution fast path of
            :mod:`memsim.bnn.fastpath` where the memory can serve it (every bit of every
            read flips independently with one probability); the memory still counts
            every read. ``False`` forces explicit bit flips everywhere.
        first_index : int, default 0
            Index of ``images[0]`` in the caller's whole evaluated set, so a set split
            across calls or workers gives bit for bit the single-call result.
        in_memory : {"weights", "thresholds", "weights,thresholds"} or sequence of them
            What ``memory`` holds and the network reads from it (see :meth:`store_weights`
            and :meth:`store_thresholds`); the rest is exact. Thresholds are read once per
            image (``per_sample``, ``per_access``) or per batch (``per_batch``).

        Returns
        -------
        ndarray of int32, shape (N, classes)
        """
        read_parts = parse_in_memory(in_memory)
        imgs = self._check_images(images)
        n = imgs.shape[0]
        has_conv = any(isinstance(layer, Conv) for layer in self.layers)
        # A convolution's input takes a word per pixel (8x the image): packed a block at a time, it stays in
        # cache for the first layer instead of a pass over all of it through memory.
        x_all = None if has_conv or n == 0 else self._pack(imgs)

        def packed(i: int, j: int) -> np.ndarray:
            return self._pack(imgs[i:j]) if x_all is None else x_all[i:j]

        if memory is None:
            block = config.CONV_BLOCK if has_conv else max(n, 1)
            blocks = [self._run_clean(packed(i, i + block)) for i in range(0, n, block)]
            return np.concatenate(blocks) if blocks else np.empty((0, self.n_classes), np.int32)
        tag = parse_granularity(granularity)
        names, t_names = self._check_source(memory, prefix, read_parts)
        trial = resolve_seed(seed)
        first = _non_negative_int(first_index, "first_index")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        out = np.empty((n, self.n_classes), dtype=np.int32)
        if tag == ReadGranularity.PER_BATCH:
            batch_of = (first + np.arange(n)) // batch_size
            # the layers whose weights the memory does not hold: their exact words, once for all batches
            exact = {i: words_for_kernel(layer, layer.weights) for i, layer in enumerate(self.layers) if not names[i]}
            for b in np.unique(batch_of):
                sel = np.flatnonzero(batch_of == b)
                reads = ReadSet.batches([int(b)], trial)
                weights = [
                    exact[i] if name is None else words_for_kernel(layer, memory.read_words(name, reads)[0])
                    for i, (name, layer) in enumerate(zip(names, self.layers, strict=True))
                ]
                thresholds = [
                    None if t is None else self._read_thresholds(memory, t, layer, reads)[0]
                    for t, layer in zip(t_names, self.layers, strict=True)
                ]
                out[sel[0] : sel[-1] + 1] = self._run(packed(sel[0], sel[-1] + 1), weights, thresholds)
            return out
        block = config.CONV_BLOCK if has_conv else config.DENSE_BLOCK
        for start in range(0, n, block):
            stop = min(n, start + block)
            out[start:stop] = self._forward_reads(
                packed(start, stop), memory, names, t_names, tag, trial, first + start, fast
            )
        return out

    def _conv_positions(self, index: int) -> int:
        """Output positions (before pooling) of convolution ``index``: reads per image with ``per_access``."""
        _, h, w = self.input_shape
        for i, layer in enumerate(self.layers):
            assert isinstance(layer, Conv)
            ho, wo = h + 2 * layer.padding - 2, w + 2 * layer.padding - 2
            if i == index:
                return ho * wo
            h, w = layer.output_hw(h, w)
        raise AssertionError(index)

    def predict(self, images: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Class labels: the arg-max of :meth:`forward` (lowest index on ties). Same arguments."""
        return np.argmax(self.forward(images, **kwargs), axis=1).astype(np.int64)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the network, not its caches (a worker process rebuilds them; kept counts can be large)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __repr__(self) -> str:
        parts = []
        for layer in self.layers:
            if isinstance(layer, Conv):
                parts.append(f"C{layer.c_out}" + ("-MP2" if layer.pool else ""))
            else:
                parts.append(f"FC{layer.n_out}")
        return f"BNN({self.arch!r}: {'->'.join(parts)}, {self.n_weight_bits} weight bits)"


def _non_negative_int(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise ConfigError(f"{label} must be a non-negative integer, got {value!r}")
    return int(value)


def _random_bits(rng: np.random.Generator, nbits: int) -> np.ndarray:
    return pack_bits(rng.random(nbits) < 0.5).words


def _random_threshold(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    spread = max(1, int(math.sqrt(n_in)))
    return rng.integers(-spread, spread + 1, n_out).astype(np.int32), rng.random(n_out) < 0.125
