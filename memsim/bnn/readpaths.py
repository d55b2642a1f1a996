"""How a BNN's layers read their weights (and thresholds) from a memory, image by image.

:class:`MemoryReads` is the part of :class:`~memsim.bnn.network.BNN` that runs the layers on a
:class:`~memsim.bnn.source.WeightSource`: per access (each image its own read), with the
exact samplers where a memory hands out a flip law (:mod:`memsim.bnn.fastpath`,
:mod:`memsim.bnn.lawpath`), explicit flips otherwise, and the memo of first-layer counts that
a sweep's next operating point reuses. :meth:`BNN.forward` chooses among them.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

import numpy as np

from memsim import config
from memsim.bits import n_words, valid_words
from memsim.bnn import convkernels, kernels
from memsim.bnn.fastpath import dense_sample_fire, fire_limit, sample_fire, sample_output
from memsim.bnn.lawpath import law_fire, law_output
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
from memsim.bnn.source import WeightSource
from memsim.errors import ConfigError
from memsim.memory.granularity import ReadGranularity
from memsim.memory.reads import FlipLaw, ReadSet

__all__ = ["MemoryReads"]

#: Guards every network's memo of first-layer counts (short critical sections: one lock for all networks).
_MEMO_LOCK = threading.Lock()


class MemoryReads:
    """The per-access read paths of :class:`~memsim.bnn.network.BNN` (a mixin: ``self`` is the network)."""

    if TYPE_CHECKING:  # what the mixin uses of the network
        layers: list[Layer]

        def _clean_kernel_weights(self) -> list[np.ndarray]: ...
        def _conv_positions(self, index: int) -> int: ...
        def _fire_limits(self) -> list[np.ndarray | None]: ...
        @staticmethod
        def _dense_clean_h(act: np.ndarray, layer: Dense, w: np.ndarray) -> np.ndarray: ...
        @staticmethod
        def _threshold_name(prefix: str, index: int) -> str: ...

    @staticmethod
    def _read_thresholds(memory: WeightSource, name: str, layer: Layer, reads: ReadSet) -> np.ndarray:
        """The thresholds ``(len(reads), n_out)`` int64 of ``layer`` as each read of ``name`` returns them."""
        nbytes = memory.stored_bits(name) // 8
        words = np.ascontiguousarray(memory.read_words(name, reads))
        raw = np.ascontiguousarray(words.view(np.uint8).reshape(len(reads), -1)[:, :nbytes])
        return raw.view(f"<i{nbytes // layer.n_out}").astype(np.int64)

    def _check_source(
        self, memory: WeightSource, prefix: str, parts: frozenset[str]
    ) -> tuple[list[str | None], list[str | None]]:
        """Per layer, the names of its weights and thresholds in ``memory`` (None: exact, not read from it).

        Checks that the memory holds every array read, with the right size.
        """
        if not isinstance(memory, WeightSource):
            raise ConfigError(
                f"memory must implement the WeightSource protocol (e.g. an ApproximateMemory), got "
                f"{type(memory).__name__}"
            )
        names: list[str | None] = [None] * len(self.layers)
        t_names: list[str | None] = [None] * len(self.layers)
        wanted: list[tuple[str, set[int], str]] = []  # (array, allowed sizes in bits, what it holds)
        for i, layer in enumerate(self.layers):
            if "weights" in parts:
                names[i] = name = f"{prefix}layer{i}"
                wanted.append((name, {layer.nbits}, "weights"))
            if "thresholds" in parts and not is_output(layer):
                t_names[i] = name = self._threshold_name(prefix, i)
                wanted.append((name, {16 * layer.n_out, 32 * layer.n_out}, "thresholds"))
        missing: dict[str, list[str]] = {}
        for name, sizes, what in wanted:
            try:
                nbits = memory.stored_bits(name)
            except LookupError:
                missing.setdefault(what, []).append(name)
                continue
            if nbits not in sizes:
                need = " or ".join(str(b) for b in sorted(sizes))
                raise ConfigError(f"memory array {name!r} holds {nbits} bits; the layer's {what} need {need}")
        for what, absent in missing.items():
            raise ConfigError(
                f"the memory holds no {what} named {', '.join(absent)}; call net.store_{what}(memory"
                + (f", prefix={prefix!r}" if prefix else "")
                + ") first"
                + (" (or read only the weights: in_memory='weights')" if what == "thresholds" else "")
            )
        return names, t_names

    def _forward_reads(
        self,
        x: np.ndarray,
        memory: WeightSource,
        names: list[str | None],
        t_names: list[str | None],
        tag: ReadGranularity,
        seed: int,
        first: int,
        fast: bool,
    ) -> np.ndarray:
        """Layer by layer over a block of images that each read every weight (per sample or per access).

        ``names`` and ``t_names`` give per layer the memory arrays of its weights and thresholds
        (None: the layer's exact ones).
        """
        n = x.shape[0]
        act = x
        clean = self._clean_kernel_weights()
        for i, (name, t_name, layer) in enumerate(zip(names, t_names, self.layers, strict=True)):
            reads = ReadSet.images(first, n, seed, tag)
            s = None if t_name is None else self._read_thresholds(memory, t_name, layer, reads)
            if isinstance(layer, Conv):
                if name is None:
                    _, act = conv_block(layer, act, clean[i], convkernels.SHARED, s=s)
                elif tag == ReadGranularity.PER_ACCESS:
                    positions = self._conv_positions(i)
                    parts = []
                    for j in range(n):
                        words = memory.read_words(name, ReadSet.accesses(first + j, positions, seed))
                        w = words_for_kernel(layer, words)
                        s_j = None if s is None else s[j]
                        parts.append(conv_block(layer, act[j : j + 1], w, convkernels.PER_POSITION, s=s_j)[1])
                    act = np.concatenate(parts)
                else:
                    words = memory.read_words(name, reads)
                    if _same_rows(words):  # every read returned the same words (stuck cells)
                        _, act = conv_block(layer, act, words_for_kernel(layer, words[0]), convkernels.SHARED, s=s)
                    else:
                        _, act = conv_block(layer, act, words_for_kernel(layer, words), convkernels.PER_IMAGE, s=s)
                continue
            if act.ndim == 4:
                act = act.reshape(n, -1)
            if name is None:
                act = epilogue(layer, self._dense_clean_h(act, layer, clean[i]), s)
                if layer.is_output:
                    return act
                continue
            law = memory.symmetric_flips(name, reads) if fast else None
            if law is not None:
                if layer.is_output:
                    mism = (layer.n_in - self._dense_clean_h(act, layer, clean[i])) // 2
                    return sample_output(mism, layer.n_in, law, reads.events())
                limit = self._fire_limits()[i] if s is None else fire_limit(layer.n_in, s)
                invert = layer.firing()[1]
                assert limit is not None  # a hidden dense layer has a fire limit
                shared = self._first_mismatches(act, layer, clean[i]) if i == 0 else None
                if shared is not None:  # the same images again (a sweep's next point): only the draw is new
                    act = sample_fire(shared, layer.n_in, limit, invert, law, reads.events())
                elif neuron_major(layer):  # neuron-major clean weights: popcount and draw fused
                    act = dense_sample_fire(act, clean[i], layer.n_in, limit, invert, law, reads.events())
                else:
                    mism = (layer.n_in - self._dense_clean_h(act, layer, clean[i])) // 2
                    act = sample_fire(mism, layer.n_in, limit, invert, law, reads.events())
                continue
            general = memory.flip_law(name, reads) if fast and hasattr(memory, "flip_law") else None
            if general is not None:  # a chip's stuck cells and/or flips that depend on the stored bit
                act = self._law_layer(i, layer, act, general, s, reads)
                if layer.is_output:
                    return act
                continue
            # Explicit flips: each image reads the layer once; a block of reads at a time, as memory allows.
            h = np.empty((n, layer.n_out), dtype=np.int32)
            per = max(1, int(config.EXPLICIT_BLOCK_MB * 2**20) // (3 * 8 * layer.n_out * n_words(layer.n_in)))
            for j0 in range(0, n, per):
                j1 = min(n, j0 + per)
                words = memory.read_words(name, ReadSet.images(first + j0, j1 - j0, seed, tag))
                if _same_rows(words):  # every read returned the same words (stuck cells): one call
                    h[j0:j1] = kernels.dense_h(act[j0:j1], words_for_kernel(layer, words[0]), layer.n_in)
                else:
                    h[j0:j1] = kernels.dense_h_per_image(act[j0:j1], words_for_kernel(layer, words), layer.n_in)
            act = epilogue(layer, h, s)
            if layer.is_output:
                return act
        raise AssertionError("the last layer is an output layer")  # validate() guarantees it

    def _law_layer(
        self, i: int, layer: Dense, act: np.ndarray, law: FlipLaw, s: np.ndarray | None, reads: ReadSet
    ) -> np.ndarray:
        """Dense layer ``i`` under a :class:`~memsim.memory.reads.FlipLaw`: output ``h`` or firing bits.

        Stuck cells alone (no free flips) are the clean kernels on the chip's words; otherwise
        the exact sampler of :mod:`memsim.bnn.lawpath`.
        """
        w = words_for_kernel(layer, law.words)
        if law.fixed:
            if s is None and neuron_major(layer):  # neuron-major, as the clean weights (BNN._clean_kernel_weights)
                return clean_layer(layer, kernels.transpose_dense(w), self._fire_limits()[i], act)
            return epilogue(layer, kernels.dense_h(act, w, layer.n_in), s)
        valid = valid_words(layer.nbits)
        free = words_for_kernel(layer, valid if law.free is None else law.free & valid)
        if layer.is_output:
            return law_output(act, w, free, layer.n_in, law, reads.events())
        limit = self._fire_limits()[i] if s is None else fire_limit(layer.n_in, s)
        assert limit is not None  # a hidden dense layer has a fire limit
        return law_fire(act, w, free, layer.n_in, limit, layer.firing()[1], law, reads.events())

    def _first_mismatches(self, x: np.ndarray, layer: Dense, w: np.ndarray) -> np.ndarray | None:
        """Clean mismatch counts of a dense first layer for a block of inputs seen before, else None.

        Under fresh flips a sweep reads the same images at every operating point, and the first
        layer's clean counts do not depend on the point: they are kept, keyed by the inputs'
        bytes, up to :data:`memsim.config.FIRST_LAYER_CACHE_MB` (results are the same either way;
        a block is kept the second time it is seen, so a single evaluation never pays for it).
        """
        budget = int(config.FIRST_LAYER_CACHE_MB * 2**20)
        if x.shape[0] * layer.n_out * 4 > budget:
            return None
        key = hashlib.blake2b(np.ascontiguousarray(x).data, digest_size=16).digest() + bytes(str(x.shape), "ascii")
        # Threaded Dask workers share one network: the memo is read and changed under a lock (iterating a
        # dict while another thread inserts raises), and the counts are computed outside it.
        with _MEMO_LOCK:
            memo: dict[bytes, np.ndarray | None] = self.__dict__.setdefault("_first_memo", {})
            if key not in memo:
                for stale in [k for k, v in memo.items() if v is None][: max(0, len(memo) - 64)]:
                    del memo[stale]  # bound the record of blocks seen once
                memo[key] = None
                return None
            cached = memo[key]
        if cached is None:
            cached = ((layer.n_in - self._dense_clean_h(x, layer, w)) // 2).astype(np.int32)
            with _MEMO_LOCK:
                while memo and sum(v.nbytes for v in memo.values() if v is not None) + cached.nbytes > budget:
                    oldest = next((k for k, v in memo.items() if v is not None), None)
                    if oldest is None:
                        break
                    del memo[oldest]
                memo[key] = cached
        return cached


def _same_rows(words: np.ndarray) -> bool:
    """True if the memory returned one row broadcast: every read of the block has the same words.

    :class:`~memsim.ApproximateMemory` broadcasts error-free reads and stuck cells; comparing rows
    instead would cost a pass over every block of fresh reads.
    """
    return len(words) > 1 and words.strides[0] == 0
