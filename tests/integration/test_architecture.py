"""Import hygiene and installed data: what a user gets from `pip install`."""

from __future__ import annotations

import subprocess
import sys


def test_import_memsim_loads_neither_torch_nor_matplotlib():
    code = (
        "import sys, memsim, memsim.profile, memsim.cli.app\n"
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


def _imports(path, module):
    """Absolute names imported by a module, lazy (function-level) imports included, TYPE_CHECKING ones not."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:  # `from memsim.memory import kernels` imports a submodule, not the package
                yield f"{base}.{alias.name}"


def _modules():
    from pathlib import Path

    import memsim

    root = Path(memsim.__file__).resolve().parent.parent
    out = {}
    for path in sorted((root / "memsim").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _graph():
    """Edges between memsim modules (a name that is not a module resolves to its package)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        for imported in _imports(path, name):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("memsim"):
                edges.add(target)
        graph[name] = edges
    return graph


#: The pipeline's layers, bottom up. A module imports only from its own layer or lower ones.
LAYERS = [
    (
        "memsim.errors",
        "memsim.config",
        "memsim.bits",
        "memsim.rng",
        "memsim.fileio",
        "memsim.interrupts",
        "memsim._version",
    ),
    ("memsim.profile", "memsim.datasets"),
    ("memsim.memory",),
    ("memsim.bnn",),
    ("memsim.experiment", "memsim.train", "memsim.qnn"),
    ("memsim.report",),
    ("memsim.demo",),
    ("memsim.cli", "memsim.__main__"),
]


def _layer(module):
    if module == "memsim":
        return len(LAYERS)  # the top-level namespace re-exports everything
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_imports_flow_down_the_pipeline():
    """No module imports from a higher layer; experiments and training do not import each other."""
    bad = []
    for module, edges in _graph().items():
        for target in edges:
            if _layer(target) > _layer(module):
                bad.append(f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})")
            pair = {module.split(".")[1] if "." in module else "", target.split(".")[1] if "." in target else ""}
            if pair == {"experiment", "train"}:
                bad.append(f"{module} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_lazy_ones_included():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(cycles)


def test_torch_only_in_train_and_qnn_and_matplotlib_only_in_report_plots():
    bad = []
    for module, path in _modules().items():
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top == "torch" and not module.startswith(("memsim.train", "memsim.qnn")):
                bad.append(f"{module} imports torch")
            if top == "matplotlib" and module != "memsim.report.plots":
                bad.append(f"{module} imports matplotlib")
            if top in ("simpy", "dask") and not module.startswith(("memsim.memory.timing", "memsim.experiment")):
                bad.append(f"{module} imports {top}")
    assert not bad, bad
