"""`edge serve`: the web server (uvicorn) for this box."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvicorn
from litestar import Litestar

from edge.cli import home_of
from edge.http.app import create_app
from edge.notify import feed_watchdog, notify, watchdog_interval
from edge.runlock import hold_shared
from edge.settings import Settings, load_settings
from edge.workflow.config import load_config

log = logging.getLogger("edge.serve")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    config = load_config(settings.country_config or None)
    port = settings.port if args.port is None else args.port
    hold_shared(settings.home)  # `edge restore` waits for the box to stop
    app = create_app(settings, config)
    run_server(
        app,
        args.host or settings.host,
        port,
        Path(args.port_file) if args.port_file else None,
        settings.log_level,
        started=_announce(app, settings) if settings.mdns_interfaces != "off" else None,
    )
    return 0


def _announce(app: Litestar, settings: Settings) -> Started:
    """Once listening: announce the box on the office network (mDNS), until it stops."""

    async def start(port: int) -> Callable[[], Awaitable[None]]:
        from edge.mdns import Announcer

        announcer = Announcer(settings, app.state.reader, app.state.journal, port)
        announcer.start()
        # Withdrawn while the app shuts down: uvicorn re-raises SIGTERM once it is done.
        app.on_shutdown.insert(0, announcer.stop)
        return announcer.stop

    return start


Started = Callable[[int], Awaitable[Callable[[], Awaitable[None]]]]


def run_server(
    app: Litestar,
    host: str,
    port: int,
    port_file: Path | None,
    log_level: str,
    started: Started | None = None,
) -> None:
    """Serve an app until SIGINT/SIGTERM, on uvloop where it is installed."""
    # After each fsync the journal's commit thread needs the GIL back to hand the results to
    # the event loop; with the default 5 ms switch interval it would wait behind the busy loop.
    sys.setswitchinterval(0.001)
    main = serve_app(app, host, port, port_file, log_level, started)
    try:
        import uvloop  # a faster event loop (a dependency; optional for development)
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def serve_app(
    app: Litestar,
    host: str,
    port: int,
    port_file: Path | None,
    log_level: str,
    started: Started | None = None,
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
    notify("READY=1\nSTATUS=Serving the office network")
    interval = watchdog_interval()
    pinger = asyncio.create_task(feed_watchdog(interval)) if interval else None
    stop = await started(bound[0][1]) if started and bound else None
    try:
        await task
    finally:
        if pinger:
            pinger.cancel()
        if stop:
            await stop()  # withdraw the announcement
