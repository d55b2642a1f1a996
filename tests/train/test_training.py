"""Training on tiny subsets: losses, STE, flip injection, checkpoints and resume, bad options."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from memsim import MemsimError  # noqa: E402
from memsim.bnn import load_model  # noqa: E402
from memsim.datasets import load_dataset  # noqa: E402
from memsim.train import FlipInjector, TrainConfig, modified_hinge_loss, sign_ste, train  # noqa: E402


@pytest.fixture
def demo_data(monkeypatch):
    """Train on the shipped demo subset (no data set needed): 'train' and 'test' both come from it."""
    import memsim.train.trainer as trainer

    monkeypatch.setattr(trainer, "load_dataset", lambda name, split: load_dataset("fashion-mnist-demo"))


def test_sign_ste_encoding_and_gradient():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]  # sign(0) = +1, as the engine packs it
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # passed only where |x| <= 1


def test_flip_injection_rate_and_straight_through_gradient():
    w = torch.ones(200_000, requires_grad=True)
    flipped = FlipInjector(0.1, torch.Generator().manual_seed(0))(w)
    rate = float((flipped < 0).float().mean())
    assert abs(rate - 0.1) < 3.29 * (0.1 * 0.9 / 200_000) ** 0.5, rate
    flipped.sum().backward()
    assert torch.all(w.grad == 1.0), "the gradient passes straight through the flips"
    with pytest.raises(ValueError, match=r"training BER must be in \[0, 0.5\]"):
        FlipInjector(0.6)


def test_modified_hinge_loss_by_hand():
    h = torch.tensor([[10.0, -4.0, 2.0]])
    # y_enc = [+1, -1, -1] for class 0, y_enc * h = [10, 4, -2]; b - y_enc * h with b = 8: [-2, 4, 10]
    loss = modified_hinge_loss(h, torch.tensor([0]), b=8.0)
    assert float(loss) == pytest.approx((0 + 4 + 10) / 3 / 8)


@pytest.mark.slow
def test_tiny_training_run_writes_a_working_model(tmp_path, demo_data):
    out = tmp_path / "tiny.npz"
    result = train(TrainConfig("fashion-fcnn", loss="mhl", b=32, train_ber=0.05, epochs=2, limit=600), out)
    net = load_model(out, arch="fashion-fcnn")
    meta = net.metadata
    assert meta["loss"] == "mhl" and meta["b"] == 32 and meta["train_ber"] == 0.05 and meta["epochs"] == 2
    assert meta["clean_accuracy"] == pytest.approx(result.test_accuracy) and len(meta["history"]) == 2
    assert meta["export_contract"].startswith("identical output h")
    assert [h["lr"] for h in meta["history"]] == [1e-3, 1e-3], "lr halved only after 25 epochs by default"
    images, labels = load_dataset("fashion-mnist-demo")
    acc = float(np.mean(net.predict(images[:600]) == labels[:600]))
    print(f"accuracy after 2 epochs on 480 images: {acc:.3f}")
    assert acc > 0.4, "well above chance (0.1)"


@pytest.mark.slow
def test_lr_schedule_halves_every_n_epochs(tmp_path, demo_data):
    train(TrainConfig("fashion-fcnn", epochs=5, limit=100, lr=4e-3, lr_halve_every=2), tmp_path / "s.npz")
    assert [h["lr"] for h in load_model(tmp_path / "s.npz").metadata["history"]] == [4e-3, 4e-3, 2e-3, 2e-3, 1e-3]


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, demo_data):
    cfg = TrainConfig("fashion-fcnn", loss="cel", train_ber=0.02, epochs=2, limit=400)
    straight = tmp_path / "straight.npz"
    train(cfg, straight)

    class Stop(Exception):
        pass

    def stop_after_first_epoch(line):
        if line.startswith("epoch 1/2"):
            raise Stop

    broken = tmp_path / "resumed.npz"
    with pytest.raises(Stop):
        train(cfg, broken, log=stop_after_first_epoch)
    assert not broken.exists() and (tmp_path / "resumed.npz.ckpt.pt").exists()
    train(cfg, broken, resume=True)
    a, b = load_model(straight), load_model(broken)
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weights, lb.weights)
        if la.threshold is not None:
            np.testing.assert_array_equal(la.threshold, lb.threshold)
    with pytest.raises(MemsimError, match="the checkpoint was made with other options"):
        train(TrainConfig("fashion-fcnn", loss="cel", epochs=3, limit=400), broken, resume=True)
    with pytest.raises(MemsimError, match="--epochs 1 is fewer than the 2 epochs the checkpoint has done"):
        train(TrainConfig("fashion-fcnn", loss="cel", train_ber=0.02, epochs=1, limit=400), broken, resume=True)


@pytest.mark.slow
def test_resume_with_more_epochs_extends_a_finished_run(tmp_path, demo_data):
    cfg = {"arch": "fashion-fcnn", "loss": "mhl", "b": 16.0, "limit": 300, "lr_halve_every": 1}
    straight, extended = tmp_path / "straight.npz", tmp_path / "extended.npz"
    train(TrainConfig(**cfg, epochs=3), straight)
    train(TrainConfig(**cfg, epochs=2), extended)
    threads = torch.get_num_threads()  # a different --threads is accepted on resume (here: same count)
    train(TrainConfig(**cfg, epochs=3, threads=threads), extended, resume=True)
    a, b = load_model(straight), load_model(extended)
    assert b.metadata["epochs"] == 3 and len(b.metadata["history"]) == 3
    assert [h["lr"] for h in b.metadata["history"]] == [1e-3, 5e-4, 2.5e-4]
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weights, lb.weights)


@pytest.mark.slow
def test_cnn_and_cifar_code_paths_train(tmp_path, monkeypatch):
    import memsim.train.trainer as trainer

    rng = np.random.default_rng(0)
    fake = (rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 40).astype(np.uint8))
    monkeypatch.setattr(trainer, "load_dataset", lambda name, split: fake)
    result = train(TrainConfig("cifar10-cnn", epochs=1, limit=40, batch_size=16), tmp_path / "c.npz")
    assert load_model(tmp_path / "c.npz").arch == "cifar10-cnn" and 0.0 <= result.test_accuracy <= 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"loss": "mhl", "b": -4.0}, r"--b -4.0: the modified hinge loss needs b > 0"),
        ({"loss": "mhl"}, r"needs b > 0"),
        ({"train_ber": 0.6}, r"--train-ber 0.6 is outside \[0, 0.5\]"),
        ({"train_ber": -0.1}, r"--train-ber -0.1 is outside \[0, 0.5\]"),
        ({"epochs": 0}, r"--epochs 0 must be at least 1"),
        ({"loss": "mse"}, r"--loss 'mse' must be 'cel' or 'mhl'"),
        ({"b": 8.0}, r"--b applies to --loss mhl only"),
        ({"lr": 0.0}, r"--lr 0.0 must be positive"),
        ({"lr_halve_every": 0}, r"--lr-halve-every 0 must be at least 1"),
        ({"batch_size": 0}, r"--batch-size 0 must be at least 1"),
        ({"val_size": -1}, r"--val-size -1 must be at least 0"),
    ],
)
def test_bad_training_options(tmp_path, options, message):
    with pytest.raises(MemsimError, match=message):
        train(TrainConfig("fashion-fcnn", **options), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.slow
def test_train_command(capsys, tmp_path, demo_data):
    from memsim.cli.app import main

    out = tmp_path / "cli.npz"
    args = ["train", "--arch", "fashion-fcnn", "--loss", "mhl", "--b", "64", "--epochs", "2", "--limit", "200"]
    assert main([*args, "--lr", "2e-3", "--lr-halve-every", "1", "--out", str(out)]) == 0
    assert "clean test accuracy" in capsys.readouterr().out
    meta = load_model(out).metadata
    assert meta["b"] == 64 and [h["lr"] for h in meta["history"]] == [2e-3, 1e-3]
    assert main([*args, "--lr-halve-every", "0", "--out", str(tmp_path / "bad.npz")]) == 1
    assert "--lr-halve-every 0 must be at least 1 (epochs)" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()


def _shift_twin(x, dy, dx, shift):
    """Slow twin of random_shift for one image and one offset: a loop over output pixels."""
    c, h, w = x.shape
    out = np.full((c, h, w), -1.0, dtype=np.float32)
    for r in range(h):
        for q in range(w):
            sr, sq = r + dy - shift, q + dx - shift
            if 0 <= sr < h and 0 <= sq < w:
                out[:, r, q] = x[:, sr, sq]
    return out


def test_random_shift_matches_its_twin_and_is_seeded():
    from memsim.train import random_shift

    x = torch.where(torch.rand(6, 3, 7, 9, generator=torch.Generator().manual_seed(1)) > 0.5, 1.0, -1.0)
    shifted = random_shift(x, 2, torch.Generator().manual_seed(5))
    offsets = torch.randint(0, 5, (6, 2), generator=torch.Generator().manual_seed(5))  # the draws it made
    for i in range(6):
        expected = _shift_twin(x[i].numpy(), int(offsets[i, 0]), int(offsets[i, 1]), 2)
        np.testing.assert_array_equal(shifted[i].numpy(), expected)
    assert len({tuple(o) for o in offsets.tolist()}) > 1, "each image draws its own offset"
    np.testing.assert_array_equal(shifted, random_shift(x, 2, torch.Generator().manual_seed(5)))


def test_recalibrate_batchnorm_gives_population_statistics():
    from memsim.train import TorchBNN, binarize_input, recalibrate_batchnorm

    images, _ = load_dataset("fashion-mnist-demo")
    x = binarize_input(images[:300], 40, (1, 28, 28))
    model = TorchBNN("fashion-fcnn")
    model.set_flip_injection(0.3, torch.Generator().manual_seed(0))
    recalibrate_batchnorm(model, x, batch=64)  # 4 full batches of 64, the last 44 images unused
    assert not model.training and model.layers[0].injector is not None, "injection restored"
    assert model.norms[0].momentum == 0.1
    h = model.layers[0](x[:256].flatten(1)).detach()  # no injection in eval mode
    np.testing.assert_allclose(model.norms[0].running_mean, h.mean(0), rtol=1e-5, atol=1e-4)
    per_batch = torch.stack([h[i : i + 64].var(0) for i in range(0, 256, 64)]).mean(0)
    np.testing.assert_allclose(model.norms[0].running_var, per_batch, rtol=1e-4, atol=1e-3)
    print(
        f"population / averaged per-batch variance, median over neurons: {float((h.var(0) / per_batch).median()):.4f}"
    )


def test_recalibrate_batchnorm_under_flips_matches_its_twin():
    """Statistics estimated at a BER: per batch, fresh flips of every layer's weights, drawn in layer order."""
    from memsim.train import TorchBNN, binarize_input, recalibrate_batchnorm

    images, _ = load_dataset("fashion-mnist-demo")
    x = binarize_input(images[:200], 40, (1, 28, 28))
    model = TorchBNN("fashion-fcnn")
    recalibrate_batchnorm(model, x, batch=50, ber=0.2, generator=torch.Generator().manual_seed(3))
    assert model.layers[0].injector is None, "no injection after the estimate"
    gen = torch.Generator().manual_seed(3)
    signs = [torch.where(layer.weight >= 0, 1.0, -1.0).detach() for layer in model.layers]
    hs = []
    for i in range(0, 200, 50):
        draws = [torch.rand(s.shape, generator=gen) < 0.2 for s in signs]  # the injector's order: layer by layer
        hs.append(x[i : i + 50].flatten(1) @ torch.where(draws[0], -signs[0], signs[0]).T)
    h = torch.cat(hs)
    np.testing.assert_allclose(model.norms[0].running_mean, h.mean(0), rtol=1e-5, atol=1e-4)
    per_batch = torch.stack([b.var(0) for b in hs]).mean(0)
    np.testing.assert_allclose(model.norms[0].running_var, per_batch, rtol=1e-4, atol=1e-3)
    clean = x[:200].flatten(1) @ signs[0].T
    shift = float((h.mean(0) - clean.mean(0)).abs().mean())
    print(f"mean |shift| of the layer-0 batch-norm mean at BER 0.2 vs clean: {shift:.2f} (of n = 784)")
    assert shift > 1.0


@pytest.mark.slow
def test_augmented_recalibrated_run_resumes_exactly(tmp_path, demo_data):
    cfg = {"arch": "fashion-cnn", "limit": 120, "batch_size": 32, "augment_shift": 2, "recalibrate_bn": True}
    train(TrainConfig(**cfg, epochs=2), tmp_path / "a.npz")
    train(TrainConfig(**cfg, epochs=1), tmp_path / "b.npz")
    train(TrainConfig(**cfg, epochs=2), tmp_path / "b.npz", resume=True)
    a, b = load_model(tmp_path / "a.npz"), load_model(tmp_path / "b.npz")
    assert a.metadata["augment_shift"] == 2 and a.metadata["recalibrate_bn"] is True
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weights, lb.weights)
        if la.threshold is not None:
            np.testing.assert_array_equal(la.threshold, lb.threshold)


@pytest.mark.slow
def test_init_from_warm_starts_at_the_source_best_epoch(tmp_path, demo_data):
    import hashlib

    cfg = {"arch": "fashion-fcnn", "loss": "cel", "limit": 300}
    source = tmp_path / "source.npz"
    train(TrainConfig(**cfg, epochs=2), source)
    ckpt = tmp_path / "source.npz.ckpt.pt"
    # a vanishing lr keeps every latent weight's sign: the fine-tuned weights are the source's best epoch
    tuned = tmp_path / "tuned.npz"
    train(TrainConfig(**cfg, epochs=1, lr=1e-12, init_from=str(ckpt)), tuned)
    src, out = load_model(source), load_model(tuned)
    for ls, lt in zip(src.layers, out.layers, strict=True):
        np.testing.assert_array_equal(ls.weights, lt.weights)
    record = out.metadata["init_from"]
    assert record["file"] == ckpt.name and record["best_epoch"] == src.metadata["best_epoch"]
    assert record["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest() and record["epochs_done"] == 2
    cold = tmp_path / "cold.npz"  # the control: the same run without the warm start learns other weights
    train(TrainConfig(**cfg, epochs=1, lr=1e-12), cold)
    assert any(
        not np.array_equal(a.weights, b.weights) for a, b in zip(src.layers, load_model(cold).layers, strict=True)
    )
    # resuming a fine-tune whose source has changed since is refused
    train(TrainConfig(**cfg, epochs=3), source, resume=True)
    with pytest.raises(MemsimError, match=r"has changed since tuned\.npz\.ckpt\.pt was started"):
        train(TrainConfig(**cfg, epochs=2, lr=1e-12, init_from=str(ckpt)), tuned, resume=True)


def test_init_from_bad_sources(tmp_path, demo_data):
    cfg = {"arch": "fashion-fcnn", "loss": "cel", "limit": 300, "epochs": 1}
    with pytest.raises(MemsimError, match=r"--init-from 'm.npz': give a training checkpoint"):
        train(TrainConfig(**cfg, init_from="m.npz"), tmp_path / "t.npz")
    with pytest.raises(MemsimError, match=r"no such file"):
        train(TrainConfig(**cfg, init_from=str(tmp_path / "none.npz.ckpt.pt")), tmp_path / "t.npz")
    junk = tmp_path / "junk.npz.ckpt.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(MemsimError, match=r"junk.npz.ckpt.pt: not a memsim training checkpoint"):
        train(TrainConfig(**cfg, init_from=str(junk)), tmp_path / "t.npz")
    train(TrainConfig(**cfg), tmp_path / "s.npz")
    with pytest.raises(MemsimError, match=r"field 'seed' is 0, but this run has --seed 1; they must match"):
        train(TrainConfig(**cfg, seed=1, init_from=str(tmp_path / "s.npz.ckpt.pt")), tmp_path / "t.npz")
    with pytest.raises(MemsimError, match=r"field 'arch' is 'fashion-fcnn', but this run has --arch 'fashion-cnn'"):
        train(
            TrainConfig(**{**cfg, "arch": "fashion-cnn"}, init_from=str(tmp_path / "s.npz.ckpt.pt")), tmp_path / "t.npz"
        )
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.slow
def test_finished_run_is_reexported_with_recalibrated_batchnorm(tmp_path, demo_data):
    cfg = {"arch": "fashion-cnn", "limit": 120, "batch_size": 32, "epochs": 2}
    train(TrainConfig(**cfg, recalibrate_bn=True), tmp_path / "straight.npz")
    train(TrainConfig(**cfg), tmp_path / "later.npz")
    before = load_model(tmp_path / "later.npz")
    train(TrainConfig(**cfg, recalibrate_bn=True), tmp_path / "later.npz", resume=True)  # no epoch left: export only
    straight, after = load_model(tmp_path / "straight.npz"), load_model(tmp_path / "later.npz")
    assert after.metadata["recalibrate_bn"] is True and len(after.metadata["history"]) == 2
    assert any(
        not np.array_equal(a.threshold, b.threshold) for a, b in zip(before.layers[:-1], after.layers[:-1], strict=True)
    )
    for ls, la in zip(straight.layers, after.layers, strict=True):
        np.testing.assert_array_equal(ls.weights, la.weights)
        if ls.threshold is not None:
            np.testing.assert_array_equal(ls.threshold, la.threshold)


class _Exploit:
    """A pickle that creates a file when it is loaded (what a crafted checkpoint does)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path, demo_data):
    import torch

    from memsim import ConfigError
    from memsim.train import TrainConfig, train

    marker = tmp_path / "pwned"
    out = tmp_path / "m.npz"
    ckpt = tmp_path / "m.npz.ckpt.pt"
    torch.save({"config": "{}", "payload": _Exploit(str(marker))}, ckpt)
    cfg = TrainConfig(arch="fashion-fcnn", loss="cel", epochs=1, limit=64, val_size=16)
    safe_only = (
        r"not a memsim training checkpoint: it holds objects other than tensors and plain data, and memsim "
        r"loads only safe checkpoints \(torch.load with weights_only=True\)$"
    )
    with pytest.raises(ConfigError, match=safe_only):  # one line, and no advice to load it unsafely
        train(cfg, out, resume=True)
    with pytest.raises(ConfigError, match=safe_only):
        train(TrainConfig(arch="fashion-fcnn", loss="cel", epochs=1, limit=64, val_size=16, init_from=str(ckpt)),
              tmp_path / "n.npz")  # fmt: skip
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert not out.exists() and not (tmp_path / "n.npz").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": -1}, "--seed -1 must be a non-negative integer"),
        ({"threads": -1}, "--threads -1 must be at least 1"),
        ({"val_size": 1000}, "--val-size 1000 leaves 0 training images of the 1000 in the split; use at most 998"),
        ({"val_size": 999}, "--val-size 999 leaves 1 training images"),
    ],
)
def test_bad_training_options_are_clear_errors(tmp_path, demo_data, changes, message):
    cfg = TrainConfig(**{"arch": "fashion-fcnn", "loss": "cel", "epochs": 1, **changes})
    with pytest.raises(MemsimError, match=re.escape(message)):
        train(cfg, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir()), "nothing written"


def test_val_size_is_never_clamped_only_its_default_follows_limit(tmp_path, demo_data):
    """--limit 100 holds out a fifth (20) by default; an explicit --val-size is used as given, or refused."""
    from memsim.train.trainer import val_images

    assert val_images(TrainConfig("fashion-fcnn", limit=100).__dict__) == 20
    assert val_images(TrainConfig("fashion-fcnn", limit=100, val_size=50).__dict__) == 50  # was clamped to 20
    assert val_images(TrainConfig("fashion-fcnn").__dict__) == 5000
    assert val_images({"val_size": 5000, "limit": 100}, saved=True) == 20  # a checkpoint of the older rule
    train(TrainConfig("fashion-fcnn", loss="cel", epochs=1, limit=100, val_size=50), tmp_path / "m.npz")
    meta = load_model(tmp_path / "m.npz").metadata
    assert (meta["val_size"], meta["train_size"]) == (50, 50)
    with pytest.raises(MemsimError, match=re.escape("--val-size 99 leaves 1 training images of the 100")):
        train(TrainConfig("fashion-fcnn", loss="cel", epochs=1, limit=100, val_size=99), tmp_path / "n.npz")


def test_an_existing_model_is_not_overwritten_without_overwrite(tmp_path, demo_data):
    out = tmp_path / "m.npz"
    out.write_bytes(b"my precious model")
    cfg = TrainConfig(arch="fashion-fcnn", loss="cel", epochs=1, limit=64, val_size=16)
    with pytest.raises(MemsimError, match=r"m\.npz exists; pass --resume to continue its training, or --overwrite"):
        train(cfg, out)
    assert out.read_bytes() == b"my precious model"
    train(cfg, out, overwrite=True)
    assert out.read_bytes() != b"my precious model"


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path, demo_data):
    from memsim import ConfigError

    out = tmp_path / "m.npz"
    (tmp_path / "m.npz.ckpt.pt").write_bytes(b"\x80\x04garbage, not a checkpoint")
    cfg = TrainConfig(arch="fashion-fcnn", loss="cel", epochs=1, limit=64, val_size=16)
    with pytest.raises(ConfigError, match=r"m\.npz\.ckpt\.pt: not a memsim training checkpoint"):
        train(cfg, out, resume=True)
