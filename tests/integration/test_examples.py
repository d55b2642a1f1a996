"""Each examples/*.py runs and prints exactly its recorded examples/*.out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if p.with_suffix(".out").is_file())


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_output(script):
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == script.with_suffix(".out").read_text(encoding="utf-8")


def test_examples_are_recorded():
    assert SCRIPTS, "examples/ has scripts with recorded .out files"
