"""catalog."""

from __future__ import annotations

from omnicore.catalog._service import (
    CatalogService,
    Page,
    Price,
    Product,
    Variant,
    existing_skus,
    prices_for,
)

__all__ = [
    "CatalogService",
    "Page",
    "Price",
    "Product",
    "Variant",
    "existing_skus",
    "prices_for",
]
