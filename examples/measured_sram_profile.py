"""Your own SRAM: import a measured BER-vs-voltage CSV and a per-cell fault map, and compare transient
errors (fresh on every read, from the CSV) with persistent ones (the same weak cells on every read,
from the map) on one plot.

This script writes stand-in "measurement" files first, so it runs anywhere: replace
``my_chip/ber.csv`` and ``my_chip/maps/`` with your chip's files (the formats are in the README).

Run: python examples/measured_sram_profile.py [OUT_DIR]   (MEMSIM_EXAMPLE_QUICK=1: 300 embedded images)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

import memsim
from memsim.experiment import evaluate

QUICK = os.environ.get("MEMSIM_EXAMPLE_QUICK") == "1"
VOLTAGES = [0.60, 0.62, 0.64, 0.66, 0.68, 0.70]


def write_stand_in_measurements(chip: Path) -> None:
    """A failure voltage per cell (normal, mean 0.5 V, sd 0.05 V) and the BER it implies per voltage."""
    rng = np.random.default_rng(7)
    cells = 1 << 20
    vfail = rng.normal(0.5, 0.05, cells)
    (chip / "maps").mkdir(parents=True, exist_ok=True)
    np.savez(chip / "maps" / "chip_failure_voltage.npz", failure_voltage_v=vfail)
    rows = ["vdd_v,ber"] + [f"{v:.2f},{max(np.mean(vfail > v), 1e-9):.6g}" for v in VOLTAGES]
    (chip / "ber.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def main(out: str) -> None:
    chip = Path(out) / "my_chip"
    write_stand_in_measurements(chip)
    curve = memsim.profile_from_csv(chip / "ber.csv", Path(out) / "my_sram.yaml", technology="sram",
                                    reference="stand-in measurements (replace with yours)")  # fmt: skip
    maps = memsim.profile_from_fault_maps([chip / "maps"], Path(out) / "my_sram_maps.yaml", technology="sram",
                                          reference="stand-in cell map (replace with yours)",
                                          voltages=VOLTAGES)  # fmt: skip
    net = memsim.load_model("fcnn_mhl_b128_ber5")
    images, labels = memsim.load_dataset("fashion-mnist-demo" if QUICK else "fashion-mnist", "test")
    if QUICK:
        images, labels = images[:300], labels[:300]
    transient, persistent = [], []
    print(f"{'vdd V':>6} {'BER':>9} {'transient':>10} {'persistent':>11}")
    for v in VOLTAGES:
        a = evaluate(net, images, labels, curve.at(vdd_v=v), fault_model="transient", seed=0)
        b = evaluate(net, images, labels, maps.at(vdd_v=v), memsim.PersistentFaults(maps.fault_maps, tile=True), seed=0)
        transient.append(a)
        persistent.append(b)
        print(f"{v:6.2f} {a.ber:9.2e} {a.accuracy:10.4f} {b.accuracy:11.4f}")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for label, results in (
        ("transient (from the BER curve)", transient),
        ("persistent (from the cell map)", persistent),
    ):
        acc = np.array([r.accuracy for r in results])
        ax.errorbar(VOLTAGES, acc, yerr=[acc - [r.ci_low for r in results], [r.ci_high for r in results] - acc],
                    fmt="o-", ms=3, label=label)  # fmt: skip
    ax.set_xlabel("supply voltage [V]")
    ax.set_ylabel("accuracy (95 % interval)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(out) / "transient-vs-persistent.png", dpi=120)
    print("plot: transient-vs-persistent.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "measured-sram")
