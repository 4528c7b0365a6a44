"""``checkoutComplete``: the storefront turns a cart into an order (``commerce.checkout``).

The cart must be reachable by the caller (``omnicore.gateway.storefront.carts.check_reachable``);
the signed-in customer is passed to the core, which refuses another customer's
cart. A guest gives an e-mail or a phone: it is how the order is tracked
(``orderTracking``) and how the customer is told about it.

When the payment provider needs the customer (3-D Secure), the payload carries a
``payment_action_required`` userError *and* ``nextAction`` (for Stripe, the
``clientSecret`` to confirm with Stripe.js). The checkout waits for the provider's
webhook; calling ``checkoutComplete`` again with the same ``idempotencyKey``
answers the same ``nextAction`` until then, and the order once it is placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from omnicore.errors import InvalidInput, PaymentActionRequired
from omnicore.gateway.context import RequestContext
from omnicore.gateway.errors import UserErrorType, mutation_result
from omnicore.gateway.storefront.carts import check_reachable
from omnicore.gateway.storefront.orders import OrderType

__all__ = ["JSON", "CheckoutMutation", "PaymentActionType"]


class JSON(GenericScalar):  # type: ignore[misc]
    """Any JSON value, given as is (not as a string)."""


class PaymentInput(graphene.InputObjectType):
    gateway = graphene.String(required=True, description="The payment gateway's code")
    amount = graphene.String(description="Decimal amount in the cart's currency; one payment "
                                         "may leave it out and take the rest")
    data = JSON(description="What the gateway needs (a payment method id, a gift card …)")


class PaymentActionType(graphene.ObjectType):
    """What the storefront must do before the payment is authorized (3-D Secure …)."""

    class Meta:
        name = "PaymentAction"

    payment_id = graphene.ID(required=True)
    type = graphene.String(description="The provider's action type, e.g. use_stripe_sdk")
    client_secret = graphene.String(description="For Stripe.js: confirm the payment with it")
    redirect_url = graphene.String(description="When the provider wants a redirect")
    data = JSON(required=True, description="The provider's next_action, whole")

    @staticmethod
    def resolve_type(parent: dict[str, Any], _: graphene.ResolveInfo) -> Any:
        return parent["data"].get("type")

    @staticmethod
    def resolve_client_secret(parent: dict[str, Any], _: graphene.ResolveInfo) -> Any:
        return parent["data"].get("client_secret")

    @staticmethod
    def resolve_redirect_url(parent: dict[str, Any], _: graphene.ResolveInfo) -> Any:
        action = parent["data"]
        found = action.get("redirect_url")
        if found is None and isinstance(action.get("redirect_to_url"), dict):
            found = action["redirect_to_url"].get("url")  # Stripe's shape
        return found


class CheckoutCompletePayload(graphene.ObjectType):
    order = graphene.Field(OrderType)
    next_action = graphene.Field(PaymentActionType,
                                 description="Set when the customer must confirm the payment")
    user_errors = graphene.List(graphene.NonNull(UserErrorType), required=True)


class CheckoutMutation(graphene.ObjectType):
    checkout_complete = graphene.Field(
        CheckoutCompletePayload,
        required=True,
        cart_id=graphene.ID(required=True),
        idempotency_key=graphene.String(
            required=True, description="One per press of the Pay button: the same key never "
                                       "charges twice and returns the same order"),
        payments=graphene.List(graphene.NonNull(PaymentInput), required=True),
        email=graphene.String(description="Contact for tracking (default: the signed-in "
                                          "customer's e-mail)"),
        phone=graphene.String(),
        description="Turn the cart into an order and authorize its payments, all or nothing",
    )

    @staticmethod
    async def resolve_checkout_complete(
        _: Any, info: graphene.ResolveInfo, cart_id: str, idempotency_key: str,
        payments: Sequence[Any], email: str | None = None, phone: str | None = None,
    ) -> dict[str, Any]:
        context: RequestContext = info.context
        waiting: list[PaymentActionRequired] = []

        async def work() -> dict[str, Any]:
            channel = context.require_channel()
            await check_reachable(context, cart_id)
            if context.customer_id is None and not email and not phone:
                raise InvalidInput("a guest order needs an e-mail or a phone to be tracked",
                                   field="email")
            try:
                order = await context.commerce.checkout(
                    cart_id, payments=_payments(payments), idempotency_key=idempotency_key,
                    customer_id=context.customer_id, email=email, phone=phone,
                    actor=f"storefront:{channel.code}")
            except PaymentActionRequired as exc:
                waiting.append(exc)
                raise
            return {"order": order}

        result = await mutation_result(work)
        if waiting:  # a userError like any other, and what the storefront must do next
            result["next_action"] = {"payment_id": waiting[0].payment_id,
                                     "data": waiting[0].next_action}
        return result


def _payments(given: Sequence[Any]) -> list[dict[str, Any]]:
    """The payments as the core takes them (``data`` passed on untouched)."""
    return [{key: item[key] for key in ("gateway", "amount", "data") if item.get(key) is not None}
            for item in given]
