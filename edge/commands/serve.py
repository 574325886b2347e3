"""`edge serve`: the web server (uvicorn) for this box."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from litestar import Litestar

from edge import serving
from edge.app import create_app
from edge.cli import settings_of
from edge.commands.keys import migrate_if_plain, rekey_if_due
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.limits import guarded_http
from edge.runlock import hold_shared
from edge.serving import Started
from edge.settings import Settings
from edge.workflow.config import load_config

log = logging.getLogger("edge.serve")


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    config = load_config(settings.country_config)
    port = settings.port if args.port is None else args.port
    migrate_if_plain(settings)  # a journal from before encryption at rest
    rekey_if_due(settings)  # the setup slot's key, once shown on disk, opens nothing
    hold_shared(settings.home)  # `edge restore` waits for the box to stop
    app = create_app(settings, config)
    run_server(
        app,
        args.host or settings.host,
        port,
        Path(args.port_file) if args.port_file else None,
        settings.log_level,
        started=_announce(app, settings) if settings.mdns_interfaces != "off" else None,
        settings=settings,
    )
    return 0


def _announce(app: Litestar, settings: Settings) -> Started:
    """Once listening: announce the box on the office network (mDNS), until it stops."""

    async def start(port: int) -> Callable[[], Awaitable[None]]:
        from edge.mdns import Announcer

        def opened() -> tuple[Reader, Journal] | None:  # None while the box is locked
            return None if app.state.locked else (app.state.reader, app.state.journal)

        announcer = Announcer(settings, opened, port)
        announcer.start()
        # Withdrawn while the app shuts down: uvicorn re-raises SIGTERM once it is done.
        app.on_shutdown.insert(0, announcer.stop)
        return announcer.stop

    return start


def run_server(
    app: Litestar,
    host: str,
    port: int,
    port_file: Path | None,
    log_level: str,
    started: Started | None = None,
    settings: Settings | None = None,
) -> None:
    """Serve the box's app: after each fsync the journal's commit thread needs the GIL back to
    hand the results to the event loop; with the default 5 ms switch interval it would wait
    behind the busy loop."""
    sys.setswitchinterval(0.001)
    s = settings or Settings()
    serving.run_server(
        app,
        host,
        port,
        port_file,
        log_level,
        started,
        http=guarded_http(s.http_header_timeout_seconds, s.http_max_header_bytes),
        limit_concurrency=s.http_max_connections,
    )
