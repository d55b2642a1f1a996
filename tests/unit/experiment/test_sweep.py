"""Sweeps: seeds keyed by name, resume after a kill, workers, bad configs; reports and plots of the rows."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from memsim import ConfigError, OutOfRangeError, UnknownNameError
from memsim.experiment.sweep import SweepSpec, read_rows, run_sweep
from memsim.report.tradeoff import TradeoffReport, choose, pareto_front

pytestmark = pytest.mark.jit  # whole-network inferences: minutes in pure Python

BASE = {"models": ("fcnn_cel_ber0",), "dataset": "fashion-mnist-demo", "limit": 200, "trials": 2, "seed": 3}
SRAM = "sram_14nm_chandramoorthy2019"


def spec(**changes):
    return SweepSpec(**{**BASE, "profile": SRAM, "knobs": {"vdd_over_vmin": [0.8, 0.875, 1.0]}, **changes})


def stable(rows):
    """Rows keyed by cell (the order follows completion)."""
    return {r["cell"]: r for r in rows}


def test_rows_carry_accuracy_intervals_energy_and_savings(tmp_path):
    rows = run_sweep(spec(), tmp_path / "s", progress=False)
    assert [float(r["vdd_over_vmin"]) for r in rows] == [0.8, 0.875, 1.0]
    nominal = rows[-1]
    assert nominal["nominal"] == "true" and float(nominal["energy_saved"]) == 0.0
    for r in rows:
        assert float(r["ci95_low"]) <= float(r["accuracy"]) <= float(r["ci95_high"])
        assert r["energy_left_out"] == "leakage" and r["latency_ns"] == "", "the SRAM publishes no leakage or latency"
        assert int(r["trials"]) == 2 and int(r["n_images"]) == 200
    assert float(rows[1]["memory_energy_saved"]) == pytest.approx(1 - 0.875**2)
    assert 0 < float(rows[1]["energy_saved"]) < float(rows[1]["memory_energy_saved"]), "compute is not scaled"


def test_adding_a_grid_point_or_a_model_changes_no_other_cell(tmp_path):
    small = stable(run_sweep(spec(), tmp_path / "a", progress=False))
    larger = stable(
        run_sweep(
            spec(models=("fcnn_mhl_b128_ber5", "fcnn_cel_ber0"), knobs={"vdd_over_vmin": [0.79, 0.8, 0.875, 1.0]}),
            tmp_path / "b",
            progress=False,
        )
    )
    for key, row in small.items():
        assert larger[key] == row, key


@pytest.mark.slow
def test_workers_do_not_change_rows(tmp_path):
    one = stable(run_sweep(spec(), tmp_path / "one", progress=False))
    two = stable(run_sweep(spec(), tmp_path / "two", workers=2, progress=False))
    assert one == two


_KILLABLE = """
import sys, time
from memsim.experiment.sweep import SweepSpec, run_sweep
spec = SweepSpec(**{spec!r})
def slow(row):
    print("row", flush=True)
    time.sleep(0.3)
run_sweep(spec, {out!r}, resume={resume}, progress=False, on_row=slow)
"""


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_equals_an_uninterrupted_run(tmp_path):
    config = spec(knobs={"vdd_over_vmin": [0.79, 0.8, 0.85, 0.875, 0.95, 1.0]})
    data = config.to_dict()
    out = str(tmp_path / "killed")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE.format(spec=data, out=out, resume=False)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for _ in range(2):  # two rows written, then kill it mid-sweep
        assert proc.stdout.readline().startswith("row")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with open(Path(out) / "sweep.csv", "a", encoding="utf-8") as f:
        f.write("fcnn_cel_ber0,sram_14nm_chandramoorthy2019,0.9,0.0")  # a line cut by the kill
    partial = read_rows(out)
    print(f"killed after {len(partial)} of 6 rows")
    assert 2 <= len(partial) < 6
    resumed = run_sweep(config, out, resume=True, progress=False)
    fresh = run_sweep(config, tmp_path / "fresh", progress=False)
    assert len(resumed) == 6 and len({r["cell"] for r in resumed}) == 6, "no row lost or duplicated"
    assert stable(resumed) == stable(fresh)
    with open(Path(out) / "sweep.csv", encoding="utf-8") as f:
        assert len(list(csv.reader(f))) == 7


def test_an_existing_sweep_needs_resume_and_the_same_config(tmp_path):
    out = tmp_path / "s"
    run_sweep(spec(), out, progress=False)
    with pytest.raises(ConfigError, match="already holds a sweep; pass --resume"):
        run_sweep(spec(), out, progress=False)
    with pytest.raises(ConfigError, match=r"holds a sweep of another config \(differs in: trials\)"):
        run_sweep(spec(trials=3), out, resume=True, progress=False)
    assert len(run_sweep(spec(), out, resume=True, progress=False)) == 3, "resuming a finished sweep adds nothing"


def test_a_missing_data_set_writes_nothing(tmp_path, monkeypatch):
    """A new user without the data: a clear error naming it, and no sweep directory to --resume or delete."""
    from memsim.errors import DatasetError

    monkeypatch.setenv("MEMSIM_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from memsim.experiment import cells

    cells._data.cache_clear()  # data loaded by other tests in this process
    with pytest.raises(DatasetError, match="data set 'fashion-mnist' not found"):
        run_sweep(spec(dataset="fashion-mnist"), tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()


def test_a_sweep_written_before_an_option_existed_resumes(tmp_path):
    """Options added later (in_memory, threshold_dtype) ran at their defaults: such a sweep resumes."""
    out = tmp_path / "old"
    run_sweep(spec(), out, progress=False)
    meta = json.loads((out / "sweep.json").read_text())
    for key in ("in_memory", "threshold_dtype"):
        del meta["config"][key]
    (out / "sweep.json").write_text(json.dumps(meta))
    assert len(run_sweep(spec(), out, resume=True, progress=False)) == 3
    with pytest.raises(ConfigError, match=r"differs in: in_memory"):
        run_sweep(spec(in_memory="weights,thresholds"), out, resume=True, progress=False)


def test_thresholds_in_memory_are_read_counted_and_limit_accuracy(tmp_path):
    """Thresholds as int16 words: 16 bits per hidden neuron read per image; flips in them cost accuracy."""
    knobs = {"vdd_over_vmin": [0.75, 1.0]}
    weights = stable(run_sweep(spec(knobs=knobs), tmp_path / "w", progress=False))
    both = stable(run_sweep(spec(knobs=knobs, in_memory="thresholds,weights"), tmp_path / "wt", progress=False))
    only = stable(run_sweep(spec(knobs=knobs, in_memory="thresholds"), tmp_path / "t", progress=False))
    threshold_bits = 16 * (2048 + 2048)
    for key, row in weights.items():
        assert float(both[key]["bits_read_per_inference"]) == float(row["bits_read_per_inference"]) + threshold_bits
        assert float(only[key]["bits_read_per_inference"]) == threshold_bits
    low = next(k for k in weights if "0.75" in k)
    print({name: float(rows[low]["accuracy"]) for name, rows in (("weights", weights), ("both", both),
                                                                   ("thresholds", only))})  # fmt: skip
    assert float(only[low]["accuracy"]) < float(weights[low]["accuracy"]) - 0.05
    meta = json.loads((tmp_path / "wt" / "sweep.json").read_text())
    assert meta["config"]["in_memory"] == "weights,thresholds"  # normalised order


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"models": ("nope",)}, UnknownNameError, "unknown model 'nope'"),
        ({"knobs": {"vdd": [0.9]}}, UnknownNameError, "has no knob 'vdd'"),
        ({"knobs": {"vdd_over_vmin": [0.5]}}, OutOfRangeError, r"0\.5 V/Vmin is outside the profile's range"),
        ({"knobs": {"vdd_over_vmin": []}}, ConfigError, "has no values: the grid is empty"),
        ({"trials": 0}, ConfigError, "trials must be a positive integer, got 0"),
        ({"profile": "nope"}, UnknownNameError, "nope"),
        ({"banks": 0}, ConfigError, "banks must be a positive integer"),
        ({"in_memory": "weights,biases"}, ConfigError, "in_memory must name one or both of weights, thresholds"),
        ({"threshold_dtype": "int8"}, ConfigError, "threshold_dtype must be one of int16, int32, got 'int8'"),
    ],
)
def test_bad_configs_write_nothing(tmp_path, changes, error, message):
    out = tmp_path / "bad"
    with pytest.raises(error, match=message):
        run_sweep(spec(**changes), out, progress=False)
    assert not out.exists()


def test_bad_options_and_places(tmp_path):
    with pytest.raises(ConfigError, match="give either a profile"):
        SweepSpec(models=("fcnn_cel_ber0",))
    with pytest.raises(ConfigError, match=r"unknown option 'trail' \(did you mean 'trials'\?\)"):
        SweepSpec.from_dict({"models": ["fcnn_cel_ber0"], "bers": [0.1], "trail": 2})
    with pytest.raises(ConfigError, match=r"bers: 0\.7 is outside \[0, 0\.5\]"):
        SweepSpec(models=("fcnn_cel_ber0",), bers=(0.7,))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot create results there .* is not a writable folder"):
        run_sweep(spec(), tmp_path / "file" / "such", progress=False)
    with pytest.raises(ConfigError, match=r"workers must be an integer in \[1, "):
        run_sweep(spec(), tmp_path / "w", workers=99, progress=False)


def test_a_ber_sweep_has_accuracy_but_no_energy(tmp_path):
    rows = run_sweep(SweepSpec(**BASE, bers=(0.0, 0.05, 0.2)), tmp_path / "b", progress=False)
    assert [r["ber"] for r in rows] == ["0.0", "0.05", "0.2"]
    assert all(r["energy_pj_per_inference"] == "" and "read" in r["energy_left_out"] for r in rows)
    assert float(rows[0]["accuracy"]) > float(rows[2]["accuracy"])
    (pick,) = choose(rows, 0.5)  # no energy: the highest BER within the drop, relative to the lowest BER
    assert pick.energy_key is None and pick.reference == "lowest BER" and pick.chosen["ber"] == "0.2"
    with pytest.raises(ConfigError, match="these rows have no energy"):
        pareto_front(rows)


def test_pareto_front_and_choice():
    rows = [
        {"model": "m", "accuracy": "0.90", "ci95_low": "0.89", "ci95_high": "0.91", "energy_pj_per_inference": "10",
         "nominal": "true", "trials": "1", "n_images": "100000"},
        {"model": "m", "accuracy": "0.895", "ci95_low": "0.89", "ci95_high": "0.90", "energy_pj_per_inference": "8",
         "nominal": "false", "trials": "1", "n_images": "100000"},
        {"model": "m", "accuracy": "0.80", "ci95_low": "0.79", "ci95_high": "0.81", "energy_pj_per_inference": "6",
         "nominal": "false", "trials": "1", "n_images": "100000"},
        {"model": "m", "accuracy": "0.79", "ci95_low": "0.78", "ci95_high": "0.80", "energy_pj_per_inference": "9",
         "nominal": "false", "trials": "1", "n_images": "100000"},
    ]  # fmt: skip
    assert [r["energy_pj_per_inference"] for r in pareto_front(rows)] == ["6", "8", "10"]
    (pick,) = choose(rows, max_accuracy_drop=0.01)
    assert pick.chosen is rows[1] and pick.saved == pytest.approx(0.2)
    (strict,) = choose(rows, max_accuracy_drop=0.006, conservative=True)
    assert strict.chosen is rows[0], "0.5 points plus its noise bound exceeds 0.6 points"
    (loose,) = choose(rows, max_accuracy_drop=0.01, conservative=True)
    assert loose.chosen is rows[1]
    with pytest.raises(ConfigError, match=r"max_accuracy_drop must be in \[0, 1\]"):
        choose(rows, max_accuracy_drop=5)
    mem = [{**r, "memory_energy_pj_per_inference": str(20 - float(r["energy_pj_per_inference"]))} for r in rows]
    assert [r["memory_energy_pj_per_inference"] for r in pareto_front(mem, "memory_energy_pj_per_inference")] == [
        "10.0"
    ], "on the memory column the order reverses: the 10 pJ total row is the cheapest and the most accurate"


def test_energy_plot_axis_and_column(tmp_path):
    from matplotlib.axes import Axes

    from memsim.report import plots

    rows = [
        {"model": m, "accuracy": a, "ci95_low": a, "ci95_high": a, "energy_pj_per_inference": e,
         "memory_energy_pj_per_inference": str(float(e) / 2), "nominal": n, "trials": "1", "n_images": "100"}
        for m, a, e, n in (("bnn", "0.9", "1e5", "true"), ("q8", "0.92", "5e6", "true"), ("q8", "0.91", "3e6", "false"))
    ]  # fmt: skip
    scales = []
    original = Axes.set_xscale
    try:
        Axes.set_xscale = lambda self, value, **kw: (scales.append(value), original(self, value, **kw))[1]
        plots.plot_energy_vs_accuracy(rows, tmp_path / "wide.png")
        plots.plot_energy_vs_accuracy(rows[1:], tmp_path / "narrow.png", energy="memory")
        plots.plot_energy_vs_accuracy(rows[1:], tmp_path / "forced.png", log_energy=True)
    finally:
        Axes.set_xscale = original
    assert scales == ["log", "log"], "50x apart: log; 1.7x apart: linear unless asked"
    with pytest.raises(ConfigError, match="energy='leakage': choose one of total, memory, read"):
        plots.plot_energy_vs_accuracy(rows, tmp_path / "x.png", energy="leakage")
    with pytest.raises(ConfigError, match="no read energy"):
        plots.plot_energy_vs_accuracy(rows, tmp_path / "x.png", energy="read")


def test_report_and_plots_of_a_sweep(tmp_path):
    from memsim.report import plots

    out = tmp_path / "s"
    run_sweep(spec(models=("fcnn_cel_ber0", "fcnn_mhl_b128_ber5")), out, progress=False)
    report = TradeoffReport.from_dir(out)
    text = report.to_text()
    assert "Chosen operating points" in text and "fcnn_mhl_b128_ber5" in text
    assert report.to_markdown().startswith("| model | vdd_over_vmin |")
    assert report.to_csv().splitlines()[0].startswith("model,vdd_over_vmin,ber,accuracy")
    rows = read_rows(out)
    for fn, name in ((plots.plot_accuracy_over_ber, "a.png"), (plots.plot_energy_vs_accuracy, "e.svg")):
        path = fn(rows, tmp_path / name)
        assert path.stat().st_size > 1000
    with pytest.raises(ConfigError, match="these rows have no latency"):
        plots.plot_latency_vs_accuracy(rows, tmp_path / "l.png")
    with pytest.raises(ConfigError, match=r"unsupported plot format '\.gif'"):
        plots.plot_accuracy_over_ber(rows, tmp_path / "a.gif")


def test_a_dram_timing_sweep_has_latency(tmp_path):
    from memsim.report import plots

    rows = run_sweep(
        SweepSpec(**{**BASE, "trials": 1}, profile="dram_ddr3l_chang2017_vendorb",
                  knobs={"trcd_ns": [13.75, 10.0, 7.5]}, banks=8),
        tmp_path / "d",
        progress=False,
    )  # fmt: skip
    latency = [float(r["latency_ns"]) for r in rows]
    assert latency[0] > latency[1] > latency[2], "a shorter tRCD shortens every request"
    assert all(r["energy_left_out"] == "" for r in rows), "the DRAM profile publishes read energy and leakage"
    assert rows[1]["uncalibrated"] == "reduced_trcd"
    assert plots.plot_latency_vs_accuracy(rows, tmp_path / "l.png").exists()
    assert read_rows(tmp_path / "d") == rows


def test_search_finds_the_boundary_and_reports_its_evaluations():
    from memsim.experiment.search import search

    result = search("fcnn_cel_ber0", SRAM, "vdd_over_vmin", 0.01, trials=1, max_trials=2, dataset="fashion-mnist-demo",
                    limit=300, max_probes=5)  # fmt: skip
    accepted = [e for e in result.evaluations if e["accepted"]]
    rejected = [e for e in result.evaluations if not e["accepted"]]
    chosen = result.chosen["vdd_over_vmin"]
    print(f"search: {len(result.evaluations)} probes, chosen {chosen}, {result.images_evaluated} inferences")
    assert result.evaluations[0]["vdd_over_vmin"] == 1.0 and len(result.evaluations) <= 6
    assert chosen == min(e["vdd_over_vmin"] for e in accepted)
    assert all(e["vdd_over_vmin"] < chosen for e in rejected), "every rejected probe is more aggressive"
    assert float(result.nominal["accuracy"]) - float(result.chosen["accuracy"]) <= 0.01
    assert result.images_evaluated >= sum(int(e["trials"]) * 300 for e in result.evaluations), "re-runs count too"
    with pytest.raises(ConfigError, match="is categorical"):
        search("fcnn_cel_ber0", "rram_hfo2_2t2r_hirtzlin2019", "programming")


def test_search_tolerance_must_be_below_the_span():
    """A tolerance as wide as the knob's range would stop before the first probe and report nominal."""
    from memsim.experiment.search import search

    for tolerance in (1.0, 0.3, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="below the searched span"):
            search("fcnn_cel_ber0", SRAM, "vdd_over_vmin", 0.01, tolerance=tolerance, dataset="fashion-mnist-demo")


def test_labels_the_model_has_no_output_for_are_refused():
    """A model evaluated on a data set with more classes than it has outputs (a 7-class model on 10 classes)."""
    import numpy as np

    from memsim.bnn import BNN
    from memsim.experiment.evaluate import evaluate

    net = BNN.random("fashion-fcnn", seed=0)
    images = np.zeros((3, 28, 28), np.uint8)
    with pytest.raises(ConfigError, match=r"labels run from 0 to 12, but the model \(fashion-fcnn\) has 10 outputs"):
        evaluate(net, images, np.array([0, 12, 3]), 0.0)
    with pytest.raises(ConfigError, match="whole class numbers"):
        evaluate(net, images, np.array([0.0, 1.0, 2.0]), 0.0)
    assert evaluate(net, images, np.array([0, 9, 3]), 0.0).n_images == 3
