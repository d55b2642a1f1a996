"""Result folders are checked, never trusted: resume, report and plot refuse a damaged folder in one line naming the
file, the line and the column, and append nothing to it (issue 24, item 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from memsim.cli.app import main
from memsim.errors import ResultError
from memsim.experiment.results import read_meta, read_results
from memsim.experiment.sweep import SweepSpec, read_rows, run_sweep
from memsim.report.tradeoff import TradeoffReport

pytestmark = pytest.mark.jit  # runs sweeps: the engine at compiled speed

SPEC = SweepSpec(models=("fcnn_cel_ber0",), bers=(0.0, 0.05, 0.1), dataset="fashion-mnist-demo", limit=40)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "done"
    run_sweep(SPEC, out, progress=False)
    return out


@pytest.fixture
def folder(finished, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    return copy


def _lines(folder: Path) -> list[str]:
    return (folder / "sweep.csv").read_text(encoding="utf-8").splitlines(keepends=True)


def _write(folder: Path, lines: list[str]) -> None:
    (folder / "sweep.csv").write_text("".join(lines), encoding="utf-8")


def _refused_everywhere(folder: Path, *fragments: str) -> None:
    """Resume, report and plot all refuse the folder with the same message; the folder is unchanged."""
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for attempt in (
        lambda: run_sweep(SPEC, folder, resume=True, progress=False),
        lambda: TradeoffReport.from_dir(folder),
        lambda: read_rows(folder),
    ):
        with pytest.raises(ResultError) as info:
            attempt()
        message = str(info.value)
        assert "\n" not in message
        for fragment in fragments:
            assert fragment in message, (fragment, message)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing appended or rewritten


def _set(folder: Path, line: int, column: str, value: str) -> None:
    lines = _lines(folder)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[line - 1].rstrip("\n").split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields) + "\n"
    _write(folder, lines)


def test_binary_csv(folder):
    (folder / "sweep.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff" * 20)
    _refused_everywhere(folder, "sweep.csv", "not a UTF-8")


@pytest.mark.parametrize("config", ["a string", None, [1, 2]])
def test_meta_whose_config_is_not_a_mapping(folder, config):
    meta = json.loads((folder / "sweep.json").read_text())
    meta["config"] = config
    (folder / "sweep.json").write_text(json.dumps(meta))
    with pytest.raises(ResultError, match=r"sweep.json: field 'config' must be a mapping"):
        run_sweep(SPEC, folder, resume=True, progress=False)
    with pytest.raises(ResultError, match=r"sweep\.json: field 'config'"):
        read_meta(folder)


def test_meta_not_json(folder):
    (folder / "sweep.json").write_text("{config: oops")
    with pytest.raises(ResultError, match=r"sweep\.json: not readable as JSON"):
        run_sweep(SPEC, folder, resume=True, progress=False)


def test_half_line_mid_file(folder):
    lines = _lines(folder)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"
    _write(folder, lines)
    _refused_everywhere(folder, "sweep.csv: line 3:", "fields, the header has")


def test_half_last_line_is_a_kill_and_resumes(folder, finished):
    lines = _lines(folder)
    _write(folder, [*lines[:-1], lines[-1][:20]])  # cut mid-write, no newline
    rows = run_sweep(SPEC, folder, resume=True, progress=False)
    assert [r["cell"] for r in rows] == [r["cell"] for r in read_rows(finished)]
    assert (folder / "sweep.csv").read_text().endswith("\n")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("accuracy", "nan", "column accuracy: empty or NaN"),
        ("accuracy", "1.7", "column accuracy: 1.7 is outside [0, 1]"),
        ("accuracy", "high", "column accuracy: 'high' is not a number"),
        ("ber", "inf", "column ber: inf is outside [0, 1]"),
        ("trials", "2.5", "column trials: 2.5 is not a whole number"),
        ("n_images", "", "column n_images: empty or NaN"),
    ],
)
def test_bad_numbers(folder, column, value, fragment):
    _set(folder, 3, column, value)
    _refused_everywhere(folder, "sweep.csv: line 3, " + fragment)


def test_duplicate_row(folder):
    lines = _lines(folder)
    _write(folder, [*lines, lines[1]])
    _refused_everywhere(folder, f"line {len(lines) + 1}: cell", "repeats line 2")


def test_row_outside_the_grid(folder):
    _set(folder, 2, "cell", "fcnn_cel_ber0|ber=0.3")
    with pytest.raises(ResultError, match=r"line 2: cell 'fcnn_cel_ber0\|ber=0.3' is not in this sweep's grid"):
        run_sweep(SPEC, folder, resume=True, progress=False)


@pytest.mark.parametrize("change", ["foreign", "extra", "missing"])
def test_header_not_this_sweeps(folder, change):
    lines = _lines(folder)
    header = lines[0].rstrip("\n").split(",")
    if change == "foreign":
        lines = ["a,b,c\n", "1,2,3\n"]
    elif change == "extra":
        lines = [",".join([*header, "note"]) + "\n"] + [line.rstrip("\n") + ",x\n" for line in lines[1:]]
    else:
        i = header.index("flip_rate")
        lines = [",".join(f for j, f in enumerate(line.rstrip("\n").split(",")) if j != i) + "\n" for line in lines]
    _write(folder, lines)
    with pytest.raises(ResultError, match="line 1: its columns are not this sweep's"):
        run_sweep(SPEC, folder, resume=True, progress=False)
    if change == "foreign":
        with pytest.raises(ResultError, match="missing column"):
            TradeoffReport.from_dir(folder)


def test_empty_csv(folder):
    (folder / "sweep.csv").write_bytes(b"")
    _refused_everywhere(folder, "sweep.csv: empty")


def test_byte_order_mark_is_accepted(folder, finished):
    (folder / "sweep.csv").write_bytes(b"\xef\xbb\xbf" + (folder / "sweep.csv").read_bytes())
    assert read_results(folder) == read_rows(finished)
    TradeoffReport.from_dir(folder)


def test_cli_names_the_file_line_and_column(folder, capsys):
    _set(folder, 2, "accuracy", "1.7")
    for argv in (["report", str(folder)], ["plot", str(folder), "-o", str(folder / "p.png")]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code != 0 and "Traceback" not in err
        assert "sweep.csv: line 2, column accuracy: 1.7 is outside [0, 1]" in err
    assert not (folder / "p.png").exists()


def test_blank_lines_at_the_end_are_not_rows(folder, finished):
    (folder / "sweep.csv").write_bytes((folder / "sweep.csv").read_bytes() + b"\n\n")
    assert read_results(folder) == read_rows(finished)
    lines = _lines(folder)
    _write(folder, [*lines[:2], "\n", *lines[2:]])
    _refused_everywhere(folder, "line 3: empty line inside the results")


def test_resume_after_blank_lines_appends_after_the_last_row(folder, finished):
    lines = _lines(folder)
    _write(folder, [*lines[:-1], "\n", "\n"])  # the last row lost, blank lines left
    rows = run_sweep(SPEC, folder, resume=True, progress=False)
    assert sorted(r["cell"] for r in rows) == sorted(r["cell"] for r in read_rows(finished))
    assert "\n\n" not in (folder / "sweep.csv").read_text()


def test_a_finished_sweep_is_in_grid_order_whatever_order_cells_finished(folder, finished):
    """Workers append rows as cells finish; the finished file is rewritten in grid order (issue 24, item 8)."""
    lines = _lines(folder)
    _write(folder, [lines[0], lines[3], lines[1]])  # two cells done, out of order; the middle one still to run
    rows = run_sweep(SPEC, folder, resume=True, progress=False)
    assert [r["ber"] for r in rows] == ["0.0", "0.05", "0.1"]
    assert (folder / "sweep.csv").read_bytes() == (finished / "sweep.csv").read_bytes()
