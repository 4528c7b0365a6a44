"""delivery."""

from __future__ import annotations

from omnicore.delivery._catalogue import (
    Catalogue,
)
from omnicore.delivery._models import (
    DeliveryGroup,
    DeliveryKind,
    QuoteRequest,
    Rate,
    ShippingMethod,
    ShippingProvider,
)
from omnicore.delivery._service import (
    DeliveryService,
)
from omnicore.delivery._settings import (
    DeliverySettings,
)

__all__ = [
    "Catalogue",
    "DeliveryGroup",
    "DeliveryKind",
    "DeliveryService",
    "DeliverySettings",
    "QuoteRequest",
    "Rate",
    "ShippingMethod",
    "ShippingProvider",
]
