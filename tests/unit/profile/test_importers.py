"""Measured data: CSV curves and per-cell fault maps become validated profiles; bad files get clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from memsim import ProfileError, load_profile, profile_from_csv, profile_from_fault_maps
from memsim.profile.readers import load_npz, read_bit_matrix


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


CSV = """# source: chip A, 25 C
vdd_v,ber,read_energy_pj_per_bit
0.60,2.0e-2,0.20
0.70,1.0e-4,0.27
0.80,0.0,0.36
"""


def test_csv_import_writes_a_profile_that_references_the_csv(tmp_path):
    """The written YAML refers to the CSV, evaluates at its points, and carries the energy column."""
    csv = write(tmp_path / "chip_a.csv", CSV)
    out = tmp_path / "chip_a.yaml"
    p = profile_from_csv(csv, out, technology="sram", reference="our test chip")
    text = out.read_text()
    assert "csv: chip_a.csv" in text and "measured" in text
    q = load_profile(out)
    assert q.name == "chip_a" and list(q.knobs) == ["vdd_v"]
    assert q.knobs["vdd_v"].nominal == 0.8 and q.knobs["vdd_v"].min == 0.6
    assert q.at(vdd_v=0.6).ber == pytest.approx(2e-2)
    assert q.at(vdd_v=0.65).ber == pytest.approx(np.sqrt(2e-2 * 1e-4))
    assert q.at(vdd_v=0.65).read_energy_pj_per_bit == pytest.approx(0.235)
    assert q.at().read_latency_ns is None
    assert p.at(vdd_v=0.7).ber == q.at(vdd_v=0.7).ber


def test_csv_with_p01_p10_columns(tmp_path):
    csv = write(tmp_path / "asym.csv", "vdd_v,p01,p10\n0.6,0.03,0.01\n0.8,0.0,0.0\n")
    p = profile_from_csv(csv, tmp_path / "asym.yaml", technology="sram", reference="x")
    op = p.at(vdd_v=0.6)
    assert (op.p01, op.p10, op.ber) == pytest.approx((0.03, 0.01, 0.02))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("vdd,ber", r"first column 'vdd' must name the knob with its unit suffix"),
        ("voltage,ber", r"first column 'voltage' must name the knob with its unit suffix"),
        ("vdd_v,bit_error_rate", r"unknown column 'bit_error_rate'"),
        (
            "vdd_v,read_energy_pj_per_bit",
            r"missing column 'ber' \(or both 'p01' and 'p10'\); found: vdd_v, read_energy_pj_per_bit",
        ),
        ("vdd_v,p01", r"missing column 'ber' \(or both 'p01' and 'p10'\)"),
        ("ber,vdd_v", r"first column 'ber' must name the knob"),
    ],
)
def test_csv_with_missing_or_misnamed_columns(tmp_path, header, message):
    csv = write(tmp_path / "bad.csv", f"{header}\n0.6,0.1\n0.8,0.0\n")
    with pytest.raises(ProfileError, match=r"bad\.csv: header: " + message):
        profile_from_csv(csv, tmp_path / "bad.yaml", technology="sram", reference="x")
    assert not (tmp_path / "bad.yaml").exists(), "nothing half-written"


def test_csv_bad_rows(tmp_path):
    csv = write(tmp_path / "bad.csv", "vdd_v,ber\n0.6,0.1\n0.7,oops\n")
    with pytest.raises(ProfileError, match=r"bad\.csv: line 3, column ber: 'oops' is not a number"):
        profile_from_csv(csv, tmp_path / "bad.yaml", technology="sram", reference="x")
    write(csv, "vdd_v,ber\n0.6,0.1,3\n")
    with pytest.raises(ProfileError, match=r"line 2: has 3 values; the header has 2 columns"):
        profile_from_csv(csv, tmp_path / "bad.yaml", technology="sram", reference="x")


def test_csv_ber_rising_with_voltage_is_refused(tmp_path):
    csv = write(tmp_path / "rise.csv", "vdd_v,ber\n0.6,1e-3\n0.7,1e-2\n")
    with pytest.raises(ProfileError, match=r"rise\.csv row\[1\]: p01 rises from 0\.001 to 0\.01"):
        profile_from_csv(csv, tmp_path / "rise.yaml", technology="sram", reference="x")
    assert not (tmp_path / "rise.yaml").exists()


def test_profile_referencing_a_broken_csv_names_the_csv(tmp_path):
    csv = write(tmp_path / "c.csv", "vdd_v,ber\n0.6,0.1\n0.8,0\n")
    out = tmp_path / "c.yaml"
    profile_from_csv(csv, out, technology="sram", reference="x")
    write(csv, "vdd_v,ber\n0.8,0.1\n0.6,0\n")  # now unsorted
    with pytest.raises(ProfileError, match=r"c\.csv row\[1\]\[0\]: vdd_v=0\.6 is not greater than the previous 0\.8"):
        load_profile(out)
    csv.unlink()
    with pytest.raises(ProfileError, match=r"c\.csv: cannot read the file"):
        load_profile(out)


# ---------------------------------------------------------------- fault maps
def stuck_maps(rng, shape, fraction):
    faulty = rng.random(shape) < fraction
    sa0 = faulty & (rng.random(shape) < 0.5)
    return sa0, faulty & ~sa0


def test_stuck_at_text_pairs(tmp_path):
    """0/1 text matrices named fmap_sa0_v_<V>.txt / fmap_sa1_v_<V>.txt, as published for real SRAM arrays."""
    rng = np.random.default_rng(0)
    maps = tmp_path / "chip1"
    maps.mkdir()
    sa0_lo, sa1_lo = stuck_maps(rng, (64, 16), 0.10)
    sa0_hi, sa1_hi = sa0_lo & (rng.random((64, 16)) < 0.3), sa1_lo & (rng.random((64, 16)) < 0.3)  # nested
    for v, sa0, sa1 in ((0.60, sa0_lo, sa1_lo), (0.65, sa0_hi, sa1_hi)):
        np.savetxt(maps / f"fmap_sa0_v_{v:.2f}.txt", sa0.astype(int), fmt="%d", delimiter=",")
        np.savetxt(maps / f"fmap_sa1_v_{v:.2f}.txt", sa1.astype(int), fmt="%d", delimiter=",")
    out = tmp_path / "chip1.yaml"
    profile_from_fault_maps([maps], out, technology="sram", reference="chip 1")
    p = load_profile(out)
    assert p.fault_maps is not None and p.fault_maps.kind == "stuck_at" and p.fault_maps.shape == (64, 16)
    op = p.at(vdd_v=0.60)
    # A stuck-at-1 cell flips stored 0s (p01), a stuck-at-0 cell flips stored 1s (p10).
    assert op.p01 == pytest.approx(sa1_lo.mean()) and op.p10 == pytest.approx(sa0_lo.mean())
    assert op.ber == pytest.approx((sa0_lo.mean() + sa1_lo.mean()) / 2)
    p01, p10 = p.fault_maps.cell_rates(0.65)
    np.testing.assert_array_equal(p10 == 1, sa0_hi)
    np.testing.assert_array_equal(p01 == 1, sa1_hi)


def test_npz_stuck_and_probability_and_failure_voltage(tmp_path):
    rng = np.random.default_rng(1)
    shape = (32, 8)
    d = tmp_path / "npz"
    d.mkdir()
    for v, frac in ((0.5, 0.2), (0.6, 0.05)):
        sa0, sa1 = stuck_maps(rng, shape, frac)
        np.savez(d / f"chip_v{v:.2f}.npz", stuck_at_0=sa0, stuck_at_1=sa1)
    p = profile_from_fault_maps([d], tmp_path / "npzchip.yaml", technology="sram", reference="x")
    assert p.fault_maps.kind == "stuck_at" and p.fault_maps.knob_values == [0.5, 0.6]

    e = tmp_path / "prob"
    e.mkdir()
    np.savez(e / "c_v0.50.npz", p01=np.full(shape, 0.02), p10=np.full(shape, 0.04))
    np.savez(e / "c_v0.60.npz", p01=np.full(shape, 0.001), p10=np.full(shape, 0.0))
    p = profile_from_fault_maps([e], tmp_path / "prob.yaml", technology="sram", reference="x")
    assert p.at(vdd_v=0.5).ber == pytest.approx(0.03)

    vfail = rng.normal(0.55, 0.05, shape)
    vfail[0, 0] = np.nan  # never fails
    np.savez(tmp_path / "vfail.npz", failure_voltage_v=vfail)
    p = profile_from_fault_maps(
        [tmp_path / "vfail.npz"],
        tmp_path / "vf.yaml",
        technology="sram",
        reference="x",
        voltages=[0.45, 0.5, 0.55, 0.6, 0.65],
    )
    op = p.at(vdd_v=0.5)
    assert op.ber == pytest.approx(np.mean(np.nan_to_num(vfail, nan=-1) > 0.5))
    low, high = (p.fault_maps.cell_rates(v)[0] == 1 for v in (0.5, 0.6))
    assert np.all(high <= low), "failing cells at a higher voltage are a subset of those at a lower one"


def test_npz_with_pickled_objects_is_refused(tmp_path):
    """An NPZ holding an object array is refused without unpickling it."""
    path = tmp_path / "evil_v0.60.npz"
    np.savez(path, stuck_at_0=np.array([{"a": 1}, None], dtype=object), stuck_at_1=np.zeros(2, bool))
    with pytest.raises(
        ProfileError, match=r"evil_v0\.60\.npz: stuck_at_0: holds pickled Python objects; memsim never loads pickles"
    ):
        load_npz(path)
    with pytest.raises(ProfileError, match=r"holds pickled Python objects"):
        profile_from_fault_maps([path], tmp_path / "evil.yaml", technology="sram", reference="x")
    assert not (tmp_path / "evil.yaml").exists()


def test_truncated_npz(tmp_path):
    path = tmp_path / "t_v0.6.npz"
    np.savez(path, stuck_at_0=np.zeros((4, 4), bool), stuck_at_1=np.zeros((4, 4), bool))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProfileError, match=r"t_v0\.6\.npz: not a readable NPZ archive"):
        load_npz(path)


def test_fault_maps_of_inconsistent_shapes(tmp_path):
    d = tmp_path / "maps"
    d.mkdir()
    np.savez(d / "c_v0.50.npz", stuck_at_0=np.zeros((8, 8), bool), stuck_at_1=np.zeros((8, 8), bool))
    np.savez(d / "c_v0.60.npz", stuck_at_0=np.zeros((8, 4), bool), stuck_at_1=np.zeros((8, 4), bool))
    with pytest.raises(
        ProfileError,
        match=r"c_v0\.60\.npz: stuck_at_0: map shape \(8, 4\) does not match the declared fault_maps\.shape \(8, 8\)",
    ):
        profile_from_fault_maps([d], tmp_path / "shapes.yaml", technology="sram", reference="x")
    assert not (tmp_path / "shapes.yaml").exists()


def test_text_pair_problems(tmp_path):
    d = tmp_path / "pairs"
    d.mkdir()
    write(d / "fmap_sa0_v_0.60.txt", "0,1\n1,0\n")
    with pytest.raises(ProfileError, match=r"no matching sa1 map for vdd_v=0\.6"):
        profile_from_fault_maps([d], tmp_path / "p.yaml", technology="sram", reference="x")
    write(d / "fmap_sa1_v_0.60.txt", "0,2\n0,0\n")
    with pytest.raises(ProfileError, match=r"fmap_sa1_v_0\.60\.txt: line 1, column 2: 2 is not 0 or 1"):
        read_bit_matrix(d / "fmap_sa1_v_0.60.txt")
    write(d / "fmap_sa1_v_0.60.txt", "0,1\n0\n")
    with pytest.raises(ProfileError, match=r"line 2: has 1 values; line 1 has 2 \(ragged matrix\)"):
        read_bit_matrix(d / "fmap_sa1_v_0.60.txt")
    write(d / "map_without_voltage_sa0.txt", "0\n")
    with pytest.raises(ProfileError, match=r"no voltage in the file name"):
        profile_from_fault_maps(
            [d / "map_without_voltage_sa0.txt"], tmp_path / "p.yaml", technology="sram", reference="x"
        )


def test_single_voltage_maps_cannot_make_a_curve(tmp_path):
    np.savez(tmp_path / "one_v0.6.npz", p01=np.zeros(4), p10=np.zeros(4))
    with pytest.raises(ProfileError, match=r"maps at 1 voltage\(s\); a BER curve needs maps at 2 or more"):
        profile_from_fault_maps([tmp_path / "one_v0.6.npz"], tmp_path / "one.yaml", technology="sram", reference="x")


def test_profile_with_missing_map_file(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    for v in (0.5, 0.6):
        np.savez(d / f"c_v{v:.2f}.npz", p01=np.zeros(4), p10=np.zeros(4))
    out = tmp_path / "m.yaml"
    profile_from_fault_maps([d], out, technology="sram", reference="x")
    (d / "c_v0.60.npz").unlink()
    with pytest.raises(ProfileError, match=r"m\.yaml: fault_maps\.files\[1\]: file '.*c_v0\.60\.npz' does not exist"):
        load_profile(out)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([0, 2, 0, 0]), r"cell \(1,\): 2 is not 0 or 1 \(a stuck-at mask is 0/1\)"),
        (np.array([0, 0.5, 0, 0]), r"cell \(1,\): 0.5 is not 0 or 1"),
        (np.array([0, np.nan, 0, 0]), r"cell \(1,\): nan is not 0 or 1"),
        (np.array(["0", "1", "0", "0"]), r"dtype <U1 is not numeric"),
    ],
)
def test_npz_stuck_at_maps_are_checked_like_text_maps(tmp_path, values, message):
    maps = tmp_path / "maps"
    maps.mkdir()
    np.savez(maps / "c_v0.60.npz", stuck_at_0=values, stuck_at_1=np.zeros(4, bool))
    np.savez(maps / "c_v0.70.npz", stuck_at_0=np.zeros(4, bool), stuck_at_1=np.zeros(4, bool))
    with pytest.raises(ProfileError, match=message):
        profile_from_fault_maps([maps], tmp_path / "chip.yaml", technology="sram", reference="x")
    assert not (tmp_path / "chip.yaml").exists()


def test_a_text_file_named_npz_is_not_an_npz_archive(tmp_path):
    fake = tmp_path / "m.npz"
    fake.write_text("0,1\n1,0\n")
    with pytest.raises(ProfileError, match=r"m\.npz: not an NPZ archive \(a \.npz file is a zip of \.npy arrays"):
        load_npz(fake)


def test_csv_headers_match_case_insensitively_and_a_bom_is_not_data(tmp_path):
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes("\ufeffVDD_V,BER\n0.6,1e-3\n0.7,1e-5\n".encode())
    profile = profile_from_csv(csv_path, tmp_path / "x.yaml", technology="sram", reference="excel export")
    assert list(profile.knobs) == ["vdd_v"] and profile.knobs["vdd_v"].unit == "V"
    assert profile.at(vdd_v=0.6).ber == pytest.approx(1e-3)


def test_imported_published_data_say_where_they_come_from(tmp_path):
    csv_path = tmp_path / "paper.csv"
    csv_path.write_text("vdd_v,ber\n0.6,1e-3\n0.7,1e-5\n")
    profile = profile_from_csv(csv_path, tmp_path / "p.yaml", technology="sram", reference="A. Author, Paper 2020",
                               citation_key="author2020", provenance="figure")  # fmt: skip
    tags = {(item["source"], item["provenance"]) for item in profile.provenance()}
    assert tags == {("author2020", "figure")}
    with pytest.raises(ProfileError, match="provenance"):
        profile_from_csv(csv_path, tmp_path / "q.yaml", technology="sram", reference="x", provenance="hearsay")
    assert not (tmp_path / "q.yaml").exists()


def test_conflicting_stuck_at_maps_name_the_input_files(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    both = np.array([False, True, False, False])
    np.savez(maps / "c_v0.60.npz", stuck_at_0=both, stuck_at_1=both)
    np.savez(maps / "c_v0.70.npz", stuck_at_0=np.zeros(4, bool), stuck_at_1=np.zeros(4, bool))
    with pytest.raises(
        ProfileError, match=r"c_v0\.60\.npz: cell \(1,\) at vdd_v=0\.6: is both stuck-at-0 and stuck-at-1"
    ):
        profile_from_fault_maps([maps], tmp_path / "chip.yaml", technology="sram", reference="x")


def test_a_missing_output_folder_is_named_before_any_input_is_read(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    for v in ("0.60", "0.70"):
        np.savez(maps / f"c_v{v}.npz", stuck_at_0=np.zeros(4, bool), stuck_at_1=np.zeros(4, bool))
    out = tmp_path / "missing" / "chip.yaml"
    with pytest.raises(ProfileError, match=r"chip\.yaml: directory .*missing' does not exist"):
        profile_from_fault_maps([maps], out, technology="sram", reference="x")


def test_maps_that_are_not_nested_are_reported(tmp_path, capsys):
    from memsim.cli.app import main

    maps = tmp_path / "maps"
    maps.mkdir()
    low = np.array([True, True, False, False])  # at 0.60 V cells 0 and 1 fail
    high = np.array([False, False, True, False])  # at 0.70 V cell 2 fails, but it reads correctly at 0.60 V
    np.savez(maps / "c_v0.60.npz", stuck_at_0=low, stuck_at_1=np.zeros(4, bool))
    np.savez(maps / "c_v0.70.npz", stuck_at_0=high, stuck_at_1=np.zeros(4, bool))
    out = tmp_path / "chip.yaml"
    assert main(["profiles", "import", "maps", str(maps), "-o", str(out), "--technology", "sram",
                 "--reference", "x"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "note: the maps are not nested (1 cells fail at vdd_v=0.7 but read correctly at 0.6)" in text
    assert main(["profiles", "show", str(out)]) == 0
    assert "fault maps: the maps are not nested" in capsys.readouterr().out
    assert load_profile(str(out)).fault_maps.nesting() == [(0.7, 0.6, 1)]
