"""``GET /admin/amazon/status``: the connector's status and listing issues, for staff.

The same report as ``omnicore amazon status --json``, served by the gateway next to
the admin GraphQL API and guarded the same way: ``Authorization: Bearer <staff key>``
with the ``MANAGE_CATALOG`` permission.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from omnicore.auth import Permission
from omnicore.errors import Forbidden

if TYPE_CHECKING:
    from omnicore import Commerce
    from omnicore_amazon.plugin import AmazonPlugin

__all__ = ["status_route"]


def status_route(commerce: Commerce, plugin: AmazonPlugin) -> Any:
    """The starlette route (starlette comes with the gateway: imported only here)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from omnicore_amazon.cli import collect_status

    async def status(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return JSONResponse({"error": "missing Authorization: Bearer <staff key>"},
                                status_code=401)
        try:
            staff = await commerce.auth.authenticate_staff(key.strip())
        except Forbidden as exc:
            return JSONResponse({"error": exc.message}, status_code=401)
        try:
            staff.require(Permission.MANAGE_CATALOG)
        except Forbidden as exc:
            return JSONResponse({"error": exc.message}, status_code=403)
        report = await collect_status(commerce, plugin.started())
        return Response(json.dumps(report, default=str), media_type="application/json")

    return Route("/admin/amazon/status", status, methods=["GET"])
