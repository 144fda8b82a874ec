"""The package's layout: no import cycles, lazy subpackages, small modules.

The import graph is read from the source (every ``import`` statement, also those inside
functions, which are how cycles usually hide), so a cycle fails here even when Python
would happen to resolve it at run time.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scratchconv"
MAX_LINES = 420  # "a file that passes 400 lines is usually two files" (STYLE.md), with a little slack


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules():
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name, path, modules):
    """The scratchconv modules that module ``name`` (file ``path``) imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            # `from a import b` takes b from module a, or imports module a.b when b is one (then
            # it needs only a's package initialised, which Python does first for every import)
            subs = [f"{source}.{alias.name}" for alias in node.names]
            targets = subs + ([source] if any(s not in modules for s in subs) else [])
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph():
    modules = all_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state = {}  # module -> "open" while on the stack, "done" after

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [])
            if cycle:
                return cycle
    return None


def test_the_graph_is_read():
    """The parser sees the imports it should (else 'no cycle' would prove nothing)."""
    graph = import_graph()
    assert "scratchconv.kernels.standard_rows" in graph["scratchconv.kernels.standard"]
    assert "scratchconv.kernels.activations" in graph["scratchconv.layers.conv"]
    assert "scratchconv.nn.checkpoint" in graph["scratchconv.nn.model"]  # an import inside a method
    assert "scratchconv.layers.conv" in graph["scratchconv.layers.core"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_kernels_import_nothing_above_them():
    """kernels -> layers -> nn -> cli: a kernel module never imports a layer, nn or the CLI."""
    above = ("scratchconv.layers", "scratchconv.nn", "scratchconv.cli", "scratchconv.bench", "scratchconv.params")
    for name, imports in import_graph().items():
        if name.startswith("scratchconv.kernels"):
            bad = sorted(i for i in imports if i.startswith(above))
            assert not bad, f"{name} imports {bad}"
        if name.startswith("scratchconv.layers"):
            bad = sorted(i for i in imports if i.startswith(above[1:]))
            assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(all_modules()))
def test_modules_stay_small(name):
    lines = len(all_modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it (one module, one job)"


def test_subpackages_are_lazy_attributes():
    """``import scratchconv`` gives scratchconv.layers, .nn, .naive (as numpy.linalg after
    ``import numpy``), loads them only on first use, and never imports TensorFlow."""
    code = (
        "import sys, scratchconv\n"
        "lazy = ('layers', 'nn', 'naive', 'params', 'data', 'bench', 'cli')\n"
        "assert not [m for m in lazy if 'scratchconv.' + m in sys.modules], sorted(sys.modules)\n"
        "assert set(lazy) <= set(dir(scratchconv))\n"
        "print(scratchconv.layers.Conv2D.__name__, scratchconv.nn.Sequential.__name__,\n"
        "      scratchconv.naive.conv2d.__module__, scratchconv.params.conv2d_params(3, 3, 3, 4, use_bias=False))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "try:\n"
        "    scratchconv.no_such_thing\n"
        "except AttributeError as e:\n"
        "    print('AttributeError:', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "Conv2D Sequential scratchconv.kernels.standard 108"
    assert second == "AttributeError: module 'scratchconv' has no attribute 'no_such_thing'"
