"""A locked box answers only what needs no data: health, the login page and the login itself
(which unlocks it), the help page, the static files. The API says 503 with the reason; a page
sends the browser to the login page, which says the box is locked and that logging in unlocks
it."""

from __future__ import annotations

import json

from litestar.enums import ScopeType
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Receive, Scope, Send

from edge.keys.box import locked_message

# The help page is general guidance (its section on a locked box among it), read from the
# login page.
OPEN = (
    "/healthz",
    "/readyz",
    "/login",
    "/help",
    "/api/v1/auth/login",
    "/language",
    "/favicon.ico",
)


def locked_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != ScopeType.HTTP
            or not getattr(scope["app"].state, "locked", False)
            or path in OPEN
            or path.startswith("/static/")
        ):
            await app(scope, receive, send)
            return
        if path.startswith("/api/") or scope.get("method") not in ("GET", "HEAD"):
            body = json.dumps(
                {
                    "type": "tag:edge-box,2026:box-locked",
                    "title": "The box is locked",
                    "status": 503,
                    "detail": str(locked_message()),
                    "code": "locked",
                }
            ).encode()
            await ASGIResponse(
                body=body,
                status_code=503,
                media_type="application/problem+json",
                headers={"retry-after": "30", "cache-control": "no-store"},
            )(scope, receive, send)
            return
        await ASGIResponse(
            status_code=303, headers={"location": "/login", "cache-control": "no-store"}
        )(scope, receive, send)

    return middleware
