"""What the box refuses before any handler runs, so hostile or broken input from the office
network costs it nothing: paths no file or page can have."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)


def refuse_impossible_paths(app: ASGIApp) -> ASGIApp:
    """A path with a NUL or another control character names nothing on the box: 404 at once
    (the static files would otherwise fail on it: "embedded null byte")."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and any(ord(c) < 32 for c in scope["path"]):
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": b"Not found\n",
                "more_body": False,
            }
            await send(start)
            await send(body)
            return
        await app(scope, receive, send)

    return middleware
