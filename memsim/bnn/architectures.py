"""The reference papers' architectures by name, and the layer-by-layer shape walk over them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memsim.errors import UnknownNameError, suggest

__all__ = ["ARCHITECTURES", "INPUT_THRESHOLD", "LayerShape", "layer_shapes", "weight_bits"]

#: A pixel (0-255) binarizes to +1 iff it is greater than this: the threshold of every
#: shipped model (about the dark background level of Fashion-MNIST), stored in each model file.
INPUT_THRESHOLD = 40

#: Architectures of the reference papers (DESIGN.md): input shape ``(C, H, W)`` and layer specs,
#: ``("conv", c_out, pool)`` (3x3, same padding) or ``("dense", n_out)``.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "fashion-fcnn": {"input_shape": (1, 28, 28), "layers": [("dense", 2048), ("dense", 2048), ("dense", 10)]},
    "fashion-cnn": {
        "input_shape": (1, 28, 28),
        "layers": [("conv", 64, True), ("conv", 64, True), ("dense", 2048), ("dense", 10)],
    },
    "cifar10-cnn": {
        "input_shape": (3, 32, 32),
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
        ``"conv"`` (3x3, stride 1, padding 1) or ``"dense"``.
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
    """

    kind: str
    c_in: int
    n_out: int
    in_shape: tuple[int, ...]
    pool: bool
    nbits: int


def layer_shapes(arch: str) -> list[LayerShape]:
    """The layers of architecture ``arch`` with their shapes, walked from the input.

    Raises
    ------
    UnknownNameError
        For an architecture not in :data:`ARCHITECTURES`.
    """
    if arch not in ARCHITECTURES:
        raise UnknownNameError(
            f"unknown architecture {arch!r}{suggest(arch, ARCHITECTURES)}; valid: {', '.join(ARCHITECTURES)}"
        )
    spec = ARCHITECTURES[arch]
    c, h, w = spec["input_shape"]
    flat: int | None = None
    out: list[LayerShape] = []
    for item in spec["layers"]:
        if item[0] == "conv":
            c_out, pool = item[1], item[2]
            out.append(LayerShape("conv", c, c_out, (h, w, c), pool, c_out * 9 * c))
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
