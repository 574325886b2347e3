"""The single writer of journal.db.

One connection, one transaction at a time, jobs queued in front of it (DESIGN.md): this is
how the box never meets "database is locked". Whoever finds the writer free runs every queued
job in one transaction (group commit), each in its own savepoint so one refused job does not
undo the others. A job's result is given only after its transaction committed, so a 2xx is
only ever sent for data that is on disk.

Who runs the jobs is whoever asked, in their own thread:

- a synchronous caller (`run`: the CLI, the sync worker) runs the batch and its COMMIT;
- an event loop (`run_async`: the web process) runs the batch's jobs in the loop's thread and
  hands only the COMMIT, the fsync during which no Python runs, to the commit thread. The loop
  goes on serving while the disk syncs, and the requests that arrive meanwhile form the next
  transaction.

Running the jobs in a second thread instead would only make the two threads take turns at the
GIL at every SQLite call (on a busy web process each call then waits for the loop). The
writer thread runs jobs `submit`ted without waiting; the commit thread also runs any batch
whose BEGIN must wait for another process (the sync worker) holding journal.db's write lock,
so the loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from edge.journal.db import connect, sqlite3, storage_error

log = logging.getLogger("edge.journal.writer")

Job = Callable[[sqlite3.Connection], Any]
BUSY_TIMEOUT_MS = 30_000


@dataclass(slots=True)
class _Item:
    fn: Job
    # Who waits: a concurrent future (`submit`), an asyncio future and its loop (`run_async`),
    # or neither: a `run` caller, who waits for the connection itself and then reads `done`.
    future: Future[Any] | asyncio.Future[Any] | None
    loop: asyncio.AbstractEventLoop | None
    done: bool = False
    value: Any = None
    error: BaseException | None = None


# What became of one job: (item, value, error).
_Outcome = tuple[_Item, Any, BaseException | None]


class Writer:
    """Owns the write connection; `run` / `run_async` a function, get its committed result."""

    def __init__(self, path: Path, batch_max: int = 256, key: bytes | None = None) -> None:
        self._path = path
        self._key = key
        self._batch_max = batch_max
        self._queue: deque[_Item] = deque()
        self._busy = threading.Lock()  # held by whoever is using the connection
        self._conn: sqlite3.Connection | None = None
        # Two helper threads, each fed a queue of tasks (None stops it). The commit thread
        # only finishes batches whose owner already holds the connection, and never waits for
        # it; the writer thread runs `submit`ted jobs and waits for the connection like any
        # caller. Were they one thread, a drain waiting for the connection could sit in front
        # of the very commit that would free it.
        self._commits: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._drains: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=_serve, args=(q,), name=name, daemon=True)
            for q, name in ((self._commits, "journal-commit"), (self._drains, "journal-writer"))
        ]
        self._flags = threading.Lock()
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        self._drain_asked = False
        self._closed = False
        # Around each `run_async`, from the job queued to its commit (the web process's pages
        # step aside meanwhile: edge/saves_first.py).
        self.during_async: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self.batches = 0  # transactions committed
        self.jobs = 0  # jobs in them

    def start(self) -> None:
        self._conn = connect(self._path, key=self._key)
        for thread in self._threads:
            thread.start()

    # -- asking for work

    def run(self, fn: Job) -> Any:
        """Run a job in this thread (with whatever else is queued) and return once committed."""
        item = self._enqueue(fn, None, None)
        while not item.done:
            with self._busy:
                if not item.done:
                    self._process(self._take(), wait=True)
            self._kick()
        if item.error is not None:
            raise item.error
        return item.value

    async def run_async(self, fn: Job) -> Any:
        """`run` for an event loop: jobs run in the loop, the loop never waits for the disk."""
        loop = asyncio.get_running_loop()
        with self.during_async():
            future = loop.create_future()
            self._enqueue(fn, future, loop)
            self._schedule(loop, here=True)
            return await future

    def submit(self, fn: Job) -> Future[Any]:
        """Queue a job for the writer thread and return at once; the future gives its result."""
        item = self._enqueue(fn, Future(), None)
        self._ask_drain()
        return item.future  # type: ignore[return-value]

    def close(self) -> None:
        """Finish every queued job, then stop."""
        if self._closed:
            return
        self._closed = True
        committer, drainer = self._threads
        self._drains.put(self._drain)
        self._drains.put(None)
        drainer.join()
        self._commits.put(None)
        committer.join()
        if self._conn is not None:
            self._conn.close()
        if self.batches:
            log.info(
                "journal writer: %d jobs in %d commits (%.1f per commit)",
                self.jobs,
                self.batches,
                self.jobs / self.batches,
            )

    def _enqueue(
        self, fn: Job, future: Future[Any] | asyncio.Future[Any] | None, loop: Any
    ) -> _Item:
        if self._closed:
            raise RuntimeError("the journal writer is closed")
        item = _Item(fn, future, loop)
        self._queue.append(item)
        return item

    # -- who takes the queue next

    def _schedule(self, loop: asyncio.AbstractEventLoop, here: bool = False) -> None:
        with self._flags:
            if loop in self._scheduled:
                return
            self._scheduled.add(loop)
        try:
            if here:
                loop.call_soon(self._drain_in_loop, loop)
            else:
                loop.call_soon_threadsafe(self._drain_in_loop, loop)
        except RuntimeError:  # the loop is closed: nobody waits there any more
            with self._flags:
                self._scheduled.discard(loop)
            self._ask_drain()

    def _ask_drain(self) -> None:
        with self._flags:
            if self._drain_asked:
                return
            self._drain_asked = True
        self._drains.put(self._drain)

    def _kick(self) -> None:
        """After letting go of the connection: make sure someone takes what is queued."""
        try:
            head = self._queue[0]
        except IndexError:
            return
        if head.loop is not None and not head.loop.is_closed():
            self._schedule(head.loop)
        else:
            self._ask_drain()

    def _take(self) -> list[_Item]:
        batch: list[_Item] = []
        while len(batch) < self._batch_max:
            try:
                batch.append(self._queue.popleft())
            except IndexError:
                break
        return batch

    # -- doing the work

    def _drain(self) -> None:
        """In the writer thread: run everything queued, jobs and commits here."""
        with self._flags:
            self._drain_asked = False
        while self._queue:
            with self._busy:
                self._process(self._take(), wait=True)
        self._kick()

    def _drain_in_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the event loop: run the queued jobs here, hand their COMMIT to the commit thread."""
        with self._flags:
            self._scheduled.discard(loop)
        if not self._busy.acquire(blocking=False):
            return  # whoever holds the connection looks at the queue when it lets go
        handed_over = False
        try:
            batch = self._take()
            if not batch:
                return
            began = self._begin(wait=False)
            if not began:  # another process is writing: wait for it in the commit thread
                self._commits.put(partial(self._then_release, self._process, batch, True))
                handed_over = True
            else:
                outcomes, open_ = self._jobs(batch)
                if open_:
                    self._commits.put(partial(self._then_release, self._commit, outcomes))
                    handed_over = True
                else:  # nothing to commit (a refused action): answer now
                    _settle(outcomes)
        except Exception as exc:
            self._fail(batch, exc)
        finally:
            if not handed_over:
                self._busy.release()
                self._kick()

    def _then_release(self, step: Callable[..., None], *args: Any) -> None:
        """In the commit thread: finish what the loop handed over, then free the connection."""
        try:
            step(*args)
        finally:
            self._busy.release()
            self._kick()

    def _process(self, batch: list[_Item], wait: bool) -> None:
        """BEGIN, the jobs, COMMIT, results: all in this thread (the caller holds _busy)."""
        if not batch:
            return
        try:
            self._begin(wait)
            outcomes, open_ = self._jobs(batch)
        except Exception as exc:
            self._fail(batch, exc)
            return
        if open_:
            self._commit(outcomes)
        else:
            _settle(outcomes)

    def _begin(self, wait: bool) -> bool:
        """BEGIN IMMEDIATE; without `wait`, False at once when another process is writing."""
        conn = self._connection()
        if wait:
            conn.execute("BEGIN IMMEDIATE")
            return True
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                return False
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return True

    def _jobs(self, batch: list[_Item]) -> tuple[list[_Outcome], bool]:
        """Run each job inside the open transaction; with whether it is still to be committed
        (a lone job that fails rolls it back instead)."""
        conn = self._connection()
        live = [item for item in batch if _start(item)]
        if len(live) == 1:
            try:
                return [(live[0], live[0].fn(conn), None)], True
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return [(live[0], None, _storage(exc))], False
        outcomes: list[_Outcome] = []
        for item in live:
            conn.execute("SAVEPOINT job")
            try:
                value = item.fn(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((item, None, _storage(exc)))
            else:
                conn.execute("RELEASE job")
                outcomes.append((item, value, None))
        return outcomes, True

    def _commit(self, outcomes: list[_Outcome]) -> None:
        try:
            self._connection().execute("COMMIT")
        except Exception as exc:
            self._fail([item for item, _, _ in outcomes], exc)
            return
        self.batches += 1
        self.jobs += len(outcomes)
        _settle(outcomes)

    def _fail(self, batch: list[_Item], exc: Exception) -> None:
        conn = self._connection()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            log.error("journal commit failed: %s", exc)
        else:
            log.exception("journal writer: a batch of %d failed", len(batch))
        error = _storage(exc)
        _settle([(item, None, error) for item in batch])

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the journal writer is not started")
        return self._conn


def _serve(tasks: queue.SimpleQueue[Callable[[], None] | None]) -> None:
    while (task := tasks.get()) is not None:
        try:
            task()
        except Exception:  # never let a writer thread die: later callers would wait
            log.exception("journal writer: a task failed")


def _start(item: _Item) -> bool:
    """False for a job whose caller gave up before it ran (a closed request)."""
    if item.future is None:
        return True
    if item.loop is None:
        return item.future.set_running_or_notify_cancel()  # type: ignore[union-attr]
    return not item.future.done()


def _storage(exc: BaseException) -> BaseException:
    full = storage_error(exc) if isinstance(exc, sqlite3.Error) else None
    return full or exc


def _settle(outcomes: list[_Outcome]) -> None:
    """Give each job its result: concurrent futures here, asyncio futures in their loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        item = outcome[0]
        if item.loop is None:
            _give(outcome)
        else:
            by_loop.setdefault(item.loop, []).append(outcome)
    for loop, group in by_loop.items():
        if _in_loop(loop):
            for outcome in group:
                _give(outcome)
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there
                loop.call_soon_threadsafe(_give_all, group)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _give_all(outcomes: list[_Outcome]) -> None:
    for outcome in outcomes:
        _give(outcome)


def _give(outcome: _Outcome) -> None:
    item, value, error = outcome
    item.value, item.error, item.done = value, error, True
    future = item.future
    if future is None or future.done():  # a `run` caller; an asyncio future cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
