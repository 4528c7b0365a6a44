"""What ``commerce.orders.import_external`` accepts, checked before anything is read or written.

Every problem raises ``InvalidInput`` naming the field (``lines[2].quantity``,
``customer.email``, ``total`` …), so a connector can log exactly what the
marketplace or the POS sent wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from omnicore.checkout import PaymentInput, split_amounts
from omnicore.customers import Identity, IdentityKind, Profile, normalise_identity
from omnicore.errors import InvalidInput
from omnicore.money import Money
from omnicore.network import Address, Channel
from omnicore.payments import EXTERNAL_PREFIX
from omnicore.serialization import structure, unstructure

__all__ = ["Buyer", "ImportLine", "ImportRequest", "check_key", "parse"]

#: payments of imported orders are recorded under the gateway ``external:<source>``
MAX_LINES = 500
MAX_QUANTITY = 100_000
EXTERNAL_ID_MAX = 128
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
CUSTOMER_KEYS = frozenset({"id", "external_id", "email", "phone", "first_name", "last_name"})
LINE_KEYS = frozenset({"sku", "quantity", "unit_price", "discount", "title",
                       "external_line_id"})
PAYMENT_KEYS = frozenset({"amount", "reference", "method", "data"})


@attrs.frozen
class ImportLine:
    id: str
    sku: str
    quantity: int
    unit_price: Money
    discount: Money
    title: str | None
    external_line_id: str | None

    @property
    def subtotal(self) -> Money:
        return self.unit_price * self.quantity

    @property
    def total(self) -> Money:
        return self.subtotal - self.discount


@attrs.frozen
class Buyer:
    """Who bought: an omnicore id, or identities to find (in this order) or create with."""

    customer_id: str | None
    identities: list[tuple[Identity, str]]
    email: str | None
    phone: str | None
    profile: Profile


@attrs.frozen
class ImportRequest:
    source: str
    external_id: str
    channel: Channel
    lines: tuple[ImportLine, ...]
    shipping: Money
    total: Money
    placed_at: dt.datetime | None
    buyer: Buyer | None
    address: dict[str, Any] | None
    recipient: str | None
    recipient_phone: str | None
    shipping_method: str
    fulfilled: bool
    location: str | None
    payments: tuple[tuple[PaymentInput, Money, str | None], ...]
    attributes: dict[str, Any]
    actor: str

    @property
    def currency(self) -> str:
        return self.channel.currency


def check_key(source: object, external_id: object) -> tuple[str, str]:
    """``(source, external_id)`` checked: the key that makes an import idempotent."""
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise InvalidInput("must be a lower-case system name such as 'amazon' or 'square' "
                           "(letters, digits, '.', '_', '-'; at most 40)", field="source")
    if (not isinstance(external_id, str) or not external_id.strip()
            or len(external_id) > EXTERNAL_ID_MAX):
        raise InvalidInput(f"must be a non-empty string of at most {EXTERNAL_ID_MAX} "
                           "characters", field="external_id")
    return source, external_id.strip()


def _money(value: object, currency: str, field: str) -> Money:
    if isinstance(value, Money):
        if value.currency != currency:
            raise InvalidInput(f"is in {value.currency}, the order is in {currency}",
                               field=field)
        money = value
    elif isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        try:
            money = Money(value, currency)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=field) from None
    else:
        raise InvalidInput("must be Money or a decimal string", field=field)
    if money.amount < 0:
        raise InvalidInput("must not be negative", field=field)
    return money


def _text(value: object, field: str, *, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"must be a string of at most {limit} characters", field=field)
    return value.strip() or None


def _mapping(value: object, field: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a mapping", field=field)
    unknown = sorted(set(value) - keys)
    if unknown:
        raise InvalidInput(f"is not a known key (known: {', '.join(sorted(keys))})",
                           field=f"{field}.{unknown[0]}")
    return value


def _lines(value: object, currency: str) -> tuple[ImportLine, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidInput("must be a list of lines", field="lines")
    if not 1 <= len(value) <= MAX_LINES:
        raise InvalidInput(f"an order has 1 to {MAX_LINES} lines", field="lines")
    parsed = []
    for index, raw in enumerate(value):
        at = f"lines[{index}]"
        item = _mapping(raw, at, LINE_KEYS)
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise InvalidInput("is required", field=f"{at}.sku")
        quantity = item.get("quantity")
        if (isinstance(quantity, bool) or not isinstance(quantity, int)
                or not 0 < quantity <= MAX_QUANTITY):
            raise InvalidInput(f"must be an integer from 1 to {MAX_QUANTITY}",
                               field=f"{at}.quantity")
        if "unit_price" not in item:
            raise InvalidInput("is required", field=f"{at}.unit_price")
        unit_price = _money(item["unit_price"], currency, f"{at}.unit_price")
        discount = _money(item.get("discount", 0), currency, f"{at}.discount")
        if discount > unit_price * quantity:
            raise InvalidInput("is more than the line's price", field=f"{at}.discount")
        parsed.append(ImportLine(
            f"oli_{secrets.token_hex(10)}", sku.strip(), quantity, unit_price, discount,
            _text(item.get("title"), f"{at}.title", limit=500),
            _text(item.get("external_line_id"), f"{at}.external_line_id")))
    return tuple(parsed)


def _buyer(value: object, source: str, region: str) -> Buyer | None:
    if value is None:
        return None
    item = _mapping(value, "customer", CUSTOMER_KEYS)
    customer_id = _text(item.get("id"), "customer.id", limit=40)
    wanted: list[tuple[Identity, str]] = []
    contact: dict[str, str] = {}
    for key, kind, kind_source in (("external_id", IdentityKind.EXTERNAL, source),
                                   ("email", IdentityKind.EMAIL, ""),
                                   ("phone", IdentityKind.PHONE, "")):
        if item.get(key) is None:
            continue
        field = f"customer.{key}"
        parsed = normalise_identity(kind, item[key], source=kind_source, region=region,
                                    field=field)
        wanted.append((Identity(parsed[0], parsed[2], parsed[1]), field))
        contact[key] = parsed[2]
    try:
        profile = Profile(item.get("first_name"), item.get("last_name"))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"customer.{exc.field}") from None
    return Buyer(customer_id, wanted, contact.get("email"), contact.get("phone"), profile)


def _address(value: object) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """The address as stored, and the ``recipient`` / ``phone`` given along with it."""
    if value is None:
        return None, None, None
    if isinstance(value, Address):
        return unstructure(value), None, None
    if not isinstance(value, Mapping):
        raise InvalidInput("must be an address", field="shipping_address")
    fields = dict(value)
    recipient = _text(fields.pop("recipient", None), "shipping_address.recipient")
    phone = _text(fields.pop("phone", None), "shipping_address.phone", limit=40)
    address = structure(fields, Address, field="shipping_address")
    return unstructure(address), recipient, phone


def _payments(value: object, total: Money, source: str
              ) -> tuple[tuple[PaymentInput, Money, str | None], ...]:
    gateway = f"{EXTERNAL_PREFIX}{source}"
    if value is None:  # the usual case: the marketplace / the till took the whole total
        return ((PaymentInput(gateway, total, {}), total, None),) if total else ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidInput("must be a list of payments", field="payments")
    parsed, references = [], []
    for index, raw in enumerate(value):
        at = f"payments[{index}]"
        item = _mapping(raw, at, PAYMENT_KEYS)
        amount = None
        if item.get("amount") is not None:
            amount = _money(item["amount"], total.currency, f"{at}.amount")
            if not amount:
                raise InvalidInput("must be more than zero", field=f"{at}.amount")
        data = item.get("data") or {}
        if not isinstance(data, Mapping):
            raise InvalidInput("must be a mapping", field=f"{at}.data")
        method = _text(item.get("method"), f"{at}.method", limit=40)
        parsed.append(PaymentInput(gateway, amount, {**data, "method": method}))
        references.append(_text(item.get("reference"), f"{at}.reference"))
    amounts = split_amounts(parsed, total)
    return tuple(zip(parsed, amounts, references, strict=True))


def _placed_at(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInput("must be a datetime with a time zone", field="placed_at")
    return value.astimezone(dt.UTC)


def _attributes(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("must be a mapping with string keys", field="attributes")
    try:
        json.dumps(dict(value))
    except (TypeError, ValueError):
        raise InvalidInput("must hold JSON values only", field="attributes") from None
    return dict(value)


def parse(
    *, source: str, external_id: str, channel: Channel, lines: object, currency: object,
    placed_at: object, customer: object, shipping: object, total: object,
    shipping_address: object, shipping_method: object, fulfilled: object, location: object,
    payments: object, attributes: object, actor: object, region: str,
) -> ImportRequest:
    """Check everything the connector sent against ``channel``; ``InvalidInput`` otherwise."""
    if currency is not None and currency != channel.currency:
        raise InvalidInput(f"channel {channel.code} sells in {channel.currency}, not "
                           f"{currency!r}", field="currency")
    code = channel.currency
    parsed_lines = _lines(lines, code)
    ship = _money(shipping if shipping is not None else 0, code, "shipping")
    zero = Money.zero(code)
    computed = sum((line.total for line in parsed_lines), zero) + ship
    if total is not None and _money(total, code, "total") != computed:
        raise InvalidInput(f"the lines and shipping add up to {computed}, not "
                           f"{_money(total, code, 'total')}", field="total")
    if not isinstance(fulfilled, bool):
        raise InvalidInput("must be true or false", field="fulfilled")
    if location is not None and (not isinstance(location, str)
                                 or channel.sells_from(location) is None):
        raise InvalidInput(f"channel {channel.code} does not sell from {location!r}",
                           field="location")
    if fulfilled and location is None:
        raise InvalidInput("a sale fulfilled at once names the location the goods left",
                           field="location")
    address, recipient, phone = _address(shipping_address)
    method = _text(shipping_method, "shipping_method", limit=64) or "standard"
    who = _text(actor, "actor", limit=100) or source
    return ImportRequest(
        source, external_id, channel, parsed_lines, ship, computed, _placed_at(placed_at),
        _buyer(customer, source, region), address, recipient, phone, method, fulfilled,
        location, _payments(payments, computed, source), _attributes(attributes), who)
