"""Every hook is exercised by a test that implements it (as datasette checks its hooks).

A test names the hooks it exercises with ``@pytest.mark.plugin_hook(...)``; while it
runs, pluggy's call monitoring records what each ``PluginHost`` dispatches, and the
test fails unless each named hook reached an implementation defined under
``tests/`` (``tests/helpers/hook_coverage.py``). Here: every hook of
``hookspecs.py`` is named by at least one such marker. The reference in
docs/plugins.md is checked by ``tests/docs/test_docs.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers.hook_coverage import Calls, defined_in_tests, exercised, marked_hooks, watch

from omnicore import hookimpl
from omnicore.plugins import PluginHost, hookspecs
from omnicore.testing import RecordingPlugin

MARKED = marked_hooks()


@pytest.mark.parametrize("hook", hookspecs.HOOK_NAMES)
def test_hook_is_exercised_by_a_test_that_implements_it(hook: str) -> None:
    assert hook in MARKED, (
        f"no test is marked @pytest.mark.plugin_hook({hook!r}): add one that implements "
        f"{hook} and calls it the way omnicore does (see tests/plugins/test_hooks.py)")


def test_only_hooks_that_exist_are_marked() -> None:
    unknown = {hook: files for hook, files in MARKED.items() if hook not in hookspecs.HOOK_NAMES}
    assert not unknown, f"plugin_hook markers name hooks hookspecs.py lacks: {unknown}"


class Here:
    name = "here"

    @hookimpl
    def validate_cart(self, cart: Any) -> None:
        return None


async def test_the_check_sees_what_pluggy_dispatches() -> None:
    calls: Calls = []
    host = PluginHost(plugins=[Here(), RecordingPlugin()], load_entry_points=False)
    watch(host, calls)
    await host.validate_cart(commerce=None, cart=None)
    assert exercised(calls, "validate_cart")
    assert not exercised(calls, "on_event")  # never called
    # an implementation outside tests/ does not count (RecordingPlugin: omnicore.testing)
    [recorder] = host.pm.hook.on_event.get_hookimpls()
    assert not defined_in_tests(recorder)
    assert not exercised([("on_event", [recorder])], "on_event")
