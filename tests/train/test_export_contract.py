"""The torch -> engine contract: identical integer output pre-activations and predictions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import data_root  # noqa: E402

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


SHARED = data_root()


def shipped_models() -> list[str]:
    """The shipped BNNs (the torch networks' files have their own contract: tests/train/test_qtrain.py)."""
    from memsim.bnn import available_models
    from memsim.bnn.modelfile import model_path
    from memsim.experiment.networks import is_qnn_file

    return [name for name in available_models() if not is_qnn_file(model_path(name))]


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped_models())
def test_every_shipped_model_keeps_the_contract_on_the_full_test_set(name, monkeypatch):
    """torch (eval) and the engine give identical h and predictions on all 10,000 test images."""
    from memsim.bnn import load_model
    from memsim.train import import_bnn

    if not (SHARED / "fashion-mnist").is_dir():
        pytest.skip(f"no fashion-mnist in {SHARED} ($MEMSIM_DATA or ../shared/datasets)")
    monkeypatch.setenv("MEMSIM_DATA", str(SHARED))
    net = load_model(name)
    images, labels = load_dataset(net.metadata["dataset"], "test")
    model = import_bnn(net)
    h_engine = net.forward(images)
    h_torch = np.concatenate([torch_h(model, images[i : i + 2000]) for i in range(0, len(images), 2000)])
    np.testing.assert_array_equal(h_engine, h_torch)
    accuracy = float(np.mean(h_engine.argmax(1) == labels))
    print(f"{name}: engine accuracy {accuracy:.4f} (metadata {net.metadata['clean_accuracy']:.4f})")
    assert accuracy == pytest.approx(net.metadata["clean_accuracy"], abs=1e-12)


def test_import_round_trip():
    from memsim.train import import_bnn

    net = export_bnn(randomised("fashion-cnn", 4))
    again = export_bnn(import_bnn(net))
    for a, b in zip(net.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        if a.threshold is not None:
            np.testing.assert_array_equal((np.arange(-600, 600)[:, None] > a.threshold) != a.invert,
                                          (np.arange(-600, 600)[:, None] > b.threshold) != b.invert)  # fmt: skip


def test_an_architecture_file_trains_and_exports_with_the_contract(tmp_path, monkeypatch):
    """A user's architecture (valid and same padding, pooling) keeps the torch-engine contract."""
    from memsim.bnn import architectures

    monkeypatch.setattr(architectures, "ARCHITECTURES", dict(architectures.ARCHITECTURES))
    monkeypatch.setattr("memsim.train.model.ARCHITECTURES", architectures.ARCHITECTURES)
    monkeypatch.setattr("memsim.bnn.network.ARCHITECTURES", architectures.ARCHITECTURES)
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ninput_shape: [1, 28, 28]\nlayers:\n  - {conv: 6, pool: true, padding: 0}\n"
                    "  - {conv: 8}\n  - {dense: 24}\n  - {dense: 10}\n")  # fmt: skip
    model = randomised(str(path), 2)
    assert model.arch == "mine"
    images, _ = load_dataset("fashion-mnist-demo")
    net = export_bnn(model)
    assert [layer.padding for layer in net.layers[:2]] == [0, 1]
    np.testing.assert_array_equal(net.forward(images[:100]), torch_h(model, images[:100]))


def test_from_torch_with_one_bit_exports_a_torch_bnn_to_the_engine():
    """`memsim.qnn.from_torch(bits=1)`: memsim's own torch BNN becomes the engine's BNN, outputs identical."""
    from memsim import BNN
    from memsim.qnn import from_torch

    model = randomised("fashion-cnn", 5)
    images, _ = load_dataset("fashion-mnist-demo")
    net = from_torch(model, torch.zeros(1, 1, 28, 28), bits=1, dataset="fashion-mnist")
    assert isinstance(net, BNN) and net.metadata["dataset"] == "fashion-mnist"
    np.testing.assert_array_equal(net.forward(images[:100]), torch_h(model, images[:100]))
