"""Run the gateway under uvicorn (``omnicore serve`` and ``omnicore demo``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette

__all__ = ["app_from_environment", "serve"]

URL_VARIABLE = "OMNICORE_DATABASE_URL"


def app_from_environment() -> Starlette:
    """ASGI factory for uvicorn workers: opens a Commerce on ``OMNICORE_DATABASE_URL``."""
    from omnicore.commerce import Commerce
    from omnicore.gateway.app import create_app

    holder: dict[str, Starlette] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        commerce = await Commerce.open(os.environ.get(URL_VARIABLE) or None)
        holder["inner"] = create_app(commerce)
        try:
            yield
        finally:
            await commerce.close()

    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            await outer(scope, receive, send)
            return
        await holder["inner"](scope, receive, send)

    outer = Starlette(lifespan=lifespan)
    return asgi  # type: ignore[return-value]


def serve(
    database_url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    banner: Sequence[str] = (),
) -> None:
    """Serve the gateway until interrupted; prints ``banner`` lines and the GraphiQL URL."""
    import uvicorn

    if database_url:
        os.environ[URL_VARIABLE] = database_url
    for line in banner:
        print(line, file=sys.stderr)
    print(
        f"GraphiQL: http://{host}:{port}/graphql (send X-Omnicore-Channel-Token)", file=sys.stderr
    )
    uvicorn.run(
        "omnicore.gateway.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
