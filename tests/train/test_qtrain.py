"""`memsim train --bits M --recipe R` (issue 26, item 1): a run writes a torch network's model file holding
the codes it trained on; an interrupted run resumes to the same weights; options are checked."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from memsim import ConfigError, load_network  # noqa: E402
from memsim.train.qtrain import QTrainConfig, float_network, train_quantized  # noqa: E402

TINY = {"arch": "fashion-fcnn", "dataset": "fashion-mnist-demo", "train_split": "test", "limit": 400,
        "val_size": 100, "batch_size": 50}  # fmt: skip


def test_a_run_exports_the_codes_it_trained_and_resumes_exactly(tmp_path):
    cfg = QTrainConfig(bits=4, recipe="randbet", epochs=2, **TINY)
    whole = train_quantized(cfg, tmp_path / "whole.npz")
    net = load_network(tmp_path / "whole.npz")
    assert net.arch == "fashion-fcnn-q4-randbet" and net.metadata["recipe"] == "randbet" and net.metadata["p"] == 0.01
    assert net.metadata["clean_accuracy"] == pytest.approx(whole.test_accuracy)
    assert [layer.q.scheme for layer in net.layers] == ["asymmetric"] * 3
    first = QTrainConfig(bits=4, recipe="randbet", epochs=1, **TINY)
    train_quantized(first, tmp_path / "split.npz")
    resumed = train_quantized(cfg, tmp_path / "split.npz", resume=True)
    again = load_network(tmp_path / "split.npz")
    assert resumed.history == whole.history
    for a, b in zip(net.layers, again.layers, strict=True):
        assert np.array_equal(a.q.codes, b.q.codes), "the resumed run ends on the same codes"
    print(f"\n4-bit randbet, 2 epochs on 300 demo images: test accuracy {whole.test_accuracy:.3f}")


def test_options_are_checked_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"recipe 'best' is not one of"):
        train_quantized(QTrainConfig(recipe="best", **TINY), tmp_path / "m.npz")
    with pytest.raises(ConfigError, match=r"--epochs must be a positive integer, got 0"):
        train_quantized(QTrainConfig(epochs=0, **TINY), tmp_path / "m.npz")
    train_quantized(QTrainConfig(epochs=1, **TINY), tmp_path / "m.npz")
    with pytest.raises(ConfigError, match=r"the checkpoint was trained with other options \(recipe\)"):
        train_quantized(QTrainConfig(epochs=2, recipe="robust", **TINY), tmp_path / "m.npz", resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "m.npz.ckpt.pt"]


def test_the_float_twin_of_an_architecture():
    cnn = float_network("fashion-cnn")
    kinds = [type(m).__name__ for m in cnn]
    assert kinds[:8] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert cnn(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for n, p in cnn.named_parameters() if n.endswith("weight") and p.dim() > 1) == (
        64 * 9 + 64 * 64 * 9 + 64 * 7 * 7 * 2048 + 2048 * 10
    )


@pytest.mark.slow
def test_the_cli_refuses_bnn_options_for_an_m_bit_network(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "memsim", "train", "--arch", "fashion-fcnn", "--bits", "8", "--loss", "mhl", "--b", "32",
         "--out", str(tmp_path / "m.npz")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0 and "--loss trains a BNN; an m-bit network (--bits) does not take it" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "memsim", "train", "--arch", "fashion-fcnn", "--recipe", "clip", "--out", str(tmp_path / "m.npz")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0 and "--recipe is for an m-bit network: give --bits too" in run.stderr
    assert not list(tmp_path.iterdir())
