"""Imported numbers are checked where they are read (issue 24, item 7): the CSV or map file is named, with
the line or cell, and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest

from memsim import ProfileError, load_profile, profile_from_csv, profile_from_fault_maps


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("-0.6,0.01\n0.8,0", r"line 2, column vdd_v: -0.6 is not positive; a knob in V is a physical quantity > 0"),
        ("0.6,0.01\ninf,0", r"line 3, column vdd_v: inf is not a finite number"),
        ("0.6,nan\n0.8,0", r"line 2, column ber: nan is not a finite number"),
        ("0.6,1.5\n0.8,0", r"line 2, column ber: 1.5 is not a probability in \[0, 1\]"),
    ],
)
def test_csv_values_are_checked_naming_the_csv_line(tmp_path, rows, message):
    (tmp_path / "c.csv").write_text(f"vdd_v,ber\n{rows}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"c\.csv: " + message):
        profile_from_csv(tmp_path / "c.csv", tmp_path / "c.yaml", technology="sram", reference="x")
    assert not (tmp_path / "c.yaml").exists()


def test_a_negative_energy_is_blamed_on_the_csv_not_the_output(tmp_path):
    (tmp_path / "e.csv").write_text("vdd_v,ber,read_energy_pj_per_bit\n0.6,0.01,-1\n0.8,0,0.3\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"e\.csv: line 2, column read_energy_pj_per_bit: -1 is negative"):
        profile_from_csv(tmp_path / "e.csv", tmp_path / "e.yaml", technology="sram", reference="x")


def test_a_temperature_knob_may_be_negative(tmp_path):
    (tmp_path / "t.csv").write_text("temperature_c,ber\n-20,0.001\n70,0\n", encoding="utf-8")
    p = profile_from_csv(tmp_path / "t.csv", tmp_path / "t.yaml", technology="dram", reference="x")
    assert p.knobs["temperature_c"].min == -20


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"stuck_at_0": np.zeros(0, bool), "stuck_at_1": np.zeros(0, bool)}, r"stuck_at_0: is empty \(shape \(0,\)\)"),
        ({"stuck_at_0": np.array(False), "stuck_at_1": np.array(False)}, r"stuck_at_0: is a 0-d array \(one value\)"),
    ],
)
def test_empty_and_0d_maps_say_what_a_map_is(tmp_path, arrays, message):
    for v in (0.5, 0.6):
        np.savez(tmp_path / f"c_v{v:.2f}.npz", **arrays)
    with pytest.raises(ProfileError, match=message + r"; a map holds one value per cell"):
        profile_from_fault_maps([tmp_path], tmp_path / "m.yaml", technology="sram", reference="x")
    assert not (tmp_path / "m.yaml").exists()


@pytest.mark.parametrize("bad", [-0.6, np.inf, 0.0])
def test_failure_voltages_are_positive_and_finite(tmp_path, bad):
    np.savez(tmp_path / "c.npz", failure_voltage_v=np.array([0.5, bad, np.nan]))
    with pytest.raises(ProfileError, match=r"cell \(1,\): .* is not a positive, finite voltage \(NaN: never fails\)"):
        profile_from_fault_maps([tmp_path], tmp_path / "m.yaml", technology="sram", reference="x")


@pytest.mark.parametrize("voltages", [[-0.5, 0.6], [0.4, np.inf]])
def test_tabulation_voltages_are_positive_and_finite(tmp_path, voltages):
    np.savez(tmp_path / "c.npz", failure_voltage_v=np.array([0.5, 0.6, np.nan]))
    with pytest.raises(ProfileError, match=r"voltages: .* is not a positive, finite voltage"):
        profile_from_fault_maps([tmp_path], tmp_path / "m.yaml", technology="sram", reference="x", voltages=voltages)


def test_a_voltage_of_zero_in_a_map_name_is_refused(tmp_path):
    for v in ("0.00", "0.60"):
        np.savez(tmp_path / f"c_v{v}.npz", stuck_at_0=np.zeros(4, bool), stuck_at_1=np.zeros(4, bool))
    with pytest.raises(ProfileError, match=r"c_v0\.00\.npz: the voltage in the file name, 0, is not positive"):
        profile_from_fault_maps([tmp_path], tmp_path / "m.yaml", technology="sram", reference="x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "my chip!"}, r"name: 'my chip!' is not a profile name: letters, digits"),
        ({"name": "a/b"}, r"is not a profile name"),
        ({"reference": "  "}, r"citations\.measured\.reference: is empty; say where the numbers come from"),
    ],
)
def test_profile_names_and_references(tmp_path, kwargs, message):
    (tmp_path / "c.csv").write_text("vdd_v,ber\n0.6,0.01\n0.8,0\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=message):
        profile_from_csv(tmp_path / "c.csv", tmp_path / "c.yaml", technology="sram", **{"reference": "x", **kwargs})
    assert not (tmp_path / "c.yaml").exists()


def test_a_folder_given_as_a_profile_is_named_as_a_folder(tmp_path):
    (tmp_path / "chip.yaml").write_text("x: 1\n", encoding="utf-8")
    with pytest.raises(
        ProfileError, match=r"is a folder; give a profile's \.yaml file or name \(it holds chip\.yaml\)"
    ):
        load_profile(str(tmp_path) + "/")
