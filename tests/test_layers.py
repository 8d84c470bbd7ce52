"""The package's layers hold: no import cycles, no import of a higher layer, a small
public face and small modules (docs/architecture.md).

Imports are read from the source, those inside functions and under TYPE_CHECKING
included: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import session_storage

PACKAGE = Path(session_storage.__file__).resolve().parent
NAME = "session_storage"

# Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"core"},
    {"concurrency"},
    {"codecs"},
    {"backends"},
    {"events"},
    {"operations"},
    {"storage", "sync", "settings", "adapter", "errors", "keys", "redaction"},
    {"admin"},
    {"cli", "integrations", "views", "web", "pytest_plugin", "__init__", "__main__"},
]
MAX_TOP_LEVEL_MODULES = 12
MAX_MODULE_LINES = 450


_TOP = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in modules and m != name}


def _layer(name: str) -> int:
    parts = name.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    for index, layer in enumerate(LAYERS):
        if first in layer:
            return index
    raise AssertionError(f"{name} belongs to no layer: add its folder to LAYERS")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_import_graph_is_read_whole() -> None:
    # Relative, absolute, submodule and function-level imports are all seen.
    graph = _graph()
    assert "session_storage.operations.scope" in graph["session_storage.storage"]
    assert "session_storage.events.log" in graph["session_storage.operations.scope"]
    assert "session_storage.core.errors" in graph["session_storage.core.keys"]
    assert "session_storage.storage" in graph["session_storage.admin.transfer"]


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{name} ({_layer(name)}) imports {target} ({_layer(target)})"
        for name, targets in _graph().items()
        for target in targets
        # Importing a package's own __init__ from inside it is a parent import.
        if _layer(target) > _layer(name) and not name.startswith(target + ".")
    ]
    assert upward == []


def test_there_are_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if node.startswith(nxt + "."):
                continue  # a submodule importing its package's __init__
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_public_face_is_small_and_modules_are_short() -> None:
    modules = _modules()
    top = [name for name in modules if name.count(".") == 1 and name.split(".")[1] in _TOP]
    assert len(top) + 1 <= MAX_TOP_LEVEL_MODULES, sorted(top)  # + the package's __init__
    long = {
        name: lines
        for name, path in modules.items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
