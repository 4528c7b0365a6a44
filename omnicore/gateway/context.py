"""What every resolver receives as ``info.context``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from omnicore.errors import Forbidden

if TYPE_CHECKING:
    from omnicore.auth import Permission, StaffPrincipal
    from omnicore.commerce import Commerce
    from omnicore.gateway.catalog_cache import CatalogCache
    from omnicore.network import Channel


@attrs.define
class RequestContext:
    """One request: the ``Commerce``, who calls, and per-request caches (dataloaders).

    Storefront requests have a ``channel`` (from its public token) and, when a
    customer token was sent, a ``customer_id``. Admin requests have ``staff``.
    """

    commerce: Commerce
    channel: Channel | None = None
    customer_id: str | None = None
    staff: StaffPrincipal | None = None
    #: per-request objects keyed by name (dataloaders), built on first use
    loaders: dict[str, Any] = attrs.field(factory=dict)
    #: the gateway's storefront catalog cache (``None``: read the database each time)
    catalog_cache: CatalogCache | None = None

    def require_channel(self) -> Channel:
        if self.channel is None:
            raise Forbidden("a channel token is required", field="channel")
        return self.channel

    def require_customer(self) -> str:
        """The signed-in customer's id, or ``Forbidden`` (send ``Authorization: Bearer``)."""
        if self.customer_id is None:
            raise Forbidden("sign in first: send a customer token", field="authorization")
        return self.customer_id

    def require(self, permission: Permission, *, location: str | None = None) -> StaffPrincipal:
        """The staff principal if it has ``permission`` (for ``location``), else ``Forbidden``."""
        if self.staff is None:
            raise Forbidden("a staff key is required", field="authorization")
        self.staff.require(permission, location=location)
        return self.staff
