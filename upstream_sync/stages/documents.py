"""The documents stage: supporting documents to the registry, after the actions that attached
them, a chunk at a time, within a byte budget per round.

- Order: a document leaves only once the registry accepted the action that attached it (so
  the registry knows, from the hash-chained action, the size and SHA-256 it must get); the
  actions' own order and exactly-once delivery are the push's and are not touched.
- Never in the way of actions: the stage runs after the push, sends at most the round's
  budget, and stops early when new actions were saved meanwhile; the worker then starts the
  next round at once, which pushes them first. A large scan on a slow link so holds actions
  up by one chunk at most.
- Resumable: each chunk names the byte it starts at; the registry answers how many bytes it
  holds, and the box goes on from there (after a dropped connection, a chunk sent twice is
  ignored). The registry checks the SHA-256 once it has them all.
- A registry without `documents.v1` is not asked: documents wait, actions flow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from edge.clock import iso_ms, parse_iso, utcnow
from edge.journal import attachments, syncstages
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.journal.syncstages import Stage, Status
from upstream_sync import capabilities, outbox
from upstream_sync import protocol as p
from upstream_sync.enrollment import enrollment
from upstream_sync.transport import (
    BATCH_TIMEOUT,
    EXCHANGE_ERRORS,
    answered_by_registry,
    describe,
    signed_exchange,
)

log = logging.getLogger("upstream_sync.documents")
NOT_OFFERED = "the registry does not take supporting documents yet (no documents.v1)"


@dataclass(frozen=True)
class DocumentsReport:
    sent_bytes: int = 0
    completed: int = 0
    more: bool = False  # documents are ready to go: the next round should come soon
    error: str | None = None
    next_try: str | None = None
    skipped: str | None = None  # why the stage did not run this round


@dataclass(frozen=True)
class _Next:
    id: str
    action_id: str
    size: int
    sent_bytes: int


def next_document(conn: sqlite3.Connection, now: datetime) -> _Next | None:
    """The oldest document not yet complete at the registry whose action it accepted and
    whose own next try (after a refusal) has come."""
    row = conn.execute(
        "SELECT d.id, d.action_id, d.size, d.sent_bytes FROM documents d "
        "JOIN sync_state s ON s.action_id = d.action_id AND s.state = 'accepted' "
        "WHERE d.seq IS NOT NULL AND d.sent_at IS NULL "
        "AND (d.next_try_at IS NULL OR d.next_try_at <= ?) ORDER BY d.seq, d.id LIMIT 1",
        (iso_ms(now),),
    ).fetchone()
    return _Next(*row) if row else None


def _backoff_until(conn: sqlite3.Connection, now: datetime, cap_seconds: int) -> bool:
    stage = syncstages.stage(conn, Stage.DOCUMENTS)
    if stage.status != Status.WAITING or not stage.next_try:
        return False
    until = parse_iso(stage.next_try)
    return now < until <= now + timedelta(seconds=cap_seconds)


def _last_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM actions").fetchone()[0])


def send_documents(
    journal: Journal,
    reader: Reader,
    device_key: Path,
    budget: int | None,
    cap_seconds: int,
    *,
    wait_out_backoff: bool = True,
    timeout: float = BATCH_TIMEOUT,
) -> DocumentsReport:
    """Send documents until the budget is spent (None: all of them), nothing is ready, new
    actions wait, or the registry fails."""
    conn = reader.conn()
    now = utcnow()
    who = enrollment(reader)
    if who is None or next_document(conn, now) is None:
        return DocumentsReport()
    if not capabilities.speaks(conn, p.DOCUMENTS):
        return DocumentsReport(skipped=NOT_OFFERED)
    if wait_out_backoff and _backoff_until(conn, now, cap_seconds):
        return DocumentsReport(skipped="backoff")
    journal.run(lambda c: syncstages.start(c, Stage.DOCUMENTS, now))
    first_seq, spent, completed = _last_seq(conn), 0, 0
    while (doc := next_document(conn, utcnow())) is not None:
        if budget is not None and (spent >= budget or (spent and _last_seq(conn) > first_seq)):
            journal.run(lambda c: syncstages.request(c, Stage.DOCUMENTS, utcnow()))
            return DocumentsReport(spent, completed, more=True)
        room = attachments.CHUNK if budget is None else min(attachments.CHUNK, budget - spent)
        chunk = attachments.read_at(conn, doc.id, doc.sent_bytes, room)
        path = p.document_path(doc.action_id, doc.id, doc.sent_bytes)
        try:
            answer = signed_exchange(who, device_key, path, chunk, utcnow(), timeout)
            receipt: p.DocumentReceipt = p.decode(answer.body, p.DocumentReceipt)
        except EXCHANGE_ERRORS as exc:
            return _failed(journal, doc, exc, cap_seconds, spent, completed)
        spent += len(chunk)
        completed += receipt.complete
        journal.run(partial(_store, doc=doc, r=receipt, now=utcnow(), cap_seconds=cap_seconds))
    journal.run(lambda c: syncstages.finish(c, Stage.DOCUMENTS, utcnow()))
    return DocumentsReport(spent, completed)


def _store(
    conn: sqlite3.Connection, doc: _Next, r: p.DocumentReceipt, now: datetime, cap_seconds: int
) -> None:
    """The registry's receipt for a chunk: how far the document got (a problem, such as
    bytes that did not match, sends it again from 0 after a pause)."""
    stamp = iso_ms(now)
    if r.complete:
        conn.execute(
            "UPDATE documents SET sent_bytes = size, sent_at = ?, attempts = 0, "
            "last_error = NULL, next_try_at = NULL, updated_at = ? WHERE id = ?",
            (stamp, stamp, doc.id),
        )
    elif r.problem:
        attempts = conn.execute(
            "UPDATE documents SET sent_bytes = ?, last_error = ?, attempts = attempts + 1, "
            "updated_at = ? WHERE id = ? RETURNING attempts",
            (max(0, min(r.received, doc.size)), r.problem, stamp, doc.id),
        ).fetchone()[0]
        retry = iso_ms(now + outbox.backoff(attempts, cap_seconds))
        conn.execute("UPDATE documents SET next_try_at = ? WHERE id = ?", (retry, doc.id))
    else:
        conn.execute(
            "UPDATE documents SET sent_bytes = ?, next_try_at = NULL, updated_at = ? WHERE id = ?",
            (max(0, min(r.received, doc.size)), stamp, doc.id),
        )
    syncstages.progress(conn, Stage.DOCUMENTS, now)
    outbox.note_registry(conn, True, now)


def _failed(
    journal: Journal,
    doc: _Next,
    exc: BaseException,
    cap_seconds: int,
    spent: int,
    completed: int,
) -> DocumentsReport:
    """The exchange failed: the registry refused this document (it waits, the others go on)
    or could not be reached (the stage waits out a backoff, as the push does)."""
    error, answered = describe(exc), answered_by_registry(exc)
    log.warning("document %s: sending failed: %s", doc.id, error)

    def job(conn: sqlite3.Connection) -> datetime:
        now = utcnow()
        attempts = conn.execute(
            "UPDATE documents SET attempts = attempts + 1, last_error = ?, updated_at = ? "
            "WHERE id = ? RETURNING attempts",
            (error, iso_ms(now), doc.id),
        ).fetchone()[0]
        next_try = now + outbox.backoff(attempts, cap_seconds)
        if answered:  # this document only: the next one may go
            conn.execute(
                "UPDATE documents SET next_try_at = ? WHERE id = ?", (iso_ms(next_try), doc.id)
            )
            syncstages.fail(conn, Stage.DOCUMENTS, error, now)
        else:
            syncstages.fail(conn, Stage.DOCUMENTS, error, now, next_try)
        outbox.note_registry(conn, answered, now)
        return next_try

    next_try = journal.run(job)
    return DocumentsReport(spent, completed, error=error, next_try=iso_ms(next_try))
