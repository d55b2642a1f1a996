"""What-if study: how much energy does lowering an SRAM weight memory's supply save, within a 1 % accuracy drop?

For each of four shipped Fashion-MNIST networks (cross-entropy or modified hinge loss, with or
without bit-flip training), sweep the 14 nm SRAM's voltage and pick the lowest voltage whose
accuracy stays within 1 point of the nominal voltage's.

Run: python examples/voltage_scaling.py [OUT_DIR]   (MEMSIM_EXAMPLE_QUICK=1: 300 embedded images, 1 trial)
"""

from __future__ import annotations

import os
import sys

from memsim.experiment.sweep import SweepSpec, run_sweep
from memsim.report.tradeoff import TradeoffReport

QUICK = os.environ.get("MEMSIM_EXAMPLE_QUICK") == "1"
MODELS = ("fcnn_cel_ber0", "fcnn_cel_ber5", "fcnn_mhl_b128_ber0", "fcnn_mhl_b128_ber5")


def main(out: str) -> None:
    spec = SweepSpec(
        models=MODELS,
        profile="sram_14nm_chandramoorthy2019",
        knobs={"vdd_over_vmin": [1.0, 0.958, 0.917, 0.875, 0.833, 0.812, 0.792, 0.771, 0.75]},
        trials=1 if QUICK else 3,
        dataset="fashion-mnist-demo" if QUICK else "fashion-mnist",
        limit=300 if QUICK else None,
    )
    run_sweep(spec, out, resume=True, progress=False)
    report = TradeoffReport.from_dir(out)
    print("Lowest SRAM voltage within 1 accuracy point of nominal, per model:")
    for choice in report.choices(max_accuracy_drop=0.01):
        row = choice.chosen
        assert row is not None  # the nominal point always qualifies
        print(
            f"  {choice.model:20s} V/Vmin {float(row['vdd_over_vmin']):.3f}  BER {float(row['ber']):.2e}  "
            f"accuracy {float(row['accuracy']):.4f} (nominal {float(choice.nominal['accuracy']):.4f})  "
            f"energy saved {100 * (choice.saved or 0.0):.1f} % of the inference"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "voltage-scaling")
