"""CEL vs MHL on one energy-accuracy plot: which training buys more energy savings from an SRAM at low voltage?

Run: python examples/energy_vs_accuracy.py [OUT_DIR]   (MEMSIM_EXAMPLE_QUICK=1: 300 embedded images, 1 trial)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from memsim.experiment.sweep import SweepSpec, read_rows, run_sweep
from memsim.report.plots import plot_energy_vs_accuracy
from memsim.report.tradeoff import pareto_front

QUICK = os.environ.get("MEMSIM_EXAMPLE_QUICK") == "1"


def main(out: str) -> None:
    spec = SweepSpec(
        models=("fcnn_cel_ber0", "fcnn_mhl_b128_ber5"),
        profile="sram_14nm_chandramoorthy2019",
        knobs={"vdd_over_vmin": [round(0.75 + 0.025 * i, 3) for i in range(11)]},
        trials=1 if QUICK else 3,
        dataset="fashion-mnist-demo" if QUICK else "fashion-mnist",
        limit=300 if QUICK else None,
    )
    rows = run_sweep(spec, out, resume=True, progress=False)
    for model in spec.models:
        front = pareto_front([r for r in rows if r["model"] == model])
        points = ", ".join(f"{float(r['vdd_over_vmin']):.3f}" for r in front)
        print(f"{model}: Pareto-optimal V/Vmin {points}")
    plot = plot_energy_vs_accuracy(read_rows(out), Path(out) / "energy-accuracy.png")
    print(f"plot: {plot.name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "energy-vs-accuracy")
