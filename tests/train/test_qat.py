"""Quantization-aware training for bit error robustness (issue 26, item 1): STE updates, clipping, RandBET's
fresh flips at rate p with clean batch-norm statistics, and an export whose codes are the ones trained on."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from memsim import ConfigError, load_dataset  # noqa: E402
from memsim.qnn import from_torch  # noqa: E402
from memsim.train.qat import QATConfig, QATTrainer  # noqa: E402


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10))


def _data():
    images, labels = load_dataset("fashion-mnist-demo")
    x = torch.tensor(images[:, None], dtype=torch.float32) / 255.0
    return x, torch.as_tensor(labels, dtype=torch.long)


def _train(recipe, bits=4, epochs=3, **options):
    module = _net()
    config = QATConfig(bits=bits, recipe=recipe, **options)
    trainer = QATTrainer(module, config, torch.optim.Adam(module.parameters(), lr=2e-3))
    x, y = _data()
    for _ in range(epochs):
        for batch in torch.randperm(700, generator=torch.Generator().manual_seed(1)).split(64):
            stats = trainer.step(x[batch], y[batch])
    return module, trainer, stats


@pytest.mark.parametrize("recipe", ["normal", "robust", "clip", "randbet"])
def test_every_recipe_learns_and_exports_the_codes_it_trained_on(recipe):
    module, trainer, stats = _train(recipe)
    x, y = _data()
    qnn = from_torch(module, x[:2], bits=4, scheme=trainer.config.scheme, clip=trainer.config.clip,
                     rounding=trainer.config.rounding)  # fmt: skip
    for layer, q in zip(qnn.layers, trainer.quantized(), strict=True):
        assert np.array_equal(layer.q.codes, q.codes), f"{layer.name}: the exported codes are the trained ones"
    accuracy = float((qnn.predict(x[700:].numpy()) == y[700:].numpy()).mean())
    print(f"\n{recipe}: held-out accuracy {accuracy:.3f} of the exported 4-bit network; last step {stats}")
    assert accuracy > 0.6
    if trainer.config.clip is not None:
        assert max(
            float(p.abs().max()) for n, p in module.named_parameters() if n.endswith("weight") and p.dim() > 1
        ) <= np.float32(0.1)


def test_randbet_flips_at_rate_p_reproducibly_and_keeps_clean_batch_norm_statistics():
    module = _net()
    config = QATConfig(bits=8, recipe="randbet", p=0.01, seed=4)
    trainer = QATTrainer(module, config, torch.optim.SGD(module.parameters(), lr=0.0))
    codes = trainer.quantized()
    flipped = trainer.perturbed(codes, 7)
    again = trainer.perturbed(codes, 7)
    bits = sum(q.nbits for q in codes)
    changed = sum(
        int(np.unpackbits((a.codes ^ b.codes).astype(">u4").view(np.uint8)).sum())
        for a, b in zip(codes, flipped, strict=True)
    )
    print(f"\nRandBET: {changed} of {bits} bits flipped ({changed / bits:.4f}, p = 0.01)")
    assert abs(changed / bits - 0.01) < 5 * np.sqrt(0.01 * 0.99 / bits)
    assert all(np.array_equal(a.codes, b.codes) for a, b in zip(flipped, again, strict=True))
    assert not all(np.array_equal(a.codes, b.codes) for a, b in zip(flipped, trainer.perturbed(codes, 8), strict=True))
    # the running statistics after a RandBET step are those of the clean forward alone
    twin = copy.deepcopy(module)
    clip_trainer = QATTrainer(
        twin, QATConfig(bits=8, recipe="clip", seed=4), torch.optim.SGD(twin.parameters(), lr=0.0)
    )
    x, y = _data()
    trainer.step(x[:64], y[:64])
    clip_trainer.step(x[:64], y[:64])
    torch.testing.assert_close(module[2].running_mean, twin[2].running_mean)


def test_bad_options_are_named():
    with pytest.raises(ConfigError, match=r"recipe 'fancy' is not one of normal, robust, clip, randbet"):
        QATConfig(recipe="fancy").check()
    with pytest.raises(ConfigError, match=r"p must be in \(0, 0.5\] for randbet, got 0.0"):
        QATConfig(recipe="randbet", p=0.0).check()
    with pytest.raises(ConfigError, match=r"bits 1: quantization-aware training takes 2..8 or 16 bits"):
        QATConfig(bits=1).check()
