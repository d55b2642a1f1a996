"""Torch BNNs of the reference architectures, their losses, and the export to the engine's model file.

Training runs in float with straight-through sign functions; in eval mode the network
computes exactly what the engine computes: +-1 inputs, integer pre-activations ``h``,
and batch norm + sign evaluated in float64 so that the integer thresholds of the
export (:func:`fold_batchnorm`) reproduce every hidden bit.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memsim.bits import pack_bits
from memsim.bnn.architectures import ARCHITECTURES, INPUT_THRESHOLD, resolve_architecture
from memsim.bnn.layers import Conv, Dense, Layer
from memsim.bnn.network import BNN
from memsim.errors import ConfigError
from memsim.train.layers import BinaryConv2d, BinaryLinear, FlipInjector, sign_ste

__all__ = ["TorchBNN", "binarize_input", "export_bnn", "fold_batchnorm", "modified_hinge_loss"]


def binarize_input(images: np.ndarray | torch.Tensor, threshold: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 images -> float +-1 tensor (N, C, H, W): +1 iff pixel > threshold (the engine's rule)."""
    signs = np.where(np.asarray(images) > threshold, np.float32(1.0), np.float32(-1.0))
    return torch.from_numpy(signs.reshape(-1, *shape))


class TorchBNN(nn.Module):
    """A trainable BNN of a named architecture (``fashion-fcnn``, ``fashion-cnn``, ``cifar10-cnn``) or of a file.

    Hidden layers: binary conv (3x3, zero padding 1 or as the file says) [+ 2x2 max-pool] or binary dense,
    then batch norm and sign. The output layer is a binary dense layer returning ``h``.
    ``log_scale`` scales ``h`` into logits for the cross-entropy loss only.
    """

    def __init__(self, arch: str, input_threshold: int = INPUT_THRESHOLD) -> None:
        super().__init__()
        arch = resolve_architecture(arch)  # a name, or an architecture file (registered under its name)
        spec = ARCHITECTURES[arch]
        self.arch = arch
        self.input_shape: tuple[int, int, int] = spec["input_shape"]
        self.input_threshold = int(input_threshold)
        c, h, w = self.input_shape
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.pools: list[bool] = []
        self.kinds: list[str] = []
        flat = None
        for i, item in enumerate(spec["layers"]):
            last = i == len(spec["layers"]) - 1
            if item[0] == "conv":
                padding = item[3] if len(item) > 3 else 1
                self.layers.append(BinaryConv2d(c, item[1], padding=padding))
                self.norms.append(nn.BatchNorm2d(item[1]))
                self.pools.append(bool(item[2]))
                self.kinds.append("conv")
                c = item[1]
                h, w = h + 2 * padding - 2, w + 2 * padding - 2
                if item[2]:
                    h, w = h // 2, w // 2
            else:
                n_in = flat if flat is not None else c * h * w
                self.layers.append(BinaryLinear(n_in, item[1]))
                self.norms.append(nn.Identity() if last else nn.BatchNorm1d(item[1]))
                self.pools.append(False)
                self.kinds.append("dense")
                flat = item[1]
        last_layer = self.binary_layers[-1]
        assert isinstance(last_layer, BinaryLinear)  # every architecture ends in a dense output layer
        n_last = last_layer.in_features
        self.log_scale = nn.Parameter(torch.tensor(-0.5 * math.log(n_last)))
        self.after_conv = [
            self.kinds[i] == "dense" and i > 0 and self.kinds[i - 1] == "conv" for i in range(len(self.kinds))
        ]

    @property
    def binary_layers(self) -> list[BinaryConv2d | BinaryLinear]:
        """The binary layers, typed (``self.layers`` registers them as parameters)."""
        return [cast(BinaryConv2d | BinaryLinear, m) for m in self.layers]

    @property
    def batch_norms(self) -> list[nn.Module]:
        """Per layer, its batch norm (``nn.Identity`` after the output layer)."""
        return list(self.norms)

    def set_flip_injection(self, ber: float, generator: torch.Generator | None = None) -> None:
        """Inject weight-sign flips at ``ber`` into every binary layer while training (0 disables)."""
        injector = FlipInjector(ber, generator) if ber > 0 else None
        for layer in self.binary_layers:
            layer.injector = injector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output pre-activations ``h`` (N, classes) of +-1 inputs ``x`` (N, C, H, W)."""
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms, strict=True)):
            if self.kinds[i] == "dense" and x.dim() == 4:
                x = x.flatten(1)  # torch order (C, H, W); the export permutes to the engine's (H, W, C)
            h = layer(x)
            if self.pools[i]:
                h = F.max_pool2d(h, 2)
            if i == len(self.layers) - 1:
                return h
            if self.training:
                x = sign_ste(norm(h))
            else:
                x = _bn_sign64(h, norm)
        raise AssertionError("unreachable")

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Scaled pre-activations for the cross-entropy loss (a positive scale keeps the arg-max)."""
        return h * self.log_scale.exp()


def _bn_parameters(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """``(running_mean, running_var, weight, bias, eps)`` of a batch norm with running statistics."""
    if not isinstance(norm, nn.modules.batchnorm._BatchNorm) or norm.running_mean is None or norm.running_var is None:
        raise ConfigError(f"expected a batch norm with running statistics, got {type(norm).__name__}")
    return norm.running_mean, norm.running_var, norm.weight, norm.bias, float(norm.eps)


def _bn_sign64(h: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    """Eval-mode batch norm + sign in float64, the same arithmetic as :func:`fold_batchnorm`."""
    h64 = h.double()
    shape = (1, -1, 1, 1) if h.dim() == 4 else (1, -1)
    running_mean, running_var, weight, bias, eps = _bn_parameters(norm)
    mean = running_mean.double().reshape(shape)
    var = running_var.double().reshape(shape)
    gamma = weight.double().reshape(shape)
    beta = bias.double().reshape(shape)
    y = (h64 - mean) / torch.sqrt(var + eps) * gamma + beta
    return torch.where(y >= 0, 1.0, -1.0).to(h.dtype)


def modified_hinge_loss(h: torch.Tensor, target: torch.Tensor, b: float) -> torch.Tensor:
    """MHL (Eq. 6 of the margin paper): ``max(0, b - y_enc * h)``, ``y_enc`` = +1 for the true class, -1 else.

    Averaged over classes and the batch and divided by ``b`` (as the authors' implementation
    does), on the raw integer-valued ``h``, so ``b`` is in units of the output pre-activation.
    """
    y_enc = -torch.ones_like(h)
    y_enc[torch.arange(h.shape[0]), target] = 1.0
    return torch.clamp(b - y_enc * h, min=0.0).mean() / b


def fold_batchnorm(norm: nn.Module, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer thresholds of batch norm + sign over integer pre-activations in ``[-n_in, n_in]``.

    Returns ``(s, invert)`` such that the neuron outputs +1 iff ``h > s`` (``h <= s`` where
    ``invert``), exactly where ``BN(h) >= 0`` in float64 (sign(0) = +1).
    """
    running_mean, running_var, weight, bias, eps = _bn_parameters(norm)
    mean = running_mean.detach().double().numpy()
    var = running_var.detach().double().numpy()
    gamma = weight.detach().double().numpy()
    beta = bias.detach().double().numpy()
    std = np.sqrt(var + eps)
    s = np.empty(mean.size, dtype=np.int64)
    invert = gamma < 0

    def fires(h: float, j: int) -> bool:
        return bool((h - mean[j]) / std[j] * gamma[j] + beta[j] >= 0)

    for j in range(mean.size):
        if gamma[j] == 0:
            s[j], invert[j] = (-n_in - 1, False) if beta[j] >= 0 else (n_in, False)
            continue
        tau = mean[j] - beta[j] * std[j] / gamma[j]
        t = int(np.clip(np.floor(tau), -n_in - 2, n_in + 1))
        if gamma[j] > 0:  # fires iff h >= tau: s is the largest h that does not fire
            while t + 1 <= n_in + 1 and not fires(t + 1, j):
                t += 1
            while t >= -n_in - 1 and fires(t, j):
                t -= 1
        else:  # fires iff h <= tau: s is the largest h that fires
            while t + 1 <= n_in + 1 and fires(t + 1, j):
                t += 1
            while t >= -n_in - 1 and not fires(t, j):
                t -= 1
        s[j] = t
    return s.astype(np.int32), invert


def _bits(w: torch.Tensor) -> np.ndarray:
    return (w.detach().cpu().numpy() >= 0).astype(bool)  # sign(0) = +1


def export_bnn(model: TorchBNN, metadata: dict[str, Any] | None = None) -> BNN:
    """The engine's :class:`~memsim.BNN` of a trained model (batch norm folded into integer thresholds)."""
    layers: list[Layer] = []
    c, h, w = model.input_shape
    for i, (layer, norm) in enumerate(zip(model.binary_layers, model.batch_norms, strict=True)):
        last = i == len(model.layers) - 1
        if isinstance(layer, BinaryConv2d):
            bits = _bits(layer.weight).transpose(0, 2, 3, 1)  # (O, C, 3, 3) -> (O, 3, 3, C)
            s, inv = fold_batchnorm(norm, 9 * layer.in_channels)
            padding = int(layer.padding[0]) if isinstance(layer.padding, tuple) else int(layer.padding)
            conv = Conv(layer.in_channels, layer.out_channels, padding, model.pools[i], pack_bits(bits).words, s, inv)
            layers.append(conv)
            h, w = conv.output_hw(h, w)
            c = layer.out_channels
            continue
        bits = _bits(layer.weight)
        if model.after_conv[i]:
            bits = bits.reshape(layer.out_features, c, h, w).transpose(0, 2, 3, 1)  # -> (O, H, W, C)
            in_shape: tuple[int, ...] = (h, w, c)
        else:
            in_shape = (layer.in_features,)
        s_d, inv_d = (None, None) if last else fold_batchnorm(norm, layer.in_features)
        layers.append(Dense(layer.in_features, layer.out_features, in_shape, pack_bits(bits).words, s_d, inv_d))
    net = BNN(
        model.arch,
        model.input_shape,
        np.full(model.input_shape[0], model.input_threshold, np.uint8),
        layers,
        dict(metadata or {}),
    )
    net.validate()
    return net


def import_bnn(net: BNN) -> TorchBNN:
    """A torch model that computes exactly what an engine model file computes (for checks and fine-tuning).

    Latent weights are the +-1 weights; each threshold ``s`` becomes a batch norm with mean
    ``s + 0.5``, unit variance and scale +1 (or -1 where ``invert``), so that ``BN(h) >= 0``
    iff ``h > s`` (or ``h <= s``) for every integer ``h``.
    """
    from memsim.bits import unpack_bits

    model = TorchBNN(net.arch, int(net.input_threshold[0]))
    if any(int(t) != int(net.input_threshold[0]) for t in net.input_threshold):
        raise ConfigError("per-channel input thresholds cannot be imported into TorchBNN")
    if len(model.layers) != len(net.layers):
        raise ConfigError(
            f"{net.arch}: the model file has {len(net.layers)} layers, the architecture {len(model.layers)}"
        )
    with torch.no_grad():
        for i, (layer, norm, src) in enumerate(zip(model.binary_layers, model.batch_norms, net.layers, strict=True)):
            signs = np.where(unpack_bits(src.weights, src.nbits), 1.0, -1.0).reshape(src.shape).astype(np.float32)
            if model.kinds[i] == "conv":
                weight = signs.transpose(0, 3, 1, 2)  # (O, 3, 3, C) -> (O, C, 3, 3)
            elif model.after_conv[i]:
                weight = signs.transpose(0, 3, 1, 2).reshape(signs.shape[0], -1)  # (O, H, W, C) -> (O, C*H*W)
            else:
                weight = signs
            if tuple(layer.weight.shape) != weight.shape:
                raise ConfigError(f"layer {i}: weight shape {weight.shape} does not fit {tuple(layer.weight.shape)}")
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            if src.threshold is not None and src.invert is not None:
                running_mean, running_var, bn_weight, bn_bias, eps = _bn_parameters(norm)
                running_mean.copy_(torch.from_numpy(src.threshold.astype(np.float32) + 0.5))
                running_var.fill_(1.0 - eps)
                bn_weight.copy_(torch.from_numpy(np.where(src.invert, -1.0, 1.0).astype(np.float32)))
                bn_bias.zero_()
    return model.eval()
