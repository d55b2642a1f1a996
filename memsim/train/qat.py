"""Training m-bit networks for bit error robustness (Stutz et al., MLSys 2021): quantization-aware
training, weight clipping and random bit error training (RandBET).

Every step quantizes the float ("latent") weights of the Linear and Conv layers with memsim's own
quantizer (:func:`memsim.memory.quant.quantize`, so the codes trained on are the codes exported)
and runs the forward on the dequantized weights; the gradient passes straight through the
quantization to the latent weights (STE).

Recipes, after the paper (section 4) and its code (``davidstutz/random-bit-error-robustness``,
``common/quantization.py`` and ``common/train/average_weights_training.py``, read, not copied):

``normal``
    symmetric signed codes, the range the layer's largest magnitude, values truncated toward zero
    (the paper's "normal" fixed-point quantization).
``robust``
    asymmetric unsigned codes, rounded to nearest ("robust" quantization: a flip of the top bit
    no longer turns a small weight into a large one of the other sign).
``clip``
    ``robust`` with the latent weights clipped to ``[-w_max, w_max]`` after every step and that
    range as the quantization range.
``randbet``
    ``clip`` plus random bit errors: every step also runs the forward on codes with fresh random
    bit flips at rate ``p`` (drawn by :mod:`memsim.memory.sparse`), and the update is the average
    of the clean gradient and the perturbed gradient, the latter clipped element-wise (the paper's
    code clips it to ``+-0.05``); batch-norm statistics come from the clean forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memsim.bits import n_words
from memsim.errors import ConfigError
from memsim.memory.quant import Quantized, quantize
from memsim.memory.reads import FlipLaw
from memsim.memory.sparse import flip_bits
from memsim.rng import child_key, seed_key

__all__ = ["RECIPES", "QATConfig", "QATTrainer", "stored_layers"]

#: The paper's recipes: quantization scheme, rounding, whether the weights are clipped, whether bits flip.
RECIPES: dict[str, dict[str, Any]] = {
    "normal": {"scheme": "symmetric", "rounding": "truncate", "clip": False, "randbet": False},
    "robust": {"scheme": "asymmetric", "rounding": "nearest", "clip": False, "randbet": False},
    "clip": {"scheme": "asymmetric", "rounding": "nearest", "clip": True, "randbet": False},
    "randbet": {"scheme": "asymmetric", "rounding": "nearest", "clip": True, "randbet": True},
}


@dataclass
class QATConfig:
    """Options of quantization-aware training (validated by :meth:`check`).

    Attributes
    ----------
    bits : int
        Bits per weight (2..8 or 16).
    recipe : str
        One of :data:`RECIPES`.
    w_max : float
        Clipping range of ``clip`` and ``randbet``.
    p : float
        Bit error rate of ``randbet`` (the paper's best CIFAR-10 settings are 0.1 % to 1 %).
    grad_clip : float
        Element-wise bound of the perturbed gradient (``randbet``).
    per_channel : bool
        A scale per output channel (the paper quantizes per layer: False).
    seed : int
        Seed of the bit errors.
    """

    bits: int = 8
    recipe: str = "normal"
    w_max: float = 0.1
    p: float = 0.01
    grad_clip: float = 0.05
    per_channel: bool = False
    seed: int = 0

    def check(self) -> None:
        """Raise a :class:`ConfigError` naming the option, its value and the allowed range."""
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe {self.recipe!r} is not one of {', '.join(RECIPES)}")
        if self.bits not in (2, 3, 4, 5, 6, 7, 8, 16):
            raise ConfigError(f"bits {self.bits!r}: quantization-aware training takes 2..8 or 16 bits")
        if not (math.isfinite(self.w_max) and self.w_max > 0):
            raise ConfigError(f"w_max must be a positive number, got {self.w_max!r}")
        if not 0.0 < self.p <= 0.5 and RECIPES[self.recipe]["randbet"]:
            raise ConfigError(f"p must be in (0, 0.5] for randbet, got {self.p!r}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ConfigError(f"grad_clip must be a positive number, got {self.grad_clip!r}")

    @property
    def scheme(self) -> str:
        return str(RECIPES[self.recipe]["scheme"])

    @property
    def rounding(self) -> str:
        return str(RECIPES[self.recipe]["rounding"])

    @property
    def clip(self) -> float | None:
        """The quantization range of the recipe (None: the layer's own)."""
        return self.w_max if RECIPES[self.recipe]["clip"] else None

    def quantize(self, weights: np.ndarray) -> Quantized:
        """The codes of ``weights`` under this recipe."""
        return quantize(weights, self.bits, self.scheme, self.per_channel, self.clip, self.rounding)


def stored_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv layers of ``module`` (what the memory will hold), in module order."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


class QATTrainer:
    """One optimisation step at a time: clean (and perturbed) forward on quantized weights, STE update.

    Parameters
    ----------
    module : torch.nn.Module
        The float network; its latent weights are trained in place.
    config : QATConfig
    optimizer : torch.optim.Optimizer
        Over ``module.parameters()``.
    """

    def __init__(self, module: nn.Module, config: QATConfig, optimizer: torch.optim.Optimizer) -> None:
        config.check()
        self.module, self.config, self.optimizer = module, config, optimizer
        self.layers = stored_layers(module)
        if not self.layers:
            raise ConfigError(f"{type(module).__name__} has no Linear or Conv layer to quantize")
        self.step_count = 0
        self._key = child_key(seed_key(config.seed), "randbet")
        if RECIPES[config.recipe]["clip"]:
            self.project()

    def project(self) -> None:
        """Clip the latent weights to ``[-w_max, w_max]`` (the recipes with clipping)."""
        with torch.no_grad():
            for _, layer in self.layers:
                weight = layer.weight
                assert isinstance(weight, torch.Tensor)
                weight.clamp_(-self.config.w_max, self.config.w_max)

    def quantized(self) -> list[Quantized]:
        """Every stored layer's codes now."""
        return [self.config.quantize(_weight(layer).detach().cpu().double().numpy()) for _, layer in self.layers]

    def perturbed(self, codes: list[Quantized], step: int) -> list[Quantized]:
        """The codes with fresh random bit flips at rate ``p``, keyed by the step (reproducible)."""
        out = []
        for i, q in enumerate(codes):
            key = child_key(self._key, i)
            # symmetric flips never look at the stored bits: zeros stand in for the packed codes
            law = FlipLaw(np.zeros(n_words(q.nbits), dtype=np.uint64), None, self.config.p, self.config.p, key)
            _, bits = flip_bits(law, q.nbits, np.array([step], dtype=np.uint64))
            flat = q.codes.ravel().astype(np.int64)
            np.bitwise_xor.at(flat, bits // q.bits, np.left_shift(1, bits % q.bits))
            out.append(Quantized(flat.reshape(q.shape).astype(np.uint32), q.scale, q.zero_point, q.bits, q.scheme))
        return out

    def _forward(self, x: torch.Tensor, codes: list[Quantized]) -> torch.Tensor:
        """The module on ``codes``' weights; the gradient reaches the latent weights (STE)."""
        overrides = {}
        for (name, layer), q in zip(self.layers, codes, strict=True):
            latent = layer.weight
            assert isinstance(latent, torch.Tensor)
            quant = torch.from_numpy(q.dequantize()).to(latent.dtype)
            overrides[f"{name}.weight" if name else "weight"] = latent + (quant - latent).detach()
        return torch.func.functional_call(self.module, overrides, (x,))

    def step(
        self, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable[..., torch.Tensor] = F.cross_entropy
    ) -> dict[str, float]:
        """One update on a batch; returns the clean (and perturbed) loss and accuracy."""
        self.module.train()
        self.optimizer.zero_grad()
        codes = self.quantized()
        logits = self._forward(x, codes)
        loss = loss_fn(logits, y)
        loss.backward()
        stats = {"loss": loss.item(), "accuracy": float((logits.argmax(1) == y).float().mean())}
        if RECIPES[self.config.recipe]["randbet"]:
            clean = [p.grad.clone() if p.grad is not None else None for p in self.module.parameters()]
            self.optimizer.zero_grad()
            bn_state = _batch_norm_state(self.module)
            logits_p = self._forward(x, self.perturbed(codes, self.step_count))
            loss_p = loss_fn(logits_p, y)
            loss_p.backward()
            _restore_batch_norm(self.module, bn_state)  # the running statistics are the clean forward's
            with torch.no_grad():
                for p, g in zip(self.module.parameters(), clean, strict=True):
                    if p.grad is None:
                        p.grad = g
                    elif g is not None:
                        p.grad = 0.5 * (g + p.grad.clamp(-self.config.grad_clip, self.config.grad_clip))
            stats.update(
                perturbed_loss=loss_p.item(), perturbed_accuracy=float((logits_p.argmax(1) == y).float().mean())
            )
        self.optimizer.step()
        if RECIPES[self.config.recipe]["clip"]:
            self.project()
        self.step_count += 1
        return stats


def _weight(layer: nn.Module) -> torch.Tensor:
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _batch_norm_state(module: nn.Module) -> list[tuple[nn.Module, dict[str, torch.Tensor]]]:
    return [
        (m, {k: v.clone() for k, v in m.state_dict().items()})
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]


def _restore_batch_norm(module: nn.Module, state: list[tuple[nn.Module, dict[str, torch.Tensor]]]) -> None:
    for m, values in state:
        m.load_state_dict(values)
