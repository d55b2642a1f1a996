"""The ``memsim demo`` tour as an API: a voltage sweep of an SRAM weight memory, on shipped data only.

:func:`run_demo` sweeps the 14 nm SRAM profile's supply voltage for a BNN trained with
cross-entropy and one trained with the modified hinge loss and bit-flip injection, on the
1,000 Fashion-MNIST test images that ship with memsim, and writes the results to a
directory: ``sweep.csv``, ``sweep.json``, ``report.md``, ``accuracy-ber.png`` and
``energy-accuracy.png``. :meth:`DemoReport.to_text` is what the command prints. Every
operating point comes from the profile's own data points; nothing here is hard-coded
beyond the names below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from memsim.bnn import available_models
from memsim.errors import ConfigError
from memsim.experiment.sweep import SweepSpec, read_rows, run_sweep
from memsim.profile import Profile, load_profile
from memsim.report import plots
from memsim.report.text import table
from memsim.report.tradeoff import TradeoffReport

__all__ = ["DEMO_MODELS", "DEMO_PROFILE", "DemoReport", "run_demo"]

#: The profile the tour scales: 14 nm SRAM, BER measured on 32 arrays (Stutz et al. MLSys 2021).
DEMO_PROFILE = "sram_14nm_chandramoorthy2019"
#: Shipped Fashion FCNNs: cross-entropy without flips, and the modified hinge loss trained with 5 % flips.
DEMO_MODELS = ("fcnn_cel_ber0", "fcnn_mhl_b128_ber5")
#: The data that ships inside the package.
DEMO_DATASET = "fashion-mnist-demo"
#: Fresh memories per operating point: with 1,000 images, 3 trials give 3,000 predictions per point.
DEMO_TRIALS = 3
#: Accuracy drop the chosen operating point may cost (1 point).
DEMO_MAX_DROP = 0.01


@dataclass
class DemoReport:
    """What the tour found and where it wrote it."""

    profile: Profile
    report: TradeoffReport
    out: Path
    files: list[Path]

    def to_text(self) -> str:
        """The tour as text."""
        knob = next(iter(self.profile.knobs))
        nominal = self.profile.at().read_energy_pj_per_bit or 0.0
        scaling = []
        for v in self.profile.knob_values(knob):
            op = self.profile.at_knobs({knob: v})
            energy = op.read_energy_pj_per_bit
            saved = None if energy is None or not nominal else f"{100 * (1 - energy / nominal):.1f} %"
            scaling.append([v, op.ber, energy, saved])
        headers, cells = self.report.table_rows()
        models = list(dict.fromkeys(str(r["model"]) for r in self.report.rows))
        first = self.report.rows[0]
        lines = [
            "memsim demo: what running a neural network's weight memory at a lower voltage saves, and what it costs",
            "",
            f"Memory: {self.profile.description}",
            table([knob, "bit_error_rate", "read_energy_pj_per_bit", "read_energy_saved"], scaling),
            "",
            f"Binarized networks ({', '.join(models)}) read their weights from that memory on "
            f"{first['n_images']} Fashion-MNIST test images, with fresh bit errors on every read, "
            f"{first['trials']} trials per voltage:",
            table(headers, cells),
            "(accuracy: 95 % interval over all trials and images; energy per inference: weight reads plus compute; "
            "* marks the best energy-accuracy trade-offs)",
            "",
            f"Lowest voltage within {100 * DEMO_MAX_DROP:g} accuracy point of the nominal voltage:",
            *(f"  {line}" for line in self.report.summary(DEMO_MAX_DROP)),
            "",
            "The same, demanding the drop be shown with 95 % confidence:",
            *(f"  {line}" for line in self.report.summary(DEMO_MAX_DROP, conservative=True)),
            "",
            f"Written to {self.out}/: " + ", ".join(p.name for p in self.files),
            "Next: memsim sweep --help; memsim report DIR; memsim plot DIR -o plot.png",
        ]
        return "\n".join(lines)


def run_demo(out: str | os.PathLike[str] = "memsim-demo", workers: int = 1, progress: bool = False) -> DemoReport:
    """Run the tour into ``out`` (resuming a finished or interrupted earlier tour there).

    Parameters
    ----------
    out : path
        Result directory (created; a previous tour there is reused).
    workers : int
        Worker processes for the sweep.
    progress : bool
        Show a progress bar.

    Raises
    ------
    ConfigError
        If ``out`` holds another sweep, or the shipped models are missing.
    """
    missing = [m for m in DEMO_MODELS if m not in available_models()]
    if missing:
        raise ConfigError(f"the shipped models {', '.join(missing)} are missing from this installation")
    profile = load_profile(DEMO_PROFILE)
    spec = SweepSpec(models=DEMO_MODELS, profile=DEMO_PROFILE, trials=DEMO_TRIALS, dataset=DEMO_DATASET)
    path = Path(out)
    run_sweep(spec, path, resume=True, workers=workers, progress=progress)
    rows = read_rows(path)
    report = TradeoffReport.from_dir(path)
    files = [path / "sweep.csv", path / "sweep.json"]
    from memsim.fileio import write_text_atomic

    write_text_atomic(path / "report.md", "# memsim demo\n\n" + report.to_markdown(DEMO_MAX_DROP))
    files.append(path / "report.md")
    files.append(plots.plot_accuracy_over_ber(rows, path / "accuracy-ber.png"))
    files.append(plots.plot_energy_vs_accuracy(rows, path / "energy-accuracy.png", DEMO_MAX_DROP))
    return DemoReport(profile, report, path, files)
