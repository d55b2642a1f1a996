"""memsim optimize: per-region operating points and codes within a confirmed accuracy drop."""

from __future__ import annotations

import json

import pytest

from memsim.cli.app import main
from memsim.errors import ConfigError, OutOfRangeError, UnknownNameError
from memsim.experiment.optimize import Option, optimize

pytestmark = pytest.mark.jit  # every evaluation runs the engine on hundreds of images

SRAM = "sram_14nm_chandramoorthy2019"
SMALL = {"values": [1.0, 0.875, 0.792, 0.75], "trials": 1, "confirm_trials": 2, "limit": 200}


@pytest.fixture(scope="module")
def result():
    return optimize("fcnn_mhl_b128_ber5", SRAM, in_memory="weights,thresholds", **SMALL)


def test_the_assignment_is_confirmed_and_no_worse_than_a_single_voltage(result):
    print(result.to_text())
    assert list(result.regions) == ["layer0", "layer1", "layer2", "thresholds"]
    best, nominal = result.best, result.nominal
    assert best.acceptable and best.drop_bound <= 0.01 and best.trials == 2, "confirmed with confirm_trials"
    assert best.energy_pj <= nominal.energy_pj
    single = result.single
    if single is not None:
        assert single.acceptable and best.energy_pj <= single.energy_pj
        assert len({o.value for o in single.assignment.values()}) == 1 and all(
            o.code is None for o in single.assignment.values()
        )
    assert {s.stage for s in result.steps} >= {"nominal", "uniform", "sensitivity", "confirm"}
    assert result.images_evaluated == sum(s.trials * s.images for s in result.steps)
    assert result.verdict().startswith("the assignment")
    data = result.to_dict()
    assert data["best"]["assignment"]["layer0"]["vdd_over_vmin"] in SMALL["values"]
    json.dumps(data)


@pytest.mark.slow
def test_the_search_is_reproducible(result):
    again = optimize("fcnn_mhl_b128_ber5", SRAM, in_memory="weights,thresholds", **SMALL)
    assert again.best.assignment == result.best.assignment and again.best.accuracy == result.best.accuracy
    assert [s.accuracy for s in again.steps] == [s.accuracy for s in result.steps]


def test_bad_options():
    with pytest.raises(UnknownNameError, match="has no knob 'vdd'"):
        optimize("fcnn_cel_ber0", SRAM, knob="vdd")
    with pytest.raises(ConfigError, match="need 1 <= trials <= confirm_trials"):
        optimize("fcnn_cel_ber0", SRAM, trials=4, confirm_trials=2)
    with pytest.raises(OutOfRangeError, match="outside the profile's range"):
        optimize("fcnn_cel_ber0", SRAM, values=[0.5])
    with pytest.raises(UnknownNameError, match="unknown code 'secded65'"):
        optimize("fcnn_cel_ber0", SRAM, codes=["secded65"])
    with pytest.raises(
        ConfigError, match=r"--region first=layr0 matches no array of fcnn_cel_ber0.*did you mean 'layer0'"
    ):
        optimize("fcnn_cel_ber0", SRAM, regions={"first": "layr0"})
    assert Option(0.8, "secded64").label() == "0.8+secded64"


def test_cli(tmp_path, capsys):
    out = tmp_path / "o.json"
    assert main(["optimize", "--model", "fcnn_cel_ber0", "--profile", SRAM, "--values", "1.0,0.75", "--codes", "none",
                 "--trials", "1", "--confirm-trials", "1", "--limit", "100", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "optimized" in text and "evaluations" in text
    assert json.loads(out.read_text())["knob"] == "vdd_over_vmin"
    assert main(["optimize", "--model", "fcnn_cel_ber0", "--profile", SRAM, "--out", str(tmp_path / "o.txt")]) == 1
    assert "name the file .json" in capsys.readouterr().err
    assert main(["optimize", "--model", "fcnn_cel_ber0", "--profile", SRAM, "--region", "first"]) == 1
    assert "expected NAME=PATTERN" in capsys.readouterr().err
