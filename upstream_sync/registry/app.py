"""The reference registry's app: its routes, one lifespan that owns the database, and one
error handler in the registry's own words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar

from edge.identity import load_device_key
from edge.keys.recovery import read_public
from edge.users.passwords import Hasher, Params
from upstream_sync.registry.admin_api import ADMIN_ROUTES
from upstream_sync.registry.context import RegistryContext
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.errors import EXCEPTION_HANDLERS
from upstream_sync.registry.escrow_api import ESCROW_ROUTES
from upstream_sync.registry.settings import RegistrySettings, load_country_config
from upstream_sync.registry.sync_api import SYNC_ROUTES


def create_registry_app(home: Path, settings: RegistrySettings | None = None) -> Litestar:
    """The registry serving `home` (its database and key) with these settings."""
    s = settings or RegistrySettings()
    config = load_country_config(s)
    # Read before serving: a wrong file stops the registry with its reason, not an enrollment.
    recovery = read_public(home / s.recovery_public_key) if s.recovery_public_key else b""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = RegistryDB(home / "registry.db", s.lock_wait_seconds)
        hasher = Hasher(Params(s.argon2_memory_kib, s.argon2_iterations))
        key = load_device_key(home / "registry.key")
        app.state.registry = RegistryContext(s, db, key, hasher, config, recovery)
        try:
            yield
        finally:
            db.close()

    return Litestar(
        route_handlers=[*SYNC_ROUTES, *ESCROW_ROUTES, *ADMIN_ROUTES],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,
        request_max_body_size=s.max_request_bytes,
    )
