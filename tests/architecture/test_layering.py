"""The shape of the code: packages, their layering and their public faces.

These tests read the sources (``ast``), they do not import them:

- no import cycle between packages at module level (imports under
  ``if TYPE_CHECKING:`` and inside functions are not executed at import time
  and are left out of the cycle check, not out of the privacy check);
- no module imports a private (``_name``) module or name of another package;
- domain packages never import the gateway or the command line; ``store``
  imports no domain; the plugins under ``plugins/`` never import
  ``omnicore.store`` nor anything private.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "omnicore"

#: the edge: they may import any domain, no domain may import them
EDGE = {"gateway", "cli"}
#: the shared foundations every package may import
FOUNDATIONS = {"errors", "money", "serialization", "validators", "config", "events"}


def package_of(path: Path) -> str:
    """``omnicore/stock/_holds.py`` → ``stock``; ``omnicore/commerce.py`` → ``commerce``."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def sources() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree: ast.Module) -> Iterator[ast.ImportFrom | ast.Import]:
    """Imports executed when the module is imported (not TYPE_CHECKING, not in functions)."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.ClassDef):
            pending.extend(node.body)


def omnicore_targets(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """``(dotted module, imported name or None)`` for each omnicore target of ``node``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "omnicore":
                yield alias.name, None
    elif node.module and node.module.split(".")[0] == "omnicore" and node.level == 0:
        for alias in node.names:
            yield node.module, alias.name


def target_package(module: str, name: str | None) -> str | None:
    parts = module.split(".")
    if len(parts) > 1:
        return parts[1]
    if name is not None and ((PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()):
        return name  # from omnicore import stock
    return None  # from omnicore import Commerce, errors …: the public face


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sources():
        me = package_of(path)
        if me == "__init__":
            continue
        for node in module_level_imports(ast.parse(path.read_text())):
            for module, name in omnicore_targets(node):
                other = target_package(module, name)
                if other is not None and other != me:
                    graph[me].add(other)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def all_imports(path: Path) -> Iterator[tuple[int, str, str | None]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module, name in omnicore_targets(node):
                yield node.lineno, module, name


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert "stock" in graph and "carts" in graph, "the graph reader found no packages"
    assert find_cycle(graph) is None, f"import cycle between packages: {find_cycle(graph)}"


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports() -> list[str]:
    found = []
    for path in sources():
        me = package_of(path)
        for line, module, name in all_imports(path):
            other = target_package(module, name)
            if other is None or other == me:
                continue
            private = [p for p in module.split(".")[1:] if is_private(p)]
            if name is not None and is_private(name):
                private.append(name)
            if private:
                found.append(f"{path.relative_to(ROOT)}:{line}: {module} {name} ({private})")
    return found


def test_no_package_imports_a_private_name_of_another() -> None:
    assert private_imports() == []


def test_domains_never_import_the_edge() -> None:
    offenders = []
    for path in sources():
        me = package_of(path)
        if me in EDGE or me in {"commerce", "testing", "demo", "__init__"}:
            continue
        for line, module, name in all_imports(path):
            if target_package(module, name) in EDGE:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert offenders == []


def test_store_imports_no_domain() -> None:
    offenders = []
    for path in (PACKAGE / "store").rglob("*.py"):
        if "versions" in path.parts:
            continue
        for line, module, name in all_imports(path):
            other = target_package(module, name)
            if other not in (None, "store", *FOUNDATIONS):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert offenders == []


@pytest.mark.parametrize("plugin", sorted(p.name for p in (ROOT / "plugins").glob("omnicore-*")))
def test_plugins_use_only_the_public_api(plugin: str) -> None:
    offenders = []
    for path in (ROOT / "plugins" / plugin).rglob("*.py"):
        for line, module, name in all_imports(path):
            parts = module.split(".")
            if parts[1:2] == ["store"] or any(p.startswith("_") for p in parts) or (
                    name is not None and name.startswith("_")):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module} {name}")
    assert offenders == []
