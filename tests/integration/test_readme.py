"""Every Python snippet of the README runs as written (in a fresh namespace, in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import data_root

pytestmark = pytest.mark.slow  # subprocesses, clusters, whole examples: the full tier

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"snippet{i}" for i in range(len(BLOCKS))])
def test_readme_snippet_runs(code, tmp_path, monkeypatch):
    if '"fashion-mnist"' in code or "trials=3" in code:
        if not (data_root() / "fashion-mnist").is_dir():
            pytest.skip(f"needs fashion-mnist in {data_root()} ($MEMSIM_DATA or ../shared/datasets)")
        monkeypatch.setenv("MEMSIM_DATA", str(data_root()))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{README.name} snippet", "exec"), {"__name__": "readme"})


def test_the_readme_has_snippets():
    assert len(BLOCKS) >= 4
