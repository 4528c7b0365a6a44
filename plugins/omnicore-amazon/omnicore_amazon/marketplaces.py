"""Amazon marketplaces and the SP-API regions that serve them.

From Amazon's "Marketplace IDs" and "SP-API Endpoints" pages: a selling partner
calls the endpoint of the region its marketplaces belong to (all of one plugin's
marketplaces must share it). The currency and language are the marketplace's
defaults, used to check the channel's currency and to tag listing texts.
"""

from __future__ import annotations

import attrs

__all__ = ["ENDPOINTS", "LWA_TOKEN_URL", "MARKETPLACES", "Marketplace", "endpoint", "find"]

#: Login with Amazon: the refresh-token grant is exchanged here, whatever the region.
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"

ENDPOINTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}


@attrs.frozen
class Marketplace:
    id: str
    country: str
    region: str
    currency: str
    language_tag: str


MARKETPLACES: tuple[Marketplace, ...] = (
    # North America
    Marketplace("A2EUQ1WTGCTBG2", "CA", "na", "CAD", "en_CA"),
    Marketplace("ATVPDKIKX0DER", "US", "na", "USD", "en_US"),
    Marketplace("A1AM78C64UM0Y8", "MX", "na", "MXN", "es_MX"),
    Marketplace("A2Q3Y263D00KWC", "BR", "na", "BRL", "pt_BR"),
    # Europe (and the Middle East, India)
    Marketplace("A28R8C7NBKEWEA", "IE", "eu", "EUR", "en_IE"),
    Marketplace("A1RKKUPIHCS9HS", "ES", "eu", "EUR", "es_ES"),
    Marketplace("A1F83G8C2ARO7P", "GB", "eu", "GBP", "en_GB"),
    Marketplace("A13V1IB3VIYZZH", "FR", "eu", "EUR", "fr_FR"),
    Marketplace("AMEN7PMS3EDWL", "BE", "eu", "EUR", "fr_BE"),
    Marketplace("A1805IZSGTT6HS", "NL", "eu", "EUR", "nl_NL"),
    Marketplace("A1PA6795UKMFR9", "DE", "eu", "EUR", "de_DE"),
    Marketplace("APJ6JRA9NG5V4", "IT", "eu", "EUR", "it_IT"),
    Marketplace("A2NODRKZP88ZB9", "SE", "eu", "SEK", "sv_SE"),
    Marketplace("AE08WJ6YKNBMC", "ZA", "eu", "ZAR", "en_ZA"),
    Marketplace("A1C3SOZRARQ6R3", "PL", "eu", "PLN", "pl_PL"),
    Marketplace("ARBP9OOSHTCHU", "EG", "eu", "EGP", "ar_EG"),
    Marketplace("A33AVAJ2PDY3EV", "TR", "eu", "TRY", "tr_TR"),
    Marketplace("A17E79C6D8DWNP", "SA", "eu", "SAR", "ar_SA"),
    Marketplace("A2VIGQ35RCS4UG", "AE", "eu", "AED", "en_AE"),
    Marketplace("A21TJRUUN4KGV", "IN", "eu", "INR", "en_IN"),
    # Far East
    Marketplace("A19VAU5U5O7RUS", "SG", "fe", "SGD", "en_SG"),
    Marketplace("A39IBJ37TRP1C6", "AU", "fe", "AUD", "en_AU"),
    Marketplace("A1VC38T7YXB528", "JP", "fe", "JPY", "ja_JP"),
)

_BY_ID = {m.id: m for m in MARKETPLACES}
_BY_COUNTRY = {m.country: m for m in MARKETPLACES}
_BY_COUNTRY["UK"] = _BY_COUNTRY["GB"]


def find(value: str) -> Marketplace | None:
    """A marketplace by its id (``A13V1IB3VIYZZH``) or its country code (``FR``)."""
    text = value.strip()
    return _BY_ID.get(text) or _BY_COUNTRY.get(text.upper())


def endpoint(region: str, *, sandbox: bool) -> str:
    """The SP-API origin of ``region`` (``https://sandbox.…`` for the sandbox)."""
    base = ENDPOINTS[region]
    return base.replace("https://", "https://sandbox.") if sandbox else base
