"""Fuzz: mutated profile YAML, curve CSV, NPZ fault maps and model files give a one-line MemsimError naming
the file, never another exception, and write nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memsim
from memsim import MemsimError
from memsim.profile.catalog import profile_path

SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SCALARS = st.sampled_from(["-1", "0", "1e308", "nan", ".inf", "''", "[]", "{}", "null", "abc", "2", "-0.5", "true"])


def one_clear_line(err: MemsimError, *names: str) -> None:
    text = str(err)
    assert "\n" not in text, text
    assert any(name in text for name in names), f"{text!r} names none of {names}"


@SETTINGS
@given(data=st.data())
def test_mutated_profile_yaml(tmp_path, data):
    lines = profile_path("dram_ddr3l_chang2017_vendorb").read_text(encoding="utf-8").splitlines()
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    how = data.draw(st.sampled_from(["delete", "value", "truncate", "indent"]), label="how")
    if how == "delete":
        del lines[i]
    elif how == "value" and ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {data.draw(SCALARS, label='value')}"
    elif how == "truncate":
        lines = lines[:i]
    else:
        lines[i] = "   " + lines[i]
    path = tmp_path / "fuzzed.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        profile = memsim.load_profile(str(path))
        profile.at()
    except MemsimError as err:
        one_clear_line(err, "fuzzed.yaml")


@SETTINGS
@given(
    header=st.sampled_from(["vdd_v,ber", "vdd_v,p01,p10", "VDD_V,BER", "vdd,ber", "vdd_v", ""]),
    rows=st.lists(st.lists(st.sampled_from(["0.6", "0.7", "1e-3", "-1", "nan", "x", "", "2"]), max_size=4), max_size=5),
)
def test_mutated_curve_csv(tmp_path, header, rows):
    csv_path = tmp_path / "fuzzed.csv"
    csv_path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    out = tmp_path / "out.yaml"
    out.unlink(missing_ok=True)  # hypothesis reuses tmp_path across examples
    try:
        memsim.profile_from_csv(csv_path, out, technology="sram", reference="fuzz")
    except MemsimError as err:
        one_clear_line(err, "fuzzed.csv", "out.yaml")
        assert not out.exists(), "nothing written on an error"


@SETTINGS
@given(
    dtype=st.sampled_from(["bool", "int8", "float64", "U1"]),
    values=st.lists(st.sampled_from([0, 1, 2, -1, 0.5, float("nan")]), min_size=1, max_size=8),
    keys=st.sampled_from([("stuck_at_0", "stuck_at_1"), ("p01", "p10"), ("failure_voltage_v",), ("other",)]),
)
def test_mutated_npz_maps(tmp_path, dtype, values, keys):
    maps = tmp_path / "maps"
    maps.mkdir(exist_ok=True)
    for f in maps.iterdir():
        f.unlink()
    for v in ("0.60", "0.70"):
        with np.errstate(invalid="ignore"):  # nan cast to an integer dtype is part of the fuzz
            arrays = {
                k: np.array(values).astype(dtype) if dtype != "U1" else np.array([str(x) for x in values]) for k in keys
            }
        np.savez(maps / f"c_v{v}.npz", **arrays)
    out = tmp_path / "chip.yaml"
    out.unlink(missing_ok=True)  # hypothesis reuses tmp_path across examples
    try:
        profile = memsim.profile_from_fault_maps([maps], out, technology="sram", reference="fuzz", voltages=[0.6, 0.7])
        profile.at(vdd_v=0.6)
    except MemsimError as err:
        one_clear_line(err, "maps", "chip.yaml", "c_v0.")
        assert not out.exists()
    except RuntimeWarning:
        pytest.fail("a warning escaped")


def _model_bytes() -> dict[str, np.ndarray]:
    with np.load(Path(memsim.bnn.modelfile.model_dirs()[0]) / "fcnn_cel_ber0.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@SETTINGS
@given(data=st.data())
def test_mutated_model_files(tmp_path, data):
    arrays = _model_bytes()
    key = data.draw(st.sampled_from(sorted(arrays)), label="key")
    how = data.draw(st.sampled_from(["drop", "dtype", "shape", "value", "truncate"]), label="how")
    path = tmp_path / "fuzzed.npz"
    if how == "drop":
        del arrays[key]
    elif how == "dtype":
        arrays[key] = np.asarray(arrays[key]).astype(np.float32) if arrays[key].dtype.kind != "U" else np.float32(1)
    elif how == "shape":
        arrays[key] = np.asarray(arrays[key]).ravel()[:3]
    elif how == "value":
        arrays[key] = np.array(-7)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    raw = buffer.getvalue()
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="cut")]
    path.write_bytes(raw)
    try:
        net = memsim.load_model(str(path))
        net.predict(np.zeros((2, 28, 28), np.uint8))
    except MemsimError as err:
        one_clear_line(err, "fuzzed.npz")
    except zipfile.BadZipFile:
        pytest.fail("a raw zip error escaped")


# ---- result folders, sweep configs and signals (issue 24)


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    from memsim.experiment.sweep import SweepSpec, run_sweep

    spec = SweepSpec(models=("fcnn_cel_ber0",), bers=(0.0, 0.05, 0.1), dataset="fashion-mnist-demo", limit=20)
    out = tmp_path_factory.mktemp("fuzz") / "done"
    run_sweep(spec, out, progress=False)
    return spec, out


CELLS = st.sampled_from(["", "nan", "-1", "1.7", "inf", "x", '"', "0.5", "true", "\x00", "1e400", "fcnn_cel_ber0"])


@pytest.mark.jit
@SETTINGS
@given(data=st.data())
def test_mutated_result_folders(tmp_path, finished_sweep, data):
    """resume, report and read: the rows, or one line naming sweep.csv or sweep.json; nothing appended on refusal."""
    import shutil

    from memsim.experiment.sweep import read_rows, run_sweep
    from memsim.report.tradeoff import TradeoffReport

    spec, done = finished_sweep
    folder = tmp_path / "f"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(done, folder)
    lines = (folder / "sweep.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    how = data.draw(st.sampled_from(["delete", "cell", "cut", "duplicate", "swap", "bytes", "meta"]), label="how")
    if how == "delete":
        del lines[i]
    elif how == "cell":
        fields = lines[i].rstrip("\n").split(",")
        fields[data.draw(st.integers(0, len(fields) - 1), label="column")] = data.draw(CELLS, label="value")
        lines[i] = ",".join(fields) + "\n"
    elif how == "cut":
        lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])), label="at")]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    elif how == "swap":
        j = data.draw(st.integers(0, len(lines) - 1), label="other")
        lines[i], lines[j] = lines[j], lines[i]
    if how == "bytes":
        (folder / "sweep.csv").write_bytes(data.draw(st.binary(max_size=200), label="bytes"))
    elif how == "meta":
        text = (folder / "sweep.json").read_text(encoding="utf-8")
        cut = data.draw(st.integers(0, len(text)), label="at")
        (folder / "sweep.json").write_text(
            text[:cut] + data.draw(st.sampled_from(["", "}", "null", "[", '"x"']), label="tail")
        )
    else:
        (folder / "sweep.csv").write_text("".join(lines), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for attempt in (lambda: read_rows(folder), lambda: TradeoffReport.from_dir(folder),
                    lambda: run_sweep(spec, folder, resume=True, progress=False)):  # fmt: skip
        try:
            attempt()
        except MemsimError as err:
            one_clear_line(err, "sweep.csv", "sweep.json")
            assert {p.name: p.read_bytes() for p in folder.iterdir()} == before, "a refused folder was changed"


CONFIG = """models: [fcnn_cel_ber0]
profile: sram_14nm_chandramoorthy2019
knobs:
  vdd_over_vmin: [0.8, 0.9, 1.0]
trials: 2
seed: 3
dataset: fashion-mnist-demo
limit: 50
fault_model: transient
granularity: per_sample
extrapolate: false
"""


@SETTINGS
@given(data=st.data())
def test_mutated_sweep_configs(tmp_path, capsys, data):
    """A mutated --config is a valid sweep or one line naming the config file: never a traceback."""
    from memsim.cli.app import main

    lines = CONFIG.splitlines()
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    how = data.draw(st.sampled_from(["delete", "value", "truncate", "indent", "key"]), label="how")
    if how == "delete":
        del lines[i]
    elif how == "value" and ":" in lines[i]:
        lines[i] = f"{lines[i].split(':', 1)[0]}: {data.draw(SCALARS, label='value')}"
    elif how == "truncate":
        lines = lines[:i]
    elif how == "key":
        lines[i] = "bogus_" + lines[i].lstrip()
    else:
        lines[i] = "   " + lines[i]
    path = tmp_path / "fuzzed-config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["sweep", "--config", str(path), "--dump-config"])
    err = capsys.readouterr().err.strip()
    assert code in (0, 1), err
    if code == 1:
        assert err.startswith("memsim: error: ") and "\n" not in err, err
        assert "fuzzed-config.yaml" in err or "--model" in err, err


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(delay=st.floats(0.1, 5.0))
def test_ctrl_c_at_a_random_moment_of_a_pooled_sweep(tmp_path_factory, delay):
    """Wherever SIGINT lands (imports, the pool's start, a kernel, a write), one line and exit 130; a resume
    then finishes the sweep with the rows of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path_factory.mktemp("sig") / "s"
    command = [sys.executable, "-m", "memsim", "sweep", "--model", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo",
               "--ber", "0:0.2:8", "--trials", "3", "--workers", "2", "--quiet", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    print(f"\nSIGINT at {delay:.2f} s: exit {proc.returncode}, stderr {err.strip()[-120:]!r}")
    assert proc.returncode in (0, 130), err
    if proc.returncode == 130:
        assert err.strip().splitlines() == ["memsim: interrupted"], err
    if out.exists():
        resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        rows = (out / "sweep.csv").read_text(encoding="utf-8").splitlines()
        assert len(rows) == 1 + 8 and len(set(rows)) == len(rows)
