"""Sweep configs are typed (issue 24, item 3): a wrong type is one line naming the file and the option, before
anything is written; nothing is converted into something else (a string into its characters, 'no' into true)."""

from __future__ import annotations

import pytest

from memsim.cli.app import main

HEAD = "models: [fcnn_cel_ber0]\n"
SRAM = HEAD + "profile: sram_14nm_chandramoorthy2019\n"

CASES = {
    "knobs as a list": (SRAM + "knobs: [0.8, 0.9]\n", "knobs: expected a mapping of knob name to a list"),
    "knobs as a string": (SRAM + "knobs: vdd\n", "knobs: expected a mapping"),
    "a knob's values as a scalar": (SRAM + "knobs: {vdd_over_vmin: 0.8}\n", "knobs: expected a mapping"),
    "bers as a string": (HEAD + "bers: '0.1,0.2'\n", "bers: expected a list of numbers (write bers: [0.1,0.2])"),
    "models as a string": ("models: fcnn_cel_ber0\nbers: [0.1]\n", "models: expected a list of names"),
    "extrapolate 'no'": (SRAM + "knobs: {vdd_over_vmin: [0.7]}\nextrapolate: 'no'\n",
                         "extrapolate: expected true or false (unquoted), got str 'no'"),
    "overlap 'no'": (HEAD + "bers: [0.1]\noverlap: 'no'\n", "overlap: expected true or false"),
    "trials 2.5": (HEAD + "bers: [0.1]\ntrials: 2.5\n", "trials: expected an integer, got float 2.5"),
    "seed as text": (HEAD + "bers: [0.1]\nseed: one\n", "seed: expected an integer"),
    "YAML syntax": ("models: [fcnn_cel_ber0\nbers: [0.1]\n", "line 2, column 5: not valid YAML"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_config_type_errors_are_one_line(case, tmp_path, capsys):
    text, message = CASES[case]
    config = tmp_path / "sweep.yaml"
    config.write_text(text)
    out = tmp_path / "out"
    code = main(["sweep", "--dataset", "fashion-mnist-demo", "--limit", "10", "--quiet", "--config", str(config),
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert str(config) in err and message in err, err
    assert not out.exists()


def test_null_knobs_and_unquoted_no_are_valid(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text(HEAD + "bers: [0.1]\nknobs: null\noverlap: no\n")
    code = main(["sweep", "--dataset", "fashion-mnist-demo", "--limit", "10", "--quiet", "--config", str(config),
                 "--out", str(tmp_path / "out"), "--dump-config"])  # fmt: skip
    assert code == 0 and "overlap: false" in capsys.readouterr().out
