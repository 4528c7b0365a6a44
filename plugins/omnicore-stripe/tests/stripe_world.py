"""The shop the tests sell from (``omnicore.testing.seed_minimal``) and small helpers:
carts with a home delivery, signed webhook posts, payment transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnicore_stripe import sign
from stripe_fake import dumps

if TYPE_CHECKING:
    import httpx

    from omnicore import Commerce
    from omnicore.testing import FakeClock

HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"},
        "geo": {"lat": 48.8556, "lng": 2.3590}}


async def build_world(commerce: Commerce) -> None:
    """Warehouse ``wh`` (TEE-M 10, TEE-L 5), store ``paris-1``, channel ``web`` in EUR;
    TEE-M and TEE-L at 19.90, standard shipping 4.90."""
    from omnicore.testing import seed_minimal

    await seed_minimal(commerce)
    await commerce.stock.receive("TEE-L", "wh", 5, source="seed")


async def cart(commerce: Commerce, lines: list[dict[str, Any]] | None = None) -> str:
    """A web cart shipped home; by default 2 x TEE-L: 39.80 + 4.90 = 44.70 EUR."""
    made = await commerce.carts.create("web")
    made = await commerce.carts.add_lines(made.id, lines or [{"sku": "TEE-L", "quantity": 2}],
                                          version=made.version)
    made = await commerce.carts.set_delivery(made.id, [HOME], version=made.version)
    return made.id


def pay(method: str | None = "pm_card_visa", **data: Any) -> list[dict[str, Any]]:
    extra = {"payment_method": method} if method else {}
    return [{"gateway": "stripe", "data": {**extra, **data}}]


async def post_event(app: httpx.AsyncClient, payload: dict[str, Any], secret: str,
                     clock: FakeClock, *, skew: int = 0, header: str | None = None
                     ) -> httpx.Response:
    """POST ``payload`` to /webhooks/stripe signed as Stripe would (``skew`` s off now)."""
    body = dumps(payload)
    timestamp = int(clock.now.timestamp()) + skew
    signature = header if header is not None else sign(body, secret, timestamp)
    return await app.post("/webhooks/stripe", content=body,
                          headers={"Stripe-Signature": signature,
                                   "Content-Type": "application/json"})


async def transactions(commerce: Commerce, payment_id: str) -> list[tuple[str, str]]:
    return [(t["kind"], t["outcome"]) for t in await commerce.payments.transactions(payment_id)]
