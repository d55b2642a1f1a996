"""Margin-based bit error tolerance metrics (Buschjaeger et al.; arXiv 2102.01344), without fault injection.

* **Neuron margin** ``T = |h - s|`` of every hidden neuron (and position) and image
  (Eq. 3); by Corollary 1 the neuron tolerates ``max(0, floor(T/2) - 1)`` flips
  among its weights and inputs when ``h > s``, and ``floor(T/2)`` when ``h <= s``
  (by Theorem 1 each flip moves ``h`` by exactly 2). That bound is one below the exact
  count ``ceil(T/2) - 1`` for a firing neuron when ``T`` is odd; both are reported
  (``tolerated``: the paper's bound; ``tolerated_exact``: the exact count).
* **Output margin** ``m = h_top - h_second`` (Eq. 4); the output layer tolerates
  ``max(0, floor(m/2) - 1)`` flips among its **weights** (Corollary 2: a weight flip
  moves one class's ``h`` by 2). Not among its inputs: one input flip moves every class's
  ``h`` by 2, so the margin can shrink by 4 per flip.
* **Inter-neuron importance** (our definition; the paper's exact formula was not
  available): the importance of a hidden dense neuron is the mean, over images, of
  the drop of the decision margin ``h[c*] - max_{c != c*} h[c]`` (``c*`` the clean
  prediction) when that neuron's output alone is inverted and the layers after it
  are recomputed. A layer's metric is the variance of its neurons' importances: a
  low variance means no single neuron carries the decision. Computed for hidden
  dense layers followed only by dense layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from memsim import config
from memsim.bits import unpack_bits
from memsim.bnn import marginkernels
from memsim.bnn.layers import Conv, Dense
from memsim.errors import ConfigError

__all__ = [
    "Importance",
    "LayerMargins",
    "MarginReport",
    "OutputMargins",
    "margin_report",
    "neuron_importance",
    "neuron_margins",
    "output_margins",
    "tolerated_flips",
]


def tolerated_flips(h: np.ndarray, s: np.ndarray | int, exact: bool = False) -> np.ndarray:
    """Flips among a hidden neuron's weights and inputs that cannot change whether it fires (``h > s``).

    ``exact=False``: the paper's Corollary 1 bound, ``max(0, floor(T/2) - 1)`` if ``h > s``, else
    ``floor(T/2)``. ``exact=True``: the exact count, ``ceil(T/2) - 1`` if ``h > s`` (after k flips
    ``h - 2k > s`` iff ``k < T/2``), else ``floor(T/2)``; it exceeds the bound by one when ``h > s``
    and ``T`` is odd.
    """
    h = np.asarray(h, dtype=np.int64)
    margin = np.abs(h - s)
    firing = np.maximum(0, (margin + 1) // 2 - 1) if exact else np.maximum(0, margin // 2 - 1)
    return np.where(h > s, firing, margin // 2)


@dataclass
class LayerMargins:
    """Neuron margins of one hidden layer: ``margin`` and ``tolerated`` have shape (N, ...neurons)."""

    layer: int
    kind: str
    margin: np.ndarray
    tolerated: np.ndarray
    tolerated_exact: np.ndarray | None = None

    def summary(self) -> dict[str, Any]:
        """Distribution of the margins and tolerated flips (Corollary 1's bound, and exact) over neurons and images."""
        extra = {} if self.tolerated_exact is None else {"tolerated_exact_mean": float(np.mean(self.tolerated_exact))}
        return _summary(self.margin, self.tolerated) | extra | {"layer": self.layer, "kind": self.kind}


@dataclass
class OutputMargins:
    """Output margins ``m`` (N,), flips tolerated by Corollary 2, and the predicted classes."""

    margin: np.ndarray
    tolerated: np.ndarray
    predicted: np.ndarray

    def summary(self) -> dict[str, Any]:
        """Distribution of ``m`` and of the tolerated flips over images."""
        return _summary(self.margin, self.tolerated)


@dataclass
class Importance:
    """Per-neuron importance (mean drop of the decision margin when inverted) of one hidden dense layer."""

    layer: int
    importance: np.ndarray

    @property
    def variance(self) -> float:
        """Variance of the importances over the layer's neurons (the inter-neuron metric)."""
        return float(np.var(self.importance))

    def summary(self) -> dict[str, Any]:
        """Mean, variance and extremes of the importances."""
        imp = self.importance
        return {
            "layer": self.layer,
            "mean": float(imp.mean()),
            "variance": self.variance,
            "min": float(imp.min()),
            "max": float(imp.max()),
        }


def _summary(margin: np.ndarray, tolerated: np.ndarray) -> dict[str, Any]:
    m = np.asarray(margin).ravel()
    t = np.asarray(tolerated).ravel()
    q = np.percentile(m, [5, 25, 50, 75, 95]) if m.size else [np.nan] * 5
    return {
        "count": int(m.size),
        "margin_mean": float(m.mean()) if m.size else float("nan"),
        "margin_percentiles": {p: float(v) for p, v in zip((5, 25, 50, 75, 95), q, strict=True)},
        "tolerated_mean": float(t.mean()) if t.size else float("nan"),
        "fraction_tolerating_none": float(np.mean(t == 0)) if t.size else float("nan"),
    }


def neuron_margins(net: Any, images: np.ndarray, hidden: list[np.ndarray] | None = None) -> list[LayerMargins]:
    """Neuron margins ``T = |h - s|`` and tolerated flips of every hidden layer (clean weights).

    ``hidden``: the result of ``net.hidden(images)`` if already computed.
    """
    out = []
    for i, (layer, h) in enumerate(zip(net.layers, hidden or net.hidden(images), strict=True)):
        if layer.threshold is None:
            continue
        s = layer.threshold  # broadcasts over the last (neuron) axis for conv (N, H, W, C) and dense (N, n)
        out.append(
            LayerMargins(
                i, layer.kind, np.abs(h.astype(np.int64) - s), tolerated_flips(h, s), tolerated_flips(h, s, exact=True)
            )
        )
    return out


def output_margins(net: Any, images: np.ndarray) -> OutputMargins:
    """Output margins ``m = h_top - h_second`` and the flips the output layer tolerates (Corollary 2)."""
    return _output_margins_of(net.forward(images))


def _output_margins_of(h: np.ndarray) -> OutputMargins:
    m = marginkernels.output_margin(h).astype(np.int64)
    return OutputMargins(m, np.maximum(0, m // 2 - 1), np.argmax(h, axis=1))


def _signs(layer: Dense) -> np.ndarray:
    bits = unpack_bits(layer.weights, layer.nbits).reshape(layer.n_out, layer.n_in)
    return np.where(bits, 1, -1).astype(np.int8)


def neuron_importance(net: Any, images: np.ndarray, layer: int, hidden: list[np.ndarray] | None = None) -> Importance:
    """Importance of every neuron of hidden dense layer ``layer`` (see the module docstring).

    ``hidden``: the result of ``net.hidden(images)`` if already computed.

    Raises
    ------
    MemsimError
        If the layer is not a hidden dense layer followed only by at most two dense layers.
    """
    layers = net.layers
    if not 0 <= layer < len(layers) - 1 or not isinstance(layers[layer], Dense):
        raise ConfigError(f"layer {layer} is not a hidden dense layer of {net.arch}")
    after = layers[layer + 1 :]
    if any(isinstance(item, Conv) for item in after) or len(after) > 2:
        raise ConfigError(f"importance needs at most two dense layers after layer {layer}")
    hs = hidden or net.hidden(images)
    lay = layers[layer]
    a = np.where((hs[layer] > lay.threshold) != lay.invert, 1, -1).astype(np.int8)
    h_out = hs[-1].astype(np.int64)
    w_out = _signs(layers[-1])
    if len(after) == 2:
        nxt = layers[layer + 1]
        h_next = hs[layer + 1].astype(np.int64)
        args = (_signs(nxt), nxt.threshold, nxt.invert)
    else:
        h_next = np.zeros((a.shape[0], 0), np.int64)
        args = (np.zeros((0, a.shape[1]), np.int8), np.zeros(0, np.int32), np.zeros(0, bool))
    # Blocks of images keep each kernel call short, so Ctrl-C (checked between calls) stops within a second.
    n = a.shape[0]
    total = np.zeros(a.shape[1], dtype=np.float64)
    for start in range(0, n, config.MARGIN_BLOCK):
        stop = min(n, start + config.MARGIN_BLOCK)
        mean = marginkernels.importance_chain(a[start:stop], h_next[start:stop], *args, w_out, h_out[start:stop])
        total += mean * (stop - start)
    return Importance(layer, total / max(n, 1))


@dataclass
class MarginReport:
    """All margin metrics of a network on a set of images."""

    arch: str
    n_images: int
    accuracy: float | None
    neurons: list[LayerMargins]
    output: OutputMargins
    importance: list[Importance]

    def to_dict(self) -> dict[str, Any]:
        """Summaries (not the per-neuron arrays), JSON-serialisable."""
        return {
            "arch": self.arch,
            "n_images": self.n_images,
            "accuracy": self.accuracy,
            "hidden_layers": [m.summary() for m in self.neurons],
            "output": self.output.summary(),
            "importance": [imp.summary() for imp in self.importance],
        }


def margin_report(
    net: Any, images: np.ndarray, labels: np.ndarray | None = None, importance: bool = True
) -> MarginReport:
    """Neuron margins, output margins and (for hidden dense layers) importances on ``images``."""
    hidden = net.hidden(images)  # once, for every metric below
    out = _output_margins_of(hidden[-1])
    acc = None if labels is None else float(np.mean(out.predicted == np.asarray(labels)))
    imps = []
    if importance:
        for i, layer in enumerate(net.layers[:-1]):
            after = net.layers[i + 1 :]
            if isinstance(layer, Dense) and len(after) <= 2 and all(isinstance(x, Dense) for x in after):
                imps.append(neuron_importance(net, images, i, hidden))
    return MarginReport(net.arch, len(out.margin), acc, neuron_margins(net, images, hidden), out, imps)
