"""Proof that every hook is exercised by a test that implements it.

A test that exercises hooks says so with ``@pytest.mark.plugin_hook("validate_cart", …)``.
While it runs, every ``PluginHost`` it creates is watched through pluggy's own
call monitoring (``pm.add_hookcall_monitoring``); when it ends, each hook it names
must have been dispatched, through pluggy, to at least one implementation
defined under ``tests/``. ``tests/plugins/test_hook_coverage.py`` then checks that
every hook of ``omnicore.hookspecs`` is named by such a marker.

The fixture ``plugin_hooks_exercised`` is imported by ``tests/conftest.py``.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from omnicore.plugins import PluginHost

TESTS = Path(__file__).resolve().parents[1]
MARKER = "plugin_hook"

#: ``(hook, the implementations pluggy was about to call)`` for each dispatch seen.
Calls = list[tuple[str, list[pluggy.HookImpl]]]


def watch(host: PluginHost, calls: Calls) -> None:
    """Record every dispatch of ``host``'s manager in ``calls``."""

    def before(hook: str, impls: list[pluggy.HookImpl], kwargs: Any) -> None:
        calls.append((hook, list(impls)))

    def after(outcome: Any, hook: str, impls: list[pluggy.HookImpl], kwargs: Any) -> None:
        pass

    host.pm.add_hookcall_monitoring(before, after)


def defined_in_tests(impl: pluggy.HookImpl) -> bool:
    """Whether the implementation's source file is under ``tests/``."""
    try:
        source = inspect.getsourcefile(inspect.unwrap(impl.function))
    except TypeError:
        return False
    return source is not None and Path(source).resolve().is_relative_to(TESTS)


def exercised(calls: Calls, hook: str) -> bool:
    """Whether ``hook`` was dispatched to an implementation defined in the tests."""
    return any(name == hook and any(defined_in_tests(impl) for impl in impls)
               for name, impls in calls)


@pytest.fixture(autouse=True)
def plugin_hooks_exercised(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """For a test marked ``plugin_hook(...)``: fail it unless each named hook was called."""
    hooks = [hook for mark in request.node.iter_markers(MARKER) for hook in mark.args]
    if not hooks:
        yield
        return
    calls: Calls = []
    build = PluginHost.__init__

    def watched_init(self: PluginHost, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        watch(self, calls)

    monkeypatch.setattr(PluginHost, "__init__", watched_init)
    yield
    missing = [hook for hook in hooks if not exercised(calls, hook)]
    if missing:
        pytest.fail(f"marked plugin_hook{tuple(hooks)!r}, but no implementation under "
                    f"tests/ of {', '.join(missing)} was called through pluggy")


def marked_hooks(root: Path = TESTS) -> dict[str, list[str]]:
    """Hook name → the test files that mark a test ``plugin_hook(name)`` (read with ast)."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == MARKER):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.setdefault(arg.value, []).append(str(path.relative_to(root)))
    return found
