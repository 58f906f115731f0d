"""The package's layering: library <- lab <- CLI, light `import optimlab`, no import cycles.

Two independent views: what a fresh interpreter actually loads when importing each module, and the
module import graph read from the source with `ast` (imports inside functions included).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "optimlab"
LIBRARY = ("optimlab", "optimlab.optim", "optimlab.schedules", "optimlab.lr_range", "optimlab.curriculum",
           "optimlab.checks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = sorted(module_name(p) for p in PKG.rglob("*.py"))


def in_layer(mod: str, layer: str) -> bool:
    return mod == layer or mod.startswith(layer + ".")


def is_library(mod: str) -> bool:
    return mod == "optimlab" or any(in_layer(mod, lay) for lay in LIBRARY[1:])


def imports_of(path: Path, mod: str) -> set[str]:
    """Modules of optimlab that ``mod`` imports anywhere in its source (functions included)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for a in node.names:  # "from pkg import submodule" imports the submodule
                sub = f"{target}.{a.name}"
                out.add(sub if sub in MODULES else target)
    return {m for m in out if in_layer(m, "optimlab")}


def graph() -> dict[str, set[str]]:
    g = {}
    for p in PKG.rglob("*.py"):
        m = module_name(p)
        g[m] = {t for t in imports_of(p, m) if t != m}
    return g


def test_every_module_is_in_the_graph_and_known():
    g = graph()
    unknown = {(m, t) for m, ts in g.items() for t in ts if t not in MODULES}
    assert not unknown, f"imports of modules that do not exist: {sorted(unknown)}"
    assert {"optimlab.cli", "optimlab.lab.result", "optimlab.lab.runner", "optimlab.lab.store"} <= set(g)


def test_layers_import_one_way():
    bad = []
    for m, targets in graph().items():
        for t in targets:
            if is_library(m) and (in_layer(t, "optimlab.lab") or t == "optimlab.cli"):
                bad.append(f"library {m} imports {t}")
            if in_layer(m, "optimlab.lab") and t == "optimlab.cli":
                bad.append(f"lab {m} imports the CLI")
    assert not bad, bad


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    # a package's __init__ re-exporting its submodules is not a cycle unless a submodule imports the package
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


_PROBE = r"""
import importlib, json, sys
import torch  # torch may import numpy or tqdm itself: count only what the module adds
name = sys.argv[1]
before = set(sys.modules)
importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _loaded_by(name: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, name], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_optimlab_is_light():
    new = _loaded_by("optimlab")
    heavy = {m for m in new if m.split(".")[0] in ("numpy", "matplotlib", "sklearn", "typer", "click", "tqdm",
                                                   "filelock")}
    ours = {m for m in new if in_layer(m, "optimlab.lab") or m == "optimlab.cli"}
    assert not heavy and not ours, sorted(heavy | ours)


@pytest.mark.parametrize("layer", ["optimlab.optim", "optimlab.schedules", "optimlab.lr_range", "optimlab.curriculum",
                                   "optimlab.checks", "optimlab.lab"])
def test_each_module_imports_alone_and_respects_the_layers(layer):
    """Every module of a layer imports in a fresh interpreter, loading nothing from the layers above it."""
    import_all = ("import importlib, json, sys\n"
                  "mods = json.loads(sys.argv[1]); seen = {}\n"
                  "for m in mods:\n"
                  "    importlib.import_module(m)\n"
                  "print(json.dumps(sorted(k for k in sys.modules if k.startswith('optimlab'))))\n")
    mods = [m for m in MODULES if in_layer(m, layer)]
    assert mods
    out = subprocess.run([sys.executable, "-c", import_all, json.dumps(mods)], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "optimlab.cli" not in loaded
    if layer != "optimlab.lab":
        assert not {m for m in loaded if in_layer(m, "optimlab.lab")}, layer


@pytest.mark.parametrize("name", ["optimlab.lab", "optimlab.lab.ray_executor", "optimlab.lab.tracking", "optimlab.cli"])
def test_optional_engines_are_imported_only_when_used(name):
    """Ray, MLflow and TensorBoard are extras: importing the lab, its Ray and tracking modules or the CLI
    loads none of them (they are imported when an executor or a tracker is built)."""
    loaded = {m.split(".")[0] for m in _loaded_by(name)}
    assert not loaded & {"ray", "mlflow", "tensorboard"}, sorted(loaded & {"ray", "mlflow", "tensorboard"})


def test_cli_imports():
    assert "optimlab.cli" in _loaded_by("optimlab.cli")
