"""`edge serve`: the web server (uvicorn) for this box."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvicorn

from edge.cli import home_of
from edge.http.app import create_app
from edge.settings import load_settings
from edge.workflow.config import load_config

log = logging.getLogger("edge.serve")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    # The journal writer thread gives up the GIL inside every SQLite call; with the default
    # 5 ms switch interval it then waits behind the event loop for each statement.
    sys.setswitchinterval(0.001)
    config = load_config(settings.country_config or None)
    app = create_app(settings, config)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            log_level=settings.log_level,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    main = _serve(server, Path(args.port_file) if args.port_file else None)
    try:
        import uvloop  # a faster event loop where it is installed (it is a dependency)
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
    return 0


async def _serve(server: uvicorn.Server, port_file: Path | None) -> None:
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
    await task
