"""``memsim train --bits M --recipe R``: an m-bit network of a named architecture trained for bit error
robustness (:mod:`memsim.train.qat`), with checkpoints, resume and the safe torch-network model file.

The network is the float twin of the BNN architecture of the same name: per convolution ``Conv2d
3x3 (no bias) -> BatchNorm2d -> ReLU [-> MaxPool2d 2]``, per hidden dense layer ``Linear (no bias)
-> BatchNorm1d -> ReLU``, and a ``Linear`` output layer; inputs are the images scaled to [0, 1].
The best epoch on a validation split (accuracy of the quantized weights) is exported.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from memsim.bnn.architectures import architecture_spec, resolve_architecture
from memsim.datasets import load_dataset
from memsim.errors import ConfigError
from memsim.train.qat import RECIPES, QATConfig, QATTrainer
from memsim.train.trainer import _checkpoint_path, _epoch_bar, _load_checkpoint, _save_checkpoint, val_images

__all__ = ["QTrainConfig", "QTrainResult", "float_network", "train_quantized"]

#: Options that may change when a run is resumed (the rest must match the checkpoint's).
_MAY_CHANGE = ("epochs", "threads")


@dataclass
class QTrainConfig(QATConfig):
    """Options of :func:`train_quantized` (validated by :meth:`check`): the recipe's (:class:`QATConfig`) and
    the run's; see ``memsim train --help``."""

    arch: str = ""
    epochs: int = 10
    dataset: str | None = None
    train_split: str = "train"
    batch_size: int = 128
    lr: float = 1e-3
    lr_halve_every: int = 25
    val_size: int | None = None
    limit: int | None = None
    threads: int | None = None

    def qat(self) -> QATConfig:
        """The recipe's options alone."""
        return QATConfig(**{f.name: getattr(self, f.name) for f in fields(QATConfig)})

    def check(self) -> None:
        """Raise a :class:`ConfigError` naming the option, its value and the allowed range."""
        from memsim.errors import UnknownNameError

        if not self.arch:
            raise ConfigError("--arch is required: a named architecture or an architecture file")
        try:
            name = resolve_architecture(self.arch)
        except UnknownNameError as err:
            raise ConfigError(f"--arch: {err}") from None
        if self.dataset is None and not architecture_spec(name).get("dataset"):
            raise ConfigError(f"--arch {self.arch}: the architecture names no data set; give --dataset")
        self.qat().check()
        for option, value in (
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("lr_halve_every", self.lr_halve_every),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{option.replace('_', '-')} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a positive number, got {self.lr!r}")
        if self.limit is not None and self.limit < 10:
            raise ConfigError(f"--limit must be at least 10 images, got {self.limit}")


@dataclass
class QTrainResult:
    """What :func:`train_quantized` produced."""

    path: Path
    test_accuracy: float
    val_accuracy: float
    float_test_accuracy: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


def float_network(arch: str) -> nn.Sequential:
    """The float network of a named architecture (or an architecture file), as the module docstring says."""
    spec = architecture_spec(arch)
    c, h, w = spec["input_shape"]
    layers: list[nn.Module] = []
    flat: int | None = None
    items = spec["layers"]
    for i, item in enumerate(items):
        if item[0] == "conv":
            padding = item[3] if len(item) > 3 else 1
            layers += [nn.Conv2d(c, item[1], 3, padding=padding, bias=False), nn.BatchNorm2d(item[1]), nn.ReLU()]
            h, w, c = h + 2 * padding - 2, w + 2 * padding - 2, item[1]
            if item[2]:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            continue
        if flat is None:
            layers.append(nn.Flatten())
            flat = c * h * w
        last = i == len(items) - 1
        layers.append(nn.Linear(flat, item[1], bias=last))
        if not last:
            layers += [nn.BatchNorm1d(item[1]), nn.ReLU()]
        flat = item[1]
    return nn.Sequential(*layers)


def _inputs(images: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    x = torch.tensor(images, dtype=torch.float32) / 255.0
    return x.reshape(len(images), *shape)


def _accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    module.eval()
    with torch.no_grad():
        hits = sum(int((module(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(1000), y.split(1000), strict=True))
    return hits / max(len(y), 1)


def _export(model: nn.Module, cfg: QTrainConfig, shape: tuple[int, ...], name: str, dataset: str) -> Any:
    """The torch-network of ``model`` under the run's recipe (what the model file holds)."""
    from memsim.qnn import from_torch

    qat = cfg.qat()
    return from_torch(
        model, torch.zeros(2, *shape), bits=cfg.bits, scheme=qat.scheme, per_channel=cfg.per_channel,
        clip=qat.clip, rounding=qat.rounding, name=name, dataset=dataset,
    )  # fmt: skip


def train_quantized(
    cfg: QTrainConfig, out: str | Path, resume: bool = False, log: Any = None, overwrite: bool = False
) -> QTrainResult:
    """Train an m-bit network with a recipe of :data:`~memsim.train.qat.RECIPES` and write its model file.

    A checkpoint (``out + ".ckpt.pt"``, loaded with ``weights_only=True``) is written after every
    epoch; ``resume`` continues it (every option but ``epochs`` and ``threads`` must match).

    Raises
    ------
    ConfigError
        For bad options, an existing ``out`` without ``resume``/``overwrite``, or a checkpoint of
        other options.
    """
    cfg.check()
    out = Path(out)
    ckpt = _checkpoint_path(out, resume, overwrite)
    say = log or (lambda line: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    arch = resolve_architecture(cfg.arch)
    spec = architecture_spec(arch)
    shape = tuple(spec["input_shape"])
    dataset = cfg.dataset or spec["dataset"]
    images, labels = load_dataset(dataset, cfg.train_split)
    test_images, test_labels = load_dataset(dataset, "test")
    order = np.random.default_rng(cfg.seed).permutation(len(labels))[: cfg.limit]
    n_val = val_images(asdict(cfg))
    if len(order) - n_val < 2:
        raise ConfigError(f"--val-size {n_val} leaves {max(len(order) - n_val, 0)} training images; use fewer")
    train_idx, val_idx = order[: len(order) - n_val], order[len(order) - n_val :]
    x, y = _inputs(images[train_idx], shape), torch.tensor(labels[train_idx], dtype=torch.long)
    xv, yv = _inputs(images[val_idx], shape), torch.tensor(labels[val_idx], dtype=torch.long)
    torch.manual_seed(cfg.seed)
    model = float_network(arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, cfg.lr_halve_every, 0.5)
    qat = cfg.qat()
    trainer = QATTrainer(model, qat, optimizer)
    options = {k: v for k, v in asdict(cfg).items() if k not in _MAY_CHANGE}
    start, best_val, best_epoch, best_state, history = 1, -1.0, 0, None, []
    if resume and ckpt.exists():
        state = _load_checkpoint(ckpt)
        saved = json.loads(state["config"])
        changed = sorted(k for k in options if saved.get(k) != options[k])
        if changed:
            raise ConfigError(f"{ckpt}: the checkpoint was trained with other options ({', '.join(changed)})")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        trainer.step_count = int(state["step_count"])
        start, best_val, best_epoch = int(state["epoch"]) + 1, float(state["best_val"]), int(state["best_epoch"])
        best_state, history = state["best_model"], list(state["history"])
        say(f"resumed {ckpt} after epoch {start - 1} (best {best_val:.4f} @ {best_epoch})")
    for epoch in range(start, cfg.epochs + 1):
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        batches = torch.randperm(len(x), generator=generator).split(cfg.batch_size)
        bar = _epoch_bar(epoch, cfg.epochs, len(batches))
        totals = {"loss": 0.0, "accuracy": 0.0}
        for batch in batches:
            stats = trainer.step(x[batch], y[batch])
            for k in totals:
                totals[k] += stats[k] / len(batches)
            bar.update(1)
        bar.close()
        scheduler.step()
        val = _accuracy(_export(model, cfg, shape, arch, dataset).module, xv, yv)
        history.append({"epoch": epoch, **totals, "val_accuracy": val})
        if val > best_val:
            best_val, best_epoch, best_state = val, epoch, copy.deepcopy(model.state_dict())
        say(f"epoch {epoch}/{cfg.epochs}: loss {totals['loss']:.4f}, train acc {totals['accuracy']:.4f}, "
            f"val acc {val:.4f} (best {best_val:.4f} @ {best_epoch})")  # fmt: skip
        _save_checkpoint(
            ckpt,
            {
                "config": json.dumps(options, sort_keys=True),
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step_count": trainer.step_count,
                "best_val": best_val,
                "best_epoch": best_epoch,
                "best_model": best_state,
                "history": history,
            },
        )
    if best_state is None:
        raise ConfigError(f"{ckpt}: no epoch was trained (--epochs {cfg.epochs} is not past the checkpoint's)")
    model.load_state_dict(best_state)
    model.eval()
    xt, yt = _inputs(test_images, shape), torch.tensor(test_labels, dtype=torch.long)
    float_acc = _accuracy(model, xt, yt)
    from memsim.qnn import QNN

    net = _export(model, cfg, shape, f"{arch}-q{cfg.bits}-{cfg.recipe}", dataset)
    assert isinstance(net, QNN)  # bits >= 2: the torch path
    test_acc = float((net.predict(test_images) == test_labels).mean())
    net.metadata.update(
        {
            "recipe": cfg.recipe,
            "recipe_definition": RECIPES[cfg.recipe],
            "bits": cfg.bits,
            "w_max": cfg.w_max if RECIPES[cfg.recipe]["clip"] else None,
            "p": cfg.p if RECIPES[cfg.recipe]["randbet"] else None,
            "epochs": cfg.epochs,
            "best_epoch": best_epoch,
            "seed": cfg.seed,
            "val_accuracy": best_val,
            "clean_accuracy": test_acc,
            "float_accuracy": float_acc,
            "history": history,
        }
    )
    net.save(out)
    say(f"wrote {out}: clean test accuracy {test_acc:.4f} ({cfg.bits}-bit), {float_acc:.4f} with the float weights")
    return QTrainResult(out, test_acc, best_val, float_acc, best_epoch, history)
