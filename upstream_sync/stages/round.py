"""A round of sync: the stages in their order. `pull` first (with the `resync` after a
restore), so a lease the registry moved is known before anything is sent for its record;
then the push's backoff is waited out; then `push`; then `documents`, within the round's
byte budget, only after a push that went through. Each stage records its status in
`sync_stages` (edge/journal/syncstages.py) as it goes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from edge.clock import iso_ms, parse_iso, utcnow
from edge.journal import syncstages
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.journal.syncstages import Stage, Status
from upstream_sync.stages.documents import DocumentsReport, send_documents
from upstream_sync.stages.pull import PullReport, pull_once
from upstream_sync.stages.push import PushReport, drain


@dataclass(frozen=True)
class RoundReport:
    pulled: PullReport | None
    pushed: PushReport | None  # None: not pushed, the backoff runs until `waits_until`
    waits_until: str | None = None
    documents: DocumentsReport | None = None  # None: not sent this round


def backoff_until(conn: sqlite3.Connection, now: datetime, cap_seconds: int) -> datetime | None:
    """When the push's backoff ends, if it has not ended yet. A next try further away than
    the longest backoff was set before the clock stepped back: it is not waited for."""
    push = syncstages.stage(conn, Stage.PUSH)
    if push.status != Status.WAITING or not push.next_try:
        return None
    until = parse_iso(push.next_try)
    return until if now < until <= now + timedelta(seconds=cap_seconds) else None


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
        until = backoff_until(reader.conn(), utcnow(), cap_seconds)
        if until is not None:
            return RoundReport(pulled, None, iso_ms(until))
    pushed = drain(journal, reader, device_key, batch_bytes, cap_seconds)
    if pushed.error or document_bytes == 0:
        return RoundReport(pulled, pushed)
    documents = send_documents(
        journal, reader, device_key, document_bytes, cap_seconds, wait_out_backoff=wait_out_backoff
    )
    return RoundReport(pulled, pushed, documents=documents)
