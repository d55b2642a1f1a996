"""Chips, not only flips: a chip is the same at every operating point, intervals are over the right units, yield."""

from __future__ import annotations

import math

import numpy as np
import pytest

import memsim
from memsim import ApproximateMemory
from memsim.experiment.stats import clopper_pearson, cluster_interval, drop_upper_bound, yield_lower_bound
from memsim.experiment.sweep import SweepSpec, chip_seed, run_sweep
from memsim.report.tradeoff import chip_yield, choose


def test_one_chip_nests_its_stuck_cells_across_voltages():
    """The same chip seed at two error rates: every cell stuck at the lower rate is stuck at the higher one."""
    size = 200_000
    masks = []
    for rate in (0.01, 0.04):
        # a stuck-at cell flips the bits that disagree with it: read all-zero and all-one data to see every cell
        cells = np.zeros(size, bool)
        for fill in (False, True):
            probe = ApproximateMemory("persistent", seed=chip_seed(7, 0))
            probe.store("layer0", np.full(size, fill))
            probe.set_rates(rate, rate)
            cells |= probe.read("layer0") != fill
        masks.append(cells)
    low, high = masks
    print(f"stuck cells: {low.sum()} at 1 %, {high.sum()} at 4 %; nested: {bool(np.all(high[low]))}")
    assert low.sum() > 0 and high.sum() > 2 * low.sum()
    assert np.all(high[low])
    other = ApproximateMemory("persistent", seed=chip_seed(7, 1))  # another chip: other cells
    other.store("layer0", np.zeros(size, bool))
    other.set_rates(0.04, 0.04)
    assert np.count_nonzero((other.read("layer0") != 0) & high) < 0.2 * high.sum()


def test_a_chip_maps_to_arrays_by_address():
    """Two models' arrays on the same addresses of the same chip meet the same stuck cells."""
    reads = []
    for name in ("layer0", "other_model_layer0"):
        mem = ApproximateMemory("persistent", seed=11)
        mem.store(name, np.zeros(5000, bool))
        mem.set_rates(0.05, 0.0)  # stuck-at-1 only: every stuck cell flips a stored 0
        reads.append(mem.read(name))
    np.testing.assert_array_equal(reads[0], reads[1])
    shifted = ApproximateMemory("persistent", seed=11)
    shifted.store("pad", np.zeros(64, bool))  # the next array starts at address 64
    shifted.store("layer0", np.zeros(5000, bool))
    shifted.set_rates(0.05, 0.0)
    mem = ApproximateMemory("persistent", seed=11)
    mem.store("big", np.zeros(5064, bool))
    mem.set_rates(0.05, 0.0)
    np.testing.assert_array_equal(shifted.read("layer0"), mem.read("big")[64:])


def test_cluster_interval_is_the_t_interval_over_equal_units():
    from scipy.stats import t

    correct, n = [80, 86, 77, 90], [100] * 4
    got = cluster_interval(correct, n, "t-chips")
    acc = np.array(correct) / 100
    half = t.ppf(0.975, 3) * acc.std(ddof=1) / 2
    print(f"t-chips: {got.estimate:.4f} [{got.low:.4f}, {got.high:.4f}], expected half-width {half:.4f}")
    assert got.estimate == pytest.approx(acc.mean())
    assert got.high - got.estimate == pytest.approx(half)
    assert got.df == 3 and got.units == 4
    one = cluster_interval([80], [100], "t-chips")
    assert math.isnan(one.low) and math.isnan(one.se)


def test_clopper_pearson_and_yield_bound():
    low, high = clopper_pearson(20, 20)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 20))
    assert yield_lower_bound(20, 20) == pytest.approx(0.05 ** (1 / 20))
    assert yield_lower_bound(0, 20) == 0.0
    from scipy.stats import binomtest

    ci = binomtest(13, 20).proportion_ci(0.95, method="exact")
    assert clopper_pearson(13, 20) == pytest.approx((ci.low, ci.high))


def test_paired_drop_bound_is_tighter_than_unpaired_for_shared_chips():
    a0 = [0.90, 0.85, 0.80, 0.88]
    a1 = [0.89, 0.84, 0.79, 0.86]  # each chip loses about one point, the chips differ by ten
    unpaired = drop_upper_bound(np.mean(a0), np.std(a0, ddof=1) / 2, 3, np.mean(a1), np.std(a1, ddof=1) / 2, 3)
    paired = drop_upper_bound(np.mean(a0), 0, 3, np.mean(a1), 0, 3, paired=[x - y for x, y in zip(a0, a1, strict=True)])
    print(f"drop bound: paired {paired:.4f}, unpaired {unpaired:.4f}")
    assert paired < 0.03 < unpaired


def _row(model, v, accs, nominal=False, method="t-chips", seeds="1;2;3;4", energy=1.0):
    accs = list(accs)
    return {
        "model": model,
        "vdd_over_vmin": str(v),
        "accuracy": str(np.mean(accs)),
        "trials": str(len(accs)),
        "n_images": "1000",
        "ci_method": method,
        "accuracy_se": str(np.std(accs, ddof=1) / len(accs) ** 0.5),
        "ci_df": str(len(accs) - 1),
        "trial_accuracies": ";".join(map(str, accs)),
        "chip_seeds": seeds,
        "nominal": "true" if nominal else "false",
        "energy_pj_per_inference": str(energy),
        "ber": "0.01",
    }


def test_yield_and_min_yield_choice():
    chips = 20
    nominal = _row("m", 1.0, [0.9] * chips, nominal=True, method="wilson-images", energy=10)
    mid = _row("m", 0.9, [0.895] * chips, energy=8)  # every chip within one point
    low = _row("m", 0.8, [0.895] * 15 + [0.85] * 5, energy=6)  # mean within one point, 5 chips lose 5 points
    rows = [nominal, mid, low]
    y = chip_yield(nominal, low, 0.01)
    print(f"yield at 0.8: {y.good}/{y.chips}, CI {y.low:.2f}-{y.high:.2f}, lower bound {y.lower_bound:.2f}")
    assert (y.good, y.chips) == (15, 20) and y.low < 0.75 < y.high
    assert choose(rows, 0.02)[0].chosen is low  # the mean (0.8825 vs 0.9) is within two points
    assert choose(rows, 0.02, min_yield=0.8)[0].chosen is mid  # 15/20 chips: its lower bound is below 0.8
    assert choose(rows, 0.02, min_yield=0.5)[0].chosen is low
    with pytest.raises(memsim.ConfigError, match="yield is over chips"):
        choose([_row("m", 1.0, [0.9] * 3, nominal=True, method="wilson-images"),
                _row("m", 0.9, [0.9] * 3, method="wilson-images")], 0.01, min_yield=0.5)  # fmt: skip


@pytest.mark.jit
def test_sweep_rows_carry_chips_trials_and_the_right_interval(tmp_path):
    common = {
        "models": ("fcnn_cel_ber0",),
        "profile": "sram_14nm_chandramoorthy2019",
        "knobs": {"vdd_over_vmin": [0.8, 0.85]},
        "trials": 3,
        "dataset": "fashion-mnist-demo",
        "limit": 300,
    }
    kinds = {"transient": "wilson-images", "persistent": "t-chips", "mixed": "t-chips", "asymmetric": "wilson-images"}
    for fm, method in kinds.items():
        rows = run_sweep(SweepSpec(fault_model=fm, **common), tmp_path / fm, progress=False)
        seeds = {r["chip_seeds"] for r in rows}
        assert len(seeds) == 1 and len(seeds.pop().split(";")) == 3  # the same three chips at every voltage
        for r in rows:
            accs = [float(a) for a in r["trial_accuracies"].split(";")]
            assert len(accs) == 3 and float(r["accuracy"]) == pytest.approx(np.mean(accs))
            assert r["ci_method"] == method, (fm, r["ci_method"])
    batch = run_sweep(SweepSpec(granularity="per_batch", batch_size=50, **common), tmp_path / "batch", progress=False)
    assert {r["ci_method"] for r in batch} == {"t-batches"}
    assert {r["ci_df"] for r in batch} == {"17.0"}  # 3 trials x 6 batches of 50 images, minus one


@pytest.mark.jit
def test_dask_style_split_counts_add_up_to_the_whole(tmp_path):
    """Per-trial and per-batch counts of image ranges add up to the counts of the whole set (Dask, resume)."""
    from memsim.experiment.sweep import Cell, cell_inputs, count_cell

    spec = SweepSpec(models=("fcnn_cel_ber0",), bers=(0.05,), trials=2, granularity="per_batch", batch_size=64,
                     dataset="fashion-mnist-demo", limit=300, fault_model="mixed", persistent_fraction=0.5)  # fmt: skip
    cell = Cell("fcnn_cel_ber0", (), 0.05)
    net, images, labels = cell_inputs(spec, cell)
    whole = count_cell(spec, cell, net, images, labels)
    parts = count_cell(spec, cell, net, images, labels, 0, 100) + count_cell(spec, cell, net, images, labels, 100)
    # predictions add up exactly (a batch cut by the split is read once per part, so bits read do not)
    assert (whole.correct, whole.n, whole.trials, whole.batches) == (
        parts.correct,
        parts.n,
        parts.trials,
        parts.batches,
    )
    assert len(whole.trials) == 2 and len(whole.batches) == 2 * 5


def test_a_measured_deterministic_chip_refuses_trials(tmp_path):
    """A 0/1 map is one chip read the same way every time: --trials 3 would repeat one result."""
    from memsim.profile import profile_from_fault_maps

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "vfail.npz", failure_voltage_v=rng.normal(0.5, 0.05, (1024, 1024)))
    profile_from_fault_maps([tmp_path / "vfail.npz"], tmp_path / "chip.yaml", technology="sram", reference="x",
                            voltages=[0.5, 0.6, 0.7])  # fmt: skip
    spec = SweepSpec(models=("fcnn_cel_ber0",), profile=str(tmp_path / "chip.yaml"), knobs={"vdd_v": [0.6]},
                     trials=3, dataset="fashion-mnist-demo", limit=50)  # fmt: skip
    with pytest.raises(memsim.ConfigError, match="trials 1"):
        run_sweep(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
