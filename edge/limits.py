"""What the box refuses before any handler runs, so hostile or broken input from the office
network costs it little: request headers that never end or never stop growing, and paths no
file or page can have. The numbers are settings (docs/configuration.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with two limits it lacks: a request's headers must arrive
    within `header_timeout` seconds (a half-open connection cannot be held for ever) and in
    at most `max_header_bytes` (ten unfinished 50 MB headers cannot fill the memory)."""

    header_timeout = 10.0
    max_header_bytes = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._in_headers = True
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # the next request on a kept-alive connection
            self._in_headers, self._header_bytes = True, 0
            self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers and self.transport and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(
                    b"431 Request Header Fields Too Large", "The request header is too large."
                )

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._in_headers and not self.transport.is_closing():
            self._refuse(b"408 Request Timeout", "The request took too long to arrive.")

    def _refuse(self, status: bytes, message: str) -> None:
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()


def guarded_http(header_timeout: float, max_header_bytes: int) -> type[GuardedHttp]:
    """The protocol class with this box's limits (uvicorn makes one instance per connection)."""
    return type(
        "BoxHttp",
        (GuardedHttp,),
        {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes},
    )
