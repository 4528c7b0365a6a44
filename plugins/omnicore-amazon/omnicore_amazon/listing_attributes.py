"""Catalog products → Listings Items attributes (the JSON Amazon's product types describe).

Every attribute is a list of objects, one per marketplace, with the
``marketplace_id`` it applies to and, for texts, the ``language_tag`` of that
marketplace (``AmazonSettings.language_of``: fr_FR in France, fr_BE in Belgium …):

    "item_name": [{"value": "Classic tee - M", "language_tag": "fr_FR",
                   "marketplace_id": "A13V1IB3VIYZZH"},
                  {"value": "Classic tee - M", "language_tag": "fr_BE",
                   "marketplace_id": "AMEN7PMS3EDWL"}]

A ``putListingsItem`` names one marketplace: ``for_marketplace`` keeps the entries of
that marketplace (and those that name none, such as ``fulfillment_availability``).

Defaults, each replaceable (or removable with ``""``) per family in
``[plugins.amazon.families.<family>.attributes]``:

| attribute                              | from                                              |
|----------------------------------------|---------------------------------------------------|
| ``item_name``                          | product title, then `` - `` and the variant title |
| ``brand``                              | ``product.attributes.brand``                      |
| ``product_description``                | product description                               |
| ``externally_assigned_product_identifier`` | the variant's barcode (EAN/UPC/GTIN)           |
| ``condition_type``                     | ``condition_type`` setting (``new_new``)          |
| ``main_product_image_locator``, ``other_product_image_locator_1..8`` | the product's images |
| ``purchasable_offer``                  | the channel's price, tax included                 |
| ``fulfillment_availability``           | the channel's availability (``DEFAULT``: FBM)     |

Templates: ``{product.title}``, ``{product.description}``, ``{product.handle}``,
``{product.attributes.<key>}``, ``{variant.sku}``, ``{variant.title}``,
``{variant.barcode}``, ``{variant.attributes.<key>}``; text without braces is a
literal. A template naming a missing value leaves the attribute out. A list value
in the mapping is sent exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from omnicore_amazon.settings import AmazonSettings

__all__ = ["FULFILLMENT_CHANNEL", "LOCALIZED", "ListingBuilder", "availability_value",
           "for_marketplace", "offer_value", "patches", "render"]

FULFILLMENT_CHANNEL = "DEFAULT"
#: attributes whose values are texts in a language (they carry ``language_tag``)
LOCALIZED = frozenset({
    "item_name", "brand", "product_description", "bullet_point", "generic_keyword",
    "color", "size", "material", "style", "pattern", "fabric_type", "department",
    "manufacturer", "model_name", "care_instructions", "special_feature", "item_type_name",
    "target_audience_keyword", "theme", "closure", "sleeve", "neck", "fit_type",
})
_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_\-]+)*)\}")
MAX_OTHER_IMAGES = 8


def availability_value(quantity: int) -> list[dict[str, Any]]:
    """``fulfillment_availability``: merchant-fulfilled quantity."""
    return [{"fulfillment_channel_code": FULFILLMENT_CHANNEL, "quantity": max(0, quantity)}]


def offer_value(amount: Decimal, currency: str, marketplace_ids: list[str]
                ) -> list[dict[str, Any]]:
    """``purchasable_offer``: the price (tax included) in each marketplace."""
    number: int | float = int(amount) if amount == amount.to_integral() else float(amount)
    return [{"currency": currency, "marketplace_id": mp,
             "our_price": [{"schedule": [{"value_with_tax": number}]}]}
            for mp in marketplace_ids]


def for_marketplace(attributes: Mapping[str, Any], marketplace_id: str) -> dict[str, Any]:
    """The entries of each attribute that apply to ``marketplace_id`` (or to no marketplace
    in particular); an attribute left with none is left out."""
    found: dict[str, Any] = {}
    for name, entries in attributes.items():
        if not isinstance(entries, list):
            found[name] = entries
            continue
        kept = [e for e in entries if not isinstance(e, Mapping)
                or e.get("marketplace_id") in (None, marketplace_id)]
        if kept:
            found[name] = kept
    return found


def _barcode_type(barcode: str) -> str:
    return {12: "upc", 13: "ean", 14: "gtin"}.get(len(barcode), "ean")


def _lookup(path: str, product: Mapping[str, Any], variant: Mapping[str, Any]) -> str | None:
    parts = path.split(".")
    source: Any = {"product": product, "variant": variant}.get(parts[0])
    for part in parts[1:]:
        if not isinstance(source, Mapping):
            return None
        source = source.get(part)
    if source is None or isinstance(source, Mapping | list):
        return None
    text = str(source).strip()
    return text or None


def render(template: str, product: Mapping[str, Any], variant: Mapping[str, Any]) -> str | None:
    """A template filled from the product and the variant; None when a value is missing."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = _lookup(match.group(1), product, variant)
        if value is None:
            missing = True
            return ""
        return value

    text = _PLACEHOLDER.sub(fill, template).strip()
    return None if missing or not text else text


class ListingBuilder:
    """Builds the attributes of one SKU for the configured marketplaces."""

    def __init__(self, settings: AmazonSettings) -> None:
        self.settings = settings
        self.marketplace_ids = list(settings.marketplace_ids)
        self.languages = {mp: settings.language_of(mp) for mp in self.marketplace_ids}

    def _text(self, name: str, value: str) -> list[dict[str, Any]]:
        if name not in LOCALIZED:
            return [{"value": value, "marketplace_id": mp} for mp in self.marketplace_ids]
        return [{"value": value, "language_tag": self.languages[mp], "marketplace_id": mp}
                for mp in self.marketplace_ids]

    def defaults(self, product: Mapping[str, Any], variant: Mapping[str, Any]
                 ) -> dict[str, Any]:
        """Templates and values used when the family's mapping says nothing."""
        title = variant.get("title") or ""
        found: dict[str, Any] = {
            "item_name": "{product.title} - {variant.title}" if title else "{product.title}",
            "brand": "{product.attributes.brand}",
            "product_description": "{product.description}",
            "condition_type": self.settings.condition_type,
        }
        barcode = variant.get("barcode")
        if barcode:
            found["externally_assigned_product_identifier"] = [
                {"type": _barcode_type(barcode), "value": barcode, "marketplace_id": mp}
                for mp in self.marketplace_ids]
        images = [i for i in product.get("images") or [] if isinstance(i, str) and i]
        if images:
            found["main_product_image_locator"] = [
                {"media_location": images[0], "marketplace_id": mp}
                for mp in self.marketplace_ids]
            for index, url in enumerate(images[1 : MAX_OTHER_IMAGES + 1], start=1):
                found[f"other_product_image_locator_{index}"] = [
                    {"media_location": url, "marketplace_id": mp}
                    for mp in self.marketplace_ids]
        return found

    def attributes(self, product: Mapping[str, Any], variant: Mapping[str, Any], *,
                   price: Decimal | None, currency: str,
                   quantity: int | None = None) -> dict[str, Any]:
        """Every attribute of the SKU (``quantity`` None leaves availability out)."""
        family = product.get("family")
        mapping = self.settings.families.get(family) if family else None
        wanted = self.defaults(product, variant)
        if mapping is not None:
            wanted.update(mapping.attributes)
        result: dict[str, Any] = {}
        for name, spec in wanted.items():
            if isinstance(spec, list):
                result[name] = spec
            elif isinstance(spec, str) and spec:
                value = render(spec, product, variant)
                if value is not None:
                    result[name] = self._text(name, value)
            elif isinstance(spec, int | float) and not isinstance(spec, bool):
                result[name] = [{"value": spec, "marketplace_id": mp}
                                for mp in self.marketplace_ids]
        if price is not None:
            result["purchasable_offer"] = offer_value(price, currency, self.marketplace_ids)
        if quantity is not None:
            result["fulfillment_availability"] = availability_value(quantity)
        return result


def patches(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """JSON Patch operations turning the attributes ``before`` into ``after``.

    Only top-level attributes can be patched: a changed attribute is replaced whole;
    one that disappeared is deleted by its selectors (marketplace, language).
    ``fulfillment_availability`` is the stock sync's, never touched here.
    """
    ops: list[dict[str, Any]] = []
    for name in sorted(set(before) | set(after)):
        if name == "fulfillment_availability":
            continue
        if name in after and before.get(name) != after[name]:
            ops.append({"op": "replace", "path": f"/attributes/{name}", "value": after[name]})
        elif name not in after:
            selectors = [{k: v for k, v in entry.items()
                          if k in ("marketplace_id", "language_tag")}
                         for entry in before[name] if isinstance(entry, Mapping)]
            ops.append({"op": "delete", "path": f"/attributes/{name}",
                        "value": selectors or [{}]})
    return ops
