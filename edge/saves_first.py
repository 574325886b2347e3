"""Saves first: while someone's action is being saved, pages that have not started their work
yet wait a moment, so a clerk's "Save" is not queued behind colleagues' lists and searches.

The web process is one event loop and one interpreter lock: a page's template and its rows
are Python, and a save that arrives while three pages render would otherwise take its turn
after them at every step (reading the request, the journal's job, the answer). A save takes
a few milliseconds; the pages it holds back wait at most `LONGEST` seconds, so a stream of
saves cannot starve the pages either.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

LONGEST = 0.05  # seconds a page waits for saves at one of its steps, at most
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SavesFirst:
    """Counts the saves being served; pages ask for their turn between steps."""

    def __init__(self) -> None:
        self._saving = 0
        self._clear: asyncio.Event | None = None

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        if self._clear is None:
            self._clear = asyncio.Event()
        self._saving += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._saving -= 1
            if not self._saving:
                self._clear.set()

    async def turn(self) -> None:
        """Wait (up to LONGEST) while a save is being served; at once otherwise."""
        if self._saving and self._clear is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._clear.wait(), LONGEST)


def saves_first_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        gate: SavesFirst = scope["app"].state.saves_first
        if scope.get("method") in WRITES:
            with gate.saving():
                await app(scope, receive, send)
        else:
            await gate.turn()
            await app(scope, receive, send)

    return middleware
