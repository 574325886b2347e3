"""The web app's state, typed: what the composition root (edge/app.py) puts there at
startup and every handler of the API and the pages may use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from litestar.datastructures import State

from edge.auth.login import Authenticator, LoginLine
from edge.auth.unlock import Unlocker
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.latency import Latency
from edge.saves_first import SavesFirst
from edge.settings import Settings
from edge.upstream import Upstream
from edge.users.admin import UserAdmin
from edge.watch import RegistryWatch
from edge.workflow.config import Config


class BoxState(State):
    """`state: BoxState` in a handler's signature gives these, typed (Litestar wraps the
    app's state in this class; nothing is copied)."""

    settings: Settings
    config: Config
    latency: Latency
    saves_first: SavesFirst  # pages step aside while an action is being saved
    page_threads: ThreadPoolExecutor  # the busy pages' reads and templates
    journal: Journal
    reader: Reader
    authenticator: Authenticator
    logins: LoginLine
    upstream: Upstream
    users: UserAdmin
    push_soon: Callable[[], None]  # wake the sync worker
    watch: RegistryWatch  # is the registry answering now (for the banner)
    # Users who saw the blue banner: each gets the green one once all their work is sent.
    offline_seen: set[str]
    # One-time passwords the box made up, until their admin's next page shows them (once):
    # token -> (admin's user id, user id, password, monotonic deadline).
    passwords_once: dict[str, tuple[str, str, str, float]]
    # Encryption at rest: True until a key slot opens (then the journal and the rest exist).
    locked: bool
    unlocker: Unlocker
    open_box: Callable[[bytes], None]  # on the event loop, once unlocked


async def unlock_by_login(state: BoxState, username: str, password: str) -> None:
    """A login on a locked box: the user's key slot is the password check. Opened, the box is
    unlocked for everyone and the normal login follows; else LoginRefused (wrong password)."""
    if not state.locked:
        return
    key = await asyncio.to_thread(state.unlocker.try_password, username, password)
    if state.locked:  # two logins at once: the first to finish opens the box
        state.open_box(key)
