"""The GraphQL gateway: graphene schemas on a starlette app.

    from omnicore.gateway import create_app
    app = create_app(commerce)          # mount it in your own starlette/FastAPI app

``omnicore serve`` and ``omnicore demo`` run it under uvicorn.
"""

from __future__ import annotations

from omnicore.gateway.app import create_app

__all__ = ["create_app"]
