"""The torch -> engine contract: identical integer output pre-activations and predictions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from memsim.datasets import load_dataset  # noqa: E402
from memsim.train import TorchBNN, binarize_input, export_bnn, fold_batchnorm  # noqa: E402


def randomised(arch: str, seed: int) -> TorchBNN:
    """A model with random latent weights and batch-norm statistics (both signs of gamma, zeros included)."""
    torch.manual_seed(seed)
    model = TorchBNN(arch, input_threshold=40)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.uniform_(-1, 1)
            layer.weight[0].view(-1)[:3] = 0.0  # sign(0) = +1 on both sides
        for norm in model.norms:
            if isinstance(norm, torch.nn.Identity):
                continue
            n = norm.num_features
            norm.running_mean.uniform_(-20, 20)
            norm.running_var.uniform_(5, 400)
            norm.weight.uniform_(-1, 1)
            norm.weight[:2] = torch.tensor([0.0, -0.5])
            norm.bias.uniform_(-1, 1)
            norm.bias[0] = 0.3
            assert n >= 2
    return model.eval()


def torch_h(model: TorchBNN, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(binarize_input(images, model.input_threshold, model.input_shape)).numpy().astype(np.int64)


@pytest.mark.parametrize("arch", ["fashion-fcnn", "fashion-cnn"])
def test_export_gives_identical_h_and_predictions(arch):
    images, _ = load_dataset("fashion-mnist-demo")
    model = randomised(arch, 0)
    net = export_bnn(model)
    h_torch = torch_h(model, images[:300])
    h_engine = net.forward(images[:300])
    np.testing.assert_array_equal(h_engine, h_torch)
    np.testing.assert_array_equal(net.predict(images[:300]), h_torch.argmax(1))


def test_cifar10_cnn_export_contract_on_a_few_images():
    model = randomised("cifar10-cnn", 1)
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    np.testing.assert_array_equal(export_bnn(model).forward(images), torch_h(model, images))


def test_fold_batchnorm_matches_float64_bn_on_every_integer():
    torch.manual_seed(3)
    norm = torch.nn.BatchNorm1d(64).eval()
    with torch.no_grad():
        norm.running_mean.uniform_(-30, 30)
        norm.running_var.uniform_(1, 100)
        norm.weight.uniform_(-2, 2)
        norm.weight[:3] = torch.tensor([0.0, 0.0, 1e-9])
        norm.bias.uniform_(-2, 2)
        norm.bias[:2] = torch.tensor([0.5, -0.5])
    n = 50
    s, inv = fold_batchnorm(norm, n)
    h = np.arange(-n, n + 1)[:, None].astype(np.float64)
    bn = (h - norm.running_mean.double().numpy()) / np.sqrt(norm.running_var.double().numpy() + norm.eps)
    fires = bn * norm.weight.detach().double().numpy() + norm.bias.detach().double().numpy() >= 0
    np.testing.assert_array_equal((h > s) != inv, fires)
