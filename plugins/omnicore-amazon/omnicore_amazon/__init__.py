"""omnicore-amazon: the Amazon marketplace through the Selling Partner API.

Install the distribution, configure ``[plugins.amazon]`` (LWA client id and secret,
refresh token, seller id, marketplaces, the Amazon channel), and:

* products of the Amazon channel are listed with the Listings Items API (put for a
  new SKU, patch for a change), with their price (``purchasable_offer``);
* the channel's availability is Amazon's merchant-fulfilled quantity, pushed from
  ``stock.changed`` events — coalesced into JSON_LISTINGS_FEED documents, a sold-out
  SKU patched at once;
* Amazon orders are imported into the same customers and the same stock, cancelled
  when Amazon cancels them, and shipments are confirmed to Amazon;
* ``omnicore amazon sync`` and ``omnicore amazon status`` on the command line.

See docs/amazon.md.
"""

from __future__ import annotations

from omnicore_amazon.client import SpApiClient
from omnicore_amazon.errors import (
    LwaRefused,
    SpApiError,
    SpApiInvalidInput,
    SpApiNotFound,
    SpApiThrottled,
    SpApiUnauthorized,
    SpApiUnavailable,
)
from omnicore_amazon.plugin import AmazonPlugin, Runtime
from omnicore_amazon.ratelimit import DOCUMENTED_RATES, RateLimiter, TokenBucket
from omnicore_amazon.settings import AmazonSettings, FamilyMapping

__all__ = [
    "DOCUMENTED_RATES",
    "AmazonPlugin",
    "AmazonSettings",
    "FamilyMapping",
    "LwaRefused",
    "RateLimiter",
    "Runtime",
    "SpApiClient",
    "SpApiError",
    "SpApiInvalidInput",
    "SpApiNotFound",
    "SpApiThrottled",
    "SpApiUnauthorized",
    "SpApiUnavailable",
    "TokenBucket",
]

__version__ = "0.1.0"
