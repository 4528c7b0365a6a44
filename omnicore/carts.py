"""``commerce.carts``: one cart across the web shop, the app and the store (DESIGN.md §1).

    cart = await commerce.carts.create("web")
    cart = await commerce.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2}],
                                          version=cart.version)
    cart = await commerce.carts.resume(cart.id, channel="app")

The cart id is unguessable and is the capability to read and change the cart.
Every change carries the ``version`` it read and fails with ``Conflict``
(``version``) when another change came first; every change that succeeds adds
one to it. Lines hold their stock for the channel's ``hold_ttl`` in the same
transaction as the change: a change that cannot be held fails whole. See
docs/carts.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError

from omnicore import cart_lines as lines_
from omnicore.cart_abandonment import abandoned_payload, claim_abandoned
from omnicore.cart_continuity import merge_carts, open_cart_of, rehold_for, switch_channel
from omnicore.cart_handoff import issue_code, take_over
from omnicore.cart_holds import Contention, StockWork
from omnicore.cart_models import (
    Cart,
    CartLine,
    CartSettings,
    CartStatus,
    Fulfilment,
    Handoff,
    TrailEntry,
)
from omnicore.cart_state import (
    add_trail,
    cart_payload,
    channel_for,
    check_actor,
    check_version,
    claim,
    line_rows,
    load_cart,
    lock_open,
    new_cart_id,
    reload,
    resolve_merged,
)
from omnicore.channels import Channel, ChannelKind, get_channel
from omnicore.customer_identity import resolve
from omnicore.errors import Conflict, Forbidden, InvalidInput, NotFound, OutOfStock
from omnicore.pricing import Totals
from omnicore.pricing import validate as validate_cart
from omnicore.promotion_rules import normalise_code
from omnicore.store.tables import carts

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.money import Money
    from omnicore.store.uow import Tx

__all__ = [
    "Cart",
    "CartLine",
    "CartService",
    "CartSettings",
    "CartStatus",
    "Fulfilment",
    "Handoff",
    "TrailEntry",
]

T = TypeVar("T")
ATTEMPTS = 8
CODES_FIELD = "discount_codes"
MAX_NOTE = 2000
MAX_ATTRIBUTES = 50
_UNSET: Any = object()


def _retryable(exc: DBAPIError) -> bool:
    """A PostgreSQL deadlock or serialization failure: the transaction may simply rerun."""
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in ("40P01", "40001")


class CartService:
    """Carts: lines and their stock holds, channels, sign-in merges, hand-off, abandonment."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow
        self.settings = CartSettings.from_config(commerce.config.extra)

    async def _run(self, work: Callable[[Tx, StockWork], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, again when stock moved under it."""
        for attempt in range(ATTEMPTS):
            try:
                async with self._uow() as tx:
                    stock = StockWork(tx, self.settings.low_threshold)
                    result = await work(tx, stock)
                    await stock.finish()
                    return result
            except Contention:
                continue
            except DBAPIError as exc:
                if attempt + 1 < ATTEMPTS and _retryable(exc):
                    continue
                raise
        raise OutOfStock("the stock of this cart is selling too fast to hold: try again")

    # -- creating and reading ----------------------------------------------------------------

    async def create(
        self, channel: str, *, currency: str | None = None, customer_id: str | None = None,
        actor: str | None = None,
    ) -> Cart:
        """A new open cart on ``channel`` (at version 1); emits ``cart.created``.

        ``currency`` defaults to the channel's; another one is ``InvalidInput``.
        A customer who already has an open cart gets ``Conflict`` (``customer_id``):
        continue that one (``open_cart_for``, ``resume``).
        """
        who = check_actor(actor)

        async def work(tx: Tx, stock: StockWork) -> Cart:
            chosen = await channel_for(tx, channel)
            if currency is not None and currency != chosen.currency:
                raise InvalidInput(f"channel {chosen.code} sells in {chosen.currency}",
                                   field="currency")
            owner = None
            if customer_id is not None:
                owner = (await resolve(tx, customer_id, lock=True)).id
                if await open_cart_of(tx, owner) is not None:
                    raise Conflict("the customer has an open cart: continue it (open_cart_for)",
                                   field="customer_id")
            cart_id = new_cart_id()
            await tx.conn.execute(insert(carts).values(
                id=cart_id, channel_code=chosen.code, currency=chosen.currency,
                customer_id=owner, status=CartStatus.OPEN.value, version=1, note=None,
                attributes={}, discount_codes=[], handoff_consent=False, created_at=tx.now,
                updated_at=tx.now,
            ))
            await add_trail(tx, cart_id, chosen.code, "created", who)
            cart = await reload(tx, cart_id)
            tx.emit("cart.created", cart_payload(cart, actor=who))
            return cart

        return await self._run(work)

    async def get(self, cart_id: str) -> Cart:
        """The cart, read-only; a merged cart's id gives the cart it was merged into.

        ``get`` never writes: lines whose hold expired show ``held=False`` (and
        ``available`` says whether the channel could still supply them) until
        ``refresh`` or a change holds them again.
        """
        async with self._uow.read() as tx:
            return await load_cart(tx, await resolve_merged(tx, cart_id))

    async def open_cart_for(self, customer_id: str) -> Cart | None:
        """The customer's open cart (most recently touched), whatever its channel."""
        async with self._uow.read() as tx:
            customer = await resolve(tx, customer_id)
            row = await open_cart_of(tx, customer.id)
            return None if row is None else await load_cart(tx, row)

    # -- lines --------------------------------------------------------------------------------

    async def _change(
        self, cart_id: str, version: object, channel: str | None, actor: object, change: str,
        apply: Callable[[Tx, StockWork, Any, Channel], Awaitable[None]],
    ) -> Cart:
        checked, who = check_version(version), check_actor(actor)

        async def work(tx: Tx, stock: StockWork) -> Cart:
            row = await claim(tx, cart_id, checked)
            current = await get_channel(tx, row.channel_code)
            if channel is not None and channel != row.channel_code:
                current = await self._switch(tx, stock, row, channel, who)
            await apply(tx, stock, row, current)
            cart = await reload(tx, row.id)
            tx.emit("cart.updated", cart_payload(cart, change=change, actor=who))
            return cart

        return await self._run(work)

    async def _switch(
        self, tx: Tx, stock: StockWork, row: Any, code: str, actor: str | None
    ) -> Channel:
        target = await channel_for(tx, code)
        if target.kind is ChannelKind.STORE:
            raise Forbidden("a store channel takes a cart over with take_over (the customer's "
                            "code or consent)", field="channel")
        await switch_channel(tx, stock, row, target)
        await add_trail(tx, row.id, target.code, "resumed", actor)
        return target

    async def add_lines(
        self, cart_id: str, lines: list[Mapping[str, Any]], *, version: int,
        channel: str | None = None, actor: str | None = None,
    ) -> Cart:
        """Add ``[{"sku", "quantity", "fulfilment": "ship"|"pickup", "location"}, …]``.

        A SKU the cart has with the same fulfilment and location adds to that line.
        Each new or grown line is held for the channel (a pickup line at its store);
        ``OutOfStock`` (``lines[i].quantity``) when one cannot be: nothing changes.
        ``channel``: the channel the change comes from; when it is not the cart's,
        the cart is resumed there first.
        """
        maximum = self.settings.max_quantity_per_line
        requests = lines_.parse_lines(lines, maximum)

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            rows = await line_rows(tx, row.id)
            await lines_.add_lines(tx, stock, current, row.id, rows, requests, maximum)

        return await self._change(cart_id, version, channel, actor, "lines_added", apply)

    async def update_lines(
        self, cart_id: str, updates: list[Mapping[str, Any]], *, version: int,
        channel: str | None = None, actor: str | None = None,
    ) -> Cart:
        """Set quantities: ``[{"line_id", "quantity"}, …]`` (errors name ``lines[i]``).

        A grown line is held again for its new quantity or the change fails with
        ``OutOfStock``; a shrunk line never fails (if it cannot be held it stays
        unavailable). Remove a line with ``remove_lines``, not quantity 0.
        """
        parsed = lines_.parse_updates(updates, self.settings.max_quantity_per_line)

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            rows = await line_rows(tx, row.id)
            await lines_.update_lines(tx, stock, current, row.id, rows, parsed)

        return await self._change(cart_id, version, channel, actor, "lines_updated", apply)

    async def remove_lines(
        self, cart_id: str, line_ids: list[str], *, version: int, channel: str | None = None,
        actor: str | None = None,
    ) -> Cart:
        """Remove lines and release their holds."""
        parsed = lines_.parse_line_ids(line_ids)

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            rows = await line_rows(tx, row.id)
            await lines_.remove_lines(tx, stock, current, row.id, rows, parsed)

        return await self._change(cart_id, version, channel, actor, "lines_removed", apply)

    async def set_fulfilment(
        self, cart_id: str, line_id: str, fulfilment: str = "ship", location: str | None = None,
        *, version: int, channel: str | None = None, actor: str | None = None,
    ) -> Cart:
        """Ship (from the channel's choice, or from ``location``: ship-from-store) or pick
        up at ``location``; the line's units are held there, or ``OutOfStock``."""
        chosen, place = lines_.check_fulfilment(fulfilment, location)
        maximum = self.settings.max_quantity_per_line

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            rows = await line_rows(tx, row.id)
            await lines_.set_fulfilment(tx, stock, current, row.id, rows, line_id, chosen, place,
                                        maximum)

        return await self._change(cart_id, version, channel, actor, "fulfilment_changed", apply)

    async def update(
        self, cart_id: str, *, version: int, note: str | None = _UNSET,
        attributes: Mapping[str, str] = _UNSET, actor: str | None = None,
    ) -> Cart:
        """Replace the cart's note and/or attributes (``{str: str}``, at most 50)."""
        values: dict[str, Any] = {}
        if note is not _UNSET:
            if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
                raise InvalidInput(f"must be text of at most {MAX_NOTE} characters", field="note")
            values["note"] = note or None
        if attributes is not _UNSET:
            values["attributes"] = _attributes(attributes)

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            if values:
                await tx.conn.execute(update(carts).where(carts.c.id == row.id).values(**values))

        return await self._change(cart_id, version, None, actor, "details_updated", apply)

    # -- codes, totals, validation ------------------------------------------------------------

    async def apply_codes(
        self, cart_id: str, codes: list[str], *, version: int, actor: str | None = None
    ) -> Cart:
        """Add discount codes, each checked by ``commerce.promotions.check_code`` for the
        cart's channel and customer; a refused code raises its error and nothing changes."""
        if isinstance(codes, str) or not isinstance(codes, list) or not codes:
            raise InvalidInput("give a list of at least one code", field=CODES_FIELD)
        normal = [normalise_code(code, CODES_FIELD) for code in codes]
        check_version(version)
        cart = await self.get(cart_id)
        for code in normal:
            await self._commerce.promotions.check_code(
                code, channel=cart.channel, customer_id=cart.customer_id
            )

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            if row.channel_code != cart.channel or row.customer_id != cart.customer_id:
                raise Conflict("the cart changed while its codes were checked", field="version")
            united = list(dict.fromkeys([*(row.discount_codes or []), *normal]))
            await tx.conn.execute(
                update(carts).where(carts.c.id == row.id).values(discount_codes=united))

        return await self._change(cart_id, version, None, actor, "codes_applied", apply)

    async def remove_codes(
        self, cart_id: str, codes: list[str], *, version: int, actor: str | None = None
    ) -> Cart:
        """Remove discount codes (codes the cart does not have are ignored)."""
        if isinstance(codes, str) or not isinstance(codes, list):
            raise InvalidInput("give a list of codes", field=CODES_FIELD)
        gone = {normalise_code(code, CODES_FIELD) for code in codes}

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            kept = [c for c in row.discount_codes or [] if c not in gone]
            await tx.conn.execute(
                update(carts).where(carts.c.id == row.id).values(discount_codes=kept))

        return await self._change(cart_id, version, None, actor, "codes_removed", apply)

    async def totals(self, cart_id: str, *, shipping: Money | None = None) -> Totals:
        """Price the cart now (``commerce.pricing.price``): prices, promotions, codes, taxes."""
        cart = await self.get(cart_id)
        return await self._commerce.pricing.price(
            channel=cart.channel, currency=cart.currency,
            lines=[(line.id, line.sku, line.quantity) for line in cart.lines],
            codes=cart.discount_codes, customer_id=cart.customer_id, shipping=shipping,
        )

    async def validate(self, cart_id: str) -> Cart:
        """Ask the plugins' ``validate_cart`` about the cart; ``InvalidInput`` listing every
        problem when one objects, else the cart."""
        cart = await self.get(cart_id)
        await validate_cart(self._commerce, cart)
        return cart

    # -- holds and channels -------------------------------------------------------------------

    async def refresh(self, cart_id: str) -> Cart:
        """Hold again every line whose hold expired, was revoked or cut short.

        A line that cannot be held stays unavailable (``CartLine.available``,
        ``available_quantity``). Not a change of the cart: the version stays.
        """
        async def work(tx: Tx, stock: StockWork) -> Cart:
            row = await lock_open(tx, cart_id)
            await rehold_for(tx, stock, await get_channel(tx, row.channel_code), row.id)
            return await reload(tx, row.id)

        return await self._run(work)

    async def resume(self, cart_id: str, *, channel: str, actor: str | None = None) -> Cart:
        """Continue the cart on ``channel`` (the phone after the laptop).

        Records ``resumed`` in the trail, moves the cart to the channel and its
        currency, and holds again the lines the channel cannot keep as they are
        (lines that cannot be held are reported unavailable). On the cart's own
        channel it is a ``refresh``. A store channel takes a cart over with
        ``take_over`` instead (``Forbidden``).
        """
        who = check_actor(actor)

        async def work(tx: Tx, stock: StockWork) -> Cart:
            row = await lock_open(tx, cart_id)
            if channel == row.channel_code:
                await rehold_for(tx, stock, await get_channel(tx, row.channel_code), row.id)
                return await reload(tx, row.id)
            row = await claim(tx, cart_id, None)
            previous = row.channel_code
            await self._switch(tx, stock, row, channel, who)
            cart = await reload(tx, row.id)
            tx.emit("cart.updated", cart_payload(cart, change="resumed", actor=who,
                                                 previous_channel=previous))
            return cart

        return await self._run(work)

    async def attach_customer(
        self, cart_id: str, customer_id: str, *, version: int, actor: str | None = None
    ) -> Cart:
        """The shopper signed in: the cart becomes the customer's.

        When the customer already has an open cart, this cart is merged into it
        (docs/carts.md, "Merge on sign-in") and the surviving cart is returned;
        its id is the one to use from now on. Emits ``cart.merged`` or ``cart.updated``.
        """
        checked, who = check_version(version), check_actor(actor)
        maximum = self.settings.max_quantity_per_line

        async def work(tx: Tx, stock: StockWork) -> Cart:
            row = await claim(tx, cart_id, checked)
            customer = await resolve(tx, customer_id, lock=True)
            if row.customer_id is not None:
                try:
                    owner = (await resolve(tx, row.customer_id)).id
                except NotFound:
                    owner = None
                if owner == customer.id:
                    return await reload(tx, row.id)
                raise Conflict("the cart belongs to another customer", field="customer_id")
            other = await open_cart_of(tx, customer.id, other_than=row.id)
            if other is None:
                await tx.conn.execute(
                    update(carts).where(carts.c.id == row.id).values(customer_id=customer.id))
                cart = await reload(tx, row.id)
                tx.emit("cart.updated", cart_payload(cart, change="customer_attached", actor=who))
                return cart
            channel = await get_channel(tx, row.channel_code)
            await merge_carts(tx, stock, row, other.id, channel, who, maximum)
            cart = await reload(tx, other.id)
            tx.emit("cart.merged", cart_payload(cart, merged_cart_id=row.id, actor=who))
            return cart

        return await self._run(work)

    # -- hand-off to a store associate --------------------------------------------------------

    async def handoff_code(self, cart_id: str, *, version: int) -> Handoff:
        """A single-use code (8 characters, valid ``[carts] handoff_code_minutes``) the
        customer shows an associate; replaces an earlier one."""
        checked = check_version(version)

        async def work(tx: Tx, stock: StockWork) -> Handoff:
            row = await claim(tx, cart_id, checked)
            handoff = await issue_code(tx, row, self.settings.handoff_ttl)
            cart = await reload(tx, row.id)
            tx.emit("cart.updated", cart_payload(cart, change="handoff_offered", actor=None,
                                                 handoff_expires_at=handoff.expires_at.isoformat()))
            return handoff

        return await self._run(work)

    async def allow_handoff(self, cart_id: str, *, version: int, allowed: bool = True) -> Cart:
        """The customer consents (for ``handoff_code_minutes``) to an associate taking the
        cart over without a code; ``allowed=False`` withdraws consent and any code."""
        if not isinstance(allowed, bool):
            raise InvalidInput("must be true or false", field="allowed")
        values: dict[str, Any] = {"handoff_consent": allowed}
        if not allowed:
            values.update(handoff_code=None, handoff_expires_at=None)

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            if allowed:
                values["handoff_expires_at"] = tx.now + self.settings.handoff_ttl
            await tx.conn.execute(update(carts).where(carts.c.id == row.id).values(**values))

        change = "handoff_allowed" if allowed else "handoff_withdrawn"
        return await self._change(cart_id, version, None, None, change, apply)

    async def take_over(
        self, *, code: str | None = None, cart_id: str | None = None, channel: str,
        associate: str,
    ) -> Cart:
        """An associate on a ``store`` channel takes the cart over, with the customer's
        code (single use) or consent; else ``Forbidden`` (``code``; ``channel`` for a
        channel that is not a store). The cart moves to the store channel (trail
        ``handed_off``, actor = the associate); emits ``cart.handed_off``."""
        async def work(tx: Tx, stock: StockWork) -> Cart:
            row, previous = await take_over(tx, stock, code=code, cart_id=cart_id,
                                            channel_code=channel, associate=associate)
            cart = await reload(tx, row.id)
            tx.emit("cart.handed_off", cart_payload(cart, associate=associate,
                                                    previous_channel=previous))
            return cart

        return await self._run(work)

    # -- abandonment --------------------------------------------------------------------------

    async def sweep_abandoned(self, *, idle: dt.timedelta | None = None, limit: int = 100) -> int:
        """Emit ``cart.abandoned`` once for each open cart with lines untouched for ``idle``
        (default ``[carts] abandon_after_minutes``); returns how many this call emitted."""
        wait = self.settings.abandon_after if idle is None else idle
        if not isinstance(wait, dt.timedelta) or wait.total_seconds() <= 0:
            raise InvalidInput("must be a positive duration", field="idle")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput("must be a positive integer", field="limit")
        emitted = 0
        while True:
            async with self._uow() as tx:
                won, seen = await claim_abandoned(tx, wait, limit)
                for found in won:
                    tx.emit("cart.abandoned", await abandoned_payload(tx, found))
            emitted += len(won)
            if seen < limit:
                return emitted


def _attributes(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a mapping of text to text", field="attributes")
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {MAX_ATTRIBUTES} attributes", field="attributes")
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise InvalidInput("keys are 1 to 100 characters", field="attributes")
        if not isinstance(item, str) or len(item) > 1000:
            raise InvalidInput("must be text of at most 1000 characters",
                               field=f"attributes.{key}")
    return dict(value)
