"""The schema example in profiles/README.md is a valid profile and means what the text says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from memsim import Profile

README = Path(__file__).resolve().parents[3] / "profiles" / "README.md"


@pytest.mark.skipif(not README.is_file(), reason="profiles/README.md ships with the source tree only")
def test_schema_example_is_valid():
    block = re.search(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    data = yaml.safe_load(block)
    data.pop("fault_maps")  # its data files are illustrative
    p = Profile(data, source="profiles/README.md")
    op = p.at(vdd_v=0.65, programming="low_power")
    assert op.mechanisms[0].ber == pytest.approx((1e-2 * 1e-4) ** 0.5)
    assert (op.mechanisms[1].p01, op.mechanisms[1].p10) == (0.02, 0.01)
    assert op.read_energy_pj_per_bit == pytest.approx(0.3 * (0.65 / 0.9) ** 2)
    assert op.write_energy_pj_per_bit == pytest.approx(0.15 + 0.15 * (0.05 / 0.3))
    hot = p.at(refresh_ms=2048.0, temperature_c=70.0)
    assert hot.mechanisms[3].ber == pytest.approx(1.5e-7) and hot.refresh_mw == pytest.approx(23.7 / 32)
    assert p.at(vdd_v=0.75).power_ratio == pytest.approx(0.55)


def test_plots_get_the_permissions_of_any_new_file(tmp_path):
    import os
    import stat

    import memsim
    from memsim.report.plots import plot_profile

    umask = os.umask(0o022)
    try:
        out = plot_profile(memsim.load_profile("sram_14nm_chandramoorthy2019"), tmp_path / "p.png")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_profile_plots_show_the_whole_range_and_mark_model_only_curves():
    import memsim
    from memsim.report.plots import profile_figure

    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    fig = profile_figure(dram)
    ax_vdd, ax_trcd = fig.axes[0], fig.axes[1]
    labels = {line.get_label() for line in ax_trcd.get_lines()}
    assert "uncalibrated model" in labels, "the reduced-tRCD curve is a model, drawn as one"
    assert "uncalibrated model" not in {line.get_label() for line in ax_vdd.get_lines()}
    assert ax_vdd.get_xlim() == (1.025, 1.35), "the whole knob range, also where no errors were measured"
    top_ber = max(op.ber for op in dram.grid(vdd_v=dram.knob_values("vdd_v")))
    assert ax_vdd.get_ylim()[1] > top_ber, "the highest data point is not clipped"


def test_grid_profiles_plot_their_other_axis_and_power_ratio_profiles_their_ratio():
    import memsim
    from memsim.report.plots import profile_figure

    fig = profile_figure(memsim.load_profile("dram_ddr3l_chang2017_vendorb"), knob="refresh_ms")
    labels = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert "at temperature_c=70" in labels and "refresh power [mW]" in labels
    fig = profile_figure(memsim.load_profile("sram_fpgabram_vc707_salami2018"))
    assert "power / nominal" in {line.get_label() for ax in fig.axes for line in ax.get_lines()}
