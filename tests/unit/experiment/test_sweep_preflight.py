"""A sweep checks every option, the config, the models, the data set and the grid before it creates --out
(issue 24, item 2): a refused sweep leaves nothing behind, so the corrected rerun is not refused."""

from __future__ import annotations

import os

import pytest

from memsim.cli.app import main

pytestmark = pytest.mark.jit  # each case runs a preflight evaluation: compiled speed

BASE = ["sweep", "--model", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo", "--limit", "20", "--quiet"]
SRAM = ["--profile", "sram_14nm_chandramoorthy2019"]

CASES = {
    "negative compute energy": (["--ber", "0.1", "--compute-pj-per-op", "-1"], "compute_pj_per_op must be a finite"),
    "NaN compute energy": (["--ber", "0.1", "--compute-pj-per-op", "nan"], "compute_pj_per_op must be a finite"),
    "persistent fraction 2": (["--ber", "0.1", "--fault-model", "mixed", "--persistent-fraction", "2"],
                              "persistent_fraction must be in [0, 1]"),
    "persistent fraction without mixed": (["--ber", "0.1", "--persistent-fraction", "0.5"],
                                          "give fault_model mixed"),
    "images per task 0": (["--ber", "0.1", "--scheduler", "local:1", "--images-per-task", "0"],
                          "--images-per-task must be a positive"),
    "images per task -5": (["--ber", "0.1", "--scheduler", "local:1", "--images-per-task", "-5"],
                           "--images-per-task must be a positive"),
    "CIFAR-10 for a Fashion model": (["--ber", "0.1", "--dataset", "cifar10"], "do not fit fashion-fcnn"),
    "a billion points": ([*SRAM, "--vdd-over-vmin", "0.8:1.0:1000000000"], "NUM must be in [1, 10000]"),
    "repeated knob value": ([*SRAM, "--vdd-over-vmin", "0.9,0.9,1.0"], "0.9 given more than once"),
    "repeated knob flag": ([*SRAM, "--vdd-over-vmin", "0.9", "--vdd-over-vmin", "1.0"], "is given twice"),
    "unknown scheduler scheme": (["--ber", "0.1", "--scheduler", "bogus://127.0.0.1:1"],
                                 "--scheduler takes tcp://HOST:PORT"),
    "more local workers than cores": (["--ber", "0.1", "--scheduler", f"local:{(os.cpu_count() or 1) + 14}"],
                                      "needs N in [1,"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_anything_is_written(case, tmp_path, capsys):
    argv, message = CASES[case]
    if "--dataset" in argv and "cifar10" in argv:
        argv = [a for a in BASE if a not in ("--dataset", "fashion-mnist-demo")] + argv
    else:
        argv = BASE + argv
    out = tmp_path / "out"
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and message in err, err
    assert not out.exists()


def test_config_with_an_unknown_fault_model(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text("fault_model: bogus\nbers: [0.1]\n")
    code = main([*BASE, "--config", str(config), "--out", str(tmp_path / "out")])
    assert code != 0 and "unknown fault model 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_empty_out_is_not_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main([*BASE, "--ber", "0.1", "--out", ""])
    assert code != 0 and "an empty name is not a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_unreachable_scheduler_fails_within_its_bound(tmp_path, capsys):
    pytest.importorskip("distributed")
    code = main([*BASE, "--ber", "0.1", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 5 s" in err
    assert not (tmp_path / "out").exists()


def test_corrected_rerun_runs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*BASE, "--ber", "0.1", "--compute-pj-per-op", "-1", "--out", str(out)]) != 0
    assert main([*BASE, "--ber", "0.1", "--out", str(out)]) == 0
    assert "1 rows" in capsys.readouterr().out
