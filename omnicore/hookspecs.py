"""The hook specifications, importable where plugin authors expect them.

They live in ``omnicore.plugins.hookspecs``; this module is that module's
public alias (``from omnicore.hookspecs import hookimpl`` keeps working).
"""

from __future__ import annotations

from omnicore.plugins.hookspecs import *  # noqa: F403
from omnicore.plugins.hookspecs import __all__ as __all__
