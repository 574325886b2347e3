"""A round of sync: the stages in their order. `pull` first (with the `resync` after a
restore), so a lease the registry moved is known before anything is sent for its record;
then the push's backoff is waited out; then `push`; then `documents`, within the round's
byte budget, only after a push that went through. Each stage records its status in
`sync_stages` (edge/journal/syncstages.py) as it goes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from edge.clock import Moment, now_moment
from edge.journal import syncstages
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.journal.syncstages import Stage
from upstream_sync.stages.documents import DocumentsReport, send_documents
from upstream_sync.stages.pull import PullReport, pull_once
from upstream_sync.stages.push import PushReport, drain


@dataclass(frozen=True)
class RoundReport:
    pulled: PullReport | None
    pushed: PushReport | None  # None: not pushed, the backoff runs `wait` more
    wait: timedelta | None = None
    documents: DocumentsReport | None = None  # None: not sent this round


def backoff_left(conn: sqlite3.Connection, now: datetime | Moment) -> timedelta | None:
    """How long the push's backoff still runs, if it has not ended: measured by the time
    since boot, so neither a clock stepped back (a Pi without a real-time clock) prolongs it
    nor one stepped forward cuts it short."""
    return syncstages.stage(conn, Stage.PUSH).wait_left(now)


def run_round(
    journal: Journal,
    reader: Reader,
    device_key: Path,
    batch_bytes: int,
    cap_seconds: int,
    *,
    pull: bool = True,
    wait_out_backoff: bool = True,
    document_bytes: int | None = 0,
) -> RoundReport:
    """Pull (when asked), wait out the push's backoff (when asked), push, then send up to
    `document_bytes` of supporting documents (0: none; None: all) if the push went through."""
    pulled = pull_once(journal, reader, device_key) if pull else None
    if wait_out_backoff:
        wait = backoff_left(reader.conn(), now_moment())
        if wait is not None:
            return RoundReport(pulled, None, wait)
    pushed = drain(journal, reader, device_key, batch_bytes, cap_seconds)
    if pushed.error or document_bytes == 0:
        return RoundReport(pulled, pushed)
    documents = send_documents(
        journal, reader, device_key, document_bytes, cap_seconds, wait_out_backoff=wait_out_backoff
    )
    return RoundReport(pulled, pushed, documents=documents)
