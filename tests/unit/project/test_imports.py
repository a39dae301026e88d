"""No import cycle in the layer (layers/shared) or the CLI (src): every import, lazy ones included, counts."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

from tests.support.repo import REPO_ROOT

SOURCE_ROOTS = [REPO_ROOT / "layers" / "shared", REPO_ROOT / "src"]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for root in SOURCE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            modules[module_name(root, path)] = path
    return modules


def imported_by(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file (a lazy import inside a function is a cycle too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from package import module` imports the module; `from module import name` the module itself.
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_by(name, path, modules) for name, path in modules.items()}


def test_the_graph_sees_the_project() -> None:
    graph = import_graph()
    assert {"httpendpoint.core.limits", "httpendpoint.trigger.script_cache"} <= graph["httpendpoint.trigger.router"]
    assert "httpep.targets" in graph["httpep.cli"]


def test_there_is_no_import_cycle() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_a_cycle_would_be_found(tmp_path: Path) -> None:
    """The checker itself: two modules importing each other, one lazily, are a cycle."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from .a import thing\n")
    modules = {module_name(tmp_path, path): path for path in tmp_path.rglob("*.py")}
    graph = {name: imported_by(name, path, modules) for name, path in modules.items()}
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
