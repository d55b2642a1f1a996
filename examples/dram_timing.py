"""Accuracy and latency as a DRAM's activation latency (tRCD) shrinks below its specification.

The BER for a reduced tRCD comes from an uncalibrated model (no public BER-vs-tRCD data
exist; see the profile's notes): treat the accuracy column as a what-if, not a measurement.

Run: python examples/dram_timing.py [OUT_DIR]   (MEMSIM_EXAMPLE_QUICK=1: 300 embedded images, 1 trial)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from memsim.experiment.sweep import SweepSpec, run_sweep
from memsim.report.plots import plot_latency_vs_accuracy

QUICK = os.environ.get("MEMSIM_EXAMPLE_QUICK") == "1"


def main(out: str) -> None:
    spec = SweepSpec(
        models=("fcnn_mhl_b128_ber5",),
        profile="dram_ddr3l_chang2017_vendorb",
        knobs={"trcd_ns": [13.75, 11.25, 8.75, 7.5, 6.875, 6.25]},
        trials=1 if QUICK else 3,
        dataset="fashion-mnist-demo" if QUICK else "fashion-mnist",
        limit=300 if QUICK else None,
        banks=8,  # a DDR3 chip's banks
    )
    rows = run_sweep(spec, out, resume=True, progress=False)
    print(f"{'tRCD ns':>8} {'BER':>9} {'accuracy':>9} {'latency us':>11} {'energy saved':>13}  note")
    for r in rows:
        note = "uncalibrated BER model" if r["uncalibrated"] else "specification"
        print(
            f"{float(r['trcd_ns']):8.3f} {float(r['ber']):9.2e} {float(r['accuracy']):9.4f} "
            f"{float(r['latency_ns']) / 1e3:11.2f} {100 * float(r['energy_saved']):12.1f} %  {note}"
        )
    plot = plot_latency_vs_accuracy(rows, Path(out) / "latency-accuracy.png")
    print(f"plot: {plot.name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dram-timing")
