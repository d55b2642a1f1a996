"""Your own torch network in low-voltage SRAM: an 8-bit and a 4-bit CNN beside the shipped BNNs on one energy axis.

A small CNN is trained for a few minutes on Fashion-MNIST (torch), quantized to 8 and 4 bits
(`memsim.qnn.from_torch`), saved as safe model files, and swept over the SRAM supply voltage with
fresh flips in every image's weight reads, next to a shipped binarized network. The energy per
inference counts m bits per weight read and an m-bit multiply-accumulate per MAC (Horowitz 2014).

Run: python examples/your_own_network.py [OUT_DIR]   (MEMSIM_EXAMPLE_QUICK=1: 300 embedded images, 1 trial)
Needs the train extra (torch).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from memsim import load_dataset
from memsim.experiment.sweep import SweepSpec, read_rows, run_sweep
from memsim.qnn import from_torch
from memsim.report.plots import plot_energy_vs_accuracy

QUICK = os.environ.get("MEMSIM_EXAMPLE_QUICK") == "1"


def train_cnn(images: np.ndarray, labels: np.ndarray, epochs: int) -> nn.Module:
    """A two-layer CNN trained with Adam on uint8 images (N, 28, 28)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip
    x = torch.tensor(images[:, None], dtype=torch.float32) / 255.0
    y = torch.as_tensor(labels, dtype=torch.long)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(128):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    return model.eval()


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if QUICK:  # the embedded demo set: train on its last 700 images, evaluate on the first 300
        images, labels = load_dataset("fashion-mnist-demo", "test")
        model = train_cnn(images[300:], labels[300:], epochs=2)
    else:
        images, labels = load_dataset("fashion-mnist", "train")
        model = train_cnn(images, labels, epochs=2)
    paths = []
    for bits in (8, 4):
        qnn = from_torch(model, torch.zeros(2, 1, 28, 28), bits=bits, per_channel=True, name=f"cnn-q{bits}",
                         dataset="fashion-mnist")  # fmt: skip
        path = folder / f"my_cnn_q{bits}.npz"
        qnn.save(path)
        paths.append(str(path))
        print(f"{qnn.arch}: {qnn.n_weight_bits:,} weight bits, {sum(qnn.layer_ops()):,} MACs per image, "
              f"{qnn.compute_pj_per_op:.2f} pJ per MAC")  # fmt: skip
    spec = SweepSpec(
        models=(*paths, "fcnn_mhl_b128_ber5"),
        profile="sram_14nm_chandramoorthy2019",
        knobs={"vdd_over_vmin": [1.0, 0.9, 0.85, 0.8, 0.775, 0.75]},
        trials=1 if QUICK else 3,
        dataset="fashion-mnist-demo" if QUICK else "fashion-mnist",
        limit=300 if QUICK else None,
    )
    rows = run_sweep(spec, folder / "sweep", resume=True, progress=False)
    print(f"{len(rows)} operating points swept (3 models x 6 voltages)")
    if not QUICK:  # accuracies depend on the training run: printed, not recorded
        for r in rows:
            print(f"{Path(r['model']).stem:>20} V/Vmin {float(r['vdd_over_vmin']):.3f}: accuracy {r['accuracy']:.4f}, "
                  f"{float(r['energy_pj_per_inference']) / 1e6:.3f} uJ per inference")  # fmt: skip
    plot = plot_energy_vs_accuracy(read_rows(folder / "sweep"), folder / "energy-accuracy.png")
    print(f"plot: {plot.name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "your-own-network")
