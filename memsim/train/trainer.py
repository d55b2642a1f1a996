"""Training BNNs for bit error tolerance: CEL or MHL, optional weight-sign-flip injection, export to the engine.

Setup of the reference papers (DESIGN.md): Adam, lr 1e-3, batch 256, lr halved every
25 epochs, latent weights clipped to [-1, 1] (Hubara et al.). A validation split
(the last ``val_size`` images of a seeded permutation of the training set) picks the
best epoch; clean test accuracy is measured by the numba engine on the exported model.
Every epoch writes a checkpoint (atomically); ``resume=True`` continues from it, also
with a larger ``epochs`` to extend a finished run. ``init_from`` warm-starts a new run
(fine-tuning) from the best epoch of another run's checkpoint, with a fresh optimizer,
schedule and random streams.
"""

from __future__ import annotations

import io
import json
import logging
import math
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memsim.bnn.architectures import INPUT_THRESHOLD
from memsim.bnn.modelfile import save_model
from memsim.bnn.network import BNN
from memsim.datasets import load_dataset
from memsim.errors import ConfigError
from memsim.fileio import sha256, write_bytes_atomic
from memsim.train.layers import FlipInjector
from memsim.train.model import TorchBNN, binarize_input, export_bnn, modified_hinge_loss

__all__ = ["DEFAULT_DATASET", "TrainConfig", "TrainResult", "random_shift", "recalibrate_batchnorm", "train"]

#: The built-in architectures' data sets (an architecture file names its own with ``dataset``).
DEFAULT_DATASET = {"fashion-fcnn": "fashion-mnist", "fashion-cnn": "fashion-mnist", "cifar10-cnn": "cifar10"}


@dataclass
class TrainConfig:
    """Options of :func:`train` (validated by :meth:`check`)."""

    arch: str
    loss: str = "cel"
    b: float | None = None
    train_ber: float = 0.0
    epochs: int = 20
    seed: int = 0
    input_threshold: int = INPUT_THRESHOLD
    dataset: str | None = None
    train_split: str = "train"
    batch_size: int = 256
    lr: float = 1e-3
    lr_halve_every: int = 25
    val_size: int | None = None
    limit: int | None = None
    threads: int | None = None
    augment_shift: int = 0
    recalibrate_bn: bool = False
    init_from: str | None = None

    def check(self) -> None:
        """Raise :class:`MemsimError` naming the option, value and allowed range."""
        from memsim.bnn.architectures import ARCHITECTURES, resolve_architecture
        from memsim.errors import UnknownNameError

        try:
            name = resolve_architecture(self.arch)
        except UnknownNameError:
            raise ConfigError(
                f"--arch {self.arch!r} is not one of {', '.join(ARCHITECTURES)} nor a .yaml/.json architecture file"
            ) from None
        if self.dataset is None and not ARCHITECTURES[name].get("dataset"):
            raise ConfigError(f"--arch {self.arch}: the architecture names no data set; give --dataset")
        if self.loss not in ("cel", "mhl"):
            raise ConfigError(f"--loss {self.loss!r} must be 'cel' or 'mhl'")
        if self.loss == "mhl" and (self.b is None or not self.b > 0):
            raise ConfigError(f"--b {self.b!r}: the modified hinge loss needs b > 0")
        if self.loss == "cel" and self.b is not None:
            raise ConfigError("--b applies to --loss mhl only")
        if not 0.0 <= self.train_ber <= 0.5:
            raise ConfigError(f"--train-ber {self.train_ber!r} is outside [0, 0.5]")
        if self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs!r} must be at least 1")
        if not 0 <= self.input_threshold <= 255:
            raise ConfigError(f"--input-threshold {self.input_threshold!r} is outside [0, 255]")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size!r} must be at least 1")
        if not self.lr > 0:
            raise ConfigError(f"--lr {self.lr!r} must be positive")
        if self.lr_halve_every < 1:
            raise ConfigError(f"--lr-halve-every {self.lr_halve_every!r} must be at least 1 (epochs)")
        if self.val_size is not None and self.val_size < 0:
            raise ConfigError(f"--val-size {self.val_size!r} must be at least 0")
        if not 0 <= self.augment_shift <= 8:
            raise ConfigError(f"--augment-shift {self.augment_shift!r} is outside [0, 8] (pixels)")
        if self.init_from is not None and not str(self.init_from).endswith(".ckpt.pt"):
            raise ConfigError(
                f"--init-from {self.init_from!r}: give a training checkpoint (*.npz.ckpt.pt); a model file (.npz) "
                "lacks the latent weights and batch-norm parameters that training continues from"
            )
        if self.limit is not None and self.limit < 2:
            raise ConfigError(f"--limit {self.limit!r} must be at least 2")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"--seed {self.seed!r} must be a non-negative integer")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads!r} must be at least 1")


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    path: Path
    test_accuracy: float
    val_accuracy: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


#: Validation images held out when --val-size is not given (at most a fifth of --limit).
DEFAULT_VAL_SIZE = 5000


def val_images(config: dict[str, Any], *, saved: bool = False) -> int:
    """The validation images of a run's options: ``--val-size`` as given (never clamped), else 5000, or a
    fifth of ``--limit`` when smaller (a quick run keeps most images to train on).

    A checkpoint records the number as ``val_images``; the options of one written before it did
    (``saved=True`` and no ``val_images``) are read by the older rule, which clamped any size.
    """
    if config.get("val_images") is not None:
        return int(config["val_images"])
    size, limit = config.get("val_size"), config.get("limit")
    if size is None:
        return DEFAULT_VAL_SIZE if limit is None else min(DEFAULT_VAL_SIZE, limit // 5)
    return min(int(size), limit // 5) if saved and limit is not None else int(size)


def _split(images: np.ndarray, labels: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(cfg.seed).permutation(len(labels))
    if cfg.limit is not None:
        order = order[: cfg.limit]
    n_val = val_images(cfg.__dict__)
    if len(order) - n_val < 2:  # batch norm needs two images to train on
        raise ConfigError(
            f"--val-size {n_val} leaves {max(len(order) - n_val, 0)} training images of the {len(order)} "
            f"in the split; use at most {max(len(order) - 2, 0)}"
        )
    train_idx, val_idx = order[: len(order) - n_val], order[len(order) - n_val :]
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each +-1 image of ``x`` (N, C, H, W) by its own uniform (dy, dx) in [-shift, shift] pixels.

    Pixels shifted in are -1, the binarized background, so a shift never invents ink.
    """
    n, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=-1.0)
    offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=generator)
    rows = (offsets[:, 0, None] + torch.arange(h))[:, None, :, None]  # (N, 1, H, 1)
    cols = (offsets[:, 1, None] + torch.arange(w))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n)[:, None, None, None]
    chans = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, chans, rows, cols]


def recalibrate_batchnorm(
    model: TorchBNN, x: torch.Tensor, batch: int = 1000, ber: float = 0.0, generator: torch.Generator | None = None
) -> None:
    """Replace the running batch-norm statistics by population statistics of the model on ``x``.

    The exponential running averages trail weights that keep flipping signs; the population
    estimate matches the weights being exported. Uses the first ``len(x) // batch`` full
    batches: the mean is the exact mean over them, the variance the average of the per-batch
    variances.

    Parameters
    ----------
    model : TorchBNN
        Its flip injection is replaced for the estimate and restored afterwards.
    x : torch.Tensor
        +-1 inputs (N, C, H, W).
    batch : int
        Images per forward pass.
    ber : float
        Weight-sign flips injected while estimating (fresh per batch): the training BER of a
        flip-trained network, whose thresholds are tuned to the pre-activations of flipped
        weights (estimated without flips, ``cnn_cel_ber5`` lost 5 points at 10 % BER).
    generator : torch.Generator, optional
        Seeds the flips.
    """
    injectors = [layer.injector for layer in model.binary_layers]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over all batches
    model.train()
    injector = FlipInjector(ber, generator) if ber > 0 else None
    for layer in model.binary_layers:
        layer.injector = injector
    try:
        with torch.no_grad():
            n = max(len(x) // batch, 1) * min(batch, len(x))  # equal batches: their plain average is exact
            for i in range(0, n, batch):
                model(x[i : min(i + batch, n)])
    finally:
        for layer, injector in zip(model.binary_layers, injectors, strict=True):
            layer.injector = injector
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
    model.eval()


def _saved_config(config_json: str, arch: str) -> dict[str, Any]:
    """The options a checkpoint was made with; options added to TrainConfig since take their defaults."""
    return {**TrainConfig(arch).__dict__, **json.loads(config_json)}


def _load_init(path: Path, cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The best-epoch state of the checkpoint ``path`` and a record of where it came from."""
    if not path.is_file():
        raise ConfigError(f"--init-from {str(path)!r}: no such file")
    try:
        state = _load_checkpoint(path)
        src = _saved_config(state["config"], cfg.arch)
        best_state, best_epoch = state["best_state"], int(state["best_epoch"])
    except ConfigError:
        raise
    except Exception as err:  # any unreadable checkpoint gets the same clear error
        raise ConfigError(f"{path}: not a memsim training checkpoint ({type(err).__name__}: {err})") from None
    # the same data split, or the validation images of this run were training images of the source
    mine = {k: getattr(cfg, k) for k in ("arch", "input_threshold", "dataset", "train_split", "seed", "limit")}
    for key, value in {**mine, "val_size": val_images(cfg.__dict__)}.items():
        saved = val_images(src, saved=True) if key == "val_size" else src[key]
        if saved != value:
            raise ConfigError(
                f"{path}: field {key!r} is {saved!r}, but this run has --{key.replace('_', '-')} "
                f"{value!r}; they must match to warm-start (same network, same held-out split)"
            )
    record = {
        "file": path.name,
        "sha256": sha256(path),
        "best_epoch": best_epoch,
        "epochs_done": int(state["epoch"]),
        "config": json.loads(state["config"]),
    }
    return best_state, record


def _epoch_bar(epoch: int, epochs: int, batches: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=batches, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False, disable=not sys.stderr.isatty()
    )


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's state, loaded with ``weights_only=True``: tensors and plain data only, never code.

    A crafted checkpoint (a pickle that calls a function when loaded) is refused before anything runs.
    """
    try:
        state = torch.load(path, weights_only=True)
    except pickle.UnpicklingError:
        # torch's text advises weights_only=False, i.e. running the file's code: memsim never does
        raise ConfigError(
            f"{path}: not a memsim training checkpoint: it holds objects other than tensors and plain data, "
            "and memsim loads only safe checkpoints (torch.load with weights_only=True)"
        ) from None
    except Exception as err:  # any unreadable file gets the same clear error, in one line
        problem = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{path}: not a memsim training checkpoint ({type(err).__name__}: {problem})") from None
    if not isinstance(state, dict) or "config" not in state:
        raise ConfigError(f"{path}: not a memsim training checkpoint (no training state inside)")
    return state


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def train(
    cfg: TrainConfig, out: str | Path, resume: bool = False, log: Any = None, overwrite: bool = False
) -> TrainResult:
    """Train a BNN and write the engine's model file ``out`` (``.npz``), with a checkpoint beside it.

    Parameters
    ----------
    cfg : TrainConfig
        Architecture, loss (``cel`` / ``mhl`` with ``b``), training BER, epochs, seed, ...
    out : path
        Model file to write; the checkpoint is ``<out>.ckpt.pt``.
    resume : bool
        Continue from the checkpoint. Its options must match, except ``epochs``, which may grow
        (to extend a finished run), and ``threads`` (torch's float sums may then round differently).
    log : callable, optional
        Receives one line per epoch (default: print to stderr).
    overwrite : bool
        Start over even if ``out`` or its checkpoint exists (without it, that is an error).

    Returns
    -------
    TrainResult
    """
    cfg.check()
    out = Path(out)
    ckpt = _checkpoint_path(out, resume, overwrite)
    say = log or logging.getLogger(__name__).info
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    from memsim.bnn.architectures import architecture_spec

    dataset = cfg.dataset or architecture_spec(cfg.arch)["dataset"]
    images, labels = load_dataset(dataset, cfg.train_split)
    test_images, test_labels = load_dataset(dataset, "test")
    if cfg.limit is not None:
        test_images, test_labels = test_images[: cfg.limit], test_labels[: cfg.limit]
    tr_x, tr_y, va_x, va_y = _split(images, labels, cfg)
    run = _Run.start(cfg)
    if cfg.init_from is not None and not resume:  # on resume the checkpoint holds the model and the record
        init_state, run.init_record = _load_init(Path(cfg.init_from), cfg)
        run.model.load_state_dict(init_state)
    if resume:
        run.restore(cfg, ckpt)
        say(f"resuming {out.name} after epoch {run.start_epoch}")
    x_train = binarize_input(tr_x, cfg.input_threshold, run.model.input_shape)
    y_train = torch.as_tensor(tr_y.astype(np.int64))
    perm_rng = np.random.default_rng([cfg.seed, 7])
    for _ in range(run.start_epoch):
        perm_rng.permutation(len(y_train))  # replay the shuffles of the epochs already done
    for epoch in range(run.start_epoch + 1, cfg.epochs + 1):
        record = run.epoch(cfg, epoch, x_train, y_train, torch.as_tensor(perm_rng.permutation(len(y_train))))
        net = export_bnn(run.model)
        record["val_accuracy"] = val_acc = float(np.mean(net.predict(va_x) == va_y)) if len(va_y) else float("nan")
        run.history.append(record)
        if val_acc > run.best_val or run.best_state is None:
            run.best_val, run.best_epoch = val_acc, epoch
            run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        _save_checkpoint(ckpt, run.checkpoint(cfg, epoch))
        say(
            f"epoch {epoch}/{cfg.epochs}: loss {record['loss']:.4f}, train acc {record['train_accuracy']:.4f}, "
            f"val acc {val_acc:.4f} (best {run.best_val:.4f} @ {run.best_epoch}), {record['seconds']:.0f} s"
        )
    model = run.model
    assert run.best_state is not None
    model.load_state_dict(run.best_state)
    if cfg.recalibrate_bn:
        flips = torch.Generator().manual_seed(cfg.seed + 3)
        recalibrate_batchnorm(model, x_train[:20_000], ber=cfg.train_ber, generator=flips)
        say(f"batch-norm statistics re-estimated on up to 20,000 training images at BER {cfg.train_ber:g}")
    model.eval()
    meta = {
        "loss": cfg.loss,
        "b": cfg.b,
        "train_ber": cfg.train_ber,
        "epochs": cfg.epochs,
        "best_epoch": run.best_epoch,
        "seed": cfg.seed,
        "dataset": dataset,
        "input_threshold": cfg.input_threshold,
        "val_accuracy": run.best_val,
        "train_size": int(len(tr_y)),
        "val_size": int(len(va_y)),
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "lr_halve_every": cfg.lr_halve_every,
        "limit": cfg.limit,
        "history": run.history,
        "augment_shift": cfg.augment_shift,
        "recalibrate_bn": cfg.recalibrate_bn,
        "init_from": run.init_record,
        "torch_version": torch.__version__,
    }
    net, h_engine = _export_checked(model, meta, test_images, cfg.input_threshold)
    test_acc = float(np.mean(h_engine.argmax(1) == test_labels))
    net.metadata["clean_accuracy"] = test_acc
    net.metadata["clean_accuracy_measured_by"] = "memsim engine on the exported model"
    save_model(net, out)
    say(f"wrote {out}: clean test accuracy {test_acc:.4f} (engine), best epoch {run.best_epoch}")
    return TrainResult(out, test_acc, run.best_val, run.best_epoch, run.history)


def _checkpoint_path(out: Path, resume: bool, overwrite: bool) -> Path:
    """The checkpoint beside ``out``, after checking ``out`` may be written (nothing is, yet)."""
    if out.suffix != ".npz":
        raise ConfigError(f"{out}: the model file must end in .npz")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: directory {str(out.parent)!r} does not exist")
    ckpt = out.with_name(out.name + ".ckpt.pt")
    if not resume and not overwrite and (out.exists() or ckpt.exists()):
        existing = out if out.exists() else ckpt
        raise ConfigError(f"{existing} exists; pass --resume to continue its training, or --overwrite to start over")
    return ckpt


@dataclass
class _Run:
    """A training run's state: what a checkpoint holds, so a resumed run continues bit for bit."""

    model: TorchBNN
    optimizer: torch.optim.Optimizer
    scheduler: Any
    gen: torch.Generator  # flip injection
    aug_gen: torch.Generator  # random shifts
    config_json: str
    start_epoch: int = 0
    best_val: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    init_record: dict[str, Any] | None = None

    @classmethod
    def start(cls, cfg: TrainConfig) -> _Run:
        model = TorchBNN(cfg.arch, cfg.input_threshold)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        model.set_flip_injection(cfg.train_ber, gen)
        aug_gen = torch.Generator().manual_seed(cfg.seed + 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_halve_every, gamma=0.5)
        config_json = json.dumps({**cfg.__dict__, "val_images": val_images(cfg.__dict__)}, sort_keys=True)
        return cls(model, optimizer, scheduler, gen, aug_gen, config_json)

    def restore(self, cfg: TrainConfig, ckpt: Path) -> None:
        """Continue from ``ckpt``: its options must match ours (``epochs`` may grow, see :func:`train`)."""
        if not ckpt.is_file():
            raise ConfigError(f"{ckpt}: no checkpoint to resume from")
        try:
            state = _load_checkpoint(ckpt)
        except ConfigError:
            raise
        except Exception as err:  # any unreadable checkpoint gets the same clear error
            raise ConfigError(f"{ckpt}: not a memsim training checkpoint ({type(err).__name__}: {err})") from None
        # --epochs may grow on resume (extend a run), --threads may change (speed) and --recalibrate-bn
        # (it acts on the export only, so a finished run can be re-exported with it); the rest must match
        saved = _saved_config(state["config"], cfg.arch)
        saved["val_images"] = val_images(saved, saved=True)  # the split, by the rule of the memsim that wrote it
        free = {
            "epochs": cfg.epochs,
            "threads": cfg.threads,
            "recalibrate_bn": cfg.recalibrate_bn,
            "val_size": cfg.val_size,
        }
        if {**saved, **free} != json.loads(self.config_json):
            raise ConfigError(f"{ckpt}: the checkpoint was made with other options: {state['config']}")
        if state["epoch"] > cfg.epochs:
            done = state["epoch"]
            raise ConfigError(f"--epochs {cfg.epochs} is fewer than the {done} epochs the checkpoint has done")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.gen.set_state(state["generator"])
        if "aug_generator" in state:
            self.aug_gen.set_state(state["aug_generator"])
        torch.set_rng_state(state["torch_rng"])
        self.init_record = state.get("init_from")
        if cfg.init_from is not None:
            source = Path(cfg.init_from)
            if not source.is_file() or self.init_record is None or sha256(source) != self.init_record["sha256"]:
                raise ConfigError(f"--init-from {cfg.init_from!r} has changed since {ckpt.name} was started from it")
        self.start_epoch, self.best_val, self.best_epoch = state["epoch"], state["best_val"], state["best_epoch"]
        self.best_state, self.history = state["best_state"], state["history"]

    def epoch(
        self, cfg: TrainConfig, epoch: int, x_train: torch.Tensor, y_train: torch.Tensor, order: torch.Tensor
    ) -> dict[str, float]:
        """One epoch over ``order``; its record without the validation accuracy."""
        model, optimizer = self.model, self.optimizer
        model.train()
        t0 = time.perf_counter()
        total, correct, seen = 0.0, 0, 0
        n_batches = (len(order) + cfg.batch_size - 1) // cfg.batch_size
        bar = _epoch_bar(epoch, cfg.epochs, n_batches)
        for k in range(n_batches):
            idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if cfg.augment_shift:
                xb = random_shift(xb, cfg.augment_shift, self.aug_gen)
            h = model(xb)
            if cfg.loss == "cel":
                loss = F.cross_entropy(model.logits(h), yb)
            else:
                assert cfg.b is not None  # TrainConfig.check() requires b for mhl
                loss = modified_hinge_loss(h, yb, cfg.b)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for layer in model.binary_layers:
                    layer.weight.clamp_(-1.0, 1.0)
            total += loss.item() * len(idx)
            correct += int((h.argmax(1) == yb).sum())
            seen += len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        bar.close()
        epoch_lr = optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        model.eval()
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch, "lr": epoch_lr, "loss": total / seen, "train_accuracy": correct / seen}
        return {**record, "val_accuracy": math.nan, "seconds": seconds}

    def checkpoint(self, cfg: TrainConfig, epoch: int) -> dict[str, Any]:
        """What :meth:`restore` needs to continue after ``epoch``."""
        return {
            "config": self.config_json,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "aug_generator": self.aug_gen.get_state(),
            "init_from": self.init_record,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "history": self.history,
        }


def _export_checked(
    model: TorchBNN, meta: dict[str, Any], test_images: np.ndarray, threshold: int
) -> tuple[BNN, np.ndarray]:
    """The engine's network of ``model`` and its output ``h`` on the test images, the export contract checked."""
    net = export_bnn(model, meta)
    h_engine = net.forward(test_images)
    with torch.no_grad():  # the export contract, on the very model just trained
        h_torch = np.concatenate(
            [
                model(binarize_input(test_images[i : i + 1000], threshold, model.input_shape)).numpy()
                for i in range(0, len(test_images), 1000)
            ]
        )
    if not np.array_equal(h_engine, h_torch.astype(np.int64)):
        bad = int(np.count_nonzero(np.any(h_engine != h_torch, axis=1)))
        raise ConfigError(f"export contract broken: engine and torch differ on {bad} of {len(h_engine)} test images")
    net.metadata["export_contract"] = f"identical output h, engine vs torch eval, on {len(h_engine)} test images"
    return net, h_engine
