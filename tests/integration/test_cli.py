"""The memsim command: each subcommand calls its API, prints data (or JSON), and fails in one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from memsim.cli.app import main

DRAM = "dram_ddr3l_chang2017_vendorb"


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_profiles_list(capsys):
    code, out, _ = run(capsys, "profiles", "list")
    assert code == 0
    for name in ("sram_14nm_chandramoorthy2019", DRAM, "rram_hfo2_2t2r_hirtzlin2019", "stt_mram_pmtj_delta60_nvsim"):
        assert name in out
    code, out, _ = run(capsys, "profiles", "list", "--json")
    data = json.loads(out)
    assert {d["technology"] for d in data} >= {"sram", "dram", "rram", "stt_mram"}


def test_profiles_show(capsys):
    code, out, _ = run(capsys, "profiles", "show", "sram_14nm_chandramoorthy2019")
    assert code == 0
    assert "operating points over vdd_over_vmin" in out and "0.00129" in out and "[stutz2021]" in out
    code, out, _ = run(capsys, "profiles", "show", DRAM, "--json")
    data = json.loads(out)
    assert set(data["operating_points"]) == {"vdd_v", "trcd_ns", "refresh_ms", "temperature_c"}
    assert any(item["provenance"] == "dataset" for item in data["provenance"])


def test_at_prints_the_operating_point(capsys):
    code, out, _ = run(capsys, "at", DRAM, "--vdd-v", "1.05", "--trcd-ns=7.5")
    assert code == 0
    assert "vdd_v=1.05, trcd_ns=7.5" in out and "warning: uncalibrated model(s) used: reduced_trcd" in out
    code, out, _ = run(capsys, "at", DRAM, "--vdd-v", "1.05", "--json")
    op = json.loads(out)
    assert op["mechanisms"][0]["ber"] == pytest.approx(7.2e-5)
    assert op["read_latency_ns"] == pytest.approx(32.5)
    code, out, _ = run(capsys, "at", "rram_hfo2_2t2r_hirtzlin2019", "--programming", "ultra_low_power", "--json")
    assert json.loads(out)["ber"] == pytest.approx(0.033)


def test_at_extrapolate(capsys):
    code, out, _ = run(capsys, "at", DRAM, "--vdd-v", "1.0", "--extrapolate")
    assert code == 0 and "extrapolated" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["at", DRAM, "--vdd-v", "0.9"], "knobs.vdd_v: 0.9 V is outside the profile's range [1.025, 1.35] V"),
        (
            ["at", DRAM, "--vdd", "1.1"],
            "has no knob 'vdd' (did you mean 'vdd_v'?); its knobs: --vdd-v, --trcd-ns, --refresh-ms, --temperature-c",
        ),
        (["at", DRAM, "--vdd-v", "high"], "--vdd-v: 'high' is not a number (V)"),
        (["at", DRAM, "--vdd-v"], "--vdd-v needs a value"),
        (["at", "nosuchprofile"], "unknown profile 'nosuchprofile'"),
        (["profiles", "show", "/nonexistent/x.yaml"], "/nonexistent/x.yaml: cannot read the file"),
        (["profiles", "plot", DRAM, "-o", "/nonexistent/dir/x.png"], "directory '/nonexistent/dir' does not exist"),
        (["profiles", "plot", DRAM, "-o", "x.bmp"], "unsupported plot format '.bmp'"),
        (["profiles", "plot", DRAM, "-o", "x.png", "--knob", "vdd"], "unknown knob 'vdd'"),
    ],
)
def test_bad_input_prints_one_line_and_exits_1(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("memsim: error: "), err
    assert message in err


@pytest.mark.slow
def test_debug_shows_the_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "memsim", "at", DRAM, "--vdd-v", "0.9", "--debug"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "OutOfRangeError" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "memsim", "at", DRAM, "--vdd-v", "0.9"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["profiles", "frobnicate"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "dram.png"
    code, text, _ = run(capsys, "profiles", "plot", DRAM, "-o", str(out))
    assert code == 0 and text.strip() == f"wrote {out}" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rram = tmp_path / "rram.svg"
    assert run(capsys, "profiles", "plot", "rram_hfo2_2t2r_hirtzlin2019", "-o", str(rram))[0] == 0
    assert rram.read_text().lstrip().startswith("<?xml")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary files left"


def test_import_csv_and_maps_from_the_cli(tmp_path, capsys):
    csv = tmp_path / "chip.csv"
    csv.write_text("vdd_v,ber\n0.6,1e-2\n0.7,1e-4\n0.8,0\n")
    code, out, _ = run(
        capsys,
        "profiles",
        "import",
        "csv",
        str(csv),
        "-o",
        str(tmp_path / "chip.yaml"),
        "--technology",
        "sram",
        "--reference",
        "bench",
    )
    assert code == 0 and "profile 'chip'" in out
    code, out, _ = run(capsys, "at", str(tmp_path / "chip.yaml"), "--vdd-v", "0.65", "--json")
    assert json.loads(out)["ber"] == pytest.approx(1e-3)

    maps = tmp_path / "maps"
    maps.mkdir()
    for v in (0.6, 0.7):
        np.savez(maps / f"c_v{v:.2f}.npz", p01=np.full((4, 4), 0.1 if v < 0.65 else 0.0), p10=np.zeros((4, 4)))
    code, out, _ = run(
        capsys,
        "profiles",
        "import",
        "maps",
        str(maps),
        "-o",
        str(tmp_path / "maps.yaml"),
        "--technology",
        "sram",
        "--reference",
        "bench",
    )
    assert code == 0 and "flip_probability maps of shape (4, 4)" in out
    code, _, err = run(
        capsys,
        "profiles",
        "import",
        "csv",
        str(tmp_path / "none.csv"),
        "-o",
        str(tmp_path / "n.yaml"),
        "--technology",
        "sram",
        "--reference",
        "bench",
    )
    assert code == 1 and "none.csv: cannot read the file" in err


@pytest.mark.slow
def test_demo_api_writes_its_files_and_chooses_a_point(tmp_path):
    from memsim.demo import DEMO_MODELS, run_demo

    report = run_demo(tmp_path / "demo")
    names = sorted(p.name for p in report.files)
    assert names == ["accuracy-ber.png", "energy-accuracy.png", "report.md", "sweep.csv", "sweep.json"]
    assert all(p.stat().st_size > 0 for p in report.files)
    rows = report.report.rows
    assert {r["model"] for r in rows} == set(DEMO_MODELS)
    for r in rows:
        assert float(r["ci95_low"]) <= float(r["accuracy"]) <= float(r["ci95_high"])
    again = run_demo(tmp_path / "demo")  # a second run reuses the finished sweep
    assert again.report.rows == rows


@pytest.mark.slow
def test_demo_runs(capsys, tmp_path):
    started = time.perf_counter()
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path / "d"), "--quiet")
    seconds = time.perf_counter() - started
    print(f"memsim demo: {seconds:.1f} s")  # timed for the log; speed claims live in tests/benchmarks
    assert code == 0
    assert "23.4 %" in out  # read energy saved at 0.875 Vmin: 1 - 0.875^2
    assert "Lowest voltage within 1 accuracy point" in out and "saves" in out and "95 % CI" in out
    assert "accuracy-ber.png" in out and (tmp_path / "d" / "energy-accuracy.png").exists()


def test_sweep_report_and_plot_commands(capsys, tmp_path):
    out = str(tmp_path / "s")
    code, text, err = run(capsys, "sweep", "--model", "fcnn_cel_ber0", "--profile", "sram_14nm_chandramoorthy2019",
                          "--vdd-over-vmin", "0.8:1.0:3", "--dataset", "fashion-mnist-demo", "--limit", "100",
                          "--out", out, "--quiet")  # fmt: skip
    assert code == 0, err
    assert "3 cells x 1 trials" in text
    code, text, _ = run(capsys, "report", out)
    assert code == 0 and "Chosen operating points" in text and "0.9" in text
    code, text, _ = run(capsys, "report", out, "--format", "markdown", "-o", str(tmp_path / "r.md"))
    assert code == 0 and (tmp_path / "r.md").read_text().startswith("| model |")
    code, text, _ = run(capsys, "plot", out, "-o", str(tmp_path / "p.png"), "--kind", "accuracy-ber")
    assert code == 0 and (tmp_path / "p.png").exists()
    code, text, _ = run(capsys, "sweep", "--model", "fcnn_cel_ber0", "--ber", "0:0.3:4", "--dump-config")
    assert code == 0 and "bers:\n- 0.0\n- 0.1\n- 0.2\n- 0.3" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "--profile", "sram_14nm_chandramoorthy2019", "--out", "X"], "give at least one --model"),
        (["sweep", "--model", "fcnn_cel_ber0", "--profile", "sram_14nm_chandramoorthy2019", "--vdd-over-vmin", "1:0.8:x",
          "--out", "X"], "--vdd-over-vmin: '1:0.8:x' is not START:STOP:NUM"),
        (["sweep", "--model", "fcnn_cel_ber0", "--ber", "0.1", "--trials", "0", "--out", "X"],
         "trials must be a positive integer, got 0"),
        (["sweep", "--model", "fcnn_cel_ber0", "--ber", "0.1"], "give --out DIR"),
        (["report", "NOPE"], "NOPE/sweep.csv: no sweep results here"),
    ],
)  # fmt: skip
def test_sweep_bad_input(capsys, tmp_path, args, message):
    args = [str(tmp_path / a) if a in ("X", "NOPE") else a for a in args]
    code, _, err = run(capsys, *args)
    assert code == 1 and err.count("\n") == 1, err
    assert message.replace("NOPE", str(tmp_path / "NOPE")) in err
    assert not (tmp_path / "X").exists()


@pytest.mark.slow
def test_memory_command_checks_flips_against_rates(capsys):
    code, out, _ = run(
        capsys,
        "memory",
        "sram_14nm_chandramoorthy2019",
        "--vdd-over-vmin",
        "0.833",
        "--bits",
        "200000",
        "--reads",
        "3",
        "--json",
    )
    assert code == 0
    check = json.loads(out)
    assert check["expected_ber"] == pytest.approx(0.0111) and abs(check["z_ber"]) < 3.29
    assert check["read_energy_pj_per_read"] == pytest.approx(200_000 * 0.31 * 0.833**2)
    code, out, _ = run(
        capsys,
        "memory",
        "--p01",
        "0.0",
        "--p10",
        "0.2",
        "--fault-model",
        "asymmetric",
        "--bits",
        "100000",
        "--reads",
        "2",
    )
    assert code == 0 and "observed" in out and "fault model asymmetric" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["memory"], "give a PROFILE (with --<knob> VALUE options), or --ber, or --p01 and --p10"),
        (["memory", "--ber", "1.5"], "ber must be in [0, 1], got 1.5"),
        (["memory", "--p01", "0.1"], "give both --p01 and --p10"),
        (["memory", "--ber", "0.1", "--bits", "-5"], "nbits must be a positive integer, got -5"),
        (
            ["memory", "--ber", "0.1", "--vdd-v", "1.0"],
            "give either a PROFILE (got '1.0') with --<knob> VALUE options, or --ber",
        ),
        (["memory", "--ber", "0.1", "--p01", "0.1"], "give either --ber or --p01 and --p10, not both"),
        (
            ["memory", "--ber", "0.1", "--fault-model", "mixed", "--persistent-fraction", "3"],
            "persistent_fraction must be in [0, 1]",
        ),
    ],
)
def test_memory_command_bad_input(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert message in err


def test_margins_command(capsys, tmp_path):
    from memsim.bnn import BNN, save_model

    path = tmp_path / "net.npz"
    save_model(BNN.random("fashion-fcnn", seed=0), path)
    code, out, _ = run(capsys, "margins", str(path), "--dataset", "fashion-mnist-demo", "--limit", "50", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["n_images"] == 50 and [h["layer"] for h in data["hidden_layers"]] == [0, 1]
    assert len(data["importance"]) == 2
    code, out, _ = run(capsys, "margins", "random:fashion-cnn:1", "--limit", "20", "--no-importance")
    assert code == 0 and "conv" in out and "output" in out and "importance" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["margins", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["margins", "random:fashion-fcnn", "--limit", "0"], "--limit must be a positive integer"),
        (["margins", "random:lenet"], "unknown architecture 'lenet'"),
        (["margins", "random:fashion-fcnn:x"], "the seed after the architecture must be an integer"),
    ],
)
def test_margins_bad_input(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1


def test_data_verify_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMSIM_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, _, err = run(capsys, "data", "verify", "mnist")
    assert code == 1 and "get it with `memsim data fetch mnist`" in err


def test_at_with_a_user_vmin(capsys):
    code, out, _ = run(capsys, "at", "sram_14nm_chandramoorthy2019", "--vmin-v", "0.8", "--vdd-v", "0.7", "--json")
    assert code == 0 and json.loads(out)["ber"] == pytest.approx(1.29e-3)


def test_evaluate_command(capsys, tmp_path):
    from memsim.bnn import BNN, save_model

    path = tmp_path / "net.npz"
    save_model(BNN.random("fashion-fcnn", seed=0), path)
    code, out, _ = run(capsys, "evaluate", str(path), "--dataset", "fashion-mnist-demo", "--limit", "200",
                       "--profile", "sram_14nm_chandramoorthy2019", "--vdd-over-vmin", "0.875", "--json")  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["n_images"] == 200 and result["ci_low"] <= result["accuracy"] <= result["ci_high"]
    assert result["ber"] == pytest.approx(1.29e-3) and result["reads"] == 600
    assert result["read_energy_pj_per_image"] == pytest.approx(5820416 * 0.31 * 0.875**2)
    code, out, _ = run(capsys, "evaluate", str(path), "--dataset", "fashion-mnist-demo", "--limit", "50",
                       "--ber", "0.01")  # fmt: skip
    assert code == 0 and "read energy per image: n/a (a bare --ber has no energy model" in out
    code, out, err = run(capsys, "evaluate", str(path), "--ber", "0.1", "--vdd-v", "1")
    assert code == 1 and "unknown option --vdd-v (knob options --<knob> VALUE need --profile)" in err


def test_evaluate_api_matches_predict():
    import numpy as np

    from memsim import ApproximateMemory
    from memsim.bnn import BNN
    from memsim.datasets import load_dataset
    from memsim.experiment import evaluate, wilson_interval

    net = BNN.random("fashion-fcnn", seed=1)
    images, labels = load_dataset("fashion-mnist-demo")
    result = evaluate(net, images[:100], labels[:100], 0.05, seed=3)
    mem = ApproximateMemory(seed=3)
    mem.set_ber(0.05)
    net.store_weights(mem)
    expected = float(np.mean(net.predict(images[:100], memory=mem, seed=3) == labels[:100]))
    assert result.accuracy == expected
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)


def test_a_closed_pipe_ends_quietly(tmp_path):
    script = f"{sys.executable} -m memsim profiles show sram_14nm_chandramoorthy2019 | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True)
    assert proc.stdout.startswith("sram_14nm_chandramoorthy2019")
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 141)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo", "--ber", "0.1", "--batch-size", "0"],
         "unknown option --batch-size (knob options --<knob> VALUE need --profile); see `memsim evaluate --help`"),
        (["evaluate", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo", "--ber", "0.7"],
         "ber must be in [0, 0.5], got 0.7"),
        (["evaluate", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo", "--ber", "0.01", "--seed", "-1"],
         "seed must be a non-negative integer or None, got -1"),
        (["evaluate", "random:fashion-fcnn:-1", "--dataset", "fashion-mnist-demo"],
         "seed must be a non-negative integer or None, got -1"),
        (["memory", "--ber", "0.1", "--seed", "-2"], "seed must be a non-negative integer or None, got -2"),
        (["at", "dram_ddr3l_chang2017_vendorb", "--vdd-v", "-3", "--extrapolate"],
         "-3 V is not physical: vdd_v must be positive"),
    ],
)  # fmt: skip
def test_bad_input_found_by_a_new_user(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert message in err


def test_persistent_faults_on_a_profile_with_cell_maps_use_the_maps(capsys, tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    sa0 = np.zeros(64, bool)
    sa0[::4] = True  # a quarter of the cells stuck at 0 at 0.5 V, none at 0.6 V
    np.savez(maps / "c_v0.50.npz", stuck_at_0=sa0, stuck_at_1=np.zeros(64, bool))
    np.savez(maps / "c_v0.60.npz", stuck_at_0=np.zeros(64, bool), stuck_at_1=np.zeros(64, bool))
    chip = tmp_path / "chip.yaml"
    assert run(capsys, "profiles", "import", "maps", str(maps), "-o", str(chip), "--technology", "sram",
               "--reference", "test chip")[0] == 0  # fmt: skip
    for fault in ([], ["--fault-model", "persistent"]):
        code, out, err = run(capsys, "memory", str(chip), "--vdd-v", "0.5", "--bits", "6400", "--reads", "2",
                             "--json", *fault)  # fmt: skip
        assert code == 0, err
        check = json.loads(out)
        assert check["observed_p01"] == 0.0
        assert check["observed_p10"] == pytest.approx(0.25, abs=0.03), "exactly the mapped cells, not drawn ones"
    code, out, _ = run(capsys, "memory", str(chip), "--vdd-v", "0.5", "--bits", "6400", "--reads", "1")
    assert "fault model persistent (the profile's measured cell maps)" in out


def test_one_broken_profile_does_not_hide_the_others(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    monkeypatch.setenv("MEMSIM_PROFILE_PATH", str(tmp_path))
    code, out, err = run(capsys, "profiles", "list")
    assert code == 0 and "sram_14nm_chandramoorthy2019" in out
    assert "warning: skipped broken" in err and "broken.yaml" in err


@pytest.mark.slow
@pytest.mark.jit
def test_ctrl_c_stops_a_long_command_promptly():
    import signal

    command = [sys.executable, "-m", "memsim", "margins", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo"]
    # Compile and cache the kernels first: a fresh checkout compiles for several seconds, and the
    # signal must reach the command inside its long loop, not inside the compiler.
    subprocess.run([*command, "--limit", "20"], capture_output=True, check=True, timeout=300)
    # A suite started in the background without job control inherits SIGINT ignored (as Unix tools should, so
    # does memsim); the command under test gets the default disposition back.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    time.sleep(3.0)  # imports, cached kernels loaded, inside the importance loop
    if proc.poll() is not None:
        pytest.skip("the command finished before the signal; nothing to interrupt")
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    waited = time.perf_counter() - sent
    print(f"stopped {waited:.2f} s after SIGINT")
    assert proc.returncode == 130 and "memsim: interrupted" in err and "Traceback" not in err
    # It stops, not after the loop: a loose bound (a busy 2-core host took 1.6 s; the loop takes minutes).
    assert waited < 10.0


def test_version_names_the_popcount_numba_compiles_here(capsys):
    from memsim import config
    from memsim.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("memsim ") and f"popcount {config.popcount_isa()['popcount']}" in out
    assert f"16-bit lanes {config.popcount_isa()['lanes16']}" in out


def test_at_relaxed_refresh_prints_a_higher_ber_and_a_smaller_refresh_part(capsys):
    code, out, _ = run(capsys, "at", DRAM, "--vdd-v", "1.35", "--refresh-ms", "64", "--temperature-c", "70", "--json")
    base = json.loads(out)
    code, out, _ = run(capsys, "at", DRAM, "--vdd-v", "1.35", "--refresh-ms", "1024", "--temperature-c", "70")
    assert code == 0
    ber = float(next(line for line in out.splitlines() if line.strip().startswith("ber")).split()[1])
    assert ber > base["ber"] and ber == pytest.approx(1.511e-9, rel=1e-3)
    assert "refresh power vs the nominal point (refresh_ms 64): 1.482 mW vs 23.72 mW (93.8 % less)" in out
    code, out, _ = run(capsys, "at", DRAM, "--refresh-ms", "1024", "--temperature-c", "70", "--json")
    assert json.loads(out)["refresh_mw"] == pytest.approx(base["refresh_mw"] / 16)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["at", DRAM, "--refresh-ms", "4096"], "knobs.refresh_ms: 4096 ms is outside the profile's range [64, 2048] "
         "ms; pass extrapolate=True (CLI: --extrapolate) to use the model retention_power_law"),
        (["at", DRAM, "--refresh-ms", "-1", "--extrapolate"], "knobs.refresh_ms: -1 ms is not physical"),
        (["at", DRAM, "--temperature-c", "-280"], "knobs.temperature_c: -280 C is below absolute zero"),
    ],
)  # fmt: skip
def test_at_refresh_bad_input(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code != 0 and message in err and err.count("\n") == 1


def test_profiles_import_measurements_pools_and_writes_a_grid(capsys, tmp_path):
    from pathlib import Path

    csv = Path(__file__).resolve().parents[2] / "profiles/dram/data/chang2017_retention_vendorb.csv"
    out = tmp_path / "ret.yaml"
    code, text, err = run(capsys, "profiles", "import", "csv", str(csv), "-o", str(out), "--technology", "dram",
                          "--reference", "Voltron", "--pool", "vdd_v", "--persistence", "stuck",
                          "--nominal", "refresh_ms=64", "--nominal", "temperature_c=20")  # fmt: skip
    assert code == 0, err
    assert "knobs refresh_ms, temperature_c" in text and "refresh_ms (7) x temperature_c (2)" in text
    code, text, _ = run(capsys, "at", str(out), "--refresh-ms", "2048", "--temperature-c", "70", "--json")
    assert json.loads(text)["ber"] == pytest.approx(1.467e-7, rel=1e-3)
    code, _, err = run(capsys, "profiles", "import", "csv", str(csv), "-o", str(tmp_path / "x.yaml"),
                       "--technology", "dram", "--reference", "V")  # fmt: skip
    assert code != 0 and "column vdd_v: the BER both rises and falls" in err and "pool over vdd_v" in err
    code, _, err = run(capsys, "profiles", "import", "csv", str(csv), "-o", str(tmp_path / "x.yaml"),
                       "--technology", "dram", "--reference", "V", "--nominal", "refresh_ms")  # fmt: skip
    assert code != 0 and "--nominal: 'refresh_ms' is not a number (or KNOB=VALUE)" in err
    assert not (tmp_path / "x.yaml").exists()


def test_sweep_over_refresh_reports_the_refresh_part(capsys, tmp_path):
    out = tmp_path / "s"
    code, _, err = run(capsys, "sweep", "--model", "fcnn_cel_ber0", "--profile", DRAM, "--refresh-ms", "64,2048",
                          "--temperature-c", "70", "--dataset", "fashion-mnist-demo", "--limit", "50", "--trials", "2",
                          "--out", str(out), "--quiet")  # fmt: skip
    assert code == 0, err
    import csv as csvlib

    rows = list(csvlib.DictReader((out / "sweep.csv").open()))
    header = (out / "sweep.csv").read_text().splitlines()[0].split(",")
    assert header[header.index("leakage_energy_pj_per_inference") + 1] == "refresh_energy_pj_per_inference"
    nominal, relaxed = rows
    assert float(relaxed["refresh_energy_pj_per_inference"]) == pytest.approx(
        float(nominal["refresh_energy_pj_per_inference"]) / 32
    )
    assert float(relaxed["memory_energy_saved"]) > 0 and relaxed["fault_model"] == "mixed"
    assert relaxed["ci_method"].endswith("chips")  # stuck retention cells: the interval is over chips
