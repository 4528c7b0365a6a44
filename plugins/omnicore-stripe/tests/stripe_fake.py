"""A stateful stand-in for Stripe's API, mounted on respx at the HTTP boundary.

It keeps PaymentIntents, charges and refunds, answers with objects shaped like
Stripe's documented ones, and behaves like Stripe where the plugin relies on it:

* ``Idempotency-Key``: the first response under a key is replayed for the same
  parameters (even an error); other parameters under it → 400 ``idempotency_error``.
* test payment methods: ``pm_card_visa`` authorizes, ``pm_card_authenticationRequired``
  needs 3-D Secure, ``pm_card_visa_chargeDeclinedInsufficientFunds`` and
  ``pm_card_chargeDeclined`` are declined (402 ``card_error``).
* ``fail_next`` queues faults: a response lost after Stripe acted (``"timeout_after"``),
  a connection that never reached it (``"connect_error"``), or a canned error answer.
* ``forget_idempotency_keys()``: what Stripe does to keys older than 24 hours — a
  request under a forgotten key is a new request (a second authorization, for a create).
* ``searchable = False``: the search index lags (Stripe's search is eventually
  consistent): ``/payment_intents/search`` finds nothing.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

API = "https://api.stripe.com/v1"
CREATED = 1772443800  # 2026-03-02 09:30 UTC, the FakeClock's start

DECLINES = {
    "pm_card_visa_chargeDeclinedInsufficientFunds": ("insufficient_funds",
                                                     "Your card has insufficient funds."),
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
}
THREE_DS = ("pm_card_authenticationRequired", "pm_card_threeDSecure2Required")


def stripe_id(prefix: str) -> str:
    return f"{prefix}_3Q{secrets.token_hex(11)}"


def error_body(kind: str, message: str, *, code: str | None = None,
               decline_code: str | None = None, param: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """``{"error": {...}}`` as Stripe sends it."""
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if decline_code:
        error["decline_code"] = decline_code
    if param is not None:
        error["param"] = param
    error["request_log_url"] = "https://dashboard.stripe.com/test/logs/req_Kx9QZ0n2b3"
    error.update(extra)
    return {"error": error}


def payment_intent(intent_id: str, *, amount: int, currency: str, status: str,
                   metadata: dict[str, str], payment_method: str | None,
                   description: str | None = None, amount_capturable: int = 0,
                   amount_received: int = 0, latest_charge: str | None = None,
                   next_action: dict[str, Any] | None = None,
                   last_payment_error: dict[str, Any] | None = None,
                   automatic_payment_methods: dict[str, Any] | None = None,
                   multicapture: bool = False) -> dict[str, Any]:
    """A PaymentIntent with every top-level field of Stripe's documented object."""
    card_options: dict[str, Any] = {"installments": None, "mandate_options": None,
                                    "network": None, "request_three_d_secure": "automatic"}
    if multicapture:
        card_options["request_multicapture"] = "if_available"
    return {
        "id": intent_id, "object": "payment_intent", "amount": amount,
        "amount_capturable": amount_capturable, "amount_details": {"tip": {}},
        "amount_received": amount_received, "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": automatic_payment_methods,
        "canceled_at": None, "cancellation_reason": None, "capture_method": "manual",
        "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
        "confirmation_method": "automatic", "created": CREATED, "currency": currency,
        "customer": None, "description": description, "last_payment_error": last_payment_error,
        "latest_charge": latest_charge, "livemode": False, "metadata": metadata,
        "next_action": next_action, "on_behalf_of": None, "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": card_options},
        "payment_method_types": ["card"], "processing": None, "receipt_email": None,
        "review": None, "setup_future_usage": None, "shipping": None, "source": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None, "status": status,
        "transfer_data": None, "transfer_group": None,
    }


def charge(charge_id: str, intent: dict[str, Any], *, multicapture: str = "unavailable"
           ) -> dict[str, Any]:
    """The Charge of a card PaymentIntent (as ``latest_charge`` expanded or in events)."""
    captured = intent["amount_received"]
    return {
        "id": charge_id, "object": "charge", "amount": intent["amount"],
        "amount_captured": captured, "amount_refunded": 0, "application": None,
        "application_fee": None, "application_fee_amount": None,
        "balance_transaction": f"txn_{charge_id[3:]}" if captured else None,
        "billing_details": {"address": {"city": None, "country": None, "line1": None,
                                        "line2": None, "postal_code": None, "state": None},
                            "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "OMNICORE SHOP", "captured": bool(captured),
        "created": CREATED, "currency": intent["currency"], "customer": None,
        "description": intent["description"], "disputed": False,
        "failure_balance_transaction": None, "failure_code": None, "failure_message": None,
        "fraud_details": {}, "livemode": False, "metadata": dict(intent["metadata"]),
        "outcome": {"network_status": "approved_by_network", "reason": None,
                    "risk_level": "normal", "risk_score": 21,
                    "seller_message": "Payment complete.", "type": "authorized"},
        "paid": True, "payment_intent": intent["id"], "payment_method": intent["payment_method"],
        "payment_method_details": {"card": {
            "brand": "visa", "checks": {"address_line1_check": None,
                                        "address_postal_code_check": None,
                                        "cvc_check": "pass"},
            "country": "US", "exp_month": 12, "exp_year": 2034, "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "credit", "last4": "4242", "multicapture": {"status": multicapture},
            "network": "visa", "three_d_secure": None, "wallet": None}, "type": "card"},
        "receipt_email": None, "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{charge_id}",
        "refunded": False, "review": None, "shipping": None, "source_transfer": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "succeeded", "transfer_data": None, "transfer_group": None,
    }


def event(kind: str, obj: dict[str, Any], *, previous: dict[str, Any] | None = None,
          event_id: str | None = None, created: int = CREATED) -> dict[str, Any]:
    """An Event as Stripe posts it to a webhook endpoint."""
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": event_id or stripe_id("evt"), "object": "event",
            "api_version": "2025-08-27.basil", "created": created, "data": data,
            "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind}


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[a]=1`` → ``{"metadata": {"a": "1"}}`` (enough for Stripe's shapes here)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        last = parts[-1]
        if last == "":
            node.setdefault("__list__", []).append(value)
        else:
            node[last] = value
    return _lists(out)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"__list__"}:
            return node["__list__"]
        return {k: _lists(v) for k, v in node.items()}
    return node


class Call:
    """One request the fake received."""

    def __init__(self, request: httpx.Request) -> None:
        self.method = request.method
        self.path = request.url.path.removeprefix("/v1")
        self.key = request.headers.get("idempotency-key")
        self.headers = request.headers
        body = request.content.decode() if self.method == "POST" else request.url.query.decode()
        self.pairs = parse_qsl(body, keep_blank_values=True)
        self.params = _unflatten(self.pairs)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} key={self.key}>"


class FakeStripe:
    """Stripe's state and routes; ``calls`` lists every request, faults included."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.multicapture = "unavailable"
        self.searchable = True
        self._replays: dict[str, tuple[str, list[tuple[str, str]], httpx.Response]] = {}
        self._faults: list[tuple[str, Any]] = []
        self._request_ids = itertools.count(1)
        routes: list[tuple[str, str, Callable[..., httpx.Response]]] = [
            ("POST", r"/payment_intents$", self._create),
            ("GET", r"/payment_intents/search$", self._search),
            ("GET", r"/payment_intents/(?P<pi>pi_[A-Za-z0-9]+)$", self._retrieve),
            ("POST", r"/payment_intents/(?P<pi>pi_[A-Za-z0-9]+)/capture$", self._capture),
            ("POST", r"/payment_intents/(?P<pi>pi_[A-Za-z0-9]+)/cancel$", self._cancel),
            ("POST", r"/refunds$", self._refund),
        ]
        for method, pattern, handler in routes:
            router.route(method=method, host="api.stripe.com",
                         path__regex=f"^/v1{pattern}").mock(
                side_effect=self._wrap(handler))

    # -- test controls ---------------------------------------------------------------------

    def fail_next(self, path: str, fault: Any) -> None:
        """Queue a fault for the next request whose path ends with ``path``: ``"timeout_after"``
        (Stripe acts, the answer is lost), ``"connect_error"`` (never reaches Stripe) or
        ``(status, body, headers)`` answered instead of acting."""
        self._faults.append((path, fault))

    def forget_idempotency_keys(self) -> None:
        """Stripe pruned the keys (they are more than 24 hours old)."""
        self._replays.clear()

    def paths(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls]

    def complete_3ds(self, intent_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """The customer finished (or failed) 3-D Secure in the browser."""
        intent = self.intents[intent_id]
        intent["next_action"] = None
        if succeed:
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            self._new_charge(intent)
        else:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error", "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication."}
        return intent

    # -- plumbing --------------------------------------------------------------------------

    def _wrap(self, handler: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
        def side_effect(request: httpx.Request, **match: str) -> httpx.Response:
            call = Call(request)
            self.calls.append(call)
            fault = self._fault(call.path)
            if fault == "connect_error":
                raise httpx.ConnectError("connection refused", request=request)
            if isinstance(fault, tuple):
                status, body, headers = fault
                return self._response(status, body, headers)
            response = self._idempotent(call, lambda: handler(call, **match))
            if fault == "timeout_after":
                raise httpx.ReadTimeout("timed out", request=request)
            return response
        return side_effect

    def _fault(self, path: str) -> Any:
        for index, (suffix, fault) in enumerate(self._faults):
            if path.endswith(suffix):
                del self._faults[index]
                return fault
        return None

    def _response(self, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> httpx.Response:
        request_id = f"req_{next(self._request_ids):06d}AbCd"
        return httpx.Response(status, json=body, headers={"Request-Id": request_id,
                                                          **(headers or {})})

    def _idempotent(self, call: Call, run: Callable[[], httpx.Response]) -> httpx.Response:
        if call.method != "POST" or not call.key:
            return run()
        seen = self._replays.get(call.key)
        if seen is not None:
            path, pairs, response = seen
            if path != call.path or sorted(pairs) != sorted(call.pairs):
                return self._response(400, error_body(
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{call.key}' if you meant to execute a different request."))
            return httpx.Response(response.status_code, content=response.content,
                                  headers={**response.headers, "Idempotent-Replayed": "true"})
        response = run()
        self._replays[call.key] = (call.path, call.pairs, response)
        return response

    def _new_charge(self, intent: dict[str, Any]) -> None:
        charge_id = stripe_id("ch")
        intent["latest_charge"] = charge_id
        self.charges[charge_id] = charge(charge_id, intent, multicapture=self.multicapture)

    def _sync_charge(self, intent: dict[str, Any]) -> None:
        found = self.charges.get(intent.get("latest_charge") or "")
        if found is not None:
            found["amount_captured"] = intent["amount_received"]
            found["captured"] = bool(intent["amount_received"])

    # -- endpoints -------------------------------------------------------------------------

    def _create(self, call: Call) -> httpx.Response:
        p = call.params
        method = p.get("payment_method")
        intent = payment_intent(
            stripe_id("pi"), amount=int(p["amount"]), currency=p["currency"],
            status="requires_payment_method", metadata=dict(p.get("metadata", {})),
            payment_method=method, description=p.get("description"),
            automatic_payment_methods={"enabled": True, **(
                {"allow_redirects": p["automatic_payment_methods"]["allow_redirects"]}
                if "allow_redirects" in p.get("automatic_payment_methods", {}) else {})},
            multicapture="request_multicapture" in p.get("payment_method_options", {}).get(
                "card", {}))
        self.intents[intent["id"]] = intent
        if p.get("confirm") != "true":
            return self._response(200, intent)
        if method in DECLINES:
            decline_code, message = DECLINES[method]
            intent["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                            "decline_code": decline_code, "message": message}
            return self._response(402, error_body(
                "card_error", message, code="card_declined", decline_code=decline_code,
                param="", payment_intent=intent))
        if method in THREE_DS:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/3d_secure_2/hosted",
                "source": stripe_id("src")}}
            return self._response(200, intent)
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
        self._new_charge(intent)
        return self._response(200, intent)

    def _search(self, call: Call) -> httpx.Response:
        query = call.params.get("query", "")
        found = []
        if self.searchable:
            found = [i for i in self.intents.values()
                     if f"'{i['metadata'].get('omnicore_payment_id')}'" in query]
        return self._response(200, {"object": "search_result", "url": "/v1/payment_intents/search",
                                    "has_more": False, "next_page": None, "data": found})

    def _missing(self, intent_id: str) -> httpx.Response:
        return self._response(404, error_body(
            "invalid_request_error", f"No such payment_intent: '{intent_id}'",
            code="resource_missing", param="intent"))

    def _retrieve(self, call: Call, pi: str) -> httpx.Response:
        intent = self.intents.get(pi)
        if intent is None:
            return self._missing(pi)
        if "latest_charge" in call.params.get("expand", []) and intent["latest_charge"]:
            return self._response(200, {**intent,
                                        "latest_charge": self.charges[intent["latest_charge"]]})
        return self._response(200, intent)

    def _unexpected(self, intent: dict[str, Any], action: str) -> httpx.Response:
        return self._response(400, error_body(
            "invalid_request_error",
            f"This PaymentIntent could not be {action} because it has a status of "
            f"{intent['status']}.", code="payment_intent_unexpected_state",
            payment_intent=intent))

    def _capture(self, call: Call, pi: str) -> httpx.Response:
        intent = self.intents.get(pi)
        if intent is None:
            return self._missing(pi)
        if intent["status"] != "requires_capture":
            return self._unexpected(intent, "captured")
        amount = int(call.params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            return self._response(400, error_body(
                "invalid_request_error", "The amount to capture is greater than the amount "
                "capturable.", code="amount_too_large", param="amount_to_capture"))
        final = call.params.get("final_capture", "true") == "true"
        if not final and self.multicapture != "available":
            return self._response(400, error_body(
                "invalid_request_error", "final_capture can only be used when multicapture is "
                "available.", param="final_capture"))
        intent["amount_received"] += amount
        intent["amount_capturable"] -= amount
        if final:
            intent["amount_capturable"] = 0
            intent["status"] = "succeeded"
        self._sync_charge(intent)
        return self._response(200, intent)

    def _cancel(self, call: Call, pi: str) -> httpx.Response:
        intent = self.intents.get(pi)
        if intent is None:
            return self._missing(pi)
        if intent["status"] in ("succeeded", "canceled"):
            return self._unexpected(intent, "canceled")
        intent["status"] = "canceled"
        intent["amount_capturable"] = 0
        intent["canceled_at"] = CREATED + 60
        intent["cancellation_reason"] = call.params.get("cancellation_reason")
        intent["next_action"] = None
        return self._response(200, intent)

    def _refund(self, call: Call) -> httpx.Response:
        intent = self.intents.get(call.params.get("payment_intent", ""))
        if intent is None:
            return self._missing(call.params.get("payment_intent", ""))
        found = self.charges[intent["latest_charge"]]
        amount = int(call.params.get("amount", found["amount_captured"] - found["amount_refunded"]))
        if amount > found["amount_captured"] - found["amount_refunded"]:
            return self._response(400, error_body(
                "invalid_request_error", f"Refund amount ({amount}) is greater than unrefunded "
                "amount on charge.", code="amount_too_large", param="amount"))
        found["amount_refunded"] += amount
        found["refunded"] = found["amount_refunded"] == found["amount_captured"]
        refund = {
            "id": stripe_id("re"), "object": "refund", "amount": amount,
            "balance_transaction": stripe_id("txn"), "charge": found["id"], "created": CREATED,
            "currency": intent["currency"], "destination_details": {"card": {
                "reference_status": "pending", "reference_type": "acquirer_reference_number",
                "type": "refund"}, "type": "card"},
            "metadata": dict(call.params.get("metadata", {})), "payment_intent": intent["id"],
            "reason": call.params.get("reason"), "receipt_number": None,
            "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
        }
        self.refunds[refund["id"]] = refund
        return self._response(200, refund)


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
