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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import update

from omnicore.carts import _abandonment, _continuity, _delivery, _handoff, _transaction
from omnicore.carts import _lines as lines_
from omnicore.carts._continuity import rehold_for
from omnicore.carts._holds import StockWork
from omnicore.carts._models import (
    Cart,
    CartLine,
    CartSettings,
    CartStatus,
    Fulfilment,
    Handoff,
    TrailEntry,
)
from omnicore.carts._state import (
    check_actor,
    check_version,
    create_cart,
    line_rows,
    load_cart,
    lock_open,
    open_cart_of,
    reload,
    resolve_merged,
)
from omnicore.carts._transaction import Apply, Work
from omnicore.customers import resolve
from omnicore.delivery import DeliveryGroup
from omnicore.errors import Conflict, InvalidInput
from omnicore.network import Channel, get_channel
from omnicore.pricing import Totals, normalise_code
from omnicore.pricing import validate as validate_cart
from omnicore.store.tables import carts

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.delivery import DeliveryService
    from omnicore.money import Money
    from omnicore.pricing import PricingService, PromotionService
    from omnicore.stock import StockService
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
CODES_FIELD = "discount_codes"
MAX_NOTE = 2000
MAX_ATTRIBUTES = 50
_UNSET: Any = object()


class CartService:
    """Carts: lines and their stock holds, channels, sign-in merges, hand-off, abandonment.

    :param commerce: handed to the plugins' ``validate_cart`` hook (``validate``).
    :param settings: ``[carts]`` of the configuration.
    :param stock: for the default low-stock threshold of the stock events a change emits.
    :param promotions: checks the discount codes a cart is given.
    :param pricing: prices a cart (``totals``).
    :param delivery: checks the delivery groups a cart is given.
    """

    def __init__(
        self, commerce: Commerce, *, settings: CartSettings, stock: StockService,
        promotions: PromotionService, pricing: PricingService, delivery: DeliveryService,
    ) -> None:
        self._commerce = commerce
        self._uow = commerce.uow
        self.settings = settings
        self._stock = stock
        self._promotions = promotions
        self._pricing = pricing
        self._delivery = delivery

    async def _run(self, work: Work[T]) -> T:
        """Run ``work`` in one transaction, again when stock moved under it."""
        return await _transaction.run(self._uow, self._stock.low_threshold, work)

    async def _change(
        self, cart_id: str, version: object, channel: str | None, actor: object, change: str,
        apply: Apply,
    ) -> Cart:
        """Claim, resume on ``channel`` if needed, ``apply``, emit ``cart.updated``."""
        return await _transaction.change(self._uow, self._stock.low_threshold, cart_id, version,
                                         channel, actor, change, apply)

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
            return await create_cart(tx, channel, currency, customer_id, who)

        return await self._run(work)

    async def get(self, cart_id: str) -> Cart:
        """The cart, read-only; a merged cart's id gives the cart it was merged into.

        ``get`` never writes: lines whose hold expired show ``held=False`` (and
        ``available`` says whether the channel could still supply them) until
        ``refresh`` or a change holds them again.
        """
        async with self._uow.read() as tx:
            return await load_cart(tx, await resolve_merged(tx, cart_id))

    async def owner(self, cart_id: str) -> str | None:
        """The customer the cart belongs to (``None``: a guest's cart), following merges
        as ``get`` does; ``NotFound`` for an unknown id. One small read, for access checks."""
        async with self._uow.read() as tx:
            customer_id: str | None = (await resolve_merged(tx, cart_id)).customer_id
            return customer_id

    async def open_cart_for(self, customer_id: str) -> Cart | None:
        """The customer's open cart (most recently touched), whatever its channel."""
        async with self._uow.read() as tx:
            customer = await resolve(tx, customer_id)
            row = await open_cart_of(tx, customer.id)
            return None if row is None else await load_cart(tx, row)

    # -- lines --------------------------------------------------------------------------------

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
            await self._promotions.check_code(
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
        return await self.totals_of(await self.get(cart_id), shipping=shipping)

    async def totals_of(self, cart: Cart, *, shipping: Money | None = None) -> Totals:
        """Price ``cart`` as given (a cart just read or changed), without reading it again."""
        return await self._pricing.price(
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
            return await _continuity.resume(tx, stock, cart_id, channel, who)

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
            return await _continuity.attach_customer(tx, stock, cart_id, checked, customer_id,
                                                     who, maximum)

        return await self._run(work)

    # -- delivery ------------------------------------------------------------------------------

    async def set_delivery(
        self, cart_id: str, groups: Sequence[DeliveryGroup | Mapping[str, Any]], *,
        version: int, channel: str | None = None, actor: str | None = None,
    ) -> Cart:
        """Choose how the cart is delivered: one or several ``DeliveryGroup``.

        Each group is checked by ``commerce.delivery.resolve`` (method, zone, a pickup
        store that can do pickup, a relay point inside the method's zone …); keys must
        be unique. An empty list clears the choice.
        """
        cart = await self.get(cart_id)
        stored = await _delivery.resolve_groups(self._delivery, groups, channel or cart.channel)

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            await _delivery.store_groups(tx, row.id, stored)

        return await self._change(cart_id, version, channel, actor, "delivery_updated", apply)

    # -- hand-off to a store associate ---------------------------------------------------------

    async def handoff_code(self, cart_id: str, *, version: int) -> Handoff:
        """A single-use code (8 characters, valid ``[carts] handoff_code_minutes``) the
        customer shows an associate; replaces an earlier one."""
        checked = check_version(version)

        async def work(tx: Tx, stock: StockWork) -> Handoff:
            return await _handoff.offer_code(tx, cart_id, checked, self.settings.handoff_ttl)

        return await self._run(work)

    async def allow_handoff(self, cart_id: str, *, version: int, allowed: bool = True) -> Cart:
        """The customer consents (for ``handoff_code_minutes``) to an associate taking the
        cart over without a code; ``allowed=False`` withdraws consent and any code."""
        if not isinstance(allowed, bool):
            raise InvalidInput("must be true or false", field="allowed")

        async def apply(tx: Tx, stock: StockWork, row: Any, current: Channel) -> None:
            await _handoff.set_consent(tx, row, allowed, self.settings.handoff_ttl)

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
            return await _handoff.take_over(tx, stock, code=code, cart_id=cart_id,
                                            channel_code=channel, associate=associate)

        return await self._run(work)

    # -- abandonment ---------------------------------------------------------------------------

    async def sweep_abandoned(self, *, idle: dt.timedelta | None = None, limit: int = 100) -> int:
        """Emit ``cart.abandoned`` once for each open cart with lines untouched for ``idle``
        (default ``[carts] abandon_after_minutes``); returns how many this call emitted."""
        wait = self.settings.abandon_after if idle is None else idle
        if not isinstance(wait, dt.timedelta) or wait.total_seconds() <= 0:
            raise InvalidInput("must be a positive duration", field="idle")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput("must be a positive integer", field="limit")
        return await _abandonment.sweep(self._uow, wait, limit)


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
