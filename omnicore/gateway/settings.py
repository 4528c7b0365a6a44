"""``[gateway]`` of omnicore.toml: the limits of the query path, introspection, GraphiQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from omnicore.config import positive_int, section_of
from omnicore.errors import InvalidInput

__all__ = ["DEFAULT_MAX_ALIASES", "DEFAULT_MAX_COST", "DEFAULT_MAX_DEPTH", "GatewaySettings"]

DEFAULT_MAX_DEPTH = 12
DEFAULT_MAX_ALIASES = 30
DEFAULT_MAX_COST = 5000


def _flag(section: Mapping[str, Any], key: str, default: bool | None) -> bool | None:
    value = section.get(key, default)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput("must be true or false", field=f"gateway.{key}")
    return value


@attrs.frozen
class GatewaySettings:
    """The ``[gateway]`` keys of the query path (omnicore.toml)."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_aliases: int = DEFAULT_MAX_ALIASES
    max_cost: int = DEFAULT_MAX_COST
    #: ``false`` in production: ``__schema`` and ``__type`` are refused.
    introspection: bool = True
    #: the GraphiQL page on ``GET`` from a browser; ``None``: as ``introspection``
    graphiql: bool | None = None
    #: keep storefront products and prices in memory, exact to the catalog's revision
    catalog_cache: bool = True

    @property
    def serves_graphiql(self) -> bool:
        return self.introspection if self.graphiql is None else self.graphiql

    @classmethod
    def from_config(cls, extra: Mapping[str, Any]) -> GatewaySettings:
        """Read and check ``[gateway]``; a bad value raises ``InvalidInput`` naming the key."""
        section = section_of(extra, "gateway")
        introspection = _flag(section, "introspection", True)
        return cls(
            max_depth=positive_int(section, "gateway", "max_depth", DEFAULT_MAX_DEPTH),
            max_aliases=positive_int(section, "gateway", "max_aliases", DEFAULT_MAX_ALIASES),
            max_cost=positive_int(section, "gateway", "max_cost", DEFAULT_MAX_COST),
            introspection=bool(introspection),
            graphiql=_flag(section, "graphiql", None),
            catalog_cache=bool(_flag(section, "catalog_cache", True)),
        )
