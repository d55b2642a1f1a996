"""Every shipped profile loads, cites its numbers, is monotone, and matches the data it was built from."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memsim import OutOfRangeError, available_profiles, load_profile
from memsim.profile.forms import get_form

SHIPPED = available_profiles()


def test_four_technologies_are_shipped():
    techs = {load_profile(n).technology for n in SHIPPED}
    assert {"sram", "dram", "rram", "stt_mram"} <= techs, techs


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_is_complete_and_cited(name):
    """Every number block cites a known source and a provenance; the nominal point evaluates."""
    p = load_profile(name)
    items = p.provenance()
    assert len(items) >= 4
    assert all(item["source"] in p.citations for item in items)
    op = p.at()
    assert 0.0 <= op.ber <= 0.5
    for field in ("read_energy_pj_per_bit", "write_energy_pj_per_bit", "leakage_mw", "read_latency_ns"):
        value = getattr(op, field)
        assert value is None or value >= 0.0


@pytest.mark.parametrize("name", SHIPPED)
def test_ber_is_monotone_over_each_numeric_knob(name):
    """Over a fine grid of each knob (others nominal), BER follows the form's trend or stays flat."""
    p = load_profile(name)
    for knob in p.knobs.values():
        if knob.is_categorical:
            continue
        bers = np.array([p.at(**{knob.name: x}).ber for x in p.knob_values(knob.name, 101)])
        steps = np.diff(bers)
        assert np.all(steps <= 1e-300) or np.all(steps >= -1e-300), (knob.name, bers)


@pytest.mark.parametrize("name", SHIPPED)
def test_out_of_range_raises(name):
    p = load_profile(name)
    for knob in p.knobs.values():
        if knob.is_categorical:
            with pytest.raises(ValueError):
                p.at(**{knob.name: "no_such_category"})
        else:
            with pytest.raises(OutOfRangeError):
                p.at(**{knob.name: knob.max + (knob.max - knob.min)})


@pytest.mark.parametrize("name", SHIPPED)
def test_derived_curves_agree_with_their_model(name):
    """Curves tabulated from a model (provenance 'derived') reproduce it to the 3 digits written."""
    p = load_profile(name)
    raw = {m["name"]: m for m in p.to_dict()["mechanisms"]}
    for mech in p.mechanisms:
        curve = raw[mech.name].get("curve")
        if mech.model is None or curve is None or curve["provenance"] != "derived":
            continue
        model = np.array([mech.model.ber(x) for x in mech.xs])
        tab = 0.5 * (mech.p01s + mech.p10s)
        np.testing.assert_allclose(tab, model, rtol=0.01, err_msg=f"{name}: {mech.name}")


# --- SRAM: pinned to Stutz et al. MLSys 2021 Fig. 1 (decoded from the figure's vector data) ---
SRAM = "sram_14nm_chandramoorthy2019"
SRAM_PUBLISHED = [  # (V/Vmin, p, E/E(Vmin)) from shared/research/memory-models.md Table S1
    (0.958, 1.9e-6, 0.918),
    (0.917, 6.9e-5, 0.840),
    (0.875, 1.29e-3, 0.766),
    (0.833, 1.11e-2, 0.694),
    (0.792, 5.57e-2, 0.627),
    (0.750, 2.06e-1, 0.5625),
]


@pytest.mark.parametrize(("v", "ber", "energy_ratio"), SRAM_PUBLISHED)
def test_sram_matches_published_points(v, ber, energy_ratio):
    """BER within the stated digitisation error (1 % in log10 p); energy ratio within 1 %."""
    p = load_profile(SRAM)
    op = p.at(vdd_over_vmin=v)
    err = abs(math.log10(op.ber) - math.log10(ber))
    assert err <= 0.01 * abs(math.log10(ber)), f"V/Vmin={v}: profile {op.ber:.4g} vs published {ber:.4g}"
    ratio = op.read_energy_pj_per_bit / p.at().read_energy_pj_per_bit
    assert ratio == pytest.approx(energy_ratio, rel=0.01)


def test_sram_energy_ratio_at_0875_vmin():
    p = load_profile(SRAM)
    ratio = p.at(vdd_over_vmin=0.875).read_energy_pj_per_bit / p.at().read_energy_pj_per_bit
    print(f"E(0.875 Vmin) / E(Vmin) = {ratio:.4f} (published 0.766)")
    assert ratio == pytest.approx(0.766, rel=0.01)


def test_sram_is_error_free_at_vmin_and_model_fit_within_stated_error():
    """Vmin has BER 0 by definition; the probit model is within its stated 27 % of every point."""
    p = load_profile(SRAM)
    assert p.at(vdd_over_vmin=1.0).ber == 0.0
    form = get_form("gaussian_threshold")
    for v, ber, _ in SRAM_PUBLISHED:
        model = float(form(v, {"mean": 0.7056, "std": 0.0552}))
        assert abs(model - ber) / ber <= 0.27, (v, model, ber)


def test_sram_extrapolates_below_the_data_with_its_model():
    p = load_profile(SRAM)
    op = p.at(vdd_over_vmin=0.72, extrapolate=True)
    assert op.extrapolated and 0.206 < op.ber <= 0.5


# --- DRAM: Voltron vendor B, independent-bit BER = -ln(1 - f) / 512 ---
DRAM = "dram_ddr3l_chang2017_vendorb"
VOLTRON_B = [(1.025, 4.3e-4), (1.050, 7.2e-5), (1.075, 3.7e-7), (1.100, 3.2e-9), (1.125, 8.3e-12)]


@pytest.mark.parametrize(("v", "ber"), VOLTRON_B)
def test_dram_matches_voltron_vendor_b(v, ber):
    op = load_profile(DRAM).at(vdd_v=v)
    assert op.mechanisms[0].ber == pytest.approx(ber, rel=1e-9)
    assert op.ber == pytest.approx(ber, rel=1e-6)  # tRCD nominal adds nothing measurable


def test_dram_is_error_free_from_115v_and_timing_is_flagged_uncalibrated():
    p = load_profile(DRAM)
    assert p.at(vdd_v=1.15).mechanisms[0].ber == 0.0
    assert p.at().uncalibrated == ()
    op = p.at(trcd_ns=7.5)
    assert op.uncalibrated == ("reduced_trcd",)
    assert op.read_latency_ns == pytest.approx(32.5 - 6.25)


def test_dram_energy_scales_with_v_squared():
    p = load_profile(DRAM)
    assert p.at(vdd_v=1.2).read_energy_pj_per_bit == pytest.approx(24.6 * (1.2 / 1.35) ** 2)


def test_dram_energy_and_timing_assume_one_page_policy_and_device_count():
    """Closed page and a rank of eight x8 devices in energy, standby power and latency alike (review W3)."""
    p = load_profile(DRAM)
    assert p.conditions["page_policy"] == "closed" and p.conditions["devices_per_rank"] == 8
    op = p.at()
    # DRAMPower DDR4-2400 x8 currents (mA), VDD 1.2 V, tCK 0.833 ns: BL8 = 4 tCK; tRC 45.32, tRAS 32 ns.
    idd0, idd2n, idd3n, idd4r, vdd, t_burst, t_rc, t_ras = 60.75, 38.25, 44.0, 184.5, 1.2, 4 * 0.833, 45.32, 32.0
    burst = vdd * (idd4r - idd3n) * t_burst / 64  # pJ per bit of one device's 64-bit burst
    activate = vdd * (idd0 * t_rc - idd3n * t_ras - idd2n * (t_rc - t_ras)) / 64
    assert burst == pytest.approx(8.8, abs=0.05)
    assert op.read_energy_pj_per_bit == pytest.approx(burst + activate, abs=0.2)  # closed page: both, every read
    assert op.leakage_mw == pytest.approx(8 * idd2n * vdd)  # the rank's standby power, not one device's
    assert op.read_latency_ns == pytest.approx(13.75 + 13.75 + 5.0)  # closed bank: tRCD + tCL + tBURST


def test_rram_ultra_low_power_point():
    p = load_profile("rram_hfo2_2t2r_hirtzlin2019")
    op = p.at(programming="ultra_low_power")
    assert op.ber == pytest.approx(0.033)
    assert op.write_energy_pj_per_bit == pytest.approx(0.6 / 30, rel=0.01)
    assert op.mechanisms[0].persistence == "programmed"


def test_stt_mram_read_disturb_is_one_way_and_write_error_at_nominal_is_1e6():
    p = load_profile("stt_mram_pmtj_delta60_nvsim")
    op = p.at(read_i_over_ic0=0.9)
    disturb = next(m for m in op.mechanisms if m.name == "read_disturb")
    assert disturb.p01 == 0.0 and disturb.p10 == pytest.approx(1.23e-2)
    write = next(m for m in p.at().mechanisms if m.name == "write_error")
    assert 5e-7 < write.ber < 2e-6
    assert p.at(write_i_over_ic0=4.0).write_energy_pj_per_bit == pytest.approx(0.194 * (4.0 / 2.88) ** 2)


def test_sram_in_absolute_volts_with_a_user_vmin():
    """with_vmin(0.8): vdd_v = 0.7 V is 0.875 Vmin: same BER and energy ratio, model rescaled too."""
    rel = load_profile(SRAM)
    absolute = rel.with_vmin(0.8)
    assert list(absolute.knobs) == ["vdd_v"] and absolute.knobs["vdd_v"].max == pytest.approx(0.8)
    for v in (0.6, 0.66, 0.7, 0.77, 0.8):
        a, r = absolute.at(vdd_v=v), rel.at(vdd_over_vmin=round(v / 0.8, 12))
        assert a.ber == pytest.approx(r.ber, rel=1e-9, abs=1e-300)
        assert a.read_energy_pj_per_bit == pytest.approx(r.read_energy_pj_per_bit)
    low = absolute.at(vdd_v=0.57, extrapolate=True).ber
    assert low == pytest.approx(rel.at(vdd_over_vmin=0.57 / 0.8, extrapolate=True).ber)
    with pytest.raises(ValueError, match="must be a positive number of volts"):
        rel.with_vmin(-1.0)
    with pytest.raises(ValueError, match="no 'vdd_over_vmin' knob to rescale"):
        load_profile(DRAM).with_vmin(1.0)


def test_citations_point_inside_the_repository():
    """Profiles cite papers, or notes under docs/ that ship with the repository, never files outside it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    texts = [root / "profiles" / "README.md", *sorted((root / "profiles").rglob("*.yaml"))]
    for path in texts:
        text = path.read_text(encoding="utf-8")
        assert "shared/" not in text, f"{path.name} cites a file outside the repository"
        for ref in re.findall(r"docs/[\w./-]+\.md", text):
            assert (root / ref).is_file(), f"{path.name} cites {ref}, which is missing"


# --- DRAM retention: pinned to the Voltron retention data (vendor B), aggregated from the shipped CSV ---
def test_dram_retention_grid_is_the_pooled_voltron_data():
    """The profile's retention grid is sum(errors) / sum(bits) of the shipped per-module CSV, pooled over VDD."""
    from pathlib import Path

    from memsim.profile.importers import aggregate_measurements

    root = Path(__file__).resolve().parents[2]
    agg = aggregate_measurements(root / "profiles/dram/data/chang2017_retention_vendorb.csv", pool=["vdd_v"])
    mech = next(m for m in load_profile(DRAM).mechanisms if m.name == "retention")
    assert mech.grid_knobs == ("refresh_ms", "temperature_c") and mech.persistence == "stuck"
    assert 0.5 < mech.persistent_fraction < 1.0  # variable retention time: a share comes and goes
    for (t, temp), (p01, _) in agg.points.items():
        i, j = list(mech.grid_axes[0]).index(t), list(mech.grid_axes[1]).index(temp)
        assert mech.grid_p01[i, j] == pytest.approx(p01, rel=1e-3), (t, temp)
    assert sum(agg.rows.values()) == 487  # module rows: 13 modules x 42 points, less untested ones


def test_dram_retention_grows_with_interval_and_temperature_and_refresh_power_falls():
    p = load_profile(DRAM)
    at = {(t, c): p.at(refresh_ms=t, temperature_c=c) for t in (64, 512, 1024, 2048) for c in (20, 70)}
    assert at[(64, 20)].ber < 1e-60 and at[(64, 70)].ber < 1e-60  # none at the standard's interval
    assert at[(1024, 70)].ber > at[(1024, 20)].ber > 0 and at[(2048, 70)].ber > at[(1024, 70)].ber
    ratio = at[(2048, 70)].ber / at[(2048, 20)].ber
    print(f"retention BER 70 C / 20 C at 2048 ms: {ratio:.0f}x (published range 30-500x)")
    assert 30 <= ratio <= 600
    assert at[(1024, 70)].refresh_mw == pytest.approx(at[(64, 20)].refresh_mw * 64 / 1024)
    assert at[(64, 20)].refresh_mw == pytest.approx(8 * 1.2 * (118 - 44) * (313 / 1.2) / 7812.5, rel=1e-3)
    far = p.at(refresh_ms=8192, temperature_c=70, extrapolate=True)
    assert far.extrapolated and "retention" in far.uncalibrated and far.ber > at[(2048, 70)].ber


def test_fpga_bram_matches_the_mors_counts_and_published_ratios():
    p = load_profile("sram_fpgabram_vc707_salami2018")
    bits = 2060 * 18432
    for v, faults in ((0.54, 23706), (0.57, 772), (0.60, 4)):
        assert p.at(vdd_v=v).ber == pytest.approx(faults / bits, rel=1e-3)
    assert p.at(vdd_v=0.54).ber == pytest.approx(6e-4, rel=0.05)  # the abstract's 0.06 % at the lowest voltage
    assert p.at(vdd_v=0.61).ber == 0.0 and p.at(vdd_v=0.8).ber == 0.0  # the guardband
    assert p.at(vdd_v=0.61).power_ratio == pytest.approx(0.1)
    assert p.at(vdd_v=0.54).power_ratio == pytest.approx(0.1 * (1 - 0.361), rel=1e-3)


def test_hbm2_guardband_and_power_ratios():
    p = load_profile("dram_hbm2_larimi2021")
    assert p.knobs["vdd_v"].min == pytest.approx(1.2 * 0.81)
    assert p.at(vdd_v=0.972).ber == 0.0 and p.at(vdd_v=0.972).power_ratio == pytest.approx(1 / 1.5, rel=1e-3)
    with pytest.raises(OutOfRangeError, match="no model to extrapolate"):
        p.at(vdd_v=0.9)
