"""Measured chips end to end (issue 24, item 6): a map profile with a nominal point and energy is swept
and reported; `at`, `memory` and `sweep` refuse the same voltages between maps; text maps read fast."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memsim import OutOfRangeError, ProfileError, profile_from_fault_maps
from memsim.cli.app import main
from memsim.profile.readers import read_bit_matrix


@pytest.fixture
def chip(tmp_path):
    """Nested stuck-at maps of one chip at 0.50, 0.55 and 0.60 V (NPZ)."""
    rng = np.random.default_rng(1)
    vfail = rng.normal(0.42, 0.04, (64, 256))
    sa1_side = rng.random(vfail.shape) < 0.5
    for v in (0.50, 0.55, 0.60):
        fail = vfail > v
        np.savez(tmp_path / f"chip_v{v:.2f}.npz", stuck_at_0=fail & ~sa1_side, stuck_at_1=fail & sa1_side)
    return tmp_path


def _with_sram_energy(chip):
    """The chip's profile with the shipped SRAM profile's energy, rescaled to volts with Vmin = 0.6 V."""
    return profile_from_fault_maps(
        [chip], chip / "chip.yaml", technology="sram", reference="my chip",
        energy_from="sram_14nm_chandramoorthy2019", energy_vmin_v=0.6,
    )  # fmt: skip


def test_energy_from_a_profile_is_tabulated_at_the_maps_and_cited(chip):
    from memsim import load_profile

    sram = load_profile("sram_14nm_chandramoorthy2019").with_vmin(0.6)
    p = _with_sram_energy(chip)
    for v in (0.5, 0.55, 0.6):
        assert p.at(vdd_v=v).read_energy_pj_per_bit == pytest.approx(sram.at(vdd_v=v).read_energy_pj_per_bit)
    assert p.at().read_latency_ns is None  # not in the SRAM profile: None, never invented
    assert "energy_sram_14nm_chandramoorthy2019_vmin0.6v" in p.to_dict()["citations"]
    assert p.knobs["vdd_v"].nominal == 0.6


def test_energy_fields_scale_as_cv2_and_nominal_must_be_a_map(chip):
    p = profile_from_fault_maps(
        [chip],
        chip / "e.yaml",
        technology="sram",
        reference="x",
        nominal=0.55,
        energy={"read_pj_per_bit": 0.3, "read_ns": 1.5},
    )
    assert p.knobs["vdd_v"].nominal == 0.55
    assert p.at(vdd_v=0.5).read_energy_pj_per_bit == pytest.approx(0.3 * (0.5 / 0.55) ** 2)
    assert p.at(vdd_v=0.5).read_latency_ns == 1.5
    assert p.at().write_energy_pj_per_bit is None
    with pytest.raises(ProfileError, match=r"nominal: 0.57 has no map; maps exist at: 0.5, 0.55, 0.6"):
        profile_from_fault_maps([chip], chip / "n.yaml", technology="sram", reference="x", nominal=0.57)
    assert not (chip / "n.yaml").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"energy": {"bogus": 1.0}}, r"energy: unknown field 'bogus'"),
        ({"energy": {"read_pj_per_bit": -1.0}}, r"energy.read_pj_per_bit: -1.0 is not a finite number >= 0"),
        ({"energy": {"leakage_mw": float("inf")}}, r"energy.leakage_mw: inf is not a finite number >= 0"),
        ({"energy_from": "sram_14nm_chandramoorthy2019"}, r"has no knob 'vdd_v' .*give its Vmin in volts"),
        ({"energy_from": "dram_ddr3l_chang2017_vendorb"}, r"vdd_v 0.5, 0.55, 0.6 V lie outside profile 'dram_"),
        ({"energy": {"read_ns": 1.0}, "energy_from": "sram_14nm_chandramoorthy2019"}, r"not both"),
    ],
)
def test_bad_energy_options_are_refused_before_writing(chip, kwargs, message):
    with pytest.raises(ProfileError, match=message):
        profile_from_fault_maps([chip], chip / "bad.yaml", technology="sram", reference="x", **kwargs)
    assert not (chip / "bad.yaml").exists()


def test_at_memory_and_sweep_refuse_the_same_voltage_between_maps(chip, capsys):
    p = profile_from_fault_maps([chip], chip / "chip.yaml", technology="sram", reference="x")
    with pytest.raises(
        OutOfRangeError, match=r"0.535 V has no measured fault map; the chip is known at 0.5, 0.55, 0.6"
    ):
        p.at(vdd_v=0.535)
    assert p.at(vdd_v=0.55 + 1e-12).knobs["vdd_v"] == 0.55  # floating-point noise names the map
    assert p.knob_values("vdd_v", 11) == [0.5, 0.55, 0.6]  # a chip exists at its maps only
    profile = str(chip / "chip.yaml")
    lines = {}
    sweep = "sweep --model fcnn_cel_ber0 --dataset fashion-mnist-demo --trials 1 --quiet --vdd-v 0.535,0.6 --profile"
    for name, argv in {
        "at": ["at", profile, "--vdd-v", "0.535"],
        "memory": ["memory", profile, "--vdd-v", "0.535", "--bits", "64"],
        "sweep": [*sweep.split(), profile, "--out", str(chip / "out")],
    }.items():
        assert main(argv) == 1
        lines[name] = capsys.readouterr().err.strip()
    print(lines)
    assert len(set(lines.values())) == 1 and "0.535 V has no measured fault map" in lines["at"]
    assert not (chip / "out").exists()  # refused before anything is written


@pytest.mark.jit
def test_a_measured_chip_with_energy_is_swept_and_reported(chip, capsys):
    _with_sram_energy(chip)
    out = chip / "sweep"
    sweep = "sweep --model fcnn_cel_ber0 --dataset fashion-mnist-demo --trials 1 --quiet --vdd-v 0.5,0.55,0.6"
    argv = [*sweep.split(), "--profile", str(chip / "chip.yaml"), "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--format", "json"]) == 0
    (choice,) = json.loads(capsys.readouterr().out)
    print({k: v for k, v in choice.items() if k not in ("nominal", "chosen")})
    assert choice["reference"] == "nominal" and choice["saved"] > 0.1  # 0.5 V against 0.6 V, C V^2
    assert choice["chosen"]["ci_method"] == "wilson-images"  # one measured chip: over its images


def test_text_maps_read_by_numpy_and_errors_by_line(tmp_path):
    rng = np.random.default_rng(0)
    bits = rng.random((300, 500)) < 0.01
    np.savetxt(tmp_path / "a.txt", bits.astype(int), fmt="%d", delimiter=",")
    np.savetxt(tmp_path / "b.txt", bits.astype(int), fmt="%d", delimiter=" ", header="chip 7", comments="# ")
    assert (read_bit_matrix(tmp_path / "a.txt") == bits).all()
    assert (read_bit_matrix(tmp_path / "b.txt") == bits).all()
    (tmp_path / "c.txt").write_text("\ufeff0, 1\n1, 0\n", encoding="utf-8")
    assert read_bit_matrix(tmp_path / "c.txt").tolist() == [[False, True], [True, False]]
    for text, message in [
        ("0,1\n\n# note\n1,x\n", r"line 4, column 2: 'x' is not an integer"),
        ("0 1\n1 0 1\n", r"line 2: has 3 values; line 1 has 2"),
        ("0,1\n1,-1\n", r"line 2, column 2: -1 is not 0 or 1"),
        ("0,1\n1,300\n", r"line 2, column 2: 300 is not 0 or 1"),
        ("# nothing\n", r"no data rows"),
    ]:
        (tmp_path / "bad.txt").write_text(text, encoding="utf-8")
        with pytest.raises(ProfileError, match=message):
            read_bit_matrix(tmp_path / "bad.txt")
