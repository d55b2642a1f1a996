"""``memsim train``: torch training for bit error tolerance (the ``train`` extra)."""

from __future__ import annotations

import argparse
from typing import Any

from memsim.errors import ConfigError

__all__ = ["register"]


#: BNN-only options and their defaults: an m-bit run (--bits) refuses them when set.
_BNN_ONLY = {"loss": "cel", "b": None, "train_ber": 0.0, "augment_shift": 0, "recalibrate_bn": False, "init_from": None}


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from memsim.train import TrainConfig, train
    except ImportError as err:
        raise ConfigError(str(err)) from None
    from dataclasses import fields

    if args.bits is not None:
        return _train_quantized(args)
    for option in ("recipe", "w_max", "p", "grad_clip"):
        if getattr(args, option) is not None:
            raise ConfigError(f"--{option.replace('_', '-')} is for an m-bit network: give --bits too")

    # every TrainConfig field has a same-named option, so a new option cannot be forgotten here
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    result = train(
        cfg, args.out, resume=args.resume, log=lambda line: print(line, flush=True), overwrite=args.overwrite
    )
    print(
        f"clean test accuracy {result.test_accuracy:.4f}, validation {result.val_accuracy:.4f}, "
        f"best epoch {result.best_epoch}"
    )
    return 0


def _train_quantized(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from memsim.train.qtrain import QTrainConfig, train_quantized

    for option, default in _BNN_ONLY.items():
        if getattr(args, option) != default:
            raise ConfigError(f"--{option.replace('_', '-')} trains a BNN; an m-bit network (--bits) does not take it")
    given = {f.name: getattr(args, f.name) for f in fields(QTrainConfig) if getattr(args, f.name, None) is not None}
    if args.batch_size == 256:  # the BNN default; the m-bit recipe's is 128
        given.pop("batch_size")
    cfg = QTrainConfig(**given)
    result = train_quantized(
        cfg, args.out, resume=args.resume, log=lambda line: print(line, flush=True), overwrite=args.overwrite
    )
    print(
        f"clean test accuracy {result.test_accuracy:.4f} ({cfg.bits}-bit), float {result.float_test_accuracy:.4f}, "
        f"validation {result.val_accuracy:.4f}, best epoch {result.best_epoch}"
    )
    return 0


def register(sub: Any) -> None:
    """Add the ``train`` command to the ``memsim`` parser."""
    from memsim.bnn.architectures import ARCHITECTURES, INPUT_THRESHOLD
    from memsim.datasets import DATASETS

    p = sub.add_parser("train", help="train a BNN with torch (CEL or MHL, optional flip injection) and export it")
    p.add_argument(
        "--arch",
        required=True,
        metavar="ARCH",
        help=f"{', '.join(ARCHITECTURES)}, or a YAML/JSON architecture file (see memsim.bnn.architectures)",
    )
    p.add_argument("--loss", default="cel", choices=["cel", "mhl"])
    p.add_argument("--b", type=float, help="margin parameter of the modified hinge loss (mhl)")
    p.add_argument("--train-ber", type=float, default=0.0, help="weight-sign-flip probability while training [0, 0.5]")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-threshold", type=int, default=INPUT_THRESHOLD, help="pixel > threshold binarizes to +1")
    p.add_argument("--dataset", choices=list(DATASETS), help="default: the architecture's data set")
    p.add_argument("--train-split", default="train", help="training split (cifar10: train or train1)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate")
    p.add_argument(
        "--lr-halve-every", type=int, default=25, help="halve the learning rate every N epochs (paper: 25 of 200)"
    )
    p.add_argument("--augment-shift", type=int, default=0, help="translate training images by up to N pixels (0 = off)")
    p.add_argument(
        "--recalibrate-bn", action="store_true", help="re-estimate batch-norm statistics on the final weights"
    )
    p.add_argument(
        "--init-from", metavar="CKPT", help="fine-tune: start from the best epoch of this training checkpoint"
    )
    p.add_argument(
        "--val-size",
        type=int,
        help="validation images held out of the training split (default 5000, or a fifth of --limit)",
    )
    p.add_argument("--limit", type=int, help="train on the first N shuffled images only (quick runs, tests)")
    p.add_argument("--threads", type=int, help="torch threads")
    q = p.add_argument_group("an m-bit network (Stutz et al., MLSys 2021) instead of a BNN")
    q.add_argument("--bits", type=int, help="bits per weight (2..8, 16): train the float twin of --arch quantized")
    q.add_argument("--recipe", choices=["normal", "robust", "clip", "randbet"], help="default normal")
    q.add_argument("--w-max", type=float, help="weight clipping range of clip and randbet (default 0.1)")
    q.add_argument("--p", type=float, help="bit error rate of randbet (default 0.01)")
    q.add_argument("--grad-clip", type=float, help="bound of randbet's perturbed gradient (default 0.05)")
    q.add_argument("--per-channel", action="store_true", default=None, help="a scale per output channel")
    p.add_argument("--out", required=True, help="model file to write (.npz); checkpoint beside it")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start over even if --out or its checkpoint exists")
    p.set_defaults(func=cmd_train)
