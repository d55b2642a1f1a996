"""One energy path (issue 24, item 8): the per-read counters of `evaluate` and a sweep's row book read energy
through the same function, so the two agree to rounding."""

from __future__ import annotations

import pytest

import memsim
from memsim.experiment.evaluate import evaluate
from memsim.memory.energy import inference_energy, read_energy_pj


@pytest.mark.jit
def test_evaluate_and_a_sweep_row_book_the_same_read_energy():
    net = memsim.load_model("fcnn_cel_ber0")
    images, labels = memsim.load_dataset("fashion-mnist-demo", "test")
    op = memsim.load_profile("sram_14nm_chandramoorthy2019").at(vdd_over_vmin=0.9)
    ev = evaluate(net, images[:20], labels[:20], op, seed=3)
    sweep_read = inference_energy(op, ev.bits_read / 20, sum(net.layer_ops()), None).read_pj
    print(f"\nread energy per image: evaluate {ev.read_energy_pj_per_image:.6g} pJ, sweep {sweep_read:.6g} pJ")
    assert ev.read_energy_pj_per_image == pytest.approx(sweep_read, rel=1e-12)
    assert read_energy_pj(None, 64) is None  # a bare BER: no energy, never zero
