"""The single writer of journal.db.

Every write goes through one thread that owns the only write connection, fed by a queue;
this is how the box never meets "database is locked". Jobs that arrive while a commit is
running are committed together in the next transaction (group commit), each in its own
savepoint so one refused job does not undo the others. A job's future resolves only after
its transaction committed, so a 2xx is only ever sent for data that is on disk.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.journal.db import connect, storage_error

log = logging.getLogger("edge.journal.writer")

Job = Callable[[sqlite3.Connection], Any]


@dataclass
class _Item:
    fn: Job
    future: Future[Any]


class Writer:
    """Owns the write connection; `submit` a function, get a future of its result."""

    def __init__(self, path: Path, batch_max: int = 256) -> None:
        self._path = path
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._closed = False
        self.batches = 0  # transactions committed
        self.jobs = 0  # jobs in them

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._failed:
            raise self._failed

    def submit(self, fn: Job) -> Future[Any]:
        if self._closed:
            raise RuntimeError("the journal writer is closed")
        fut: Future[Any] = Future()
        self._queue.put(_Item(fn, fut))
        return fut

    def close(self) -> None:
        """Finish every queued job, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        if self.batches:
            log.debug(
                "journal writer: %d jobs in %d commits (%.1f per commit)",
                self.jobs,
                self.batches,
                self.jobs / self.batches,
            )

    def _run(self) -> None:
        try:
            conn = connect(self._path)
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._batch_max:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                try:
                    self._commit(conn, batch)
                except Exception as exc:
                    # Never let the writer die: every later caller would wait forever.
                    log.exception("journal writer: a batch of %d failed", len(batch))
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        results: list[tuple[_Item, Any, BaseException | None]] = []
        single = len(batch) == 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                if not item.future.set_running_or_notify_cancel():
                    continue
                if single:
                    results.append((item, item.fn(conn), None))
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    value = item.fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    full = storage_error(exc) if isinstance(exc, sqlite3.Error) else None
                    results.append((item, None, full or exc))
                else:
                    conn.execute("RELEASE job")
                    results.append((item, value, None))
            conn.execute("COMMIT")
            self.batches += 1
            self.jobs += len(results)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error: BaseException = exc
            if isinstance(exc, sqlite3.Error):
                error = storage_error(exc) or exc
                log.error("journal commit failed: %s", exc)
            for item in batch:
                if item.future.running():
                    item.future.set_exception(error)
            return
        for item, value, err in results:
            if err is not None:
                item.future.set_exception(err)
            else:
                item.future.set_result(value)
