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

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
