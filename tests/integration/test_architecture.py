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
