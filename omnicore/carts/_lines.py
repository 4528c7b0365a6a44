"""Cart lines: parse what the storefront asks for, then add, change or remove lines.

A cart holds at most one line per (SKU, fulfilment, location): adding a SKU the
cart already has the same way adds to that line's quantity. Each function runs
inside the transaction that claimed the cart (``cart_state.claim``) and returns
the holds to replace (``cart_holds.Need``); the caller takes them, then writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import delete, insert, update

from omnicore.carts._holds import Need, StockWork
from omnicore.carts._models import Fulfilment
from omnicore.carts._state import new_line_id
from omnicore.catalog import existing_skus
from omnicore.errors import InvalidInput, NotFound
from omnicore.network import Capability, get_location
from omnicore.store.tables import cart_lines

if TYPE_CHECKING:
    from omnicore.network import Channel
    from omnicore.store.uow import Tx

LINE_KEYS = frozenset({"sku", "quantity", "fulfilment", "location"})
MAX_LINES_PER_CALL = 200


@attrs.frozen
class LineRequest:
    """One line asked for: ``field`` prefixes its errors (``lines[2]``)."""

    field: str
    sku: str
    quantity: int
    fulfilment: Fulfilment
    location: str | None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.sku, self.fulfilment.value, self.location)


def check_quantity(value: object, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{value!r} is not an integer", field=field)
    if value <= 0:
        raise InvalidInput("must be greater than 0 (remove the line instead)", field=field)
    if value > maximum:
        raise InvalidInput(f"at most {maximum} per line", field=field)
    return value


def check_fulfilment(
    value: object, location: object, prefix: str = ""
) -> tuple[Fulfilment, str | None]:
    """A fulfilment and its location; errors name ``<prefix>.fulfilment`` / ``.location``."""
    dot = f"{prefix}." if prefix else ""
    try:
        fulfilment = Fulfilment(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise InvalidInput("must be 'ship' or 'pickup'", field=f"{dot}fulfilment") from None
    if location is not None and (not isinstance(location, str) or not location):
        raise InvalidInput("must be a location code", field=f"{dot}location")
    if fulfilment is Fulfilment.PICKUP and location is None:
        raise InvalidInput("a pickup line needs its pickup location", field=f"{dot}location")
    return fulfilment, location


def _sequence(value: object, name: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidInput("must be a list", field=name)
    if not value:
        raise InvalidInput("give at least one", field=name)
    if len(value) > MAX_LINES_PER_CALL:
        raise InvalidInput(f"at most {MAX_LINES_PER_CALL} per call", field=name)
    return value


def parse_lines(lines: object, maximum: int) -> list[LineRequest]:
    """``[{"sku", "quantity", "fulfilment"="ship", "location"=None}, …]`` → requests."""
    parsed = []
    for index, item in enumerate(_sequence(lines, "lines")):
        field = f"lines[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("must be {sku, quantity, fulfilment, location}", field=field)
        for key in item:
            if key not in LINE_KEYS:
                raise InvalidInput("unknown field", field=f"{field}.{key}")
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku:
            raise InvalidInput("must be a SKU", field=f"{field}.sku")
        quantity = check_quantity(item.get("quantity"), f"{field}.quantity", maximum)
        fulfilment, location = check_fulfilment(
            item.get("fulfilment", "ship"), item.get("location"), field
        )
        parsed.append(LineRequest(field, sku, quantity, fulfilment, location))
    return parsed


def parse_updates(updates: object, maximum: int) -> list[tuple[str, str, int]]:
    """``[{"line_id", "quantity"}, …]`` → (field, line id, quantity)."""
    parsed, seen = [], set()
    for index, item in enumerate(_sequence(updates, "lines")):
        field = f"lines[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("must be {line_id, quantity}", field=field)
        for key in item:
            if key not in ("line_id", "quantity"):
                raise InvalidInput("unknown field", field=f"{field}.{key}")
        line_id = item.get("line_id")
        if not isinstance(line_id, str) or not line_id:
            raise InvalidInput("must be a line id", field=f"{field}.line_id")
        if line_id in seen:
            raise InvalidInput("this line is listed twice", field=f"{field}.line_id")
        seen.add(line_id)
        parsed.append((field, line_id, check_quantity(item.get("quantity"),
                                                       f"{field}.quantity", maximum)))
    return parsed


def parse_line_ids(line_ids: object) -> list[str]:
    ids = list(_sequence(line_ids, "line_ids"))
    for index, line_id in enumerate(ids):
        if not isinstance(line_id, str) or not line_id:
            raise InvalidInput("must be a line id", field=f"line_ids[{index}]")
    return ids


async def check_location(
    tx: Tx, channel: Channel, fulfilment: Fulfilment, location: str | None, field: str
) -> None:
    """A pickup store must offer pickup; a ship-from store must ship; the channel sells
    from both."""
    if location is None:
        return
    found = await get_location(tx, location, field=field)
    if not found.active:
        raise InvalidInput(f"location {location} is not active", field=field)
    if fulfilment is Fulfilment.PICKUP and not found.can(Capability.PICKUP):
        raise InvalidInput(f"{location} does not offer pickup", field=field)
    if fulfilment is Fulfilment.SHIP and not (
        found.can(Capability.SHIP_FROM_STORE) or found.can(Capability.SHIP)
    ):
        raise InvalidInput(f"{location} does not ship", field=field)
    if channel.sells_from(location) is None:
        raise InvalidInput(f"channel {channel.code} does not sell from {location}", field=field)


def _key(row: Any) -> tuple[str, str, str | None]:
    return (row.sku, row.fulfilment, row.pickup_location)


async def add_lines(
    tx: Tx, stock: StockWork, channel: Channel, cart_id: str, rows: Sequence[Any],
    requests: Sequence[LineRequest], maximum: int,
) -> None:
    known = await existing_skus(tx, sorted({r.sku for r in requests}))
    for request in requests:
        if request.sku not in known:
            raise NotFound(f"no variant {request.sku!r}", field=f"{request.field}.sku")
        await check_location(tx, channel, request.fulfilment, request.location,
                             f"{request.field}.location")
    existing = {_key(r): r for r in rows}
    wanted: dict[tuple[str, str, str | None], tuple[LineRequest, int]] = {}
    for request in requests:
        before = wanted[request.key][1] if request.key in wanted else (
            existing[request.key].quantity if request.key in existing else 0)
        total = before + request.quantity
        if total > maximum:
            raise InvalidInput(f"the line would hold {total}, above the maximum of {maximum}",
                               field=f"{request.field}.quantity")
        wanted[request.key] = (request, total)
    new_ids = {key: new_line_id() for key in wanted if key not in existing}
    needs = [
        Need(
            existing[key].id if key in existing else new_ids[key], request.sku, total,
            request.location, existing[key].hold_id if key in existing else None,
            strict=True, field=f"{request.field}.quantity",
        )
        for key, (request, total) in wanted.items()
    ]
    taken = await stock.rehold(channel, cart_id, needs)
    position = max((r.position for r in rows), default=-1) + 1
    for key, (request, total) in wanted.items():
        if key in existing:
            await _write(tx, existing[key].id, quantity=total, hold_id=taken[existing[key].id])
        else:
            line_id = new_ids[key]
            await tx.conn.execute(insert(cart_lines).values(
                id=line_id, cart_id=cart_id, sku=request.sku, quantity=total,
                fulfilment=request.fulfilment.value, pickup_location=request.location,
                hold_id=taken[line_id], position=position, added_at=tx.now,
            ))
            position += 1


async def update_lines(
    tx: Tx, stock: StockWork, channel: Channel, cart_id: str, rows: Sequence[Any],
    updates: Sequence[tuple[str, str, int]],
) -> None:
    by_id = {r.id: r for r in rows}
    needs = []
    for field, line_id, quantity in updates:
        row = by_id.get(line_id)
        if row is None:
            raise NotFound("no such line in this cart", field=f"{field}.line_id")
        if quantity != row.quantity:
            # More units must be held or the change fails; fewer never fail.
            needs.append(Need(row.id, row.sku, quantity, row.pickup_location, row.hold_id,
                              strict=quantity > row.quantity, field=f"{field}.quantity"))
    taken = await stock.rehold(channel, cart_id, needs)
    for need in needs:
        await _write(tx, need.line_id, quantity=need.quantity, hold_id=taken[need.line_id])


async def remove_lines(
    tx: Tx, stock: StockWork, channel: Channel, cart_id: str, rows: Sequence[Any],
    line_ids: Sequence[str],
) -> None:
    by_id = {r.id: r for r in rows}
    needs = []
    for index, line_id in enumerate(line_ids):
        row = by_id.get(line_id)
        if row is None:
            raise NotFound("no such line in this cart", field=f"line_ids[{index}]")
        needs.append(Need(row.id, row.sku, 0, None, row.hold_id))
    await stock.rehold(channel, cart_id, needs)
    await tx.conn.execute(delete(cart_lines).where(cart_lines.c.id.in_(sorted(set(line_ids)))))


async def set_fulfilment(
    tx: Tx, stock: StockWork, channel: Channel, cart_id: str, rows: Sequence[Any],
    line_id: object, fulfilment: Fulfilment, location: str | None, maximum: int,
) -> None:
    """Change how a line reaches the customer; it joins a line already fulfilled that way."""
    row = next((r for r in rows if r.id == line_id), None)
    if row is None:
        raise NotFound("no such line in this cart", field="line_id")
    await check_location(tx, channel, fulfilment, location, "location")
    key = (row.sku, fulfilment.value, location)
    if key == _key(row):
        return
    twin = next((r for r in rows if _key(r) == key), None)
    if twin is None:
        taken = await stock.rehold(channel, cart_id, [
            Need(row.id, row.sku, row.quantity, location, row.hold_id, strict=True)])
        await _write(tx, row.id, fulfilment=fulfilment.value, pickup_location=location,
                     hold_id=taken[row.id])
        return
    total = twin.quantity + row.quantity
    if total > maximum:
        raise InvalidInput(f"the line would hold {total}, above the maximum of {maximum}",
                           field="quantity")
    taken = await stock.rehold(channel, cart_id, [
        Need(row.id, row.sku, 0, None, row.hold_id),
        Need(twin.id, twin.sku, total, location, twin.hold_id, strict=True),
    ])
    await tx.conn.execute(delete(cart_lines).where(cart_lines.c.id == row.id))
    await _write(tx, twin.id, quantity=total, hold_id=taken[twin.id])


async def _write(tx: Tx, line_id: str, **values: Any) -> None:
    await tx.conn.execute(update(cart_lines).where(cart_lines.c.id == line_id).values(**values))
