"""Valid results are reported (issue 24, item 5): a sweep over bare BERs (no energy), a sweep without the nominal
point, and JSON written to a file."""

from __future__ import annotations

import json

import pytest

from memsim.cli.app import main
from memsim.experiment.sweep import SweepSpec, run_sweep
from memsim.report.tradeoff import TradeoffReport, choose

pytestmark = pytest.mark.jit  # runs sweeps: the engine at compiled speed

DEMO = {"models": ("fcnn_cel_ber0",), "dataset": "fashion-mnist-demo", "limit": 200}


@pytest.fixture(scope="module")
def ber_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("ber") / "s"
    run_sweep(SweepSpec(bers=(0.0, 0.01, 0.05, 0.2), trials=2, **DEMO), out, progress=False)
    return out


@pytest.fixture(scope="module")
def no_nominal(tmp_path_factory):
    out = tmp_path_factory.mktemp("sram") / "s"
    spec = SweepSpec(profile="sram_14nm_chandramoorthy2019", knobs={"vdd_over_vmin": [0.8, 0.85, 0.9]}, **DEMO)
    run_sweep(spec, out, progress=False)
    return out


def test_a_ber_sweep_is_reported_without_energy(ber_sweep, capsys):
    report = TradeoffReport.from_dir(ber_sweep)
    (c,) = report.choices(0.05)
    assert c.energy_key is None and c.saved is None and c.reference == "lowest BER"
    within = [r for r in report.rows if float(c.nominal["accuracy"]) - float(r["accuracy"]) <= 0.05 + 1e-12]
    assert float(c.chosen["ber"]) == max(float(r["ber"]) for r in within)  # the most error-tolerant point
    assert main(["report", str(ber_sweep), "--max-accuracy-drop", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "these rows carry no energy" in out and "tolerates up to ber=" in out


def test_a_sweep_without_nominal_is_relative_to_its_lowest_ber_point(no_nominal, capsys):
    (c,) = choose(TradeoffReport.from_dir(no_nominal).rows, 0.02)
    assert c.reference == "lowest BER" and c.nominal["vdd_over_vmin"] == "0.9"
    assert main(["report", str(no_nominal), "--max-accuracy-drop", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "the lowest-BER point present (vdd_over_vmin=0.9)" in out and "no nominal row" in out


def test_json_report_goes_to_the_file(no_nominal, tmp_path, capsys):
    target = tmp_path / "report.json"
    assert main(["report", str(no_nominal), "--format", "json", "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    data = json.loads(target.read_text())
    assert data[0]["model"] == "fcnn_cel_ber0" and data[0]["reference"] == "lowest BER"
