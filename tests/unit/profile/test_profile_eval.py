"""Evaluation semantics of Profile.at: interpolation, combination, energy and latency laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import make_profile_data

from memsim import OutOfRangeError, Profile
from memsim.profile.curves import interpolate_log
from memsim.profile.forms import get_form


def test_nominal_point_uses_nominal_knobs(profile_data):
    """at() with no arguments is the nominal point: knobs at nominal, values at their nominal entries."""
    op = Profile(profile_data).at()
    assert op.knobs == {"vdd_v": 1.0, "trcd_ns": 10.0}
    assert op.ber == 0.0 and op.p01 == 0.0 and op.p10 == 0.0
    assert op.read_energy_pj_per_bit == pytest.approx(2.0)
    assert op.leakage_mw == pytest.approx(1.0)
    assert op.read_latency_ns == pytest.approx(30.0)
    assert op.write_energy_pj_per_bit is None and op.write_latency_ns is None
    assert not op.extrapolated


def test_points_are_reproduced_exactly(profile_data):
    """At a tabulated knob value the BER is the tabulated value."""
    p = Profile(profile_data)
    for v, ber in [(0.6, 1e-1), (0.8, 1e-3), (0.9, 1e-5)]:
        assert p.at(vdd_v=v).ber == pytest.approx(ber, rel=1e-12)


def test_interpolation_is_linear_in_log_ber(profile_data):
    """Half-way between 0.8 (1e-3) and 0.9 (1e-5) the BER is the geometric mean, 1e-4."""
    p = Profile(profile_data)
    assert p.at(vdd_v=0.85).ber == pytest.approx(1e-4, rel=1e-9)
    assert p.at(vdd_v=0.825).ber == pytest.approx(10**-3.5, rel=1e-9)


def test_zero_point_means_no_errors_on_its_segment():
    """Between a zero and a non-zero point the BER is 0 except at the non-zero end."""
    xs, ys = np.array([0.9, 1.0]), np.array([1e-5, 0.0])
    assert interpolate_log(0.95, xs, ys) == 0.0
    assert interpolate_log(0.9, xs, ys) == 1e-5
    assert interpolate_log(1.0, xs, ys) == 0.0


def test_mechanisms_combine_per_direction(profile_data):
    """p01 = 1 - (1 - p01_a)(1 - p01_b); ber = (p01 + p10) / 2."""
    p = Profile(profile_data)
    op = p.at(vdd_v=0.8, trcd_ns=5.0)
    a = 1e-3  # symmetric: p01 = p10 = ber
    assert op.p01 == pytest.approx(1 - (1 - a) * (1 - 0.2), rel=1e-12)
    assert op.p10 == pytest.approx(1 - (1 - a) * (1 - 0.1), rel=1e-12)
    assert op.ber == pytest.approx((op.p01 + op.p10) / 2)
    names = [m.name for m in op.mechanisms]
    assert names == ["voltage", "timing"]
    assert op.mechanisms[1].p01 == pytest.approx(0.2) and op.mechanisms[1].p10 == pytest.approx(0.1)


def test_tiny_rates_keep_their_precision():
    """Combining keeps a 1e-15 BER exact (no 1 - (1 - p) cancellation)."""
    data = make_profile_data()
    data["mechanisms"][0]["curve"]["points"] = [[0.6, 1e-15], [1.0, 1e-16]]
    op = Profile(data).at(vdd_v=0.6)
    assert op.ber == pytest.approx(1e-15, rel=1e-9)


def test_asymmetry_share_splits_ber():
    """p01_share s gives p01 = 2 s ber and p10 = 2 (1 - s) ber, keeping ber."""
    data = make_profile_data()
    data["mechanisms"] = [data["mechanisms"][0]]
    data["mechanisms"][0]["asymmetry"] = {"p01_share": 0.75, "source": "lab", "provenance": "measured"}
    op = Profile(data).at(vdd_v=0.8)
    assert op.p01 == pytest.approx(1.5e-3) and op.p10 == pytest.approx(0.5e-3)
    assert op.ber == pytest.approx(1e-3)


def test_energy_and_latency_scaling_laws(profile_data):
    """power: (V/V0)^a; v_exp: (V/V0) exp(k (V - V0)); linear: + slope (x - x0)."""
    op = Profile(profile_data).at(vdd_v=0.8, trcd_ns=7.0)
    assert op.read_energy_pj_per_bit == pytest.approx(2.0 * 0.8**2)
    assert op.leakage_mw == pytest.approx(1.0 * 0.8 * math.exp(4.0 * (0.8 - 1.0)))
    assert op.read_latency_ns == pytest.approx(30.0 - 3.0)


def test_energy_points_interpolate_linearly():
    """An energy given as points over a knob is interpolated linearly."""
    data = make_profile_data()
    data["energy"]["read_pj_per_bit"] = {
        "knob": "vdd_v",
        "points": [[0.6, 1.0], [1.0, 3.0]],
        "source": "lab",
        "provenance": "measured",
    }
    assert Profile(data).at(vdd_v=0.7).read_energy_pj_per_bit == pytest.approx(1.5)


def test_category_knob_and_factor():
    """A categorical knob selects a table row and a category factor of energy."""
    data = make_profile_data()
    data["knobs"] = {"mode": {"categories": ["safe", "fast"], "nominal": "safe"}}
    data["mechanisms"] = [
        {
            "name": "m",
            "persistence": "programmed",
            "table": {
                "knob": "mode",
                "rows": {
                    "safe": {"ber": 1e-6, "source": "lab", "provenance": "measured"},
                    "fast": {"p01": 0.02, "p10": 0.04, "source": "lab", "provenance": "measured"},
                },
            },
        }
    ]
    data["energy"] = {
        "write_pj_per_bit": {
            "value": 1.0,
            "source": "lab",
            "provenance": "spec",
            "scaling": [
                {
                    "law": "category_factor",
                    "knob": "mode",
                    "factors": {"safe": 1.0, "fast": 0.25},
                    "source": "lab",
                    "provenance": "spec",
                }
            ],
        }
    }
    data["latency"] = {}
    p = Profile(data)
    assert p.at().ber == pytest.approx(1e-6)
    fast = p.at(mode="fast")
    assert (fast.p01, fast.p10, fast.ber) == pytest.approx((0.02, 0.04, 0.03))
    assert fast.write_energy_pj_per_bit == pytest.approx(0.25)
    assert p.knob_values("mode") == ["safe", "fast"]


def test_extrapolation_uses_the_model_only_when_asked(profile_data):
    """Outside [min, max] at() raises unless extrapolate=True, which evaluates the analytic form."""
    p = Profile(profile_data)
    with pytest.raises(OutOfRangeError, match=r"vdd_v: 0.55 V is outside the profile's range \[0.6, 1\] V"):
        p.at(vdd_v=0.55)
    op = p.at(vdd_v=0.55, extrapolate=True)
    expected = float(get_form("gaussian_threshold")(0.55, {"mean": 0.5, "std": 0.08}))
    assert op.ber == pytest.approx(expected, rel=1e-12)
    assert op.extrapolated


def test_extrapolation_without_model_is_an_error(profile_data):
    """A mechanism with no model cannot be extrapolated; the error says so."""
    with pytest.raises(Exception, match="has no 'model' to extrapolate with"):
        Profile(profile_data).at(trcd_ns=4.0, extrapolate=True)


def test_grid_is_the_cartesian_product(profile_data):
    """grid() sweeps named knobs (sequences or counts); other knobs stay nominal."""
    p = Profile(profile_data)
    ops = p.grid(vdd_v=[0.8, 0.9], trcd_ns=3)
    assert [(op.knobs["vdd_v"], op.knobs["trcd_ns"]) for op in ops] == [
        (0.8, 5.0),
        (0.8, 7.5),
        (0.8, 10.0),
        (0.9, 5.0),
        (0.9, 7.5),
        (0.9, 10.0),
    ]
    default = p.grid()
    assert [op.knobs["vdd_v"] for op in default] == [0.6, 0.8, 0.9, 1.0]


def test_with_overrides_revalidates(profile_data):
    """Overrides change a copy; invalid overrides are rejected like a bad file."""
    p = Profile(profile_data)
    q = p.with_overrides({"energy.read_pj_per_bit.value": 4.0})
    assert q.at().read_energy_pj_per_bit == pytest.approx(4.0)
    assert p.at().read_energy_pj_per_bit == pytest.approx(2.0)
    with pytest.raises(ValueError, match=r"energy.read_pj_per_bit.value: -1 is negative"):
        p.with_overrides({"energy.read_pj_per_bit.value": -1.0})
    with pytest.raises(ValueError, match="no field 'energi'"):
        p.with_overrides({"energi.x": 1})


def test_provenance_lists_every_cited_block(profile_data):
    """provenance() reports each cited number block with its field path."""
    fields = {item["field"] for item in Profile(profile_data).provenance()}
    assert "mechanisms[0].curve" in fields
    assert "energy.read_pj_per_bit.scaling[0]" in fields
    assert "latency.read_ns" in fields


def test_operating_point_json_roundtrip(profile_data):
    """to_dict() is plain data (JSON-serialisable) with mechanisms and flags."""
    import json

    data = Profile(profile_data).at(vdd_v=0.8).to_dict()
    text = json.dumps(data)
    assert json.loads(text)["mechanisms"][0]["name"] == "voltage"
    assert data["uncalibrated"] == []


def test_floating_point_noise_at_a_range_end_is_the_end():
    import numpy as np

    import memsim

    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    values = np.arange(1.025, 1.3501, 0.025)  # ends at 1.3500000000000005 or so
    assert values[-1] != 1.35
    ops = [dram.at(vdd_v=float(v)) for v in values]
    assert ops[-1].knobs["vdd_v"] == 1.35 and ops[-1].ber == dram.at(vdd_v=1.35).ber
    with pytest.raises(memsim.OutOfRangeError):
        dram.at(vdd_v=1.36)
