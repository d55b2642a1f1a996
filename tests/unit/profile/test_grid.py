"""BER over several knobs: a full grid interpolated in log space axis by axis, its model beyond the data, and
the import of measurements (error counts and bits tested, pooled per operating point) that writes one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from memsim import OutOfRangeError, Profile, ProfileError, load_profile, profile_from_csv
from memsim.profile.curves import interpolate_log_grid
from memsim.profile.importers import aggregate_measurements

AXES = [np.array([64.0, 256.0, 1024.0]), np.array([20.0, 70.0])]
VALUES = np.array([[0.0, 0.0], [1e-10, 1e-8], [1e-8, 1e-6]])


def naive_grid(x, axes, values):
    """The slow twin: the 2^d corners weighted in log space, written out for two axes."""
    (t, c), (ts, cs) = x, axes
    i = max(k for k in range(len(ts) - 1) if ts[k] <= t) if t < ts[-1] else len(ts) - 2
    j = max(k for k in range(len(cs) - 1) if cs[k] <= c) if c < cs[-1] else len(cs) - 2
    u = (t - ts[i]) / (ts[i + 1] - ts[i])
    w = (c - cs[j]) / (cs[j + 1] - cs[j])
    corners = {(a, b): values[i + a, j + b] for a in (0, 1) for b in (0, 1)}
    weights = {(a, b): (u if a else 1 - u) * (w if b else 1 - w) for a in (0, 1) for b in (0, 1)}
    used = {k: v for k, v in corners.items() if weights[k] > 0}
    if any(v == 0 for v in used.values()):
        return 0.0
    return math.exp(sum(weights[k] * math.log(v) for k, v in used.items()))


@pytest.mark.parametrize(
    "x", [(64, 20), (256, 70), (512, 20), (512, 45), (700, 70), (1024, 33), (300, 20), (1024, 70), (160, 50)]
)
def test_grid_interpolation_matches_its_slow_twin(x):
    got = interpolate_log_grid(x, AXES, VALUES)
    assert got == pytest.approx(naive_grid(x, AXES, VALUES), rel=1e-12, abs=0.0)


def test_grid_nodes_are_exact_and_a_zero_end_keeps_its_segment_at_zero():
    for (i, t), (j, c) in itertools.product(enumerate(AXES[0]), enumerate(AXES[1])):
        assert interpolate_log_grid((t, c), AXES, VALUES) == VALUES[i, j]
    assert interpolate_log_grid((128.0, 70.0), AXES, VALUES) == 0.0  # between 0 (64 ms) and 1e-8 (256 ms)
    assert interpolate_log_grid((640.0, 20.0), AXES, VALUES) == pytest.approx(1e-9)  # geometric midpoint


def grid_profile(points, knob_ranges=((64, 1024), (20, 70)), **grid):
    return {
        "schema_version": 1,
        "name": "ret",
        "technology": "dram",
        "description": "test",
        "citations": {"t": {"reference": "test"}},
        "knobs": {
            "refresh_ms": {
                "unit": "ms",
                "nominal": knob_ranges[0][0],
                "min": knob_ranges[0][0],
                "max": knob_ranges[0][1],
            },
            "temperature_c": {
                "unit": "C",
                "nominal": knob_ranges[1][0],
                "min": knob_ranges[1][0],
                "max": knob_ranges[1][1],
            },
        },
        "mechanisms": [
            {
                "name": "retention",
                "persistence": "stuck",
                "grid": {
                    "knobs": ["refresh_ms", "temperature_c"],
                    "points": points,
                    "source": "t",
                    "provenance": "measured",
                    **grid,
                },
            }
        ],
        "energy": {},
        "latency": {},
    }


POINTS = [[t, c, float(VALUES[i, j])] for i, t in enumerate(AXES[0]) for j, c in enumerate(AXES[1])]


def test_a_grid_profile_evaluates_and_names_its_knobs():
    p = Profile(grid_profile(POINTS), "ret.yaml")
    assert p.at(refresh_ms=640.0, temperature_c=20.0).ber == pytest.approx(1e-9)
    assert p.knob_values("refresh_ms") == [64.0, 256.0, 1024.0]
    assert p.at().ber == 0.0 and p.at().refresh_mw is None  # a DRAM that does not publish its refresh power


def test_a_grid_with_a_hole_or_a_duplicate_is_refused_with_the_point():
    with pytest.raises(ProfileError, match=r"no point at refresh_ms=256, temperature_c=70 \(1 of 6"):
        Profile(grid_profile([p for p in POINTS if p[:2] != [256.0, 70.0]]), "ret.yaml")
    with pytest.raises(ProfileError, match="duplicate grid point refresh_ms=64, temperature_c=20"):
        Profile(grid_profile([*POINTS, [64.0, 20.0, 0.0]]), "ret.yaml")


def test_a_grid_that_falls_along_a_rising_axis_is_refused():
    bad = [[t, c, 1e-5 if (t, c) == (256.0, 70.0) else b] for t, c, b in POINTS]
    with pytest.raises(ProfileError, match=r"falls as refresh_ms grows from 256 to 1024 \(at temperature_c=70\)"):
        Profile(grid_profile(bad), "ret.yaml")


def test_a_grid_must_cover_the_knob_range():
    with pytest.raises(ProfileError, match=r"covers refresh_ms in \[64, 1024\] but the knob's range is \[64, 2048\]"):
        Profile(grid_profile(POINTS, knob_ranges=((64, 2048), (20, 70))), "ret.yaml")


def test_beyond_the_grid_the_model_is_anchored_at_the_edge_and_flagged():
    data = grid_profile(POINTS)
    data["mechanisms"][0]["model"] = {
        "form": "retention_power_law", "knobs": ["refresh_ms", "temperature_c"], "source": "t",
        "provenance": "derived", "params": {"ber_ref": 1e-6, "interval_ref": 1024, "exponent": 4.0,
                                            "temp_ref": 70, "per_degree": 0.1},
    }  # fmt: skip
    p = Profile(data, "ret.yaml")
    with pytest.raises(OutOfRangeError, match="outside the profile's range"):
        p.at(refresh_ms=2048.0)
    far = p.at(refresh_ms=2048.0, temperature_c=70.0, extrapolate=True)
    assert far.ber == pytest.approx(1e-6 * 2**4)  # the edge's measured 1e-6 times the model's ratio
    assert far.extrapolated and far.uncalibrated == ("retention",)
    hot = p.at(refresh_ms=1024.0, temperature_c=80.0, extrapolate=True)
    assert hot.ber == pytest.approx(1e-6 * math.exp(1.0))
    assert p.at(refresh_ms=1024.0, temperature_c=70.0).uncalibrated == ()  # inside the data: measured
    data["mechanisms"][0]["model"]["knobs"] = ["temperature_c", "refresh_ms"]
    with pytest.raises(ProfileError, match="differs from the grid's knobs"):
        Profile(data, "ret.yaml")


def test_temperatures_below_absolute_zero_and_negative_intervals_are_refused():
    p = load_profile("dram_ddr3l_chang2017_vendorb")
    with pytest.raises(OutOfRangeError, match=r"knobs.temperature_c: -300 C is below absolute zero"):
        p.at(temperature_c=-300.0, extrapolate=True)
    with pytest.raises(OutOfRangeError, match=r"knobs.refresh_ms: -64 ms is not physical"):
        p.at(refresh_ms=-64.0, extrapolate=True)
    assert p.at(temperature_c=-10.0, extrapolate=True).extrapolated  # cold is physical, only beyond the data


# --- import: counts and bits tested, pooled per point ---
COUNTS = """# source: test chip, two modules
refresh_ms,temperature_c,vdd_v,errors,bits
64,20,1.2,0,1000
64,20,1.35,0,3000
64,70,1.2,0,1000
64,70,1.35,0,1000
1024,20,1.2,2,1000
1024,20,1.35,6,3000
1024,70,1.2,30,1000
1024,70,1.35,10,1000
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_counts_pool_as_errors_over_bits_and_write_a_grid(tmp_path):
    csv = write(tmp_path / "ret.csv", COUNTS)
    agg = aggregate_measurements(csv, pool=["vdd_v"])
    assert agg.knobs == ("refresh_ms", "temperature_c")
    assert agg.points[(1024.0, 20.0)] == (8 / 4000, 8 / 4000)  # not the mean of 2/1000 and 6/3000 weighted alike
    assert agg.points[(1024.0, 70.0)][0] == pytest.approx(40 / 2000) and agg.rows[(1024.0, 70.0)] == 2
    p = profile_from_csv(csv, tmp_path / "ret.yaml", technology="dram", reference="test", pool=["vdd_v"],
                         persistence="stuck")  # fmt: skip
    assert p.mechanisms[0].grid_knobs == ("refresh_ms", "temperature_c")
    assert p.nominal == {"refresh_ms": 64.0, "temperature_c": 20.0}  # the end with the fewest errors
    assert p.at(refresh_ms=1024.0, temperature_c=70.0).ber == pytest.approx(0.02)
    assert "sum(errors) / sum(bits)" in (tmp_path / "ret.yaml").read_text()
    q = profile_from_csv(csv, tmp_path / "ret2.yaml", technology="dram", reference="test", pool=["vdd_v"],
                         nominal={"temperature_c": 70.0})  # fmt: skip
    assert q.nominal == {"refresh_ms": 64.0, "temperature_c": 70.0}
    with pytest.raises(ProfileError, match="nominal value for 'refesh_ms', which is not a knob of the file"):
        profile_from_csv(csv, tmp_path / "ret3.yaml", technology="dram", reference="test", pool=["vdd_v"],
                         nominal={"refesh_ms": 64.0})  # fmt: skip


@pytest.mark.parametrize(
    "text, pool, message",
    [
        ("refresh_ms,errors\n64,0\n128,1\n", (), "column errors: counts without the number of bits tested"),
        ("refresh_ms,errors,bits\n64,0,10\n-128,1,10\n", (), "line 3, column refresh_ms: -128 is not positive"),
        ("temperature_c,refresh_ms,ber\n-300,64,0\n20,64,0\n", (), "column temperature_c: -300 is below absolute"),
        ("refresh_ms,errors,bits\n64,0.5,10\n128,1,10\n", (), "column errors: 0.5 is not a count"),
        ("refresh_ms,errors,bits\n64,0,0\n128,1,10\n", (), "column bits: 0 bits tested must be > 0"),
        ("refresh_ms,errors,bits,ber\n64,0,10,0\n", (), "give either counts"),
        ("refresh_ms,errors,bits\n64,0,10\n128,1,10\n", ("vdd_v",), "cannot pool over 'vdd_v'"),
        (
            "refresh_ms,temperature_c,errors,bits\n64,20,0,10\n128,20,1,10\n128,70,3,10\n",
            (),
            r"do not form a grid: no measurement at refresh_ms=64, temperature_c=70 \(1 of 4",
        ),
        (
            "refresh_ms,vdd_v,errors,bits\n64,1.1,1,10\n64,1.2,0,10\n64,1.35,1,10\n128,1.1,2,10\n128,1.2,2,10\n"
            "128,1.35,2,10\n",
            (),
            "column vdd_v: the BER both rises and falls",
        ),
    ],
)
def test_bad_measurement_files_get_one_line_errors(tmp_path, text, pool, message):
    csv = write(tmp_path / "bad.csv", text)
    with pytest.raises(ProfileError, match=message) as err:
        profile_from_csv(csv, tmp_path / "bad.yaml", technology="dram", reference="t", pool=pool)
    assert "bad.csv" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "bad.yaml").exists()  # nothing half-written


def test_a_grid_over_a_relative_knob_is_not_rescaled_silently():
    data = grid_profile([[t, v, 0.0] for t in AXES[0] for v in (0.8, 1.0)])
    data["knobs"] = {
        "refresh_ms": {"unit": "ms", "nominal": 64, "min": 64, "max": 1024},
        "vdd_over_vmin": {"unit": "V/Vmin", "nominal": 1.0, "min": 0.8, "max": 1.0},
    }
    data["mechanisms"][0]["grid"].update(knobs=["refresh_ms", "vdd_over_vmin"],
                                         monotone={"vdd_over_vmin": "non_increasing"})  # fmt: skip
    with pytest.raises(ProfileError, match=r"mechanisms\[0\].grid: a grid over 'vdd_over_vmin' cannot be rescaled"):
        Profile(data, "ret.yaml").with_vmin(0.6)


def test_temperature_changes_leakage_where_a_profile_publishes_it():
    data = grid_profile(POINTS)
    data["citations"]["t2"] = {"reference": "a datasheet's IDD2N at two temperatures"}
    data["energy"]["leakage_mw"] = {"value": 300.0, "source": "t2", "provenance": "spec",
                                    "scaling": [{"law": "linear", "knob": "temperature_c", "slope": 2.0,
                                                 "source": "t2", "provenance": "derived"}]}  # fmt: skip
    p = Profile(data, "ret.yaml")
    assert p.at(temperature_c=70.0).leakage_mw == pytest.approx(300.0 + 2.0 * 50)
    assert p.at().leakage_mw == pytest.approx(300.0)
