"""The starlette application: ``/graphql``, health probes and plugin routes.

Every request is refused as early and as cheaply as possible, in this order:

1. the body, on every route (plugin routes and ``/webhooks/<plugin>`` included), is
   read from the ASGI stream chunk by chunk and refused with a 413 as soon as it
   passes ``[gateway] max_body_bytes`` (``BodyLimit``): a chunked upload is never
   read whole;
2. the credentials: the channel token (and a customer token) on ``/graphql``, the
   staff key on ``/admin/graphql`` — a 401 before the document is even parsed, so
   an unauthenticated caller learns nothing of the schema and costs nothing;
3. the ``QueryGuard`` of the schema: a cheap pre-pass over the text (selections,
   aliases, fragments, nesting), then parsing, validation, introspection, depth,
   aliases, cost and list arguments (see ``omnicore.gateway.limits``).

Only then is the operation executed. Everything refused before execution answers
400 (413 for a body too large, 401 without valid credentials) with
``errors[0].message`` and ``errors[0].extensions.code``, never a stack trace.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError, OperationType
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicore.errors import Forbidden, NotFound, OmnicoreError
from omnicore.gateway.catalog_cache import CatalogCache
from omnicore.gateway.context import RequestContext
from omnicore.gateway.errors import graphql_field, graphql_message
from omnicore.gateway.execution import run
from omnicore.gateway.graphiql import GRAPHIQL_HTML
from omnicore.gateway.limits import (
    Checked,
    GatewaySettings,
    QueryGuard,
    Rejection,
    without_suggestions,
)
from omnicore.gateway.schema import admin_schema, storefront_schema
from omnicore.gateway.storefront.subscriptions import order_watch, stream_route
from omnicore.gateway.websocket import websocket_route

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["CHANNEL_HEADER", "MAX_BODY_BYTES", "BodyLimit", "bad_request", "create_app",
           "read_json"]

log = logging.getLogger("omnicore.gateway")

CHANNEL_HEADER = "x-omnicore-channel-token"
#: the default of ``[gateway] max_body_bytes``
MAX_BODY_BYTES = 1_000_000


_CODES = {400: "bad_request", 401: "unauthenticated", 405: "method_not_allowed",
          413: "payload_too_large"}


class GraphQLResponse(JSONResponse):
    """A GraphQL answer, rendered by orjson: a product page's JSON takes ~2 µs instead
    of the standard library's ~40 µs. Keys that are not strings (inside a ``JSON``
    scalar such as an export) are written as ``json`` writes them: ``1`` as ``"1"``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class BodyLimit:
    """ASGI middleware: an HTTP request's body, read chunk by chunk, at most ``max_bytes``.

    A ``Content-Length`` above the limit is refused at once; otherwise chunks are read
    from the ASGI stream until the running total passes the limit (413, the rest is
    never read) or the body ends, and the app receives the body in one message.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = bad_request(f"request body larger than {self.max_bytes} bytes", 413)
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect

        await self.app(scope, replay, send)


def bad_request(message: str, status: int = 400, code: str | None = None) -> JSONResponse:
    error = {"message": message, "extensions": {"code": code or _CODES.get(status, "bad_request")}}
    return JSONResponse({"errors": [error]}, status_code=status)


def format_error(error: GraphQLError) -> dict[str, Any]:
    """A GraphQL error as clients see it: typed errors keep code and field, others are hidden."""
    original = error.original_error
    formatted: dict[str, Any] = {"message": error.message}
    if error.path:
        formatted["path"] = error.path
    if isinstance(original, OmnicoreError):
        formatted["message"] = graphql_message(original.message)
        formatted["extensions"] = {"code": original.code,
                                   "field": graphql_field(original.field)}
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("resolver failed", exc_info=original)
        formatted["message"] = "internal error"
        formatted["extensions"] = {"code": "internal"}
    return formatted


async def read_json(request: Request) -> dict[str, Any] | JSONResponse:
    settings = getattr(request.app.state, "gateway_settings", None)
    limit = settings.max_body_bytes if isinstance(settings, GatewaySettings) else MAX_BODY_BYTES
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        return bad_request(f"request body larger than {limit} bytes", 413)
    body = await request.body()  # at most ``limit``: ``BodyLimit`` read it
    if len(body) > limit:
        return bad_request(f"request body larger than {limit} bytes", 413)
    try:
        payload = orjson.loads(body)
    except ValueError:
        return bad_request("malformed JSON body", code="malformed_json")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return bad_request('expected a JSON object with a "query" string')
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return bad_request('"variables" must be a JSON object')
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        return bad_request('"operationName" must be a string')
    return payload


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _check(guard: QueryGuard, payload: dict[str, Any]) -> Checked | Response:
    """The request checked by ``guard`` (once its caller is authenticated)."""
    checked = guard.check(payload["query"], payload.get("variables"),
                          payload.get("operationName"))
    if isinstance(checked, Rejection):
        return JSONResponse(checked.body(), status_code=checked.status)
    return checked


def read_scope(commerce: Commerce, checked: Checked) -> AbstractAsyncContextManager[None]:
    """Where an operation's reads run: a query's share one connection (one snapshot on
    SQLite); a mutation's must see its own writes, so they take a connection each."""
    if checked.operation.operation is OperationType.QUERY:
        return commerce.db.shared_reads()
    return nullcontext()


async def _execute(guard: QueryGuard, payload: dict[str, Any], checked: Checked,
                   context: RequestContext) -> Response:
    result = await run(guard.schema, checked.document, context=context,
                       variables=payload.get("variables"),
                       operation_name=payload.get("operationName"),
                       fast=guard.settings.fast_execution)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
        if not guard.settings.introspection:  # coercion errors suggest names too
            for error in body["errors"]:
                error["message"] = without_suggestions(error["message"])
        if result.data is None:
            for error in body["errors"]:  # no path: the variables could not be coerced
                if "path" not in error:
                    error.setdefault("extensions", {"code": "invalid_variables"})
            return GraphQLResponse(body, status_code=400)
    return GraphQLResponse(body)


def create_app(commerce: Commerce, *, graphiql: bool | None = None,
               settings: GatewaySettings | None = None) -> Starlette:
    """The gateway as an ASGI app over an open ``Commerce`` (the caller closes it).

    ``/graphql``: the storefront API (header ``X-Omnicore-Channel-Token``, optional
    ``Authorization: Bearer <customer token>``); ``/admin/graphql``: the admin API
    (``Authorization: Bearer <staff key>``); ``/healthz``, ``/readyz``; plugin routes.

    Limits, introspection and the execution fast path come from ``[gateway]`` of the
    configuration, checked when it was loaded (``settings`` replaces them).
    ``graphiql`` overrides ``[gateway] graphiql`` (default: on when introspection is).
    """
    settings = settings or commerce.config.gateway
    show_graphiql = settings.serves_graphiql if graphiql is None else graphiql
    storefront = QueryGuard(storefront_schema.graphql_schema, settings)
    catalog_cache = CatalogCache() if settings.catalog_cache else None
    admin = QueryGuard(admin_schema.graphql_schema, settings)
    watch = order_watch(commerce)  # one poll loop for both live-status transports

    def _graphiql(request: Request) -> Response | None:
        if request.method == "GET":
            if show_graphiql and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(GRAPHIQL_HTML)
            return bad_request("send GraphQL queries with POST", 405)
        return None

    async def graphql_endpoint(request: Request) -> Response:
        page = _graphiql(request)
        if page is not None:
            return page
        token = request.headers.get(CHANNEL_HEADER)
        if not token:
            return bad_request(f"missing {CHANNEL_HEADER} header (a channel's public token)", 401)
        payload = await read_json(request)
        if isinstance(payload, JSONResponse):
            return payload
        # the caller first: nothing of the document is parsed for an unknown token. The
        # look-ups share the query's read scope (one snapshot on SQLite); a mutation's
        # writes each take their own connection, so its scope ends before it runs.
        async with AsyncExitStack() as scope:
            await scope.enter_async_context(commerce.db.shared_reads())
            try:
                channel = await commerce.channels.by_token(token)
            except NotFound:
                return bad_request("unknown channel token", 401)
            customer_id = None
            bearer = _bearer(request)
            if bearer is not None:
                try:
                    customer_id = await commerce.auth.authenticate_customer(bearer)
                except Forbidden as exc:
                    return bad_request(exc.message, 401)
            checked = _check(storefront, payload)
            if isinstance(checked, Response):
                return checked
            if checked.operation.operation is not OperationType.QUERY:
                await scope.aclose()
            context = RequestContext(commerce=commerce, channel=channel,
                                     customer_id=customer_id, catalog_cache=catalog_cache)
            return await _execute(storefront, payload, checked, context)

    async def admin_endpoint(request: Request) -> Response:
        page = _graphiql(request)
        if page is not None:
            return page
        key = _bearer(request)
        if key is None:
            return bad_request("missing Authorization: Bearer <staff key>", 401)
        payload = await read_json(request)
        if isinstance(payload, JSONResponse):
            return payload
        # the staff key first: the admin schema shows nothing to an unknown caller
        async with AsyncExitStack() as scope:
            await scope.enter_async_context(commerce.db.shared_reads())
            try:
                staff = await commerce.auth.authenticate_staff(key)
            except Forbidden as exc:
                return bad_request(exc.message, 401)
            checked = _check(admin, payload)
            if isinstance(checked, Response):
                return checked
            if checked.operation.operation is not OperationType.QUERY:
                await scope.aclose()
            return await _execute(admin, payload, checked,
                                  RequestContext(commerce=commerce, staff=staff))

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        try:
            async with commerce.db.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ready")

    routes: list[BaseRoute] = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        Route("/admin/graphql", admin_endpoint, methods=["GET", "POST"]),
        stream_route(commerce, storefront, watch),  # /graphql/stream: subscriptions over SSE
        websocket_route(commerce, storefront, watch, catalog_cache),  # graphql-transport-ws
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *commerce.plugins.register_routes(commerce),
    ]
    app = Starlette(routes=routes,
                    middleware=[Middleware(BodyLimit, max_bytes=settings.max_body_bytes)])
    app.state.commerce = commerce
    app.state.gateway_settings = settings
    app.state.order_watch = watch
    return app
