"""Run the gateway under uvicorn (``omnicore serve`` and ``omnicore demo``).

uvicorn imports the app in each worker process from the factory string
``omnicore.gateway.server:app_factory``; the factory reads the database URL
from ``OMNICORE_DATABASE_URL`` and the configuration as every ``Commerce``
does (``OMNICORE_CONFIG``, else ./omnicore.toml). Each worker opens its own
``Commerce`` when uvicorn starts it (the ASGI lifespan) and closes it on
shutdown. Run it without the command line as::

    OMNICORE_DATABASE_URL=postgresql://… uvicorn --factory omnicore.gateway.server:app_factory
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["FACTORY", "URL_VARIABLE", "GatewayProcess", "app_factory", "app_from_environment",
           "serve", "urls"]

log = logging.getLogger("omnicore.gateway")

URL_VARIABLE = "OMNICORE_DATABASE_URL"
#: a file where worker processes that fail to start write why (set by ``serve``)
FAILURES_VARIABLE = "OMNICORE_GATEWAY_FAILURES"
FACTORY = "omnicore.gateway.server:app_factory"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class GatewayProcess:
    """The ASGI app of one server process: opens its ``Commerce`` at lifespan start-up."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self.commerce: Commerce | None = None
        self._app: Any = None

    async def _start(self) -> None:
        from omnicore.commerce import Commerce
        from omnicore.gateway.app import create_app

        commerce = await Commerce.open(self.database_url)
        try:
            self._app = create_app(commerce)
        except BaseException:
            await commerce.close()
            raise
        self.commerce = commerce
        # What start-up built (modules, the schema, the engine) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it.
        gc.collect()
        gc.freeze()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except Exception as exc:
                    log.error("the gateway could not start: %s", exc)
                    _report_failure(str(exc))
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.commerce is not None:
                    await self.commerce.close()
                    self.commerce = None
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._app is None:
            raise RuntimeError("the gateway starts with the ASGI lifespan: run uvicorn with "
                               "--lifespan on (its default)")
        await self._app(scope, receive, send)


def _report_failure(message: str) -> None:
    """Tell the parent ``serve`` why this worker could not start (one line per worker)."""
    path = os.environ.get(FAILURES_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(message.replace("\n", " ") + "\n")


def app_factory() -> GatewayProcess:
    """ASGI factory for uvicorn (``--factory``): the gateway on ``OMNICORE_DATABASE_URL``."""
    return GatewayProcess(os.environ.get(URL_VARIABLE) or None)


#: the name this factory had first
app_from_environment = app_factory


def urls(host: str, port: int) -> tuple[str, str]:
    """The storefront and admin GraphiQL URLs of a server listening on ``host:port``."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    return f"{base}/graphql", f"{base}/admin/graphql"


def serve(
    database_url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    banner: Sequence[str] = (),
) -> None:
    """Serve the gateway until interrupted; prints ``banner`` lines and the GraphiQL URLs."""
    import uvicorn

    if database_url:
        os.environ[URL_VARIABLE] = database_url
    storefront, admin = urls(host, port)
    for line in banner:
        print(line, file=sys.stderr)
    print(f"GraphiQL (storefront): {storefront}  (header X-Omnicore-Channel-Token, "
          f"or open {storefront}?token=<public token>)", file=sys.stderr)
    print(f"GraphiQL (admin): {admin}  (header Authorization: Bearer <staff key>)",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="omnicore-serve-") as folder:
        failures = os.path.join(folder, "failures")
        os.environ[FAILURES_VARIABLE] = failures
        try:
            uvicorn.run(FACTORY, factory=True, host=host, port=port, workers=workers,
                        log_level="info")
        finally:
            os.environ.pop(FAILURES_VARIABLE, None)
        # uvicorn stops when a worker fails to start, but with workers > 1 it returns
        # normally: the exit status must still say the gateway did not run.
        if os.path.exists(failures):
            with open(failures, encoding="utf-8") as handle:
                reasons = sorted({line.strip() for line in handle if line.strip()})
            if reasons:
                print(f"Error: the gateway could not start: {'; '.join(reasons)}",
                      file=sys.stderr)
                sys.exit(1)
