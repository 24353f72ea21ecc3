"""The library's imports run one way: no cycle, no benchmark, no numba to read a table."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import footfall
import footfall.count
import footfall.zones

SRC = Path(footfall.__file__).resolve().parent


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Module -> the footfall modules it imports anywhere (lazy imports in functions too)."""
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            # a package's __init__ importing its own submodules is not a cycle
            if d.startswith(m + "."):
                continue
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_is_read_from_the_source():
    graph = _graph()
    assert "footfall.count._run" in graph["footfall.count.engines.dask"] or (
        "footfall.count._map" in graph["footfall.count.engines.dask"]
    )
    assert "footfall.tables" in graph["footfall.ranking"]


# Cycles known and not yet broken: (importer, imported), each edge asserted to exist.
_KNOWN: set[tuple[str, str]] = set()


def test_no_import_cycle_between_library_modules():
    graph = _graph()
    # a cycle made on purpose must be found
    assert _cycle({**graph, "footfall.tables": graph["footfall.tables"] | {"footfall.ranking"}})
    for a, b in _KNOWN:
        assert b in graph[a]  # drop the entry once the cycle is broken
        graph[a] = graph[a] - {b}
    assert _cycle(graph) is None


def test_the_library_never_imports_the_benchmark():
    offenders = [
        m
        for m, deps in _graph().items()
        if not m.startswith(("footfall.bench", "footfall.cli.bench"))
        and any(d == "footfall.bench" or d.startswith("footfall.bench.") for d in deps)
    ]
    assert offenders == []


def test_reading_tables_does_not_need_the_count():
    graph = _graph()
    for m in ("footfall.tables", "footfall.indicators", "footfall.ranking", "footfall.report"):
        reach, todo = set(), [m] + [k for k in graph if k.startswith(m + ".")]
        while todo:
            for d in graph[todo.pop()]:
                if d not in reach:
                    reach.add(d)
                    todo.append(d)
        assert not any(d == "footfall.count" or d.startswith("footfall.count.") for d in reach), m


def test_importing_tables_does_not_load_numba():
    code = "import sys, footfall.tables, footfall.ranking; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_type_checking_imports_and_all_agree_with_lazy():
    for package in (footfall, footfall.count, footfall.zones):
        tree = ast.parse(Path(package.__file__).read_text())
        block = next(
            n
            for n in tree.body
            if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"
        )
        typed = {
            a.name: node.module
            for node in ast.walk(block)
            if isinstance(node, ast.ImportFrom)
            for a in node.names
        }
        lazy = package._LAZY
        assert set(typed) == set(lazy), package.__name__
        for name, module in typed.items():  # each from a module that defines it
            assert hasattr(__import__(module, fromlist=[name]), name), (module, name)
        assert set(package.__all__) - set(lazy) <= {
            "FootfallError",
            "IndexBuildError",
            "InputError",
            "ZoneError",
            "__version__",
        }
        assert set(lazy) <= set(package.__all__)
