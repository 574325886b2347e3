"""The app factory: one lifespan owns the journal and the reader and releases them."""

from __future__ import annotations

import asyncio
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
from edge.handlers import EXCEPTION_HANDLERS
from edge.http.health import healthz, latency_middleware, metrics, readyz
from edge.http.outbox import get_outbox
from edge.http.problems import document_errors
from edge.http.records import RecordController
from edge.http.session import SessionController
from edge.http.users import UserController
from edge.http.workqueues import WorkqueueController
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.latency import Latency
from edge.limits import refuse_impossible_paths
from edge.settings import Settings
from edge.texts import Text
from edge.users.admin import UserAdmin
from edge.users.passwords import Hasher, Params
from edge.watch import RegistryWatch
from edge.web.router import web_router
from edge.workflow.config import Config
from upstream_sync.login_check import RegistryLogin
from upstream_sync.lookups import RegistryLookups
from upstream_sync.worker import PushNotifier


def create_app(
    settings: Settings, config: Config, registry: RegistryPasswordCheck | None = None
) -> Litestar:
    """The box's web application for these settings and this country configuration."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        journal = Journal(
            settings.journal_path, config, settings.writer_batch_max, settings.timezone
        )
        reader = Reader(settings.journal_path)
        notifier = PushNotifier(settings)
        journal.after_append.append(notifier.poke)
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
        watching = asyncio.create_task(app.state.watch.run())
        try:
            yield
        finally:
            watching.cancel()
            app.state.logins.close()
            journal.close()
            reader.close()

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
        state=State({"settings": settings, "config": config, "latency": Latency()}),
        middleware=[refuse_impossible_paths, latency_middleware],
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
