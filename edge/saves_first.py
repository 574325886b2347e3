"""Saves first: while someone's action is being saved, pages that reach one of their steps wait
a moment, so a clerk's "Save" is not queued behind colleagues' lists and searches.

The web process is one event loop and one interpreter lock: a page's template and its rows
are Python, and a save that arrives while three pages render would otherwise take its turn
after them at every step. What counts as saving is the journal's own work, from the job queued
to its commit (edge.journal.writer.Writer.run_async), not a whole write request: a login's
password check or a file still uploading holds nobody back. Pages wait between their steps on
the event loop (`turn`) and, in their threads, between the parts of a template or the rows of
a list (`pause`), letting go of the interpreter lock, which each of the save's SQLite calls
must win back. A save takes a few milliseconds; a page request waits LONGEST seconds at most
in all its steps together, so a stream of saves cannot starve the pages either.

The pages' threads also run at a lower scheduling priority (`page_threads`): their SQLite
reads (and the journal's decryption) run outside the interpreter lock, so three of them can
fill both of a Pi's cores, and the save's threads would queue behind them for a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

LONGEST = 0.05  # seconds one page request may wait for saves, over all its steps
NICER = 10  # how much lower the pages' threads run than the rest of the web process

# When the current page request stops waiting for saves (time.monotonic), set at its first
# wait: each request runs in its own task, with its own copy of the context (which its work
# in threads takes along).
_deadline: ContextVar[float | None] = ContextVar("saves_first_deadline", default=None)


class SavesFirst:
    """Counts the saves under way; pages ask for their turn between steps. Used from one
    event loop at a time (a new loop, e.g. the app served again in a test, starts afresh)."""

    def __init__(self) -> None:
        self._saving = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clear = asyncio.Event()
        self._clear_for_threads = threading.Event()
        self._clear_for_threads.set()

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """Around one save's journal work, on the event loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._clear, self._saving = loop, asyncio.Event(), 0
        self._saving += 1
        self._clear.clear()
        self._clear_for_threads.clear()
        try:
            yield
        finally:
            self._saving -= 1
            if not self._saving:
                self._clear.set()
                self._clear_for_threads.set()

    async def turn(self) -> None:
        """Wait while a save is under way; at once when none is, or when this request has
        already waited LONGEST."""
        if not self._saving or self._loop is not asyncio.get_running_loop():
            return
        left = _left()
        if left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._clear.wait(), left)

    def pause(self) -> None:
        """`turn` for a page's work in a thread, between its pieces (a template's parts, a
        list's rows): the thread lets go of the interpreter while a save is under way, so the
        save's own steps need not wait for it."""
        if self._saving:
            left = _left()
            if left > 0:
                self._clear_for_threads.wait(left)


def _left() -> float:
    """Seconds this request may still wait for saves (its budget starts at its first wait)."""
    now = time.monotonic()
    deadline = _deadline.get()
    if deadline is None:
        deadline = now + LONGEST
        _deadline.set(deadline)
    return deadline - now


def page_threads(workers: int) -> ThreadPoolExecutor:
    """The busy pages' few threads (edge/web/context.py), each NICER below the thread that
    starts it: when the cores are full, the event loop and the journal's writer go first."""
    return ThreadPoolExecutor(workers, thread_name_prefix="pages", initializer=_step_back)


def _step_back() -> None:
    # On Linux a thread's priority is its own (setpriority on its thread id); 19 is the lowest.
    me = threading.get_native_id()
    with contextlib.suppress(OSError):  # a system without per-thread priorities
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + NICER))
