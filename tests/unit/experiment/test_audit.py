"""memsim memory's audit: z over the independent units of each fault model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memsim.experiment.audit import audit_reads
from memsim.memory.faults import PersistentFaults


def _zs(fault_model: str, seeds: int = 40) -> tuple[np.ndarray, np.ndarray, set[str]]:
    new, naive, over = [], [], set()
    for seed in range(seeds):
        a = audit_reads(0.05, nbits=4096, reads=8, fault_model=fault_model, seed=seed)
        n, p = a.nbits * a.reads, a.expected_ber
        new.append(a.z_ber)
        naive.append((a.observed_ber * n - n * p) / math.sqrt(n * p * (1 - p)))  # bits x reads, as before
        over.add(a.z_over)
    return np.array(new), np.array(naive), over


@pytest.mark.jit  # 120 audits: compiled speed
def test_stuck_cells_z_is_over_bits_not_reads():
    """Stuck cells repeat in every read: z over bits x reads is inflated by about sqrt(reads) = 2.8."""
    z, naive, over = _zs("persistent")
    print(f"\npersistent, 40 chips: sd of z over bits {z.std(ddof=1):.2f}; over bits x reads {naive.std(ddof=1):.2f}")
    assert over == {"bits"}
    assert 0.6 < z.std(ddof=1) < 1.5 and abs(z.mean()) < 0.6
    assert naive.std(ddof=1) > 2.0  # what the audit reported before


@pytest.mark.jit
def test_mixed_and_transient_z_are_standard():
    for model, unit in (("mixed", "bits"), ("transient", "bits x reads")):
        z, _, over = _zs(model)
        print(f"\n{model}: sd of z {z.std(ddof=1):.2f}, mean {z.mean():+.2f}")
        assert over == {unit}
        assert 0.6 < z.std(ddof=1) < 1.5 and abs(z.mean()) < 0.6


def test_measured_map_reports_no_z():
    """A measured map's cells are one fixed part of one chip: the used cells' rate is not a sample of the chip."""
    p10 = np.zeros(4096)
    p10[:40] = 1.0  # all faults in the first cells
    a = audit_reads((0.0, 0.0), nbits=2048, reads=3, fault_model=PersistentFaults((np.zeros(4096), p10)), seed=0)
    assert a.z_over == "none" and math.isnan(a.z_ber)


def test_cli_bounds_the_audited_array(capsys):
    from memsim.cli.app import main

    assert main(["memory", "--ber", "0.1", "--bits", "100000000000"]) == 1
    assert "--bits must be in [1, 134,217,728]" in capsys.readouterr().err


def test_a_repeated_knob_is_refused_by_at(capsys):
    from memsim.cli.app import main

    assert main(["at", "sram_14nm_chandramoorthy2019", "--vdd-over-vmin", "0.9", "--vdd-over-vmin", "0.8"]) == 1
    assert "--vdd-over-vmin is given twice" in capsys.readouterr().err
