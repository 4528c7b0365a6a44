"""Configuration: one attrs tree, from ``omnicore.toml``, ``OMNICORE_*`` variables and code.

    config = load_config()              # defaults < omnicore.toml < environment
    config.stock.low_threshold          # 5
    config.gateway.max_cost             # 5000

Every section of ``omnicore.toml`` is an attrs class of this module, and ``Config``
holds one of each. The tree is structured by omnicore's one converter
(``omnicore.serialization``), so a value of the wrong type (``true`` for a number,
``"many"`` for a count), out of its range, or a key that no section has stops
start-up with an ``InvalidInput`` whose ``field`` is the dotted path of the
culprit (``stock.low_threshold``, ``gateway.websocket_max_operations``). Only the
plugins' own tables (``[plugins.<name>]``) are free-form here: each plugin's settings
class (its ``register_settings`` hook) validates its table when the plugin host starts.

Precedence, lowest first: the defaults below, the TOML file (``OMNICORE_CONFIG`` or
``./omnicore.toml``), environment variables (``OMNICORE_DATABASE_URL``,
``OMNICORE_PLUGINS__<NAME>__<KEY>``), then what the code passes to ``Commerce.open``.

The sections are defined here, with the foundations, so that every package reads
its own (``commerce.config.carts``) without the configuration importing a domain.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tomllib
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import phonenumbers

from omnicore.errors import InvalidInput, Problem
from omnicore.serialization import structure

__all__ = [
    "CAPTURE_POLICIES",
    "EXPIRED_PICKUP_PAYMENTS",
    "CartsConfig",
    "CheckoutConfig",
    "Config",
    "CustomersConfig",
    "DatabaseConfig",
    "DeliveryConfig",
    "DeliveryMethodConfig",
    "FulfilmentConfig",
    "GatewayConfig",
    "OrdersConfig",
    "OutboxConfig",
    "PluginsConfig",
    "SourcingConfig",
    "StockConfig",
    "load_config",
]

ENV_PREFIX = "OMNICORE_"

#: ``[orders] capture_policy``: the values of ``omnicore.orders.CapturePolicy``
CAPTURE_POLICIES = ("on_fulfilment", "immediate")
#: ``[fulfilment] expired_pickup_payment``
EXPIRED_PICKUP_PAYMENTS = ("void", "refund")

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


# -- validators: each raises InvalidInput naming the key; the converter prefixes the section --


def _positive_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("must be a positive integer", field=attribute.name)


def _non_negative_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("must be an integer ≥ 0", field=attribute.name)


def _positive_seconds(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise InvalidInput("must be a positive number of seconds", field=attribute.name)


def _one_of(*choices: str) -> Validator:
    def _choice(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise InvalidInput(f"must be {' or '.join(choices)}", field=attribute.name)

    return _choice


def _at_most(limit: int) -> Validator:
    def _length(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidInput(f"must be a string of at most {limit} characters",
                               field=attribute.name)

    return _length


def _upper(value: str) -> str:
    return value.upper() if isinstance(value, str) else value


def _region(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"{value!r} is not a region code such as 'FR'", field=attribute.name)


def _count(default: int) -> Any:
    """A field holding a positive integer."""
    return attrs.field(default=default, validator=_positive_int)


def _seconds(default: float) -> Any:
    """A field holding a positive number of seconds (an integer or a float)."""
    return attrs.field(default=default, validator=_positive_seconds)


# -- the sections ------------------------------------------------------------------------------


@attrs.frozen
class DatabaseConfig:
    """``[database]``: where the data lives and how it is read."""

    #: the database URL; None: ``OMNICORE_DATABASE_URL``, else the SQLite file ./omnicore.db
    url: str | None = None
    #: None means "yes for a SQLite file, no for PostgreSQL".
    auto_migrate: bool | None = None
    #: connections kept open per ``Commerce`` on PostgreSQL (as many again may overflow)
    pool_size: int = _count(10)
    #: run the hottest SELECTs on the driver itself, their SQL and parameter order compiled
    #: once from SQLAlchemy's compiled internals (``omnicore.store.prepared``); ``false``
    #: runs them through SQLAlchemy like every other statement
    prepared_reads: bool = True


@attrs.frozen
class OutboxConfig:
    """``[outbox]``: how committed events are delivered to plugins."""

    #: Deliver events from a background task of every ``Commerce`` (set false on
    #: gateway processes when ``omnicore worker`` processes do the delivering).
    in_process: bool = True
    #: With the default back-off (1 s doubling, capped at an hour) 25 attempts span
    #: about 14 hours: a vendor outage shorter than that only delays delivery.
    max_attempts: int = _count(25)
    base_delay_seconds: float = _seconds(1.0)
    max_delay_seconds: float = _seconds(3600.0)
    batch_size: int = _count(200)
    lease_seconds: float = _seconds(120.0)
    poll_interval_seconds: float = _seconds(1.0)
    #: How often the worker runs its sweeps (expired holds, abandoned carts …).
    sweep_interval_seconds: float = _seconds(30.0)


@attrs.frozen
class StockConfig:
    """``[stock]``."""

    #: a channel's total for a SKU falling to this or below emits ``stock.low``
    low_threshold: int = attrs.field(default=5, validator=_non_negative_int)


@attrs.frozen
class CustomersConfig:
    """``[customers]``."""

    #: the region of national phone numbers (ISO 3166-1 alpha-2, upper-cased)
    default_region: str = attrs.field(default="FR", converter=_upper, validator=_region)


@attrs.frozen
class CartsConfig:
    """``[carts]``."""

    max_quantity_per_line: int = _count(99)
    #: idle time after which an open cart with lines emits ``cart.abandoned``
    abandon_after_minutes: int = _count(60)
    #: the life of a hand-off code or consent
    handoff_code_minutes: int = _count(15)

    @property
    def abandon_after(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.abandon_after_minutes)

    @property
    def handoff_ttl(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.handoff_code_minutes)


@attrs.frozen
class CheckoutConfig:
    """``[checkout]``."""

    #: a checkout not finished after this long is presumed dead: the worker voids its payments
    lease_seconds: int = _count(120)
    #: how long a payment may wait for the customer (3-D Secure) before it is voided
    action_timeout_minutes: int = _count(30)


@attrs.frozen
class OrdersConfig:
    """``[orders]``."""

    #: put before order numbers (``WEB-`` gives ``WEB-100001``)
    number_prefix: str = attrs.field(default="", validator=_at_most(8))
    #: capture as goods leave (``on_fulfilment``) or right after checkout (``immediate``)
    capture_policy: str = attrs.field(default="on_fulfilment",
                                      validator=_one_of(*CAPTURE_POLICIES))


@attrs.frozen
class SourcingConfig:
    """``[sourcing]``."""

    #: a transfer warehouse → store takes this long (the ETA of a click & collect transfer)
    transfer_lead_hours: int = _count(48)


@attrs.frozen
class FulfilmentConfig:
    """``[fulfilment]``."""

    #: goods ready for pickup wait this long before the pickup expires
    pickup_days: int = _count(7)
    #: when a pickup expires: void the payment (``void``) or refund it if captured (``refund``)
    expired_pickup_payment: str = attrs.field(default="void",
                                              validator=_one_of(*EXPIRED_PICKUP_PAYMENTS))


@attrs.frozen
class DeliveryMethodConfig:
    """One ``[delivery.methods.<code>]`` table: a shipping method as written in TOML.

    The types are checked here; the delivery package checks the rest (the kind, the
    currencies, the countries …) when it builds the method, naming the same path.
    """

    name: str | None = None
    kind: str | None = None
    #: price per currency (decimal strings or integers: ``{ EUR = "4.90" }``)
    rates: dict[str, Decimal] | None = None
    free_over: dict[str, Decimal] = attrs.field(factory=dict)
    countries: list[str] | None = None
    min_days: int = 1
    max_days: int | None = None
    channels: list[str] | None = None
    #: ``false`` removes the method of this code (a built-in one)
    enabled: bool = True

    def __attrs_post_init__(self) -> None:
        if self.enabled:
            for key in ("name", "kind", "rates"):
                if getattr(self, key) is None:
                    raise InvalidInput("is required", field=key)


@attrs.frozen
class DeliveryConfig:
    """``[delivery]``: the quote timeout and the configured methods."""

    #: a carrier slower than this is left out of a quote
    quote_timeout_seconds: float = _seconds(10.0)
    #: ``[delivery.methods.<code>]``: replaces (or, ``enabled = false``, removes) a method
    methods: dict[str, DeliveryMethodConfig] = attrs.field(factory=dict)


@attrs.frozen
class GatewayConfig:
    """``[gateway]``: the GraphQL gateway's limits, live updates and customer sign-in."""

    #: deepest nesting of fields a query may have
    max_depth: int = _count(12)
    #: aliased fields a query may have
    max_aliases: int = _count(30)
    #: the most a query may cost
    max_cost: int = _count(5000)
    #: fields, fragment spreads and inline fragments a document's text may have: counted
    #: before the document is parsed (``omnicore.gateway.prepass``)
    max_selections: int = _count(500)
    #: the largest request body, on every route (webhooks included): reading stops there
    #: and the answer is 413
    max_body_bytes: int = _count(1_000_000)
    #: ``false`` in production: ``__schema`` and ``__type`` are refused.
    introspection: bool = True
    #: the GraphiQL page on ``GET`` from a browser; ``None``: as ``introspection``
    graphiql: bool | None = None
    #: keep storefront products and prices in memory, exact to the catalog's revision
    catalog_cache: bool = True
    #: read plain fields without graphql-core's per-field machinery
    #: (``omnicore.gateway.execution``); ``false`` runs graphql-core's own execution
    fast_execution: bool = True
    #: how long a customer access token lives (30 days)
    customer_token_hours: int = _count(24 * 30)
    #: sign-ins per e-mail in ``login_window_minutes`` before the next are refused
    login_max_attempts: int = _count(10)
    login_window_minutes: int = _count(15)
    #: how often the gateway reads the orders its live-status subscribers follow
    order_status_poll_seconds: float = _seconds(2.0)
    #: keep-alive comment lines on an idle subscription stream
    subscription_keepalive_seconds: float = _seconds(15.0)
    #: a stream ends after this long; the client subscribes again
    subscription_max_seconds: float = _seconds(3600.0)
    #: how long a WebSocket client has to send ``connection_init`` (closed with 4408)
    websocket_init_seconds: float = _seconds(10.0)
    #: operations one WebSocket may run at once (the next get ``too_many_operations``)
    websocket_max_operations: int = _count(20)

    @property
    def serves_graphiql(self) -> bool:
        """Whether ``GET`` from a browser shows GraphiQL."""
        return self.introspection if self.graphiql is None else self.graphiql


@attrs.frozen
class PluginsConfig:
    """``[plugins]``: which installed plugins load, and their own tables."""

    #: When set, only these entry-point plugins load.
    allow: list[str] | None = None
    block: list[str] = attrs.field(factory=list)
    #: Plugins that must be loaded and configured: their absent settings stop start-up
    #: instead of leaving them "installed, not configured" (production deployments).
    require: list[str] = attrs.field(factory=list)
    #: ``[plugins.<name>]`` sections, validated by each plugin's settings class.
    sections: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.frozen
class Config:
    """The whole configuration: one attribute per section of ``omnicore.toml``."""

    database: DatabaseConfig = attrs.field(factory=DatabaseConfig)
    outbox: OutboxConfig = attrs.field(factory=OutboxConfig)
    stock: StockConfig = attrs.field(factory=StockConfig)
    customers: CustomersConfig = attrs.field(factory=CustomersConfig)
    carts: CartsConfig = attrs.field(factory=CartsConfig)
    checkout: CheckoutConfig = attrs.field(factory=CheckoutConfig)
    orders: OrdersConfig = attrs.field(factory=OrdersConfig)
    sourcing: SourcingConfig = attrs.field(factory=SourcingConfig)
    fulfilment: FulfilmentConfig = attrs.field(factory=FulfilmentConfig)
    delivery: DeliveryConfig = attrs.field(factory=DeliveryConfig)
    gateway: GatewayConfig = attrs.field(factory=GatewayConfig)
    plugins: PluginsConfig = attrs.field(factory=PluginsConfig)


# -- reading ---------------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: {exc}", field="config") from None


def _env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
    """``OMNICORE_DATABASE_URL`` → database.url, ``OMNICORE_PLUGINS__STRIPE__SECRET_KEY`` →
    plugins.stripe.secret_key (double underscores separate levels below the first)."""
    tree: dict[str, Any] = {}
    if url := environ.get(f"{ENV_PREFIX}DATABASE_URL"):
        tree["database"] = {"url": url}
    for key, value in environ.items():
        if not key.startswith(f"{ENV_PREFIX}PLUGINS__"):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        if len(parts) < 3:
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


#: What a key of these types may hold in a file or a mapping: the converter would also
#: take ``5`` for ``"5"``, ``"12"`` for ``12`` and ``"no"`` or ``0`` for ``false`` (it
#: reads CSV files and environment variables); a TOML file writes each as what it is.
_EXACT: dict[Any, tuple[tuple[type, ...], str]] = {
    str: ((str,), "a string"),
    str | None: ((str, type(None)), "a string"),
    bool: ((bool,), "a boolean (true or false)"),
    bool | None: ((bool, type(None)), "a boolean (true or false)"),
    int: ((int,), "an integer"),
    int | None: ((int, type(None)), "an integer"),
    float: ((int, float), "a number"),
}


def _known(cls: type) -> str:
    return ", ".join(field.name for field in attrs.fields(cls))


def _shape(raw: object, cls: type, path: str, problems: list[Problem]) -> None:
    """What the converter would say less clearly, or let pass: a table that is not one, a
    key that no section has (with the keys it has), a value of another type (``_EXACT``)."""
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, "must be a table"))
        return
    fields = attrs.fields_dict(cls)
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in fields:
            problems.append(Problem(where, (
                f"is not a key of [{path}] (known: {_known(cls)})" if path
                else f"is not a configuration section (known: {_known(cls)})")))
            continue
        hint = hints[key]
        if attrs.has(hint):
            _shape(value, hint, where, problems)
        elif typing.get_origin(hint) is dict and attrs.has(typing.get_args(hint)[1]):
            if not isinstance(value, Mapping):
                problems.append(Problem(where, "must be a table"))
                continue
            for name, table in value.items():
                _shape(table, typing.get_args(hint)[1], f"{where}.{name}", problems)
        elif hint in _EXACT and not isinstance(value, _EXACT[hint][0]):
            problems.append(Problem(where, f"{value!r} is not {_EXACT[hint][1]}"))


def _plugins_tree(raw: object) -> object:
    """``[plugins]`` as ``PluginsConfig`` holds it: its own keys, and every other key
    (a ``[plugins.<name>]`` table) under ``sections``."""
    if not isinstance(raw, Mapping):
        return raw
    own = {field.name for field in attrs.fields(PluginsConfig)} - {"sections"}
    tree: dict[str, Any] = {key: value for key, value in raw.items() if key in own}
    tree["sections"] = {key: value for key, value in raw.items() if key not in own}
    return tree


def _plugin_problems(sections: object) -> list[Problem]:
    if not isinstance(sections, Mapping):
        return []
    own = ", ".join(f.name for f in attrs.fields(PluginsConfig) if f.name != "sections")
    return [Problem(f"plugins.{name}", f"is neither a key of [plugins] ({own}) nor a "
                                      "plugin's table")
            for name, table in sections.items() if not isinstance(table, Mapping)]


def _refuse(problems: list[Problem]) -> InvalidInput:
    problems = [
        Problem(p.field.replace("plugins.sections.", "plugins.") if p.field else None, p.message)
        for p in problems
    ]
    first = problems[0]
    message = first.message if len(problems) == 1 else "; ".join(
        f"{p.field}: {p.message}" if p.field else p.message for p in problems)
    return InvalidInput(message, field=first.field, problems=problems)


def _to_config(raw: Mapping[str, Any]) -> Config:
    data = dict(raw)
    if "plugins" in data:
        data["plugins"] = _plugins_tree(data["plugins"])
    problems: list[Problem] = []
    _shape(data, Config, "", problems)
    if isinstance(data.get("plugins"), Mapping):
        problems.extend(_plugin_problems(data["plugins"].get("sections")))
    if problems:
        raise _refuse(problems)
    try:
        return structure(data, Config)
    except InvalidInput as exc:  # show plugins.<name>.key, not the internal plugins.sections
        raise _refuse(exc.problems) from None


def load_config(
    overrides: Mapping[str, Any] | Config | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration from file, environment and ``overrides`` (a mapping shaped
    like omnicore.toml); a ``Config`` given as ``overrides`` is returned as it is.

    :raises InvalidInput: naming the dotted path of the first bad value (all of them in
        ``problems``); ``field`` ``config`` for a missing or malformed file.
    """
    if isinstance(overrides, Config):
        return overrides
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    file = Path(path or environ.get(f"{ENV_PREFIX}CONFIG") or "omnicore.toml")
    if file.is_file():
        raw = _read_toml(file)
    elif path is not None or environ.get(f"{ENV_PREFIX}CONFIG"):
        raise InvalidInput(f"configuration file {file} does not exist", field="config")
    raw = _deep_merge(raw, _env_tree(environ))
    raw = _deep_merge(raw, dict(overrides or {}))
    return _to_config(raw)
