"""The layering rule of docs/development.md, checked over the import graph of the source:
no import runs up the layers, and no two units import each other, even indirectly."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "claybridge"

# Each unit (a package, or a module at the top of claybridge) and its layer; a unit
# may import its own layer (without a cycle) and the layers below, never above.
LAYERS: dict[str, int] = {
    **dict.fromkeys(
        (
            "errors",
            "ids",
            "clock",
            "jsontext",
            "redact",
            "security",
            "secretbox",
            "diff",
            "templates",
            "logging",
            "asgi",
            "config",
            "config_file",
            "settings_reference",
            "core",
        ),
        0,
    ),
    "mapping": 1,
    "storage": 2,
    "records": 3,
    **dict.fromkeys(
        ("actions", "ingest", "delivery", "clay", "workflows", "operations", "setup", "views"), 4
    ),
    **dict.fromkeys(("app", "state", "tuning", "web", "cli", "__main__", "__init__"), 5),
}
NAMES = {0: "pure values", 1: "model", 2: "storage", 3: "records", 4: "services", 5: "entry"}


def _unit(path: Path) -> str:
    relative = path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path) -> set[str]:
    """The claybridge units ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "claybridge" and len(parts) > 1 and parts[1] in LAYERS:
                found.add(parts[1])
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the files that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # Alembic's revision files import only storage types
        source = _unit(path)
        for target in _imports(path) - {source}:
            graph[source][target].append(str(path.relative_to(SOURCE)))
    return graph


def test_every_unit_has_a_layer() -> None:
    """A new package or top-level module is given its layer here before it lands."""
    units = {_unit(p) for p in SOURCE.rglob("*.py") if "migrations" not in p.parts}
    assert units - set(LAYERS) == set()


def test_no_import_runs_up_the_layers() -> None:
    """Each unit imports only its own layer and the layers below."""
    upward = [
        f"{source} ({NAMES[LAYERS[source]]}) imports {target} ({NAMES[LAYERS[target]]}) "
        f"in {', '.join(files)}"
        for source, targets in _graph().items()
        for target, files in targets.items()
        if LAYERS[target] > LAYERS[source]
    ]
    assert upward == []


def test_no_two_units_import_each_other() -> None:
    """The unit import graph has no cycle."""
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(unit: str, path: list[str]) -> None:
        state[unit] = 1
        for target in graph.get(unit, {}):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[unit] = 2

    for unit in sorted(LAYERS):
        if unit not in state:
            visit(unit, [unit])
    assert cycles == []
