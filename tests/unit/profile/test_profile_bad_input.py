"""Every kind of bad profile input gets its own clear error: file, dotted field, value, what is allowed."""

from __future__ import annotations

import re

import pytest
from helpers import make_profile_data, write_yaml

from memsim import OutOfRangeError, ProfileError, UnknownNameError, load_profile


def load(tmp_path, data, stem="tiny"):
    return load_profile(write_yaml(tmp_path, data, stem))


def test_missing_key(tmp_path):
    """A missing required key names the file and the dotted path."""
    data = make_profile_data()
    del data["mechanisms"][0]["persistence"]
    with pytest.raises(ProfileError, match=r"tiny\.yaml: mechanisms\[0\]\.persistence: missing key"):
        load(tmp_path, data)


def test_missing_top_level_key(tmp_path):
    data = make_profile_data()
    del data["energy"]
    with pytest.raises(ProfileError, match=r"tiny\.yaml: energy: missing key; required keys: .*energy"):
        load(tmp_path, data)


def test_unknown_key_suggests_close_match(tmp_path):
    """An unknown key is rejected with the closest allowed key and the list of allowed keys."""
    data = make_profile_data()
    data["energy"]["read_pj_per_bits"] = data["energy"].pop("read_pj_per_bit")
    with pytest.raises(
        ProfileError,
        match=r"energy\.read_pj_per_bits: unknown key 'read_pj_per_bits' \(did you mean 'read_pj_per_bit'\?\); allowed keys",
    ):
        load(tmp_path, data)


def test_wrong_type(tmp_path):
    """A string where a number belongs names the field, the type and the value."""
    data = make_profile_data()
    data["knobs"]["vdd_v"]["max"] = "one volt"
    with pytest.raises(ProfileError, match=r"knobs\.vdd_v\.max: expected a number, got string 'one volt'"):
        load(tmp_path, data)


def test_wrong_type_of_block(tmp_path):
    data = make_profile_data()
    data["mechanisms"] = {"name": "x"}
    with pytest.raises(ProfileError, match=r"mechanisms: expected a list, got mapping"):
        load(tmp_path, data)


def test_negative_energy(tmp_path):
    data = make_profile_data()
    data["energy"]["read_pj_per_bit"]["value"] = -0.2
    with pytest.raises(ProfileError, match=r"energy\.read_pj_per_bit\.value: -0\.2 is negative; must be >= 0"):
        load(tmp_path, data)


def test_negative_energy_in_points(tmp_path):
    data = make_profile_data()
    data["energy"]["read_pj_per_bit"] = {
        "knob": "vdd_v",
        "points": [[0.6, 1.0], [1.0, -3.0]],
        "source": "lab",
        "provenance": "measured",
    }
    with pytest.raises(ProfileError, match=r"energy\.read_pj_per_bit\.points\[1\]\[1\]: -3 is negative"):
        load(tmp_path, data)


@pytest.mark.parametrize("bad", [0.6, -1e-3])
def test_ber_outside_0_to_half(tmp_path, bad):
    data = make_profile_data()
    data["mechanisms"][0]["curve"]["points"][0][1] = bad
    with pytest.raises(
        ProfileError, match=r"mechanisms\[0\]\.curve\.points\[0\]\.ber: .* is outside the allowed range \[0, 0\.5\]"
    ):
        load(tmp_path, data)


def test_p01_outside_0_to_1(tmp_path):
    data = make_profile_data()
    data["mechanisms"][1]["curve"]["points"][0][1] = 1.5
    with pytest.raises(ProfileError, match=r"points\[0\]\.p01: 1\.5 is outside the allowed range \[0, 1\]"):
        load(tmp_path, data)


def test_ber_rising_with_voltage(tmp_path):
    data = make_profile_data()
    data["mechanisms"][0]["curve"]["points"][2][1] = 5e-3  # above the 1e-3 at the lower voltage
    with pytest.raises(
        ProfileError,
        match=r"points\[2\]: p01 rises from 0\.001 to 0\.005 as vdd_v grows from 0\.8 to 0\.9.*must not rise with voltage",
    ):
        load(tmp_path, data)


@pytest.mark.parametrize(
    "points",
    [
        [[0.6, 1e-1], [0.9, 1e-5], [0.8, 1e-3], [1.0, 0.0]],  # unsorted
        [[0.6, 1e-1], [0.8, 1e-3], [0.8, 1e-3], [1.0, 0.0]],  # duplicate
    ],
)
def test_unsorted_or_duplicate_knob_values(tmp_path, points):
    data = make_profile_data()
    data["mechanisms"][0]["curve"]["points"] = points
    with pytest.raises(
        ProfileError,
        match=r"points\[2\]\[0\]: vdd_v=0\.8 is not greater than the previous .*strictly increasing \(sorted, no duplicates\)",
    ):
        load(tmp_path, data)


def test_curve_must_cover_knob_range(tmp_path):
    data = make_profile_data()
    data["knobs"]["vdd_v"]["min"] = 0.5
    with pytest.raises(
        ProfileError, match=r"the curve covers vdd_v in \[0\.6, 1\] but the knob's range is \[0\.5, 1\]"
    ):
        load(tmp_path, data)


def test_knob_outside_range_without_extrapolate(tmp_path):
    """Out of range raises OutOfRangeError naming the knob, value and range; extrapolate=True is the way out."""
    p = load(tmp_path, make_profile_data())
    with pytest.raises(
        OutOfRangeError,
        match=r"tiny\.yaml: knobs\.vdd_v: 1\.2 V is outside the profile's range \[0\.6, 1\] V; pass extrapolate=True",
    ):
        p.at(vdd_v=1.2)
    assert p.at(vdd_v=1.2, extrapolate=True).extrapolated


def test_unknown_knob_and_category(tmp_path):
    p = load(tmp_path, make_profile_data())
    with pytest.raises(UnknownNameError, match=r"unknown knob 'vdd' \(did you mean 'vdd_v'\?\).*knobs: vdd_v, trcd_ns"):
        p.at(vdd=0.9)
    with pytest.raises(ProfileError, match=r"knobs\.vdd_v: expected a number in V, got 'high'"):
        p.at(vdd_v="high")
    with pytest.raises(ProfileError, match=r"nan is not a finite number"):
        p.at(vdd_v=float("nan"))


def test_unknown_profile_name_lists_valid_ones():
    with pytest.raises(
        UnknownNameError,
        match=r"unknown profile 'sram_14nm_chandramorthy2019' \(did you mean 'sram_14nm_chandramoorthy2019'\?\); available profiles: .*dram_ddr3l_chang2017_vendorb",
    ):
        load_profile("sram_14nm_chandramorthy2019")


def test_unreadable_file(tmp_path):
    with pytest.raises(ProfileError, match=r"missing\.yaml: cannot read the file"):
        load_profile(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError, match=r"binary\.yaml: cannot read the file"):
        load_profile(binary)


def test_truncated_file(tmp_path):
    """A file cut off mid-way fails as bad YAML or as a missing key, naming the file either way."""
    good = write_yaml(tmp_path, make_profile_data()).read_text()
    for cut in (len(good) // 3, len(good) // 2, len(good) - 40):
        path = tmp_path / "tiny.yaml"
        path.write_text(good[:cut])
        with pytest.raises(ProfileError, match=re.escape(str(path))):
            load_profile(path)
    path.write_text("")
    with pytest.raises(ProfileError, match=r"the file is empty"):
        load_profile(path)
    path.write_text("knobs: [1, 2\nname: x\n")
    with pytest.raises(ProfileError, match=r"tiny\.yaml: line \d+, column \d+: not valid YAML"):
        load_profile(path)


def test_unknown_source_key(tmp_path):
    data = make_profile_data()
    data["energy"]["read_pj_per_bit"]["source"] = "labb"
    with pytest.raises(
        ProfileError,
        match=r"energy\.read_pj_per_bit\.source: 'labb' is not a key of 'citations' \(did you mean 'lab'\?\)",
    ):
        load(tmp_path, data)


def test_missing_provenance(tmp_path):
    data = make_profile_data()
    del data["mechanisms"][0]["curve"]["provenance"]
    with pytest.raises(ProfileError, match=r"mechanisms\[0\]\.curve\.provenance: missing key; every number must cite"):
        load(tmp_path, data)


def test_bad_provenance_tag(tmp_path):
    data = make_profile_data()
    data["mechanisms"][0]["curve"]["provenance"] = "measurd"
    with pytest.raises(
        ProfileError, match=r"'measurd' is not allowed \(did you mean 'measured'\?\); allowed: figure, table"
    ):
        load(tmp_path, data)


def test_unknown_form(tmp_path):
    data = make_profile_data()
    data["mechanisms"][0]["model"]["form"] = "gaussian_treshold"
    with pytest.raises(
        ProfileError, match=r"model\.form: unknown BER form 'gaussian_treshold' \(did you mean 'gaussian_threshold'\?\)"
    ):
        load(tmp_path, data)


def test_name_must_match_file_stem(tmp_path):
    with pytest.raises(ProfileError, match=r"other\.yaml: name: 'tiny' differs from the file stem 'other'"):
        load(tmp_path, make_profile_data(), stem="other")


def test_schema_version(tmp_path):
    with pytest.raises(ProfileError, match=r"schema_version: 2 is not supported"):
        load(tmp_path, make_profile_data(schema_version=2))


def test_technology_must_be_known(tmp_path):
    with pytest.raises(ProfileError, match=r"technology: 'flash' is not allowed; allowed: sram, dram, rram, stt_mram"):
        load(tmp_path, make_profile_data(technology="flash"))


def test_old_persistence_name_says_what_it_is_now(tmp_path):
    data = make_profile_data()
    data["mechanisms"][0]["persistence"] = "per_read"
    with pytest.raises(ProfileError, match=r"mechanisms\[0\]\.persistence: 'per_read' is now called 'transient'"):
        load(tmp_path, data)
