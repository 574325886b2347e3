"""`edge worker`: a huey consumer that forwards the journal to the registry.

huey only schedules: it delivers a task at most once and keeps nothing that matters. The
journal's pending actions are the work; deleting huey.db loses nothing, since every push
reads them from the journal. Only one push runs at a time (a huey lock); the consumer
clears locks left by a killed worker when it starts.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import timedelta
from typing import Any

from huey import SqliteHuey, crontab

from edge.auth.sessions import purge_expired
from edge.clock import boot_id, clock_pair, clock_synced, iso_ms, now_moment, parse_iso, utcnow
from edge.journal import attachments
from edge.journal.boxvalues import set_box_value
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.logs import begin, end
from edge.runlock import hold_shared
from edge.settings import Settings
from edge.workflow.config import load_config
from upstream_sync.clocksteps import measure_clock_step
from upstream_sync.enrollment import enrollment
from upstream_sync.stages.round import run_round

log = logging.getLogger("upstream_sync.worker")
SYNC_LOCK = "push"
# Documents sent with a form that was never saved are deleted after this long (a week: a
# clock that steps forward after boot must not take them from a form still open).
STAGED_KEPT = timedelta(days=7)


def huey_for(settings: Settings) -> SqliteHuey:
    return SqliteHuey(name="edge", filename=str(settings.home / "huey.db"), results=False)


class Worker:
    """The tasks of one box's worker, bound to its settings."""

    def __init__(self, settings: Settings, huey: SqliteHuey) -> None:
        self.settings = settings
        self.huey = huey
        self.journal: Journal | None = None
        self.reader = Reader(settings.journal_path)
        # Made here, before the consumer starts: huey's flush_locks clears only the locks it
        # has seen made, and a lock left by a killed worker would stop every push after it.
        self.sync_lock = huey.lock_task(SYNC_LOCK)
        self.push_task = huey.task(name="push")(self.push)
        self.sync_task = huey.task(name="sync")(lambda: self.sync(pull=True))
        huey.periodic_task(crontab(minute="*"), name="every-minute")(self.every_minute)
        huey.on_startup()(self._open)
        huey.on_shutdown()(self.close)
        # Each task's log lines carry its own id.
        huey.pre_execute()(lambda task: begin("task"))
        huey.post_execute()(lambda task, result, exc: end())

    def _open(self) -> Journal:
        if self.journal is None:
            self.journal = Journal(
                self.settings.journal_path, load_config(self.settings.country_config or None)
            )
            self.journal.run(self._beat)  # alive from the start, not only after a minute
        return self.journal

    @staticmethod
    def _beat(conn: sqlite3.Connection) -> None:
        set_box_value(conn, "worker_heartbeat", iso_ms(utcnow()))

    def close(self) -> None:
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
        self.sync(pull=True)

    def push(self) -> int:
        """Push until the outbox is empty or the registry fails; returns actions accepted."""
        return self.sync(pull=False)

    def sync(self, pull: bool) -> int:
        """A round of the stages, one at a time: pull (when asked), wait out the push's
        backoff, push; returns actions accepted."""
        journal = self._open()
        if enrollment(self.reader) is None:
            return 0
        with self.sync_lock:  # cleared at start if a killed worker left it
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
        if report is None:  # still in the backoff; its retry is scheduled already
            return 0
        if report.error:
            retry_at = parse_iso(str(report.next_try))
            wait = max(1.0, (retry_at - utcnow()).total_seconds())
            self.push_task.schedule(delay=wait)  # try again when the backoff ends
        if report.accepted:
            log.info("pushed %d actions to the registry", report.accepted)
        return report.accepted


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


def run(settings: Settings) -> None:
    """Run the consumer until SIGINT (graceful: the batch in flight finishes) or SIGTERM."""
    hold_shared(settings.home)  # `edge restore` waits for the box to stop
    huey = huey_for(settings)
    worker = Worker(settings, huey)
    # Whatever huey.db holds (or lost), the journal knows what is pending: sync at start.
    worker.sync_task()
    consumer = huey.create_consumer(
        workers=1, periodic=True, flush_locks=True, check_worker_health=True, scheduler_interval=1
    )
    consumer.run()
