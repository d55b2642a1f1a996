"""Binarized layers for training (torch): sign with a straight-through gradient, weight-sign-flip injection.

One encoding everywhere: sign(0) = +1, so a latent weight of exactly 0 becomes +1, the
same bit the engine stores (:mod:`memsim.bits`). The straight-through estimator
(Hubara et al. 2016) passes the gradient where ``|x| <= 1`` and blocks it elsewhere.
"""

from __future__ import annotations

import torch
from torch import nn

from memsim.errors import ConfigError

__all__ = ["BinaryConv2d", "BinaryLinear", "FlipInjector", "sign_ste"]


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """``+1 if x >= 0 else -1`` forward; gradient passed where ``|x| <= 1`` (straight-through estimator)."""
    return _SignSTE.apply(x)


class FlipInjector:
    """Flips the sign of each binarized weight with probability ``ber``, fresh on every call (mini-batch).

    The gradient passes straight through the flips (Buschjaeger et al., arXiv 2002.00909): the
    update is computed as if the weight had not been flipped, which keeps the latent
    weights from learning the particular flip pattern.
    """

    def __init__(self, ber: float = 0.0, generator: torch.Generator | None = None) -> None:
        if not 0.0 <= ber <= 0.5:
            raise ConfigError(f"training BER must be in [0, 0.5], got {ber!r}")
        self.ber = float(ber)
        self.generator = generator

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        if self.ber == 0.0:
            return w
        flip = torch.rand(w.shape, generator=self.generator, device=w.device) < self.ber
        flipped = torch.where(flip, -w, w)
        return w + (flipped - w).detach()


class _BinaryWeights:
    """Latent float weights binarized by :func:`sign_ste`, with optional flip injection while training."""

    weight: torch.Tensor
    training: bool
    injector: FlipInjector | None = None

    def binary_weight(self) -> torch.Tensor:
        """The +-1 weights used in the forward pass (with injected flips while training)."""
        w = sign_ste(self.weight)
        if self.injector is not None and self.training:
            w = self.injector(w)
        return w


class BinaryLinear(_BinaryWeights, nn.Linear):
    """Linear layer with +-1 weights (latent float weights, sign in the forward pass), no bias."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.binary_weight())


class BinaryConv2d(_BinaryWeights, nn.Conv2d):
    """3x3, stride-1 convolution with +-1 weights and zero padding (outside pixels add nothing), no bias."""

    def __init__(self, c_in: int, c_out: int, padding: int = 1) -> None:
        super().__init__(c_in, c_out, 3, padding=padding, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.binary_weight(), padding=self.padding)
