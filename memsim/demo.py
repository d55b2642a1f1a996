"""The ``memsim demo`` tour as an API: what the pipeline computes so far, on shipped data only.

:func:`run_demo` returns the tables (data); :meth:`DemoReport.to_text` formats them, and
the CLI prints that. Every operating point comes from the profile's own data points,
so no voltage is hard-coded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memsim.bnn import BNN, available_models, load_model
from memsim.bnn.architectures import weight_bits
from memsim.bnn.margins import output_margins
from memsim.datasets import load_dataset
from memsim.experiment.audit import audit_reads
from memsim.experiment.evaluate import evaluate
from memsim.profile import Profile, available_profiles, load_profile
from memsim.report.text import format_value, table

__all__ = ["DEMO_MODEL", "DEMO_PROFILE", "DemoReport", "DemoTable", "run_demo"]

#: The profile the tour scales: 14 nm SRAM, BER measured on 32 arrays (Stutz et al. MLSys 2021).
DEMO_PROFILE = "sram_14nm_chandramoorthy2019"
#: The shipped network the tour runs (Fashion FCNN, cross-entropy, no flip training).
DEMO_MODEL = "fcnn_cel_ber0"
#: Operating points of the memory and engine tables: the profile's data points whose BER is at
#: most this (beyond it the FCNN is near chance, which the tour need not show at length).
MAX_DEMO_BER = 0.02
#: Reads per operating point in the memory audit.
AUDIT_READS = 5


@dataclass
class DemoTable:
    """One table of the tour."""

    title: str
    headers: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        """The title, the aligned table and its notes."""
        return "\n".join([self.title, table(self.headers, self.rows), *self.notes])


@dataclass
class DemoReport:
    """The tour's tables, in order."""

    tables: list[DemoTable]

    def to_text(self) -> str:
        """The whole tour as text."""
        head = "memsim demo: what the pipeline does so far (profiles, approximate memory, BNN engine)\n"
        tail = (
            "\nNext: sweeps with energy and latency per inference, and trade-off reports.\n"
            "Try: memsim profiles show dram_ddr3l_chang2017_vendorb\n"
            "     memsim at dram_ddr3l_chang2017_vendorb --vdd-v 1.05\n"
            "     memsim evaluate fcnn_mhl_b128_ber5 --profile sram_14nm_chandramoorthy2019 --vdd-over-vmin 0.85"
        )
        return head + "\n\n".join(t.to_text() for t in self.tables) + "\n" + tail


def _voltage_table(sram: Profile, knob: str) -> DemoTable:
    nominal = sram.at().read_energy_pj_per_bit
    rows = []
    for v in sram.knob_values(knob):
        op = sram.at_knobs({knob: v})
        energy = op.read_energy_pj_per_bit
        saved = None if energy is None or not nominal else f"{100 * (1 - energy / nominal):.1f} %"
        rows.append([v, op.ber, energy, saved])
    return DemoTable(
        f"SRAM voltage scaling ({sram.name}):",
        [knob, "ber", "read_energy_pj_per_bit", "read_energy_saved"],
        rows,
        ["(the saving is of the weight-read energy only, not of the whole inference)"],
    )


def _technology_table(names: list[str]) -> DemoTable:
    rows = []
    for name in names:
        p = load_profile(name)
        knob = next(iter(p.knobs.values()))
        value: float | str = knob.categories[-1] if knob.categories else knob.nominal if knob.min is None else knob.min
        op = p.at_knobs({knob.name: value})
        rows.append([name, f"{knob.name}={format_value(value)}", op.ber, op.read_energy_pj_per_bit, op.read_latency_ns])
    return DemoTable(
        "One operating point per technology (the first knob at its most aggressive value):",
        ["profile", "knob", "ber", "read_energy_pj_per_bit", "read_latency_ns"],
        rows,
    )


def _audit_table(sram: Profile, knob: str, points: list[float], nbits: int) -> DemoTable:
    rows = []
    for v in points:
        audit = audit_reads(sram.at_knobs({knob: v}), nbits=nbits, reads=AUDIT_READS, seed=0)
        energy = audit.read_energy_pj_per_read
        rows.append([v, audit.expected_ber, audit.observed_ber, audit.z_ber,
                     None if energy is None else energy / 1e6, audit.seconds_per_read * 1e3])  # fmt: skip
    return DemoTable(
        f"Approximate memory: the Fashion FCNN's {nbits} weight bits in that SRAM, {AUDIT_READS} reads each, "
        "fresh transient flips on every read (seed 0):",
        [knob, "ber", "observed_ber", "z", "read_energy_uj", "ms_per_read"],
        rows,
    )


def _engine_table(sram: Profile, knob: str, points: list[float]) -> DemoTable:
    images, labels = load_dataset("fashion-mnist-demo")
    if DEMO_MODEL in available_models():
        net, what = load_model(DEMO_MODEL), f"shipped model {DEMO_MODEL} (trained, CEL)"
    else:
        net, what = (
            BNN.random("fashion-fcnn", seed=0),
            "a RANDOM fashion-fcnn (no trained model found: chance accuracy)",
        )
    evaluate(net, images[:8], labels[:8], sram.at(), seed=1)  # compile the kernels before timing
    rows = []
    for v in points:
        result = evaluate(net, images, labels, sram.at_knobs({knob: v}), seed=1)
        energy = result.read_energy_pj_per_image
        rows.append([v, result.ber, result.accuracy, result.ci_low, result.ci_high,
                     None if energy is None else energy / 1e6, result.seconds])  # fmt: skip
    margins = output_margins(net, images)
    import numpy as np

    return DemoTable(
        f"BNN engine: {what}, {net.n_weight_bits} weight bits, on {len(labels)} Fashion-MNIST test images; "
        "every image reads every weight afresh (per_sample):",
        [knob, "ber", "accuracy", "ci95_low", "ci95_high", "read_energy_uj_per_image", "seconds"],
        rows,
        [
            "(accuracies whose intervals overlap are not distinguishable on this many images)",
            f"output margin m (clean): median {int(np.median(margins.margin))}, so the output layer tolerates "
            f"{int(np.median(margins.tolerated))} flips for the median image (Corollary 2)",
        ],
    )


def run_demo() -> DemoReport:
    """Run the tour: profiles, one SRAM's voltage scaling, a memory audit, and the engine on shipped data.

    Returns
    -------
    DemoReport
        Its tables; :meth:`DemoReport.to_text` formats them.
    """
    names = available_profiles()
    sram = load_profile(DEMO_PROFILE)
    knob = next(iter(sram.knobs))
    points = sorted(
        (float(v) for v in sram.knob_values(knob) if sram.at_knobs({knob: v}).ber <= MAX_DEMO_BER), reverse=True
    )
    listing = DemoTable(f"{len(names)} profiles:", ["profile"], [[n] for n in names])
    return DemoReport(
        [
            listing,
            _voltage_table(sram, knob),
            _technology_table(names),
            _audit_table(
                sram, knob, [v for v in points if sram.at_knobs({knob: v}).ber > 0][:3], weight_bits("fashion-fcnn")
            ),
            _engine_table(sram, knob, points),
        ]
    )
