"""plugins: the hook specifications (``hookspecs``) and the host that calls them.

``PluginHost`` owns the pluggy manager of one ``Commerce`` and offers one typed
method per hook; ``Answer`` is a hook's result with the plugin that returned it;
``NotConfigured`` an installed plugin left out because its settings are absent.
"""

from __future__ import annotations

from omnicore.plugins._host import (
    ENTRY_POINT_GROUP,
    Answer,
    NotConfigured,
    PluginHost,
    plugin_name,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Answer",
    "NotConfigured",
    "PluginHost",
    "plugin_name",
]
