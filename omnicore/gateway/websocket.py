"""Storefront GraphQL over WebSockets: the graphql-transport-ws protocol at ``/graphql``.

The protocol of the ``graphql-ws`` library (subprotocol ``graphql-transport-ws``)::

    client: {"type": "connection_init", "payload": {"channelToken": "pub_…"}}
    server: {"type": "connection_ack"}
    client: {"id": "1", "type": "subscribe", "payload": {"query": "subscription …"}}
    server: {"id": "1", "type": "next", "payload": {"data": {…}}}   (one per result)
    server: {"id": "1", "type": "complete"}

Tokens come from ``connection_init``'s payload (``channelToken``, ``customerToken``)
or the upgrade's headers, and are checked again at each ``subscribe``, before its
document is parsed (a ``subscribe`` before the ack closes the socket with 4401). Operations
pass the ``QueryGuard`` of ``/graphql``: what it refuses with a 400 is an ``error``
message here. Queries and mutations run once (``next``, ``complete``). Protocol
violations close the socket (4400, 4401, 4403, 4406, 4408, 4409, 4429; 4500 for a
bug). Operations run concurrently, a task each; a client's ``complete`` or leaving
cancels them, which stops following their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from graphql import ExecutionResult, OperationType, create_source_event_stream
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from omnicore.errors import Forbidden, NotFound, OmnicoreError
from omnicore.gateway.catalog_cache import CatalogCache
from omnicore.gateway.context import RequestContext
from omnicore.gateway.execution import run
from omnicore.gateway.limits import (
    Checked,
    GatewaySettings,
    QueryGuard,
    Rejection,
    without_suggestions,
)
from omnicore.gateway.storefront.subscriptions import WATCH, OrderWatch

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["PROTOCOL", "parse_message", "websocket_route"]

log = logging.getLogger("omnicore.gateway")

#: The WebSocket subprotocol spoken at ``/graphql``.
PROTOCOL = "graphql-transport-ws"
#: A close reason may hold at most 123 bytes (RFC 6455, 5.5).
MAX_REASON_BYTES = 123
#: The largest message read, as ``/graphql``'s largest body.
MAX_MESSAGE_BYTES = 1_000_000


class Close(Exception):
    """Ends the socket with a close code of the protocol and its reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def _optional(message: Mapping[str, Any], key: str, kind: type, what: str) -> None:
    value = message.get(key)
    if value is not None and not isinstance(value, kind):
        name = "an object" if kind is dict else "a string"
        raise Close(4400, f"Invalid message: {what} must be {name}")


def parse_message(raw: str | bytes | None) -> dict[str, Any]:
    """A client message checked against the protocol's shapes, or ``Close(4400)``."""
    if raw is not None and len(raw) > MAX_MESSAGE_BYTES:
        raise Close(4400, f"Invalid message: larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(raw) if raw is not None else None
    except ValueError:
        raise Close(4400, "Invalid message: not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Close(4400, 'Invalid message: expected a JSON object with a "type"')
    kind = message["type"]
    if kind in ("connection_init", "ping", "pong"):
        _optional(message, "payload", dict, "payload")
    elif kind in ("subscribe", "complete"):
        if not isinstance(message.get("id"), str) or not message["id"]:
            raise Close(4400, f'Invalid message: {kind} needs a non-empty string "id"')
        if kind == "subscribe":
            payload = message.get("payload")
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                raise Close(4400, 'Invalid message: subscribe needs a payload with a "query"')
            _optional(payload, "variables", dict, "payload.variables")
            _optional(payload, "operationName", str, "payload.operationName")
            _optional(payload, "extensions", dict, "payload.extensions")
    else:
        raise Close(4400, f"Invalid message: unexpected type {kind[:40]!r}")
    return message


@attrs.define
class _Socket:
    """One client's socket: its tokens once acknowledged and its running operations."""

    websocket: WebSocket
    commerce: Commerce
    guard: QueryGuard
    watch: OrderWatch
    settings: GatewaySettings
    catalog_cache: CatalogCache | None = None
    init_received: bool = False
    tokens: tuple[str, str | None] | None = None  # (channel, customer) once acked
    operations: dict[str, asyncio.Task[None]] = attrs.field(factory=dict)
    send_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(json.dumps(message, default=str))

    async def serve(self) -> None:
        """Reads messages until the client leaves or breaks the protocol (then closes)."""
        close: Close | None = None
        try:
            close = await self.read()
        finally:
            await self.cancel_all()
        if close is not None:
            with contextlib.suppress(RuntimeError, OSError):  # the client left meanwhile
                await self.websocket.close(close.code, close.reason)

    async def read(self) -> Close | None:
        """Handles messages in order; ``None`` when the client left, else why to close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.websocket_init_seconds
        try:
            while True:
                timeout = None if self.init_received else max(deadline - loop.time(), 0)
                try:
                    async with asyncio.timeout(timeout):
                        received = await self.websocket.receive()
                except TimeoutError:
                    raise Close(4408, "Connection initialisation timeout") from None
                if received["type"] == "websocket.disconnect":
                    return None
                raw = received.get("text")
                await self.handle(parse_message(raw if raw is not None else received.get("bytes")))
        except Close as exc:
            return exc
        except Exception:
            log.exception("a websocket of the storefront API failed")
            return Close(4500, "Internal server error")

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self.connection_init(message.get("payload") or {})
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if message.get("payload") is not None:
                pong["payload"] = message["payload"]
            await self.send(pong)
        elif kind == "subscribe":
            await self.subscribe(message["id"], message["payload"])
        elif kind == "complete":
            await self.complete(message["id"])
        # a "pong" answers a ping of ours: nothing to do

    async def connection_init(self, payload: Mapping[str, Any]) -> None:
        if self.init_received:
            raise Close(4429, "Too many initialisation requests")
        self.init_received = True
        from omnicore.gateway.app import CHANNEL_HEADER

        headers = self.websocket.headers
        channel = payload.get("channelToken") or headers.get(CHANNEL_HEADER)
        customer = payload.get("customerToken")
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if customer is None and scheme.lower() == "bearer" and bearer.strip():
            customer = bearer.strip()
        if not isinstance(channel, str) or not channel:
            raise Close(4403, "Forbidden: give a channel token (payload.channelToken)")
        if customer is not None and not isinstance(customer, str):
            raise Close(4403, "Forbidden: payload.customerToken must be a string")
        self.tokens = (channel, customer)
        await self.context()  # refuses unknown tokens now, before the ack
        await self.send({"type": "connection_ack"})

    async def context(self) -> RequestContext:
        """What ``/graphql`` would give a request with this socket's tokens, or ``Close``."""
        assert self.tokens is not None
        channel_token, customer_token = self.tokens
        try:
            channel = await self.commerce.channels.by_token(channel_token)
        except NotFound:
            raise Close(4403, "Forbidden: unknown channel token") from None
        customer_id = None
        if customer_token is not None:
            try:
                customer_id = await self.commerce.auth.authenticate_customer(customer_token)
            except Forbidden as exc:
                raise Close(4403, f"Forbidden: {exc.message}") from None
        return RequestContext(commerce=self.commerce, channel=channel, customer_id=customer_id,
                              loaders={WATCH: self.watch}, catalog_cache=self.catalog_cache)

    async def subscribe(self, op_id: str, payload: dict[str, Any]) -> None:
        if self.tokens is None:
            raise Close(4401, "Unauthorized")
        if op_id in self.operations:
            raise Close(4409, f"Subscriber for {op_id} already exists")
        limit = self.settings.websocket_max_operations
        if len(self.operations) >= limit:
            await self.send({"id": op_id, "type": "error", "payload": [{
                "message": f"at most {limit} operations at once on one socket "
                           "([gateway] websocket_max_operations): complete one first",
                "extensions": {"code": "too_many_operations", "limit": limit}}]})
            return
        context = await self.context()  # the tokens again, before the document is parsed
        checked = self.guard.check(payload["query"], payload.get("variables"),
                                   payload.get("operationName"))
        if isinstance(checked, Rejection):
            await self.send({"id": op_id, "type": "error", "payload": checked.body()["errors"]})
            return
        self.operations[op_id] = asyncio.create_task(
            self.run(op_id, checked, payload, context), name=f"omnicore-ws-{op_id[:40]}")

    async def complete(self, op_id: str) -> None:
        """The client stops listening: the operation ends, without a ``complete`` of ours."""
        task = self.operations.get(op_id)
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # its order is unfollowed before the next message

    async def cancel_all(self) -> None:
        tasks = list(self.operations.values())
        for task in tasks:
            task.cancel()
        if tasks:
            with anyio.CancelScope(shield=True):
                await asyncio.wait(tasks)

    async def execute(self, checked: Checked, payload: Mapping[str, Any],
                      context: RequestContext, root: Any = None) -> ExecutionResult:
        return await run(self.guard.schema, checked.document, root=root, context=context,
                         variables=payload.get("variables"),
                         operation_name=payload.get("operationName"),
                         fast=self.settings.fast_execution)

    def result(self, result: ExecutionResult) -> tuple[str, Any]:
        """The message type and payload of a result: ``error`` when nothing ran."""
        from omnicore.gateway.app import format_error

        if not result.errors:
            return "next", {"data": result.data}
        errors = [format_error(e) for e in result.errors]
        if not self.settings.introspection:  # no schema names suggested
            for error in errors:
                error["message"] = without_suggestions(error["message"])
        if result.data is None and all("path" not in e for e in errors):
            for error in errors:  # the variables could not be coerced, as /graphql says
                error.setdefault("extensions", {"code": "invalid_variables"})
            return "error", errors
        return "next", {"data": result.data, "errors": errors}

    async def run(self, op_id: str, checked: Checked, payload: Mapping[str, Any],
                  context: RequestContext) -> None:
        """One operation, from its first message to ``complete`` or ``error``."""
        try:
            if checked.operation.operation is OperationType.SUBSCRIPTION:
                await self.stream(op_id, checked, payload, context)
                return
            from omnicore.gateway.app import read_scope

            async with read_scope(self.commerce, checked):  # as /graphql reads
                executed = await self.execute(checked, payload, context)
            kind, body = self.result(executed)
            await self.send({"id": op_id, "type": kind, "payload": body})
            if kind == "next":
                await self.send({"id": op_id, "type": "complete"})
        except WebSocketDisconnect:  # the client left: the read loop ends them all
            log.debug("operation %s: the websocket went away", op_id)
        except Exception:  # a bug: said to the client as /graphql says it, and logged
            log.exception("operation %s of a websocket failed", op_id)
            with contextlib.suppress(Exception):
                await self.send({"id": op_id, "type": "error", "payload": [
                    {"message": "internal error", "extensions": {"code": "internal"}}]})
        finally:
            self.operations.pop(op_id, None)

    async def stream(self, op_id: str, checked: Checked, payload: Mapping[str, Any],
                     context: RequestContext) -> None:
        """A subscription: the source stream is read here, in this task, so cancelling the
        task stops the order's follower at once (its ``finally`` runs in the cancel)."""
        source = await create_source_event_stream(
            self.guard.schema, checked.document, context_value=context,
            variable_values=payload.get("variables"), operation_name=payload.get("operationName"))
        if isinstance(source, ExecutionResult):  # refused: unknown order, bad variables …
            kind, body = self.result(source)
            errors = body if kind == "error" else body.get("errors", [])
            await self.send({"id": op_id, "type": "error", "payload": errors})
            return
        events: AsyncIterator[Any] = aiter(source)
        try:
            while True:
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    await self.send({"id": op_id, "type": "complete"})
                    return
                except OmnicoreError as exc:
                    await self.send({"id": op_id, "type": "error", "payload": [{
                        "message": exc.message,
                        "extensions": {"code": exc.code, "field": exc.field}}]})
                    return
                # each event is read afresh, as a new request would (no stale loader cache)
                fresh = attrs.evolve(context, loaders={WATCH: self.watch})
                _, body = self.result(await self.execute(checked, payload, fresh, root=event))
                await self.send({"id": op_id, "type": "next", "payload": body})
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()


def websocket_route(commerce: Commerce, guard: QueryGuard, watch: OrderWatch,
                    catalog_cache: CatalogCache | None = None) -> WebSocketRoute:
    """``/graphql`` over WebSockets (graphql-transport-ws): the storefront API.

    ``guard`` checks each operation as ``/graphql`` does; ``watch`` is the gateway's
    ``OrderWatch``, shared with ``/graphql/stream``; ``catalog_cache`` the one of
    ``/graphql``. ``[gateway] websocket_init_seconds`` and ``websocket_max_operations``
    come with the guard's settings (``[gateway]``, or what ``create_app`` was given).
    """
    settings = guard.settings

    async def endpoint(websocket: WebSocket) -> None:
        offered = [p.strip() for p in websocket.scope.get("subprotocols", ())]
        if PROTOCOL not in offered:
            await websocket.accept()
            await websocket.close(4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        await _Socket(websocket, commerce, guard, watch, settings, catalog_cache).serve()

    return WebSocketRoute("/graphql", endpoint)
