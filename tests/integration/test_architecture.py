"""Import hygiene and installed data: what a user gets from `pip install`."""

from __future__ import annotations

import subprocess
import sys


def test_import_memsim_loads_neither_torch_nor_matplotlib():
    code = (
        "import sys, memsim, memsim.profile, memsim.cli.main\n"
        "p = memsim.load_profile('sram_14nm_chandramoorthy2019'); p.at(vdd_over_vmin=0.9)\n"
        "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shipped_profiles_are_found_wherever_memsim_is_installed(tmp_path):
    """Run from an unrelated directory: the profiles come with the package (wheel) or the checkout."""
    code = "import memsim; print(len(memsim.available_profiles())); print(memsim.profile.profile_dirs())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.splitlines()[0]) >= 4, proc.stdout


def test_memsim_profile_path_adds_user_directories(tmp_path):
    import os

    (tmp_path / "mine.yaml").write_text(
        (__import__("memsim").profile.catalog.profile_path("rram_hfo2_2t2r_hirtzlin2019"))
        .read_text()
        .replace("name: rram_hfo2_2t2r_hirtzlin2019", "name: mine")
    )
    env = {**os.environ, "MEMSIM_PROFILE_PATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "memsim", "at", "mine", "--json"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert '"profile": "mine"' in proc.stdout


def _imports(path):
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


# Imports flow down the pipeline: a package may not import from the ones listed for it.
FORBIDDEN = {
    "memsim/profile": (
        "memsim.memory",
        "memsim.bnn",
        "memsim.train",
        "memsim.cli",
        "memsim.plot",
        "torch",
        "matplotlib",
    ),
    "memsim/memory": ("memsim.bnn", "memsim.train", "memsim.cli", "memsim.plot", "torch", "matplotlib"),
    "memsim/bnn": ("memsim.train", "memsim.cli", "memsim.plot", "torch", "matplotlib"),
    "memsim/datasets.py": ("memsim.train", "memsim.cli", "torch", "matplotlib"),
    "memsim/bits.py": ("memsim.profile", "memsim.memory", "memsim.bnn", "torch", "matplotlib"),
    "memsim/rng.py": ("memsim.profile", "memsim.memory", "memsim.bnn", "torch", "matplotlib"),
}


def test_imports_flow_down_the_pipeline():
    """An AST scan: no module imports from a higher layer; torch only in memsim/train, matplotlib only in plot."""
    from pathlib import Path

    import memsim

    root = Path(memsim.__file__).resolve().parent.parent
    bad = []
    for prefix, forbidden in FORBIDDEN.items():
        target = root / prefix
        files = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
        for path in files:
            for name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    bad.append(f"{path.relative_to(root)} imports {name}")
    for path in sorted((root / "memsim").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for name in _imports(path):
            if name.split(".")[0] == "torch" and not rel.startswith("memsim/train/"):
                bad.append(f"{rel} imports torch")
            if name.split(".")[0] == "matplotlib" and rel != "memsim/plot.py":
                bad.append(f"{rel} imports matplotlib")
    assert not bad, bad
