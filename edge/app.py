"""The app factory: one lifespan owns the journal and the reader and releases them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from edge import __version__
from edge.auth.caller import current_actor, current_caller
from edge.auth.login import Authenticator, LoginLine, RegistryPasswordCheck
from edge.auth.unlock import Unlocker
from edge.handlers import EXCEPTION_HANDLERS
from edge.http.health import healthz, latency_middleware, metrics, readyz
from edge.http.locked import locked_middleware
from edge.http.outbox import get_outbox
from edge.http.problems import document_errors
from edge.http.records import RecordController
from edge.http.session import SessionController
from edge.http.users import UserController
from edge.http.workqueues import WorkqueueController
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.keys import box as keybox
from edge.latency import Latency
from edge.limits import refuse_impossible_paths
from edge.saves_first import SavesFirst, page_threads
from edge.settings import Settings
from edge.texts import Text
from edge.users.admin import UserAdmin
from edge.users.passwords import Hasher, Params
from edge.watch import RegistryWatch
from edge.web.router import web_router
from edge.workflow.config import Config
from upstream_sync.login_check import RegistryLogin
from upstream_sync.lookups import RegistryLookups
from upstream_sync.unlocking import install as install_registry_unlock
from upstream_sync.worker import PushNotifier

log = logging.getLogger("edge.serve")
PAGE_THREADS = 3


def create_app(
    settings: Settings, config: Config, registry: RegistryPasswordCheck | None = None
) -> Litestar:
    """The box's web application for these settings and this country configuration."""

    def open_box(app: Litestar, key: bytes | None) -> None:
        """Open the journal and everything that reads it (at start, or once a login unlocks
        a locked box); on the event loop."""
        journal = Journal(
            settings.journal_path, config, settings.writer_batch_max, settings.timezone, key
        )
        reader = Reader(settings.journal_path, key)
        notifier = PushNotifier(settings)
        journal.after_append.append(notifier.poke)
        journal.writer.during_async = app.state.saves_first.saving
        app.state.push_soon = notifier.poke
        app.state.journal = journal
        app.state.reader = reader
        hasher = Hasher(Params(settings.argon2_memory_kib, settings.argon2_iterations))
        registry_check = registry or RegistryLogin(reader, settings.device_key_path)
        app.state.authenticator = Authenticator(
            settings, hasher, journal.run, reader.conn, registry_check
        )
        app.state.logins = LoginLine(app.state.authenticator)
        app.state.upstream = RegistryLookups(journal, reader, settings.device_key_path)
        app.state.users = UserAdmin(journal, reader, config, settings, hasher)
        app.state.watch = RegistryWatch(app.state.upstream.probe)
        app.state.offline_seen = set()
        app.state.passwords_once = {}
        app.state.watching = asyncio.create_task(app.state.watch.run())
        app.state.locked = False

    async def follow_unlock(app: Litestar) -> None:
        """While locked: open the box as soon as another process unlocked it (the worker by
        the registry's slot, `edge unlock`), or an unattended way opens it here; looked at
        every 2 s, the unattended ways less and less often (up to a minute)."""
        waited, wait = 0.0, 2.0
        while app.state.locked:
            await asyncio.sleep(2.0)
            waited += 2.0
            if waited >= wait:
                key = await asyncio.to_thread(keybox.unlock_unattended, settings)
                waited, wait = 0.0, min(60.0, wait * 2)
            else:
                key = await asyncio.to_thread(keybox.data_key, settings)
            if key is not None and app.state.locked:
                log.info("the box was unlocked: the pages and the API open")
                open_box(app, key)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # An encrypted journal whose key no one has given since boot: locked until a member of
        # staff logs in (or an unattended way, e.g. the registry's slot, opens it).
        key = keybox.unlock_unattended(settings) if keybox.encrypted(settings) else None
        app.state.locked = keybox.encrypted(settings) and key is None
        app.state.unlocker = Unlocker(settings)
        # The busy pages' reads and templates (edge/web/context.py): a few threads of their
        # own, the interpreter lock allowing little more, below the saves' priority.
        app.state.page_threads = page_threads(PAGE_THREADS)
        app.state.open_box = lambda key: open_box(app, key)
        following = None
        if app.state.locked:
            log.warning("the box is locked: a member of staff who logs in unlocks it")
            # Meanwhile the registry's slot (or the worker, or a command) may unlock it.
            install_registry_unlock()
            following = asyncio.create_task(follow_unlock(app))
        else:
            open_box(app, key)
        try:
            yield
        finally:
            app.state.page_threads.shutdown(wait=False, cancel_futures=True)
            if following is not None:
                following.cancel()
            if not app.state.locked:
                app.state.watching.cancel()
                app.state.logins.close()
                app.state.journal.close()
                app.state.reader.close()

    api: list[ControllerRouterHandler] = [
        healthz,
        readyz,
        metrics,
        get_outbox,
        SessionController,
        UserController,
        RecordController,
        WorkqueueController,
    ]
    document_errors(api)
    return Litestar(
        route_handlers=[*api, web_router(settings.upload_request_bytes)],
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "config": config,
                "latency": Latency(),
                "saves_first": SavesFirst(),
            }
        ),
        middleware=[refuse_impossible_paths, latency_middleware, locked_middleware],
        dependencies={
            "caller": Provide(current_caller, sync_to_thread=False),
            "actor": Provide(current_actor, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        type_encoders={Text: str},  # translatable texts (edge.texts) are sent as plain text
        request_max_body_size=settings.max_request_bytes,
        openapi_config=OpenAPIConfig(title="Edge box API", version=__version__, path="/api/schema"),
        logging_config=None,  # the CLI configures logging once, one line per event
        debug=False,
    )
