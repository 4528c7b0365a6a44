"""Storefront carts: ``cart(id)`` and the ``cart…`` mutations over ``commerce.carts``.

Who reaches a cart: whoever holds its unguessable id, through a channel token of
this retailer (one ``Commerce``, one database), while the cart has no customer.
Once a customer owns it (created signed in, ``cartBuyerIdentityUpdate``, a merge
on sign-in) only that customer's token reaches it; any other caller is answered
exactly as for an unknown id. Changes name the caller's channel, so the core
continues the cart there (the phone after the laptop) and refuses store channels
(an associate takes a cart over through the admin API, with the customer's code).
Every change carries the ``version`` the client read: a stale one is a
``conflict`` userError, and the client reads the cart again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import graphene

from omnicore.carts import Cart
from omnicore.errors import Conflict, NotFound
from omnicore.gateway.context import RequestContext
from omnicore.gateway.errors import UserErrorType, mutation_result
from omnicore.gateway.storefront.cart_types import (
    AttributeInput,
    CartLineInput,
    CartLineUpdateInput,
    CartType,
    DeliveryGroupInput,
)
from omnicore.pricing import normalise_code

__all__ = ["CartMutation", "CartQuery", "CartType", "check_reachable", "plain",
           "reachable_cart"]


def plain(value: Any) -> Any:
    """A GraphQL input as plain data: mappings and lists copied, unset (None) keys dropped."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


async def reachable_cart(context: RequestContext, cart_id: str) -> Cart:
    """The cart if this caller may reach it, else ``NotFound`` (as for an unknown id)."""
    cart = await context.commerce.carts.get(cart_id)
    await _check_owner(context, cart.customer_id)
    return cart


async def check_reachable(context: RequestContext, cart_id: str) -> None:
    """``NotFound`` (as for an unknown id) unless this caller may reach the cart: what
    ``reachable_cart`` checks, reading only the cart's owner (before a change of it)."""
    await _check_owner(context, await context.commerce.carts.owner(cart_id))


async def _check_owner(context: RequestContext, owner: str | None) -> None:
    if owner is None or owner == context.customer_id:
        return
    if context.customer_id is not None:
        try:  # the cart may still name a customer merged into the caller
            if (await context.commerce.customers.get(owner)).id == context.customer_id:
                return
        except NotFound:
            pass
    raise NotFound("no such cart", field="cart_id")


# -- mutations --------------------------------------------------------------------------------


class CartPayload(graphene.ObjectType):
    cart = graphene.Field(CartType)
    user_errors = graphene.List(graphene.NonNull(UserErrorType), required=True)


class CartHandoffPayload(graphene.ObjectType):
    code = graphene.String(description="8 characters to show a store associate (single use)")
    expires_at = graphene.DateTime()
    cart = graphene.Field(CartType)
    user_errors = graphene.List(graphene.NonNull(UserErrorType), required=True)


def _cart_change(**arguments: Any) -> graphene.Field:
    return graphene.Field(CartPayload, required=True, cart_id=graphene.ID(required=True),
                          version=graphene.Int(required=True), **arguments)


class CartQuery(graphene.ObjectType):
    cart = graphene.Field(CartType, id=graphene.ID(required=True),
                          description="A cart by its id (a merged cart's id gives the cart it "
                                      "joined)")

    @staticmethod
    async def resolve_cart(_: Any, info: graphene.ResolveInfo, id: str) -> Cart:
        return await reachable_cart(info.context, id)


class CartMutation(graphene.ObjectType):
    cart_create = graphene.Field(
        CartPayload, required=True,
        lines=graphene.List(graphene.NonNull(CartLineInput)), note=graphene.String(),
        attributes=graphene.List(graphene.NonNull(AttributeInput)),
        description="A new cart on the caller's channel (the signed-in customer's, with a "
                    "token). When lines cannot be added the cart is still returned, empty.")
    cart_lines_add = _cart_change(
        lines=graphene.List(graphene.NonNull(CartLineInput), required=True),
        description="Add lines, each held for the caller's channel (shipped, or picked up at "
                    "a store); the same SKU, fulfilment and location adds to its line")
    cart_lines_update = _cart_change(
        lines=graphene.List(graphene.NonNull(CartLineUpdateInput), required=True),
        description="Change lines' quantities; a grown line is held for its new quantity")
    cart_lines_remove = _cart_change(
        line_ids=graphene.List(graphene.NonNull(graphene.ID), required=True),
        description="Remove lines and release their holds")
    cart_buyer_identity_update = _cart_change(
        description="Give the cart to the signed-in customer (needs their token); when they "
                    "have an open cart, this one merges into it and that cart is returned")
    cart_delivery_update = _cart_change(
        delivery=graphene.List(graphene.NonNull(DeliveryGroupInput), required=True),
        description="Ship to an address, pick up at a store, a relay point — or several "
                    "groups; an empty list clears the choice")
    cart_discount_codes_update = _cart_change(
        discount_codes=graphene.List(graphene.NonNull(graphene.String), required=True),
        description="Replace the cart's discount codes (each new one is checked)")
    cart_handoff_code = graphene.Field(
        CartHandoffPayload, required=True, cart_id=graphene.ID(required=True),
        version=graphene.Int(required=True),
        description="A single-use code the customer shows a store associate")

    @staticmethod
    async def resolve_cart_create(
        _: Any, info: graphene.ResolveInfo, lines: Sequence[Any] | None = None,
        note: str | None = None, attributes: Sequence[Any] | None = None,
    ) -> dict[str, Any]:
        context: RequestContext = info.context
        carts = context.commerce.carts
        created: list[Cart] = []

        async def work() -> dict[str, Any]:
            channel = context.require_channel()
            cart = await carts.create(channel.code, customer_id=context.customer_id)
            created.append(cart)
            if note is not None or attributes:
                cart = await carts.update(
                    cart.id, version=cart.version, note=note,
                    attributes={a.key: a.value for a in attributes or ()})
                created[0] = cart
            if lines:
                cart = await carts.add_lines(cart.id, plain(lines), version=cart.version,
                                             channel=channel.code)
            return {"cart": cart}

        result = await mutation_result(work)
        if result["user_errors"] and created:
            result["cart"] = created[0]
        return result

    @staticmethod
    async def resolve_cart_lines_add(_: Any, info: graphene.ResolveInfo, cart_id: str,
                                     version: int, lines: Sequence[Any]) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            await check_reachable(context, cart_id)
            return {"cart": await context.commerce.carts.add_lines(
                cart_id, plain(lines), version=version, channel=context.require_channel().code)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_cart_lines_update(_: Any, info: graphene.ResolveInfo, cart_id: str,
                                        version: int, lines: Sequence[Any]) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            await check_reachable(context, cart_id)
            return {"cart": await context.commerce.carts.update_lines(
                cart_id, plain(lines), version=version, channel=context.require_channel().code)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_cart_lines_remove(_: Any, info: graphene.ResolveInfo, cart_id: str,
                                        version: int, line_ids: Sequence[str]
                                        ) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            await check_reachable(context, cart_id)
            return {"cart": await context.commerce.carts.remove_lines(
                cart_id, list(line_ids), version=version,
                channel=context.require_channel().code)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_cart_buyer_identity_update(_: Any, info: graphene.ResolveInfo,
                                                 cart_id: str, version: int) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            customer_id = context.require_customer()
            await check_reachable(context, cart_id)
            return {"cart": await context.commerce.carts.attach_customer(
                cart_id, customer_id, version=version)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_cart_delivery_update(_: Any, info: graphene.ResolveInfo, cart_id: str,
                                           version: int, delivery: Sequence[Any]
                                           ) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            await check_reachable(context, cart_id)
            return {"cart": await context.commerce.carts.set_delivery(
                cart_id, plain(delivery), version=version,
                channel=context.require_channel().code)}

        return await mutation_result(work)

    @staticmethod
    async def resolve_cart_discount_codes_update(
        _: Any, info: graphene.ResolveInfo, cart_id: str, version: int,
        discount_codes: Sequence[str],
    ) -> dict[str, Any]:
        context: RequestContext = info.context
        carts = context.commerce.carts

        async def work() -> dict[str, Any]:
            cart = await reachable_cart(context, cart_id)
            wanted = list(dict.fromkeys(
                normalise_code(code, f"discount_codes[{index}]")
                for index, code in enumerate(discount_codes)))
            added = [code for code in wanted if code not in cart.discount_codes]
            dropped = [code for code in cart.discount_codes if code not in wanted]
            if not added and not dropped:
                if version != cart.version:
                    raise Conflict(f"the cart changed since you read it (it is at version "
                                   f"{cart.version}, not {version})", field="version")
                return {"cart": cart}
            # new codes first: a refused code leaves the cart as it was
            at = version
            if added:
                cart = await carts.apply_codes(cart_id, added, version=at)
                at = cart.version
            if dropped:
                cart = await carts.remove_codes(cart_id, dropped, version=at)
            return {"cart": cart}

        return await mutation_result(work)

    @staticmethod
    async def resolve_cart_handoff_code(_: Any, info: graphene.ResolveInfo, cart_id: str,
                                        version: int) -> dict[str, Any]:
        context: RequestContext = info.context

        async def work() -> dict[str, Any]:
            await check_reachable(context, cart_id)
            handoff = await context.commerce.carts.handoff_code(cart_id, version=version)
            return {"code": handoff.code, "expires_at": handoff.expires_at,
                    "cart": await context.commerce.carts.get(cart_id)}

        return await mutation_result(work)
