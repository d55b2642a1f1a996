"""numba kernels of the margin and importance analysis (:mod:`memsim.bnn.margins`)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from memsim.bnn.kernels import as_array, per_neuron
from memsim.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from memsim.errors import ConfigError

__all__ = ["importance_chain", "output_margin"]


@njit(**NUMBA_FLAGS)
def _output_margin(h):  # type: ignore[no-untyped-def]
    # (B, n_out) int32 -> (top - runner-up) per image.
    B, n_out = h.shape
    out = np.empty(B, dtype=np.int32)
    for b in range(B):
        first = -(2**31)
        second = -(2**31)
        for o in range(n_out):
            v = h[b, o]
            if v > first:
                second = first
                first = v
            elif v > second:
                second = v
        out[b] = first - second
    return out


@njit(**NUMBA_PARALLEL_FLAGS)
def _importance_chain(a, h_next, w_next, s_next, inv_next, w_out, h_out):  # type: ignore[no-untyped-def]
    # Mean change of the decision margin when each neuron of a hidden dense layer is inverted.
    # a: (N, n) +-1 outputs of the layer; h_next/w_next/s_next/inv_next: the next hidden dense
    # layer (w_next (m, n) +-1), or h_next.shape[1] == 0 when the next layer is the output;
    # w_out (k, m or n) +-1 and h_out (N, k): the output layer. Returns (n,) float64.
    N, n = a.shape
    k = h_out.shape[1]
    hidden = h_next.shape[1] > 0
    total = np.zeros((N, n), dtype=np.float64)
    for b in prange(N):
        top = 0
        for c in range(1, k):
            if h_out[b, c] > h_out[b, top]:
                top = c
        base = -(2**31)
        for c in range(k):
            if c != top and h_out[b, c] > base:
                base = h_out[b, c]
        base = h_out[b, top] - base
        new = np.empty(k, dtype=np.int64)
        for j in range(n):
            for c in range(k):
                new[c] = h_out[b, c]
            if hidden:
                for i in range(h_next.shape[1]):
                    h2 = h_next[b, i] - 2 * a[b, j] * w_next[i, j]
                    old_fire = (h_next[b, i] > s_next[i]) != inv_next[i]
                    new_fire = (h2 > s_next[i]) != inv_next[i]
                    if old_fire != new_fire:
                        step = 2 if new_fire else -2
                        for c in range(k):
                            new[c] += step * w_out[c, i]
            else:
                for c in range(k):
                    new[c] -= 2 * a[b, j] * w_out[c, j]
            runner = -(2**62)
            for c in range(k):
                if c != top and new[c] > runner:
                    runner = new[c]
            total[b, j] = base - (new[top] - runner)
    out = np.zeros(n, dtype=np.float64)
    for j in range(n):
        acc = 0.0
        for b in range(N):
            acc += total[b, j]
        out[j] = acc / max(N, 1)
    return out


# ---- public wrappers


def output_margin(h: np.ndarray) -> np.ndarray:
    """Top minus runner-up pre-activation per image of ``h (B, n_out)`` (needs ``n_out >= 2``)."""
    h = as_array("h", h, np.int32, 2)
    if h.shape[1] < 2:
        raise ConfigError(f"an output margin needs at least 2 classes, got {h.shape[1]}")
    return _output_margin(h)


def importance_chain(
    a: np.ndarray,
    h_next: np.ndarray,
    w_next: np.ndarray,
    s_next: np.ndarray,
    inv_next: np.ndarray,
    w_out: np.ndarray,
    h_out: np.ndarray,
) -> np.ndarray:
    """Mean drop of the decision margin when each neuron of a hidden dense layer is inverted, ``(n,)`` float64.

    ``a (N, n)`` are the layer's +-1 outputs; ``h_next (N, m)``, ``w_next (m, n)``, ``s_next``, ``inv_next`` the
    next hidden dense layer (``m = 0`` when the next layer is the output); ``w_out (k, m or n)`` and
    ``h_out (N, k)`` the output layer.
    """
    a = as_array("a", a, np.int8, 2)
    h_out = as_array("h_out", h_out, np.int32, 2)
    w_out = as_array("w_out", w_out, np.int8, 2)
    h_next = as_array("h_next", h_next, np.int32, 2)
    w_next = as_array("w_next", w_next, np.int8, 2)
    m = h_next.shape[1]
    if h_out.shape[0] != a.shape[0] or w_out.shape[1] != (m if m else a.shape[1]):
        raise ConfigError("importance_chain: layer shapes do not chain")
    s_next = per_neuron("s_next", s_next, m, np.int32)
    inv_next = per_neuron("inv_next", inv_next, m, np.bool_)
    return _importance_chain(a, h_next, w_next, s_next, inv_next, w_out, h_out)
