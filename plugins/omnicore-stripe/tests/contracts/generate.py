"""Regenerates ``stripe-2025-08-27.basil.json`` from Stripe's typed parameters.

Run with the ``stripe`` package of the pinned API version importable (not a dependency of
the plugin; install it in a throw-away environment)::

    pip install --target /tmp/stripe-sdk stripe==12.5.1
    PYTHONPATH=/tmp/stripe-sdk python plugins/omnicore-stripe/tests/contracts/generate.py

stripe-python is generated from Stripe's OpenAPI specification; its request parameter
``TypedDict``s (required keys, types, ``Literal`` enums, nested objects) are turned back
into an OpenAPI 3 document of the operations the plugin calls, and nothing else.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

import stripe
import stripe._payment_intent_service as payment_intents
import stripe._refund_service as refunds
from stripe._api_version import _ApiVersion
from typing_extensions import is_typeddict

VERSION = "2025-08-27.basil"
OUT = Path(__file__).with_name(f"stripe-{VERSION}.json")


class Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, kind: Any, module: Any) -> dict[str, Any]:
        if is_typeddict(kind):
            name = kind.__qualname__.replace(".", "_")
            if name not in self.schemas:
                self.schemas[name] = {}  # placeholder: recursion stops here
                self.schemas[name] = self.object(kind, module)
            return {"$ref": f"#/components/schemas/{name}"}
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin is typing.Literal:
            return {"type": "string", "enum": list(args)}
        if origin in (list, typing.List):  # noqa: UP006
            return {"type": "array", "items": self.schema(args[0], module)}
        if origin in (dict, typing.Dict):  # noqa: UP006
            return {"type": "object", "additionalProperties": self.schema(args[1], module)}
        if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            return {"anyOf": [self.schema(a, module) for a in args]}
        simple = {str: "string", int: "integer", bool: "boolean", float: "number"}
        if kind in simple:
            return {"type": simple[kind]}
        if kind is typing.Any:
            return {}
        raise TypeError(f"no schema for {kind!r}")

    def object(self, kind: Any, module: Any) -> dict[str, Any]:
        hints = typing.get_type_hints(kind, globalns=vars(module))
        return {"type": "object",
                "properties": {k: self.schema(v, module) for k, v in sorted(hints.items())},
                **({"required": sorted(kind.__required_keys__)}
                   if kind.__required_keys__ else {})}

    def form(self, kind: Any, module: Any) -> dict[str, Any]:
        return {"required": bool(kind.__required_keys__), "content": {
            "application/x-www-form-urlencoded": {"schema": self.object(kind, module)}}}

    def query(self, kind: Any, module: Any) -> list[dict[str, Any]]:
        hints = typing.get_type_hints(kind, globalns=vars(module))
        found = []
        for name, hint in sorted(hints.items()):
            schema = self.schema(hint, module)
            parameter = {"name": name, "in": "query",
                         "required": name in kind.__required_keys__, "schema": schema}
            if schema.get("type") in ("array", "object"):
                parameter.update(style="deepObject", explode=True)
            found.append(parameter)
        return found


def main() -> None:
    if _ApiVersion.CURRENT != VERSION:
        sys.exit(f"stripe {stripe.VERSION} is pinned to {_ApiVersion.CURRENT}, not {VERSION}")
    b = Builder()
    service = payment_intents.PaymentIntentService
    intent = {"name": "intent", "in": "path", "required": True,
              "schema": {"type": "string", "maxLength": 5000}}
    paths = {
        "/v1/payment_intents": {"post": {
            "operationId": "PostPaymentIntents",
            "requestBody": b.form(service.CreateParams, payment_intents)}},
        "/v1/payment_intents/search": {"get": {
            "operationId": "GetPaymentIntentsSearch",
            "parameters": b.query(service.SearchParams, payment_intents)}},
        "/v1/payment_intents/{intent}": {"get": {
            "operationId": "GetPaymentIntentsIntent",
            "parameters": [intent, *b.query(service.RetrieveParams, payment_intents)]}},
        "/v1/payment_intents/{intent}/capture": {"post": {
            "operationId": "PostPaymentIntentsIntentCapture", "parameters": [intent],
            "requestBody": b.form(service.CaptureParams, payment_intents)}},
        "/v1/payment_intents/{intent}/cancel": {"post": {
            "operationId": "PostPaymentIntentsIntentCancel", "parameters": [intent],
            "requestBody": b.form(service.CancelParams, payment_intents)}},
        "/v1/refunds": {"post": {
            "operationId": "PostRefunds",
            "requestBody": b.form(refunds.RefundService.CreateParams, refunds)}},
    }
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Stripe API (the operations omnicore-stripe calls)",
                 "version": VERSION,
                 "x-source": f"stripe-python {stripe.VERSION} request parameter types "
                             "(MIT), generated from Stripe's OpenAPI specification"},
        "servers": [{"url": "https://api.stripe.com/"}],
        "paths": paths,
        "components": {"schemas": dict(sorted(b.schemas.items()))},
    }
    OUT.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
