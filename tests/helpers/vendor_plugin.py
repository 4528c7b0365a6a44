"""A plugin with required settings, "installed" through a test's entry point.

Like omnicore-stripe, it cannot work without its settings: its gateway and its
event handler raise until ``startup`` has run. ``tests/plugins/test_not_configured.py``
makes it look installed (entry point ``vendor = helpers.vendor_plugin:VendorPlugin``).
"""

from __future__ import annotations

from typing import Any

import attrs
from helpers.gateways import FakeGateway

from omnicore import PluginError, hookimpl

#: What ``tests/plugins/test_not_configured.py`` adds to the ``omnicore`` group.
ENTRY_POINT = ("vendor", "helpers.vendor_plugin:VendorPlugin")


@attrs.frozen
class VendorSettings:
    """``[plugins.vendor]``: two required keys, one optional."""

    api_key: str
    account: str
    sandbox: bool = True


class VendorPlugin:
    """Needs ``plugins.vendor.api_key`` and ``plugins.vendor.account``."""

    name = "vendor"

    def __init__(self) -> None:
        self.settings: VendorSettings | None = None
        self.topics: list[str] = []

    def _started(self) -> VendorSettings:
        if self.settings is None:
            raise PluginError("used before it started", plugin=self.name)
        return self.settings

    @hookimpl
    def register_settings(self) -> type[Any]:
        return VendorSettings

    @hookimpl
    async def startup(self, settings: VendorSettings) -> None:
        self.settings = settings

    @hookimpl
    def register_payment_gateways(self) -> list[Any]:
        self._started()
        return [FakeGateway("vendor")]

    @hookimpl
    def on_event(self, event: Any) -> None:
        self._started()
        self.topics.append(event.topic)
