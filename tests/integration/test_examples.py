"""Each examples/*.py runs in quick mode (``MEMSIM_EXAMPLE_QUICK=1``: embedded images, one trial) and prints
exactly its recorded examples/*.out; its files go to a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses, clusters, whole examples: the full tier

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if p.with_suffix(".out").is_file())


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_output(script, tmp_path):
    env = {**os.environ, "MEMSIM_EXAMPLE_QUICK": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")], capture_output=True, text=True, timeout=600, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == script.with_suffix(".out").read_text(encoding="utf-8")


def test_examples_are_recorded():
    assert SCRIPTS, "examples/ has scripts with recorded .out files"
