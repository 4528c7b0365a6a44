"""Live order status: the ``orderStatus`` subscription over server-sent events.

Transport: ``/graphql/stream`` speaks GraphQL over SSE ("distinct connections"
mode of the graphql-sse protocol). The client POSTs ``{"query", "variables",
"operationName"}`` with the same headers as ``/graphql`` (or GETs it with those as
query parameters — for ``EventSource``, which cannot send headers, the channel
token may be given as ``channelToken``); the answer is ``text/event-stream``::

    event: next
    data: {"data": {"orderStatus": {...}}}

    event: complete
    data:

with a ``:`` comment line every ``keepalive`` seconds while nothing happens. The same
subscription is served over WebSockets at ``/graphql`` by ``omnicore.gateway.websocket``
(graphql-transport-ws), sharing this module's ``OrderWatch``.

Changes are found by polling: one ``OrderWatch`` per gateway reads each followed
order once per ``[gateway] order_status_poll_seconds`` (default 2), however many
clients follow it, and wakes their streams through a queue. Polling the core
rather than following outbox events works whatever process made the change — a
worker, an admin on another gateway process, a POS import — and leaves the outbox
alone (a consumer there gets a delivery row for every event, forever). Every
status change in the order's history is sent, even two between polls; the stream
ends after a final status (cancelled, returned, refunded) or after
``[gateway] subscription_max_seconds`` (default 3600).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import graphene
from graphql import ExecutionResult, OperationType, subscribe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from omnicore.errors import Forbidden, InvalidInput, NotFound, OmnicoreError
from omnicore.gateway.context import RequestContext
from omnicore.gateway.limits import QueryGuard, Rejection
from omnicore.gateway.storefront.orders import OrderType
from omnicore.orders import TERMINAL, Order, StatusChange

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["OrderSubscription", "OrderWatch", "follow_order", "order_watch", "stream_route"]

log = logging.getLogger("omnicore.gateway")
WATCH = "order_watch"


class OrderWatch:
    """One poll loop for every order followed through one gateway.

    Each follower has a queue and the length of the history it has seen; a poll
    reads each followed order once and hands it to the followers it is news to.
    The loop runs only while someone follows an order.
    """

    def __init__(self, commerce: Commerce, poll_seconds: float) -> None:
        self._commerce = commerce
        self.poll_seconds = poll_seconds
        self._followers: dict[str, dict[asyncio.Queue[Order], int]] = {}
        self._task: asyncio.Task[None] | None = None

    def follow(self, order: Order) -> asyncio.Queue[Order]:
        """A queue that receives the order each time its history grows past ``order``'s."""
        queue: asyncio.Queue[Order] = asyncio.Queue(maxsize=1)
        self._followers.setdefault(order.id, {})[queue] = len(order.history)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="omnicore-order-watch")
        return queue

    def followers(self, order_id: str | None = None) -> int:
        """How many streams follow ``order_id`` now (any order when ``None``)."""
        if order_id is not None:
            return len(self._followers.get(order_id, {}))
        return sum(len(queues) for queues in self._followers.values())

    @property
    def running(self) -> bool:
        """Whether the poll loop runs (it stops when nobody follows an order)."""
        return self._task is not None and not self._task.done()

    def leave(self, order_id: str, queue: asyncio.Queue[Order]) -> None:
        followers = self._followers.get(order_id, {})
        followers.pop(queue, None)
        if not followers:
            self._followers.pop(order_id, None)
        if not self._followers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while self._followers:
            await asyncio.sleep(self.poll_seconds)
            for order_id in list(self._followers):
                try:
                    order = await self._commerce.orders.get(order_id)
                except Exception:  # the database went away: try again next time
                    log.warning("could not read order %s for its followers", order_id,
                                exc_info=True)
                    continue
                for queue, seen in list(self._followers.get(order_id, {}).items()):
                    if len(order.history) > seen:
                        self._followers[order_id][queue] = len(order.history)
                        if queue.full():  # only the latest matters: it holds every change
                            queue.get_nowait()
                        queue.put_nowait(order)


def order_watch(commerce: Commerce) -> OrderWatch:
    """The gateway's one ``OrderWatch`` (``[gateway] order_status_poll_seconds``), shared by
    ``/graphql/stream`` and the WebSocket transport at ``/graphql``."""
    return OrderWatch(commerce, commerce.config.gateway.order_status_poll_seconds)


#: the statuses after which an order changes no more
FINAL = frozenset(status.value for status in TERMINAL)


def _status(order: Order) -> str:
    """The order's status as its history says. The history is the truth here: on
    PostgreSQL the order row and its history are read by separate statements, so
    the history may already hold a change the row read a moment before did not."""
    return order.history[-1].to_status if order.history else order.status.value


def _event(order: Order, change: StatusChange | None) -> dict[str, Any]:
    if change is None:  # where the order stands now
        last = order.history[-1] if order.history else None
        return {"number": order.number, "status": _status(order),
                "previous_status": last.from_status if last else None,
                "changed_at": last.at if last else order.updated_at, "order": order}
    return {"number": order.number, "status": change.to_status,
            "previous_status": change.from_status, "changed_at": change.at, "order": order}


async def follow_order(watch: OrderWatch, order: Order, max_seconds: float
                       ) -> AsyncIterator[dict[str, Any]]:
    """Where the order stands now, then each change of status until a final one."""
    queue = watch.follow(order)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    try:
        yield _event(order, None)
        seen = len(order.history)
        while _status(order) not in FINAL:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                order = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return
            for change in order.history[seen:]:
                yield _event(order, change)
            seen = len(order.history)
    finally:
        watch.leave(order.id, queue)


async def _find_order(context: RequestContext, number: str, email: str | None,
                      phone: str | None) -> Order:
    orders = context.commerce.orders
    if email or phone:
        return await orders.track(number, email=email, phone=phone)
    if context.customer_id is None:
        raise InvalidInput("give the e-mail or the phone of the order", field="email")
    try:
        order = await orders.by_number(number)
    except NotFound:
        order = None
    if order is None or order.customer_id != context.customer_id:
        raise NotFound("no order with this number and contact", field="number")
    return order


class OrderStatusEventType(graphene.ObjectType):
    class Meta:
        name = "OrderStatusEvent"

    number = graphene.String(required=True)
    status = graphene.String(required=True, description="The status it changed to")
    previous_status = graphene.String()
    changed_at = graphene.DateTime(required=True)
    order = graphene.Field(OrderType, required=True, description="The order as last read")


class OrderSubscription(graphene.ObjectType):
    order_status = graphene.Field(
        OrderStatusEventType, required=True, number=graphene.String(required=True),
        email=graphene.String(), phone=graphene.String(),
        description="The order's status now, then each time it changes (until a final "
                    "status). Give the order's e-mail or phone — or a token of the customer "
                    "who placed it. Over /graphql/stream (server-sent events) or a WebSocket "
                    "at /graphql (graphql-transport-ws).")

    @staticmethod
    async def subscribe_order_status(
        _: Any, info: graphene.ResolveInfo, number: str, email: str | None = None,
        phone: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        context: RequestContext = info.context
        order = await _find_order(context, number, email, phone)
        settings = context.commerce.config.gateway
        watch = context.loaders.get(WATCH) or OrderWatch(context.commerce,
                                                           settings.order_status_poll_seconds)
        return follow_order(watch, order, settings.subscription_max_seconds)

    @staticmethod
    def resolve_order_status(root: Any, _: graphene.ResolveInfo, **__: Any) -> Any:
        if root is None:  # executed as a query (POST /graphql), not subscribed to
            raise InvalidInput("subscribe over /graphql/stream (server-sent events) or a "
                               "WebSocket at /graphql (graphql-transport-ws)",
                               field="orderStatus")
        return root


# -- the transport ------------------------------------------------------------------------------


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


def stream_route(commerce: Commerce, guard: QueryGuard | None = None,
                 watch: OrderWatch | None = None) -> Route:
    """``/graphql/stream``: storefront subscriptions as server-sent events.

    ``guard`` checks each request like ``/graphql`` does (depth, aliases, cost,
    introspection); by default one is made from ``[gateway]``. ``watch`` is the
    gateway's ``OrderWatch`` when other transports share it; by default its own.
    """
    from omnicore.gateway.app import CHANNEL_HEADER, bad_request, format_error, read_json
    from omnicore.gateway.schema import storefront_schema

    followed = watch if watch is not None else order_watch(commerce)
    if guard is None:
        guard = QueryGuard(storefront_schema.graphql_schema, commerce.config.gateway)
    checker = guard
    settings = guard.settings

    def body(result: ExecutionResult) -> str:
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [format_error(e) for e in result.errors]
        return json.dumps(payload, default=str)

    async def context_of(request: Request) -> RequestContext | Response:
        token = request.headers.get(CHANNEL_HEADER) or request.query_params.get("channelToken")
        if not token:
            return bad_request(f"missing {CHANNEL_HEADER} header (a channel's public token)",
                                401)
        try:
            channel = await commerce.channels.by_token(token)
        except NotFound:
            return bad_request("unknown channel token", 401)
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        customer_id = None
        if scheme.lower() == "bearer" and bearer.strip():
            try:
                customer_id = await commerce.auth.authenticate_customer(bearer.strip())
            except Forbidden as exc:
                return bad_request(exc.message, 401)
        return RequestContext(commerce=commerce, channel=channel, customer_id=customer_id,
                              loaders={WATCH: followed})

    async def request_of(request: Request) -> dict[str, Any] | Response:
        if request.method == "POST":
            return await read_json(request)
        params = request.query_params
        try:
            variables = json.loads(params["variables"]) if params.get("variables") else None
        except ValueError:
            return bad_request('"variables" must be JSON')
        if not params.get("query") or not isinstance(variables, dict | None):
            return bad_request('expected a "query" parameter (and "variables" as a JSON object)')
        return {"query": params["query"], "variables": variables,
                "operationName": params.get("operationName")}

    async def endpoint(request: Request) -> Response:
        context = await context_of(request)
        if isinstance(context, Response):
            return context
        payload = await request_of(request)
        if isinstance(payload, Response):
            return payload
        checked = checker.check(payload["query"], payload.get("variables"),
                                payload.get("operationName"))
        if isinstance(checked, Rejection):
            return JSONResponse(checked.body(), status_code=checked.status)
        if checked.operation.operation is not OperationType.SUBSCRIPTION:
            return bad_request("only subscriptions here: send queries and mutations to /graphql",
                                code="not_a_subscription")
        result = await subscribe(checker.schema, checked.document, context_value=context,
                                 variable_values=payload.get("variables"),
                                 operation_name=payload.get("operationName"))
        if isinstance(result, ExecutionResult):
            return JSONResponse(json.loads(body(result)), status_code=400)
        return StreamingResponse(
            _stream(result, body, settings.subscription_keepalive_seconds),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    return Route("/graphql/stream", endpoint, methods=["GET", "POST"])


async def _stream(results: AsyncIterator[ExecutionResult], body: Any, keepalive: float
                  ) -> AsyncIterator[str]:
    """The SSE body: ``next`` per result, a comment while idle, ``complete`` at the end."""
    yield ": subscribed\n\n"
    pending: asyncio.Future[ExecutionResult] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(results.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if not done:
                yield ":\n\n"
                continue
            finished, pending = pending, None
            try:
                result = finished.result()
            except StopAsyncIteration:
                break
            except OmnicoreError as exc:
                yield _sse("next", json.dumps({"errors": [{
                    "message": exc.message, "extensions": {"code": exc.code,
                                                           "field": exc.field}}]}))
                break
            except Exception:
                log.exception("subscription failed")
                yield _sse("next", json.dumps({"errors": [{
                    "message": "internal error", "extensions": {"code": "internal"}}]}))
                break
            yield _sse("next", body(result))
        yield _sse("complete", "")
    finally:
        # The client left or the stream ended: stop following the order. Shielded, as
        # the response's cancel scope (a disconnect) would cancel these awaits too.
        with anyio.CancelScope(shield=True):
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                await aclose()
            if pending is not None:
                pending.cancel()
