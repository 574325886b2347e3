"""`edge worker`: a huey consumer that forwards the journal to the registry.

huey only schedules: it delivers a task at most once and keeps nothing that matters. The
journal's pending actions are the work; deleting huey.db loses nothing, since every push
reads them from the journal, and both processes follow the new file (see `_HueyStorage`).
Only one pull or push runs at a time (upstream_sync.synclock: a lock the kernel releases,
which no full disk can keep). Waits are timed by the time since boot, never by huey's
schedule, which compares wall-clock times: a clock stepped back would hold a retry for as
long as the step.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any

from huey import SqliteHuey, crontab
from huey.storage import SqliteStorage

from edge.auth.sessions import purge_expired
from edge.clock import boot_id, clock_pair, clock_synced, now_moment, utcnow
from edge.journal import attachments
from edge.journal.boxvalues import set_moment
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.keys import box as keybox
from edge.logs import begin, end
from edge.runlock import hold_shared
from edge.settings import Settings
from edge.users.register import list_users
from edge.workflow.config import load_config
from upstream_sync.clocksteps import measure_clock_step
from upstream_sync.enrollment import enrollment
from upstream_sync.stages.round import run_round
from upstream_sync.synclock import SyncLock
from upstream_sync.unlocking import ensure_slot, escrow_offered
from upstream_sync.unlocking import install as install_registry_unlock

log = logging.getLogger("upstream_sync.worker")
# How long a round waits for another pull or push (`edge sync` by hand) before it leaves the
# work to the next round.
LOCK_WAIT = 30.0
# Documents sent with a form that was never saved are deleted after this long (a week: a
# clock that steps forward after boot must not take them from a form still open).
STAGED_KEPT = timedelta(days=7)


class _HueyStorage(SqliteStorage):  # type: ignore[misc]
    """huey's SQLite storage, following huey.db when it is deleted: before each use it checks
    that the file at the path is still the one it has open, else opens the new one (with
    huey's tables). Without this, `edge serve` went on asking for pushes in the deleted file,
    which a restarted worker never read, until the web process restarted too."""

    _opened: tuple[int, int] | None = None
    _conn: sqlite3.Connection | None

    def _create_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._create_connection()
        for statement in self.ddl:
            conn.execute(statement)
        self._opened = _identity(self.filename)
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is not None and _identity(self.filename) != self._opened:
            self._conn.close()
            self._conn = None
        connection: sqlite3.Connection = super().conn
        return connection


def _identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def huey_for(settings: Settings) -> SqliteHuey:
    return SqliteHuey(
        name="edge",
        filename=str(settings.home / "huey.db"),
        results=False,
        storage_class=_HueyStorage,
    )


class Worker:
    """The tasks of one box's worker, bound to its settings."""

    def __init__(self, settings: Settings, huey: SqliteHuey, key: bytes | None = None) -> None:
        self.settings = settings
        self.huey = huey
        self.key = key  # the data key of an encrypted journal
        self.journal: Journal | None = None
        self.reader = Reader(settings.journal_path, key)
        self.sync_lock = SyncLock(settings.home)
        self._retry: threading.Timer | None = None
        self._retry_lock = threading.Lock()
        self.push_task = huey.task(name="push")(self.push)
        self.sync_task = huey.task(name="sync")(self.first_round)
        huey.periodic_task(crontab(minute="*"), name="every-minute")(self.every_minute)
        huey.on_startup()(self._open)
        huey.on_shutdown()(self.close)
        # Each task's log lines carry its own id.
        huey.pre_execute()(lambda task: begin("task"))
        huey.post_execute()(lambda task, result, exc: end())

    def _open(self) -> Journal:
        if self.journal is None:
            self.journal = Journal(
                self.settings.journal_path,
                load_config(self.settings.country_config or None),
                key=self.key,
            )
            self.journal.run(self._beat)  # alive from the start, not only after a minute
        return self.journal

    @staticmethod
    def _beat(conn: sqlite3.Connection) -> None:
        set_moment(conn, "worker_heartbeat", now_moment())

    def close(self) -> None:
        with self._retry_lock:
            if self._retry is not None:
                self._retry.cancel()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def every_minute(self) -> None:
        """Heartbeat, expired sessions cleared, the clock step measured, then a pull and a push
        (which waits out any backoff)."""
        now = utcnow()
        idle = timedelta(minutes=self.settings.session_idle_minutes)

        def housekeeping(conn: sqlite3.Connection) -> None:
            self._beat(conn)
            purge_expired(conn, now_moment(), idle)  # by the time since boot: clock steps
            attachments.purge_staged(conn, now - STAGED_KEPT)  # forms given up
            if clock_synced():
                measure_clock_step(conn, boot_id(), clock_pair(), now)

        self._open().run(housekeeping)
        self.ensure_registry_slot()
        self.sync(pull=True)
        if self.key is not None:  # users the registry deactivated unlock the box no more
            active = [u.username for u in list_users(self.reader.conn()) if u.active]
            keybox.prune_users(self.settings, active)

    def first_round(self) -> int:
        """At start: the registry slot made if the box lacks one, then a round."""
        self.ensure_registry_slot()
        return self.sync(pull=True)

    def ensure_registry_slot(self) -> None:
        """An unlocked, enrolled box with no registry key slot yet (enrolled before it was
        encrypted, or its registry could not be reached at enrollment) gets one."""
        if self.key is not None:
            ensure_slot(self.settings, enrollment(self.reader), escrow_offered(self.reader))

    def push(self) -> int:
        """Push until the outbox is empty or the registry fails; returns actions accepted."""
        return self.sync(pull=False)

    def sync(self, pull: bool) -> int:
        """A round of the stages, one at a time: pull (when asked), wait out the push's
        backoff, push; returns actions accepted."""
        journal = self._open()
        if enrollment(self.reader) is None:
            return 0
        with self.sync_lock.held(LOCK_WAIT) as mine:
            if not mine:
                log.info("another pull or push is running (edge sync?): left to the next round")
                return 0
            done = run_round(
                journal,
                self.reader,
                self.settings.device_key_path,
                self.settings.sync_batch_bytes,
                self.settings.sync_backoff_max_seconds,
                pull=pull,
                document_bytes=self.settings.sync_documents_round_bytes,
            )
        if done.documents is not None and done.documents.more:
            self.push_task()  # documents left: the next round at once (new actions first)
        report = done.pushed
        if report is None:  # still in the backoff
            self._push_after(done.wait)
            return 0
        if report.error:
            self._push_after(report.retry_in)
        if report.accepted:
            log.info("pushed %d actions to the registry", report.accepted)
        return report.accepted

    def _push_after(self, wait: timedelta | None) -> None:
        """Ask for a push when the backoff ends, timed by the time since boot (a
        threading.Timer waits on the monotonic clock, which no clock step moves)."""
        if wait is None:
            return
        with self._retry_lock:
            if self._retry is not None:
                self._retry.cancel()
            self._retry = threading.Timer(max(1.0, wait.total_seconds()), self._ask_push)
            self._retry.daemon = True
            self._retry.start()

    def _ask_push(self) -> None:
        try:
            self.push_task()
        except Exception:  # the next round (within a minute) pushes anyway
            log.warning("could not ask for a push after the backoff", exc_info=True)


class PushNotifier:
    """Used by `edge serve`: asks the worker to push soon after actions are committed, at
    most once a second, without ever delaying a request. A poke inside the second is not
    dropped: it is sent when the second ends, so the last action never waits for the
    periodic push."""

    WINDOW = 1.0

    def __init__(self, settings: Settings) -> None:
        self._huey = huey_for(settings)
        self._task: Any = self._huey.task(name="push")(lambda: None)
        self._last = 0.0
        self._trailing = False
        self._lock = threading.Lock()

    def poke(self) -> None:
        with self._lock:
            wait = self._last + self.WINDOW - time.monotonic()
            if wait > 0:
                if not self._trailing:
                    self._trailing = True
                    timer = threading.Timer(wait, self._fire_trailing)
                    timer.daemon = True
                    timer.start()
                return
            self._last = time.monotonic()
        threading.Thread(target=self._enqueue, daemon=True).start()

    def _fire_trailing(self) -> None:
        with self._lock:
            self._trailing = False
            self._last = time.monotonic()
        self._enqueue()

    def _enqueue(self) -> None:
        try:
            self._task()
        except Exception:  # the periodic push will carry the work; never fail a request
            log.warning("could not ask the worker to push soon", exc_info=True)


def wait_until_unlocked(settings: Settings, most: float = 60.0) -> bytes | None:
    """The data key, once the box is unlocked: a locked box's worker waits (nothing is lost:
    the journal keeps what is pending). It looks again every few seconds, longer and longer
    up to `most`, trying the ways to unlock with nobody there (the registry's slot)."""
    if not keybox.encrypted(settings):
        return None  # a plain journal from before encryption at rest
    wait, said = 1.0, False
    while True:
        key = keybox.unlock_unattended(settings)
        if key is not None:
            if said:
                log.info("the box is unlocked: the worker starts")
            return key
        if not said:
            log.info("the box is locked: the worker waits until someone logs in to unlock it")
            said = True
        time.sleep(wait)
        wait = min(most, wait * 2)


def run(settings: Settings) -> None:
    """Run the consumer until SIGINT (graceful: the batch in flight finishes) or SIGTERM."""
    hold_shared(settings.home)  # `edge restore` waits for the box to stop
    install_registry_unlock()  # while locked, the worker asks the registry for its key
    key = wait_until_unlocked(settings)
    huey = huey_for(settings)
    worker = Worker(settings, huey, key)
    # Whatever huey.db holds (or lost), the journal knows what is pending: sync at start.
    worker.sync_task()
    consumer = huey.create_consumer(
        workers=1,
        periodic=True,
        check_worker_health=True,
        scheduler_interval=1,
        max_delay=1.0,  # an idle worker looks for a push asked for at least every second
    )
    consumer.run()
