"""BNN: a binarized network whose weights are read from clean arrays or an approximate memory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim.bits import n_words, pack_bits
from memsim.bnn import kernels
from memsim.bnn.layers import Conv, Dense, Layer, words_for_kernel
from memsim.errors import MemsimError, UnknownNameError, suggest
from memsim.memory.approximate import ApproximateMemory, ReadGranularity, parse_granularity

__all__ = ["ARCHITECTURES", "BNN"]

#: Architectures of the reference papers (DESIGN.md): input shape and layer specs.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "fashion-fcnn": {"input_shape": (1, 28, 28), "layers": [("dense", 2048), ("dense", 2048), ("dense", 10)]},
    "fashion-cnn": {
        "input_shape": (1, 28, 28),
        "layers": [("conv", 64, True), ("conv", 64, True), ("dense", 2048), ("dense", 10)],
    },
    "cifar10-cnn": {
        "input_shape": (3, 32, 32),
        "layers": [
            ("conv", 128, False), ("conv", 128, True), ("conv", 256, False), ("conv", 256, True),
            ("conv", 512, False), ("conv", 512, True), ("dense", 1024), ("dense", 10),
        ],
    },
}  # fmt: skip

BATCH = 256  # images per kernel call when convolutions are involved (bounds their activations' memory)
FAST_BATCH = 4096  # images per call of the dense-only fast path (amortises kernel launches)


@dataclass
class BNN:
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
    def random(cls, arch: str, seed: int | None = 0, input_threshold: int = 40) -> BNN:
        """A network of a named architecture with random weights and thresholds (for tests and benchmarks).

        Thresholds are drawn within about one standard deviation of a neuron's
        pre-activation around 0, and about 1 in 8 neurons has an inverted comparison.
        """
        if arch not in ARCHITECTURES:
            raise UnknownNameError(
                f"unknown architecture {arch!r}{suggest(arch, ARCHITECTURES)}; valid: {', '.join(ARCHITECTURES)}"
            )
        spec = ARCHITECTURES[arch]
        rng = np.random.default_rng(seed)
        c, h, w = spec["input_shape"]
        flat: tuple[int, ...] | None = None
        layers: list[Layer] = []
        for i, item in enumerate(spec["layers"]):
            last = i == len(spec["layers"]) - 1
            if item[0] == "conv":
                out, pool = item[1], item[2]
                layer = Conv(c, out, 1, pool, _random_bits(rng, out * 9 * c), *_random_threshold(rng, 9 * c, out))
                layers.append(layer)
                h, w = layer.output_hw(h, w)
                c = out
            else:
                out = item[1]
                in_shape = flat if flat is not None else ((h, w, c) if layers else (c * h * w,))
                n_in = int(np.prod(in_shape))
                thr, inv = (None, None) if last else _random_threshold(rng, n_in, out)
                layers.append(Dense(n_in, out, in_shape, _random_bits(rng, out * n_in), thr, inv))
                flat = (out,)
        net = cls(arch, spec["input_shape"], np.full(spec["input_shape"][0], input_threshold, np.uint8), layers,
                  {"source": "random", "seed": seed})  # fmt: skip
        net.validate()
        return net

    def validate(self, source: str = "<BNN>") -> None:
        """Check that consecutive layers fit together; raise :class:`ModelFileError` naming the layer."""
        from memsim.bnn.modelfile import ModelFileError

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
                raise ModelFileError(f"{where}: weights hold {layer.weights.size} words; {layer.shape} needs "
                                     f"{n_words(layer.nbits)}")  # fmt: skip
            if layer.threshold is not None:
                if layer.threshold.shape != (out,) or layer.invert is None or layer.invert.shape != (out,):
                    got = layer.threshold.shape[0] if layer.threshold.ndim == 1 else layer.threshold.shape
                    raise ModelFileError(f"{where}: thresholds must have length {out} (one per neuron), got {got}")
        if not isinstance(self.layers[-1], Dense):
            raise ModelFileError(f"{source}: the last layer must be a dense output layer")

    # --------------------------------------------------------------- weights
    @property
    def n_weight_bits(self) -> int:
        """Total number of weight bits."""
        return sum(layer.nbits for layer in self.layers)

    def weight_names(self, prefix: str = "") -> list[str]:
        """Names under which :meth:`store_weights` stores each layer."""
        return [f"{prefix}layer{i}" for i in range(len(self.layers))]

    def store_weights(self, memory: ApproximateMemory, prefix: str = "") -> list[str]:
        """Write every layer's weights into ``memory`` (as ``layer0``, ``layer1``, ...); returns the names."""
        from memsim.bits import PackedBits

        names = self.weight_names(prefix)
        for name, layer in zip(names, self.layers, strict=True):
            memory.store(name, PackedBits(layer.weights.copy(), layer.nbits, layer.shape))
        return names

    def _clean_kernel_weights(self) -> list[np.ndarray]:
        """Clean weights in kernel layout; dense layers neuron-major (transposed) for the batched kernels."""
        cached = getattr(self, "_kernel_cache", None)
        if cached is None:
            cached = []
            for layer in self.layers:
                words = words_for_kernel(layer, layer.weights)
                # Neuron-major only pays with at least one full group of 64 neurons (not the 10 outputs).
                wide = isinstance(layer, Dense) and layer.n_out >= 64
                cached.append(kernels.transpose_dense(words) if wide else words)
            object.__setattr__(self, "_kernel_cache", cached)
        return cached

    def _fire_thresholds(self) -> list[np.ndarray | None]:
        """Per hidden dense layer, the largest firing mismatch count ``ceil((n - s) / 2) - 1``."""
        from memsim.bnn.fastpath import mismatch_threshold

        cached = getattr(self, "_fire_cache", None)
        if cached is None:
            cached = [
                mismatch_threshold(layer.n_in, layer.threshold)
                if isinstance(layer, Dense) and layer.threshold is not None
                else None
                for layer in self.layers
            ]
            object.__setattr__(self, "_fire_cache", cached)
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
        imgs = self._check_images(images)
        if isinstance(self.layers[0], Dense):
            n = imgs.shape[0]
            flat = imgs.reshape(n, imgs.shape[1], -1)
            return kernels._binarize_flat(flat, self.input_threshold, n_words(self.layers[0].n_in))
        return kernels._binarize_hwc(imgs, self.input_threshold, n_words(self.input_shape[0]))

    def _check_images(self, images: np.ndarray) -> np.ndarray:
        arr = np.asarray(images)
        c, h, w = self.input_shape
        if arr.dtype != np.uint8:
            raise MemsimError(f"images must be uint8 pixels as the data set gives them, got dtype {arr.dtype}")
        if arr.ndim == 3 and c == 1:
            arr = arr[:, None, :, :]
        if arr.ndim != 4 or arr.shape[1:] != (c, h, w):
            want = f"(N, {h}, {w}) or (N, {c}, {h}, {w})" if c == 1 else f"(N, {c}, {h}, {w})"
            raise MemsimError(f"images of shape {np.shape(images)} do not fit {self.arch} ({want})")
        return np.ascontiguousarray(arr)

    def _run_clean(self, x: np.ndarray) -> np.ndarray:
        """Integer output pre-activations with the clean weights (batched neuron-major dense kernels)."""
        act = x
        fire = self._fire_thresholds()
        for layer, w, t_fire in zip(self.layers, self._clean_kernel_weights(), fire, strict=True):
            if isinstance(layer, Conv):
                _, act = _conv_block(layer, act, w)
                continue
            if act.ndim == 4:
                act = act.reshape(act.shape[0], -1)
            if layer.n_out < 64:  # row-major weights, see _clean_kernel_weights
                h = kernels._dense_h(act, w, layer.n_in)
                if layer.is_output:
                    return h
                act = kernels._threshold_flat(h, layer.threshold, layer.invert)
                continue
            if layer.is_output:
                return layer.n_in - 2 * kernels._dense_mismatch_t(act, w, layer.n_out)
            act = kernels._dense_fire_t(act, w, layer.n_out, t_fire, layer.invert)
        raise AssertionError("the last layer is an output layer")

    @staticmethod
    def _dense_clean_h(act: np.ndarray, layer: Dense, w: np.ndarray) -> np.ndarray:
        """Pre-activations of a dense layer with its cached clean weights (either layout)."""
        if layer.n_out < 64:
            return kernels._dense_h(act, w, layer.n_in)
        return layer.n_in - 2 * kernels._dense_mismatch_t(act, w, layer.n_out)

    def _run(
        self, x: np.ndarray, weights: Sequence[np.ndarray], per_position: Sequence[bool] | None = None
    ) -> np.ndarray:
        """Integer output pre-activations of packed inputs ``x`` with kernel-layout ``weights`` of one read."""
        act = x
        for i, (layer, w) in enumerate(zip(self.layers, weights, strict=True)):
            if isinstance(layer, Conv):
                mode = kernels.PER_POSITION if per_position is not None and per_position[i] else kernels.SHARED
                _, act = _conv_block(layer, act, w, mode)
            else:
                if act.ndim == 4:
                    act = act.reshape(act.shape[0], -1)
                h = kernels._dense_h(act, w, layer.n_in)
                if layer.is_output:
                    return h
                act = kernels._threshold_flat(h, layer.threshold, layer.invert)
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
                h, act = _conv_block(layer, act, w)
                out.append(h)
            else:
                if act.ndim == 4:
                    act = act.reshape(act.shape[0], -1)
                h = self._dense_clean_h(act, layer, w)
                out.append(h)
                if not layer.is_output:
                    act = kernels._threshold_flat(h, layer.threshold, layer.invert)
        return out

    def forward(
        self,
        images: np.ndarray,
        memory: ApproximateMemory | None = None,
        granularity: ReadGranularity | str = "per_sample",
        seed: int | None = None,
        batch_size: int = BATCH,
        prefix: str = "",
        fast: bool = True,
    ) -> np.ndarray:
        """Integer output pre-activations ``h`` (N, classes) of ``images``.

        Parameters
        ----------
        images : ndarray of uint8
            ``(N, H, W)`` or ``(N, C, H, W)`` pixels, as the data set gives them.
        memory : ApproximateMemory, optional
            Read the weights from this memory (after :meth:`store_weights`); every
            read has fresh errors at the memory's operating point. Without a
            memory the weights are clean.
        granularity : {"per_sample", "per_batch", "per_access"}
            ``per_sample`` (default): each image reads every weight once;
            ``per_batch``: one read per layer shared by ``batch_size`` images;
            ``per_access``: as ``per_sample``, but a convolution reads its weights
            afresh at every output position.
        seed : int, optional
            Seed of this call's reads (a ``numpy.random.Generator`` handed to every
            memory read); None uses the memory's own stream.
        batch_size : int
            Images per read with ``per_batch``.
        prefix : str
            Name prefix used with :meth:`store_weights`.
        fast : bool, default True
            With a ``transient`` memory and ``per_sample`` reads, dense layers take the
            exact-in-distribution fast path of :mod:`memsim.bnn.fastpath` (no flipped
            weights are materialised; the memory still counts every read). ``False``
            forces explicit bit flips everywhere.

        Returns
        -------
        ndarray of int32, shape (N, classes)
        """
        x = self.binarize(images)
        n = x.shape[0]
        if memory is None:
            chunk = BATCH if any(isinstance(layer, Conv) for layer in self.layers) else max(n, 1)
            parts = [self._run_clean(x[i : i + chunk]) for i in range(0, n, chunk)]
            return np.concatenate(parts) if parts else np.empty((0, self.layers[-1].n_out), np.int32)
        tag = parse_granularity(granularity)
        names = self.weight_names(prefix)
        missing = [name for name in names if name not in memory]
        if missing:
            raise MemsimError(
                f"the memory holds no weights named {', '.join(missing)}; call net.store_weights(memory"
                + (f", prefix={prefix!r}" if prefix else "")
                + ") first"
            )
        for name, layer in zip(names, self.layers, strict=True):
            stored = memory.info(name)
            if stored["nbits"] != layer.nbits:
                raise MemsimError(f"memory array {name!r} holds {stored['nbits']} bits; layer needs {layer.nbits}")
        rng = None if seed is None else np.random.default_rng(seed)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise MemsimError(f"batch_size must be a positive integer, got {batch_size!r}")

        def read(i: int) -> np.ndarray:
            words = memory.read_packed(names[i], rng=rng, granularity=tag).words
            return words_for_kernel(self.layers[i], words)

        out = np.empty((n, self.layers[-1].n_out), dtype=np.int32)
        fault = memory.fault_model
        if fast and tag == "per_sample" and fault.name == "transient" and memory.p01 == memory.p10:
            chunk = BATCH if any(isinstance(layer, Conv) for layer in self.layers) else FAST_BATCH
            for start in range(0, n, chunk):
                out[start : start + chunk] = self._forward_fast(x[start : start + chunk], memory, names, rng, start)
            return out
        if tag == "per_batch":
            for start in range(0, n, batch_size):
                weights = [read(i) for i in range(len(self.layers))]
                out[start : start + batch_size] = self._run(x[start : start + batch_size], weights)
            return out
        per_position = [tag == "per_access" and isinstance(layer, Conv) for layer in self.layers]
        for j in range(n):
            weights = []
            for i in range(len(self.layers)):
                if per_position[i]:
                    positions = self._conv_positions(i)
                    weights.append(np.stack([read(i) for _ in range(positions)]))
                else:
                    weights.append(read(i))
            out[j] = self._run(x[j : j + 1], weights, per_position)[0]
        return out

    def _forward_fast(
        self, x: np.ndarray, memory: ApproximateMemory, names: list[str], rng: np.random.Generator | None, first: int
    ) -> np.ndarray:
        """Per-sample transient reads: explicit flips for convolutions, the exact fast path for dense layers."""
        from memsim.bnn.fastpath import _sample_fire, _sample_output, cdf_table

        n = x.shape[0]
        p = memory.p01
        act = x
        clean = self._clean_kernel_weights()
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Conv):  # small weights: one explicit read per image
                w = np.stack(
                    [words_for_kernel(layer, memory.read_packed(names[i], rng=rng, granularity="per_sample").words)
                     for _ in range(n)]
                )  # fmt: skip
                _, act = _conv_block(layer, act, w, kernels.PER_IMAGE)
                continue
            if act.ndim == 4:
                act = act.reshape(n, -1)
            key = memory.draw_read_key(rng)
            memory.account_reads(names[i], n, key, granularity="per_sample")
            (k0, k1), event = key
            mism = (layer.n_in - self._dense_clean_h(act, layer, clean[i])) // 2
            lo, table = cdf_table(layer.n_in, p)
            args = (np.uint64(k0), np.uint64(k1), np.uint64(event), first)
            if layer.is_output:
                return _sample_output(mism, lo, table, layer.n_in, *args)
            act = _sample_fire(mism, lo, table, self._fire_thresholds()[i], layer.invert, *args)
        raise AssertionError("the last layer is an output layer")

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

    def accuracy(self, images: np.ndarray, labels: np.ndarray, **kwargs: Any) -> float:
        """Fraction of correct predictions (arguments of :meth:`forward`)."""
        labels = np.asarray(labels)
        return float(np.mean(self.predict(images, **kwargs) == labels)) if labels.size else math.nan

    # ------------------------------------------------------------------ files
    def save(self, path: str) -> None:
        """Write the model file (``.npz``, see :mod:`memsim.bnn.modelfile`)."""
        from memsim.bnn.modelfile import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        parts = []
        for layer in self.layers:
            if isinstance(layer, Conv):
                parts.append(f"C{layer.c_out}" + ("-MP2" if layer.pool else ""))
            else:
                parts.append(f"FC{layer.n_out}")
        return f"BNN({self.arch!r}: {'->'.join(parts)}, {self.n_weight_bits} weight bits)"


def _conv_block(
    layer: Conv, act: np.ndarray, w: np.ndarray, mode: int = kernels.SHARED
) -> tuple[np.ndarray, np.ndarray]:
    """One convolution layer: pre-activations (pooled if the layer pools) and the thresholded output bits.

    ``w`` is one kernel-layout read for ``mode`` SHARED, else a stack of reads per image or per position.
    """
    h = kernels._conv3x3_h(act, w[None] if mode == kernels.SHARED else w, layer.c_in, layer.padding, mode)
    if layer.pool:
        h = kernels._maxpool2(h)
    return h, kernels._threshold_hwc(h, layer.threshold, layer.invert)


def _random_bits(rng: np.random.Generator, nbits: int) -> np.ndarray:
    return pack_bits(rng.random(nbits) < 0.5).words


def _random_threshold(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    spread = max(1, int(math.sqrt(n_in)))
    return rng.integers(-spread, spread + 1, n_out).astype(np.int32), rng.random(n_out) < 0.125
