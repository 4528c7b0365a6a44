"""pyproject.toml declares what omnicore imports, and pins what its fast paths rely on.

- every third-party module imported by ``omnicore/`` comes from a distribution that
  pyproject.toml declares: in ``dependencies`` for the core, in ``dependencies`` or the
  ``server`` extra for the gateway (``omnicore/gateway/``), which only that extra
  installs (``omnicore.testing`` may also use the ``dev`` extra's test libraries, which
  it imports only when a test uses them);
- graphql-core and SQLAlchemy, whose internals the fast paths use, have an upper bound,
  and the versions installed here (the ones the suite tests) are within the pins.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "omnicore"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(group: str) -> dict[str, Requirement]:
    listed = (PROJECT["dependencies"] if group == "core"
              else PROJECT["optional-dependencies"][group])
    found = {}
    for line in listed:
        requirement = Requirement(line)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def third_party_imports() -> Iterator[tuple[Path, str]]:
    """``(module file, top-level name)`` of every import of another distribution, those
    inside functions and under ``TYPE_CHECKING`` included."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "omnicore" and top not in sys.stdlib_module_names:
                    yield path, top


def distributions_of(module: str) -> set[str]:
    return {canonicalize_name(d) for d in
            importlib.metadata.packages_distributions().get(module, [])}


def test_every_import_is_declared() -> None:
    core = set(requirements("core"))
    server = core | set(requirements("server"))
    undeclared = []
    for path, module in third_party_imports():
        relative = path.relative_to(ROOT)
        allowed = server if relative.parts[1] == "gateway" else core
        if relative.name == "testing.py":  # httpx, pytest: imported on use, in test runs
            allowed = core | set(requirements("dev"))
        provided = distributions_of(module)
        assert provided, f"{relative}: no installed distribution provides {module!r}"
        if not provided & allowed:
            where = "dependencies or the server extra" if allowed is server else "dependencies"
            undeclared.append(f"{relative}: {module} ({', '.join(sorted(provided))}) is not "
                              f"in {where} of pyproject.toml")
    assert undeclared == []


def test_gateway_only_libraries_are_in_the_server_extra() -> None:
    """orjson and anyio are imported by the gateway alone: a core install has no use
    for them."""
    outside = {module for path, module in third_party_imports()
               if path.relative_to(PACKAGE).parts[0] != "gateway"}
    for module in ("orjson", "anyio", "graphql"):
        assert module not in outside
        (name,) = distributions_of(module)
        assert name in requirements("server") and name not in requirements("core"), name


@pytest.mark.parametrize(("distribution", "group", "upper"), [
    ("graphql-core", "server", "3.3"),  # omnicore.gateway.execution
    ("sqlalchemy", "core", "2.2"),      # omnicore.store.prepared
])
def test_the_fast_paths_pin_what_they_rely_on(distribution: str, group: str,
                                              upper: str) -> None:
    requirement = requirements(group)[distribution]
    assert f"<{upper}" in str(requirement.specifier), requirement
    installed = importlib.metadata.version(distribution)
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed, outside {requirement}: the suite tests "
        "another version than the one omnicore allows")
