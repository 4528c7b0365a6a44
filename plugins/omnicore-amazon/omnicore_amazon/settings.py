"""``[plugins.amazon]``: the connector's settings, validated when a ``Commerce`` opens.

Secrets (the LWA client secret and the refresh token) are checked for their shape
only and never echoed: a malformed one is refused with a message that says what
is wrong without repeating it, and ``repr(settings)`` leaves them out.
Lists may be given as TOML arrays or, from environment variables, as
comma-separated text (``OMNICORE_PLUGINS__AMAZON__MARKETPLACE_IDS=FR,DE``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from omnicore import InvalidInput
from omnicore_amazon.marketplaces import ENDPOINTS, LWA_TOKEN_URL, Marketplace, find

__all__ = ["FEED_MAX_MESSAGES", "AmazonSettings", "FamilyMapping", "MarketplaceOptions"]

#: A JSON_LISTINGS_FEED document holds at most this many messages.
FEED_MAX_MESSAGES = 25_000
ORDERS_APIS = ("2026-01-01", "v0")
BACKGROUND = ("events", "always", "off")

_CLIENT_ID = re.compile(r"amzn1\.application-oa2-client\.[0-9a-zA-Z]{8,64}")
_SECRET = re.compile(r"[0-9A-Za-z.\-_]{16,256}")
_REFRESH_TOKEN = re.compile(r"Atzr\|[0-9A-Za-z\-_=+/|.]{16,2000}")
_SELLER_ID = re.compile(r"[A-Z0-9]{8,20}")
_MARKETPLACE_ID = re.compile(r"A[0-9A-Z]{7,15}")
_CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_LANGUAGE_TAG = re.compile(r"[a-z]{2}_[A-Z]{2}")
_PRODUCT_TYPE = re.compile(r"[A-Z0-9_]{2,80}")


def _text_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [str(part).strip() for part in value]
    else:
        raise InvalidInput("must be a list (or comma-separated text)", field=field)
    return [item for item in items if item]


def _marketplace_ids(value: Any) -> tuple[str, ...]:
    ids: list[str] = []
    for item in _text_list(value, "marketplace_ids"):
        known = find(item)
        if known is not None:
            ids.append(known.id)
        elif _MARKETPLACE_ID.fullmatch(item):
            ids.append(item)
        else:
            raise InvalidInput(f"{item!r} is neither a marketplace id (A13V1IB3VIYZZH) nor a "
                               "country code (FR, DE …)", field="marketplace_ids")
    if not ids:
        raise InvalidInput("is required: at least one marketplace (FR, DE … or its id)",
                           field="marketplace_ids")
    return tuple(dict.fromkeys(ids))


@attrs.frozen
class FamilyMapping:
    """How the products of one catalog family become Amazon listings.

    ``attributes`` maps an Amazon attribute name to a template (``"{product.title}"``,
    ``"{variant.attributes.size}"``, a literal such as ``"Cotton"``), or to the exact
    JSON value to send (a list of objects); an empty string leaves a default out.
    """

    product_type: str
    attributes: dict[str, Any] = attrs.field(factory=dict)


def _families(value: Any) -> dict[str, FamilyMapping]:
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a table of families", field="families")
    found = {}
    for family, raw in value.items():
        where = f"families.{family}"
        if isinstance(raw, str):
            raw = {"product_type": raw}
        if not isinstance(raw, Mapping):
            raise InvalidInput("must be a table with product_type", field=where)
        unknown = sorted(set(raw) - {"product_type", "attributes"})
        if unknown:
            raise InvalidInput("is not a known key (known: attributes, product_type)",
                               field=f"{where}.{unknown[0]}")
        product_type = raw.get("product_type")
        if not isinstance(product_type, str) or not _PRODUCT_TYPE.fullmatch(product_type):
            raise InvalidInput("must be an Amazon product type such as SHIRT or LUGGAGE",
                               field=f"{where}.product_type")
        attributes = raw.get("attributes", {})
        if not isinstance(attributes, Mapping):
            raise InvalidInput("must be a table", field=f"{where}.attributes")
        found[str(family)] = FamilyMapping(product_type, dict(attributes))
    return found


@attrs.frozen
class MarketplaceOptions:
    """``[plugins.amazon.marketplaces.<country or id>]``: one marketplace's languages.

    ``language_tag`` is the language listing texts are tagged with there (``nl_BE``);
    ``issue_locale`` the locale Amazon writes the issues of that marketplace's
    submissions in (``en_GB``). Left out: the plugin-wide setting, else the
    marketplace's own language (``fr_BE`` for BE).
    """

    language_tag: str | None = None
    issue_locale: str | None = None


def _marketplace_options(value: Any) -> dict[str, MarketplaceOptions]:
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a table: marketplace → language_tag, issue_locale",
                           field="marketplaces")
    found: dict[str, MarketplaceOptions] = {}
    for key, raw in value.items():
        where = f"marketplaces.{key}"
        known = find(str(key))
        marketplace_id = known.id if known is not None else str(key).strip().upper()
        if known is None and not _MARKETPLACE_ID.fullmatch(marketplace_id):
            raise InvalidInput("is neither a marketplace id nor a country code", field=where)
        if not isinstance(raw, Mapping):
            raise InvalidInput("must be a table with language_tag and/or issue_locale",
                               field=where)
        unknown = sorted(set(raw) - {"language_tag", "issue_locale"})
        if unknown:
            raise InvalidInput("is not a known key (known: issue_locale, language_tag)",
                               field=f"{where}.{unknown[0]}")
        for name in ("language_tag", "issue_locale"):
            tag = raw.get(name)
            if tag is not None and (not isinstance(tag, str) or not _LANGUAGE_TAG.fullmatch(tag)):
                raise InvalidInput("must look like fr_BE", field=f"{where}.{name}")
        found[marketplace_id] = MarketplaceOptions(raw.get("language_tag"),
                                                   raw.get("issue_locale"))
    return found


def _carriers(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a table: omnicore carrier → Amazon carrier code",
                           field="carriers")
    return {str(k).strip().lower(): str(v).strip() for k, v in value.items()}


def _check(pattern: re.Pattern[str], message: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidInput(message, field=attribute.name)
    return check


def _required_secret(pattern: re.Pattern[str], what: str, shape: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"is required: {what}", field=attribute.name)
        if value != value.strip() or not pattern.fullmatch(value):
            # never repeat the value: it is a secret
            raise InvalidInput(f"is malformed: expected {shape} (no spaces or quotes)",
                               field=attribute.name)
    return check


def _not_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise InvalidInput("must not be negative", field=attribute.name)


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise InvalidInput("must be more than zero", field=attribute.name)


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise InvalidInput(f"must be one of {', '.join(choices)}", field=attribute.name)
    return check


def _optional(pattern: re.Pattern[str], message: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise InvalidInput(message, field=attribute.name)
    return check


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _http_url(*, origin: bool) -> Any:
    """An https URL (http only on a loopback host, for local fakes and recorders);
    ``origin``: scheme and host only, no path."""
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        shape = "an https:// origin without a path" if origin else "an https:// URL"
        try:
            parts = urlsplit(value) if isinstance(value, str) else None
            host = parts.hostname if parts is not None else None
        except ValueError:
            parts, host = None, None
        if parts is None or not host or parts.query or parts.fragment or (
                origin and parts.path not in ("", "/")) or (
                parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK)):
            raise InvalidInput(f"must be {shape} (http:// only for localhost, 127.0.0.1 or "
                               "::1)", field=attribute.name)
    return check


@attrs.frozen
class AmazonSettings:
    """``[plugins.amazon]`` of omnicore.toml, or ``OMNICORE_PLUGINS__AMAZON__<KEY>``."""

    #: The LWA client identifier of the SP-API application (amzn1.application-oa2-client.…).
    client_id: str = attrs.field(validator=_check(
        _CLIENT_ID, "must be the LWA client identifier (amzn1.application-oa2-client.…)"))
    #: The LWA client secret of the application.
    client_secret: str = attrs.field(repr=False, validator=_required_secret(
        _SECRET, "the LWA client secret of the SP-API application",
        "the LWA client secret (amzn1.oa2-cs.v1.… or 64 hexadecimal characters)"))
    #: The refresh token the selling partner's authorization produced (Atzr|…).
    refresh_token: str = attrs.field(repr=False, validator=_required_secret(
        _REFRESH_TOKEN, "the LWA refresh token of the seller's authorization (Atzr|…)",
        "a refresh token starting with Atzr|"))
    #: The merchant token (Seller Central → Account info), e.g. A2EXAMPLE7SELLER.
    seller_id: str = attrs.field(validator=_check(
        _SELLER_ID, "must be the merchant token: upper-case letters and digits"))
    #: Marketplace ids or country codes: ["FR", "DE"] or "A13V1IB3VIYZZH,A1PA6795UKMFR9".
    marketplace_ids: Any = attrs.field(converter=_marketplace_ids)
    #: na, eu or fe; derived from the marketplaces when left out.
    region: str | None = attrs.field(default=None, validator=_optional(
        re.compile("|".join(ENDPOINTS)), "must be na, eu or fe"))
    #: Call Amazon's static sandbox (https://sandbox.sellingpartnerapi-…) instead.
    sandbox: bool = False
    #: The SP-API origin to call instead of the region's (a local fake, a recorder, a
    #: proxy): https://…, or http:// on a loopback host. Exclusive with ``sandbox``.
    api_base: str | None = attrs.field(default=None, validator=_http_url(origin=True))
    #: The Login with Amazon token endpoint (default Amazon's).
    lwa_token_url: str = attrs.field(default=LWA_TOKEN_URL, validator=_http_url(origin=False))
    #: The omnicore channel (kind marketplace) whose availability Amazon may sell.
    channel: str = attrs.field(default="amazon", validator=_check(
        _CODE, "must be a channel code"))
    #: Language of listing texts (fr_FR …) in every marketplace without its own
    #: ``marketplaces.<id>.language_tag``; default: each marketplace's own language.
    language_tag: str | None = attrs.field(default=None, validator=_optional(
        _LANGUAGE_TAG, "must look like fr_FR"))
    #: Locale Amazon localises listing issues in (en_US …) for every marketplace without
    #: its own ``marketplaces.<id>.issue_locale``; default: each marketplace's language.
    issue_locale: str | None = attrs.field(default=None, validator=_optional(
        _LANGUAGE_TAG, "must look like en_US"))
    #: Per marketplace (country code or id): ``language_tag`` and ``issue_locale``.
    marketplaces: Any = attrs.field(factory=dict, converter=_marketplace_options)
    #: Product type and attribute mapping per catalog family.
    families: Any = attrs.field(factory=dict, converter=_families)
    #: Product type of families without a mapping; None: those products are not listed.
    default_product_type: str | None = attrs.field(default=None, validator=_optional(
        _PRODUCT_TYPE, "must be an Amazon product type such as SHIRT"))
    condition_type: str = "new_new"
    #: omnicore carrier name → Amazon carrier code (others are sent as "Other" + name).
    carriers: Any = attrs.field(factory=dict, converter=_carriers)
    #: Fewer SKUs than this waiting for a quantity update go as patches, more as a feed.
    feed_threshold: int = attrs.field(default=10, validator=_positive)
    #: Messages per JSON_LISTINGS_FEED document (Amazon's limit: 25,000).
    feed_max_messages: int = attrs.field(default=FEED_MAX_MESSAGES, validator=_positive)
    #: A channel quantity at or below this is pushed at once (patch), not coalesced.
    urgent_threshold: int = attrs.field(default=0, validator=_not_negative)
    #: Seconds the background pusher waits after a change, so a burst makes one feed.
    coalesce_seconds: float = attrs.field(default=5.0, validator=_not_negative)
    #: Seconds between two looks at a feed Amazon is processing.
    feed_poll_seconds: float = attrs.field(default=30.0, validator=_positive)
    #: Orders API: 2026-01-01 (searchOrders) or v0 (getOrders + getOrderItems).
    orders_api: str = attrs.field(default="2026-01-01", validator=_one_of(ORDERS_APIS))
    #: Seconds between two background order imports (0: only `omnicore amazon sync`).
    orders_poll_seconds: float = attrs.field(default=300.0, validator=_not_negative)
    #: How far back the first order import looks.
    orders_lookback_days: int = attrs.field(default=3, validator=_positive)
    #: events: background sync starts with the first delivered event (worker processes);
    #: always: at start-up; off: only `omnicore amazon sync` and event handlers.
    background: str = attrs.field(default="events", validator=_one_of(BACKGROUND))
    #: Retries of a call after a 429, a 5xx or no answer.
    max_retries: int = attrs.field(default=4, validator=_not_negative)
    retry_base_seconds: float = attrs.field(default=1.0, validator=_not_negative)
    retry_max_seconds: float = attrs.field(default=60.0, validator=_not_negative)
    #: An event handler waits at most this long for a rate-limit token, then fails
    #: (the outbox retries later) rather than block the dispatcher.
    max_rate_wait_seconds: float = attrs.field(default=30.0, validator=_not_negative)
    timeout_seconds: float = attrs.field(default=30.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.api_base is not None and self.sandbox:
            raise InvalidInput("cannot be combined with api_base: point api_base at the "
                               "sandbox instead", field="sandbox")
        regions = {m.region for m in self.known_marketplaces}
        if len(regions) > 1:
            raise InvalidInput("the marketplaces belong to several SP-API regions; configure "
                               "one plugin per region", field="marketplace_ids")
        unknown = [i for i in self.marketplace_ids if find(i) is None]
        if unknown and self.region is None:
            raise InvalidInput(f"marketplace {unknown[0]} is not known to this plugin: set "
                               "region (na, eu or fe)", field="region")
        if self.region is not None and regions and regions != {self.region}:
            raise InvalidInput(f"the marketplaces are in region {regions.pop()}, not "
                               f"{self.region}", field="region")
        strangers = [i for i in self.marketplaces if i not in self.marketplace_ids]
        if strangers:
            raise InvalidInput(f"{strangers[0]} is not one of marketplace_ids",
                               field="marketplaces")
        if self.feed_max_messages > FEED_MAX_MESSAGES:
            raise InvalidInput(f"must be at most {FEED_MAX_MESSAGES}",
                               field="feed_max_messages")

    @property
    def known_marketplaces(self) -> list[Marketplace]:
        """The configured marketplaces this plugin knows (currency, language)."""
        return [m for m in (find(i) for i in self.marketplace_ids) if m is not None]

    @property
    def api_region(self) -> str:
        if self.region is not None:
            return self.region
        return self.known_marketplaces[0].region

    @property
    def language(self) -> str:
        """The language of the first marketplace (see ``language_of``)."""
        return self.language_of(self.marketplace_ids[0])

    def language_of(self, marketplace_id: str) -> str:
        """The language tag of listing texts in ``marketplace_id``: its own setting, the
        plugin-wide ``language_tag``, else the marketplace's language (en_US if unknown)."""
        options = self.marketplaces.get(marketplace_id)
        if options is not None and options.language_tag:
            return str(options.language_tag)
        if self.language_tag:
            return self.language_tag
        known = find(marketplace_id)
        return known.language_tag if known is not None else "en_US"

    def issue_locale_of(self, marketplace_id: str) -> str:
        """The locale of the issues of a submission to ``marketplace_id``: its own
        setting, the plugin-wide ``issue_locale``, else its listing language."""
        options = self.marketplaces.get(marketplace_id)
        if options is not None and options.issue_locale:
            return str(options.issue_locale)
        return self.issue_locale or self.language_of(marketplace_id)

    def put_params(self, marketplace_id: str) -> dict[str, Any]:
        """Query of ``putListingsItem`` / ``deleteListingsItem``: one marketplace (the
        Listings Items model allows at most one), with that marketplace's issue locale."""
        return {"marketplaceIds": [marketplace_id],
                "issueLocale": self.issue_locale_of(marketplace_id)}

    def patch_params(self) -> dict[str, Any]:
        """Query of ``patchListingsItem``: every marketplace at once; issues in the first
        marketplace's locale (what Amazon would choose)."""
        return {"marketplaceIds": list(self.marketplace_ids),
                "issueLocale": self.issue_locale_of(self.marketplace_ids[0])}

    def product_type(self, family: str | None) -> str | None:
        mapping: FamilyMapping | None = self.families.get(family) if family else None
        return mapping.product_type if mapping is not None else self.default_product_type

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a log line or an error message."""
        return (self.client_secret, self.refresh_token)
