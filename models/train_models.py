"""Train the shipped models, one after another, with the exact `memsim train` commands logged.

Run from the repository root with the data sets available (MEMSIM_DATA):

    python models/train_models.py [--only fcnn|cnn] [--epochs-fcnn 15] [--epochs-cnn 15]
        [--lr-halve-every-cnn N] [--b-cnn B] [--augment-shift-cnn 0] [--recalibrate-bn-cnn]

Models already in models/ are skipped; an interrupted training resumes from its
checkpoint. Every command is appended to models/COMMANDS.md as it starts. The MHL
margin b is chosen by a search over powers of two (short runs): the b with the
highest mean validation accuracy over BER in {0, 1, 5, 10 %} (fresh per-image flips).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LOG = HERE / "COMMANDS.md"


def run(args: list[str]) -> None:
    cmd = ["memsim", "train", *args]
    with LOG.open("a", encoding="utf-8") as log:
        log.write(f"    {shlex.join(cmd)}\n")
    subprocess.run(cmd, check=True)


def train_model(name: str, args: list[str]) -> Path:
    out = HERE / f"{name}.npz"
    if out.exists():
        print(f"skip {name}: already trained", flush=True)
        return out
    resume = ["--resume"] if (HERE / f"{name}.npz.ckpt.pt").exists() else []
    run([*args, "--out", str(out.relative_to(HERE.parent)), *resume])
    return out


def robust_accuracy(path: Path, bers=(0.0, 0.01, 0.05, 0.1), seed: int = 0) -> float:
    """Mean validation accuracy over BERs (the held-out split the training used), fresh per-image flips."""
    from memsim.bnn import load_model
    from memsim.datasets import load_dataset
    from memsim.experiment import evaluate

    net = load_model(path)
    meta = net.metadata
    images, labels = load_dataset(meta["dataset"], "train")
    order = np.random.default_rng(meta["seed"]).permutation(len(labels))
    if meta.get("limit"):
        order = order[: meta["limit"]]
    val = order[len(order) - meta["val_size"] :]
    return float(np.mean([evaluate(net, images[val], labels[val], ber, seed=seed).accuracy for ber in bers]))


def b_search(arch: str, candidates: list[int], epochs: int, prefix: str) -> int:
    """Short MHL runs for each b; the best by robust validation accuracy. Results go to models/b_search_<arch>.json."""
    record = HERE / f"b_search_{arch}.json"
    results = json.loads(record.read_text()) if record.exists() else {}
    tmp = HERE / "search"
    tmp.mkdir(exist_ok=True)
    for b in candidates:
        if str(b) in results:
            continue
        out = tmp / f"{prefix}_mhl_b{b}_search.npz"
        if not out.exists():
            resume = ["--resume"] if Path(f"{out}.ckpt.pt").exists() else []
            run(["--arch", arch, "--loss", "mhl", "--b", str(b), "--epochs", str(epochs), "--out",
                 str(out.relative_to(HERE.parent)), *resume])  # fmt: skip
        results[str(b)] = robust_accuracy(out)
        record.write_text(json.dumps(results, indent=2))
        print(f"b={b}: mean validation accuracy over BER 0-10 %: {results[str(b)]:.4f}", flush=True)
    return int(max(results, key=results.get))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["fcnn", "cnn"])
    parser.add_argument("--epochs-fcnn", type=int, default=15)
    parser.add_argument("--epochs-cnn", type=int, default=15)
    parser.add_argument("--search-epochs", type=int, default=4)
    parser.add_argument("--lr-halve-every-cnn", type=int, help="CNN epochs per lr halving (default: memsim's)")
    parser.add_argument("--b-cnn", type=int, help="MHL margin of the CNNs (default: search as for the FCNN)")
    parser.add_argument("--augment-shift-cnn", type=int, default=0, help="random-shift augmentation of the CNNs (px)")
    parser.add_argument("--recalibrate-bn-cnn", action="store_true", help="recalibrate the CNNs' batch norm at export")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of the trained models and exit")
    opts = parser.parse_args()
    if opts.table:
        table = write_table()
        readme = HERE / "README.md"
        text = readme.read_text(encoding="utf-8")
        head, rest = text.split("<!-- table -->\n", 1)
        tail = rest.split("<!-- /table -->", 1)[1]
        readme.write_text(f"{head}<!-- table -->\n{table}\n<!-- /table -->{tail}", encoding="utf-8")
        print(table)
        return
    if not LOG.exists():
        LOG.write_text("# Commands that trained the shipped models\n\nRun from the repository root, in order:\n\n")
    jobs = []
    if opts.only in (None, "fcnn"):
        # the training BERs of the reference paper's Fig. 1 (CEL) and Fig. 2 (MHL), issue 16
        cel_bers, mhl_bers = (0.05, 0.10, 0.20, 0.30), (0.01, 0.05, 0.10, 0.20)
        jobs.append(("fashion-fcnn", "fcnn", opts.epochs_fcnn, [32, 64, 128, 256, 512], cel_bers, mhl_bers, []))
    if opts.only in (None, "cnn"):
        bs = [opts.b_cnn] if opts.b_cnn else [32, 64, 128, 256]
        extra = ["--lr-halve-every", str(opts.lr_halve_every_cnn)] if opts.lr_halve_every_cnn else []
        extra += ["--augment-shift", str(opts.augment_shift_cnn)] if opts.augment_shift_cnn else []
        extra += ["--recalibrate-bn"] if opts.recalibrate_bn_cnn else []
        # CNN: the budget here allowed CEL at 5 % and MHL at 5 and 10 % (about 35 minutes each on 2 cores)
        jobs.append(("fashion-cnn", "cnn", opts.epochs_cnn, bs, (0.05,), (0.05, 0.10), extra))
    for arch, short, epochs, bs, cel_bers, mhl_bers, extra in jobs:
        base = ["--arch", arch, "--epochs", str(epochs), "--seed", "0", *extra]
        train_model(f"{short}_cel_ber0", [*base, "--loss", "cel"])
        b = bs[0] if len(bs) == 1 else b_search(arch, bs, opts.search_epochs, short)
        train_model(f"{short}_mhl_b{b}_ber0", [*base, "--loss", "mhl", "--b", str(b)])
        for ber in cel_bers:
            train_model(f"{short}_cel_ber{round(ber * 100)}", [*base, "--loss", "cel", "--train-ber", str(ber)])
        for ber in mhl_bers:
            train_model(
                f"{short}_mhl_b{b}_ber{round(ber * 100)}",
                [*base, "--loss", "mhl", "--b", str(b), "--train-ber", str(ber)],
            )


def write_table() -> str:
    """The Markdown table of the shipped models (accuracy as measured by the engine), for models/README.md."""
    from memsim.bnn import load_model
    from memsim.datasets import load_dataset
    from memsim.experiment import evaluate

    bers = (0.01, 0.05, 0.1, 0.2)
    header = (
        "| model | arch | loss | b | training BER | epochs (best) | seed | clean accuracy (engine) | "
        + " | ".join(f"at BER {100 * p:g} %" for p in bers)
        + " | size |"
    )
    rows = [header, "|" + "---|" * (9 + len(bers))]
    for path in sorted(HERE.glob("*.npz")):
        net = load_model(path)
        m = net.metadata
        images, labels = load_dataset(m["dataset"], "test")
        clean = evaluate(net, images, labels, 0.0, seed=0).accuracy
        if abs(clean - m["clean_accuracy"]) > 1e-12:
            raise SystemExit(f"{path.name}: clean accuracy {clean} differs from the exported {m['clean_accuracy']}")
        # fresh transient flips on every read, per image; memory seed 0, trial seed 0
        noisy = [evaluate(net, images, labels, p, seed=0).accuracy for p in bers]
        b = "-" if m.get("b") is None else f"{m['b']:g}"
        rows.append(
            f"| `{path.stem}` | {net.arch} | {m['loss'].upper()} | {b} | {m['train_ber']:g} | "
            f"{m['epochs']} ({m['best_epoch']}) | {m['seed']} | {m['clean_accuracy']:.4f} | "
            + " | ".join(f"{a:.4f}" for a in noisy)
            + f" | {path.stat().st_size / 1e6:.2f} MB |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
