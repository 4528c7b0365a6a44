"""``[gateway]`` of omnicore.toml: the limits of the query path, introspection, GraphiQL,
the execution fast path, live updates.

The section is ``omnicore.config.GatewayConfig`` (``commerce.config.gateway``), checked
when the configuration is loaded; ``GatewaySettings`` is its name here, where
``create_app(commerce, settings=GatewaySettings(max_cost=…))`` and ``QueryGuard`` take it.
"""

from __future__ import annotations

from omnicore.config import GatewayConfig

__all__ = ["DEFAULT_MAX_ALIASES", "DEFAULT_MAX_COST", "DEFAULT_MAX_DEPTH", "GatewaySettings"]

#: the gateway's settings: ``[gateway]`` of omnicore.toml
GatewaySettings = GatewayConfig

DEFAULT_MAX_DEPTH: int = GatewayConfig().max_depth
DEFAULT_MAX_ALIASES: int = GatewayConfig().max_aliases
DEFAULT_MAX_COST: int = GatewayConfig().max_cost
