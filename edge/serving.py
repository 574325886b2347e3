"""Serving an ASGI app with uvicorn until SIGINT/SIGTERM: used by `edge serve` and by the
reference registry (`edge-registry serve`). Knows nothing of either app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from edge.notify import feed_watchdog, notify, watchdog_interval

log = logging.getLogger("edge.serve")

# Called with the bound port once listening; returns what to call when stopping.
Started = Callable[[int], Awaitable[Callable[[], Awaitable[None]]]]


def run_server(
    app: Any,
    host: str,
    port: int,
    port_file: Path | None,
    log_level: str,
    started: Started | None = None,
    **limits: Any,
) -> None:
    """Serve an app until SIGINT/SIGTERM, on uvloop where it is installed. `limits` go to
    uvicorn's Config as they are (`http`, `limit_concurrency`, …)."""
    main = serve_app(app, host, port, port_file, log_level, started, **limits)
    try:
        import uvloop  # a faster event loop (a dependency; optional for development)
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def serve_app(
    app: Any,
    host: str,
    port: int,
    port_file: Path | None,
    log_level: str,
    started: Started | None = None,
    **limits: Any,
) -> None:
    """Serve until stopped; write the bound port to port_file once listening."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=10,
            **limits,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # startup failed: re-raise its error
            return
        await asyncio.sleep(0.02)
    bound = [s.getsockname() for srv in server.servers for s in (srv.sockets or [])]
    for address in bound:
        log.info("listening on http://%s:%s/", address[0], address[1])
    if port_file and bound:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(bound[0][1]))
        tmp.replace(port_file)
    # The lifespan opened the database and the listener is up: tell systemd (Type=notify).
    notify("READY=1\nSTATUS=Serving")
    interval = watchdog_interval()
    pinger = asyncio.create_task(feed_watchdog(interval)) if interval else None
    stop = await started(bound[0][1]) if started and bound else None
    try:
        await task
    finally:
        if pinger:
            pinger.cancel()
        if stop:
            await stop()  # e.g. withdraw the mDNS announcement
