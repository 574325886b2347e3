"""Supporting documents in journal.db: their bytes in a table of their own (so whatever
protects the journal protects them), and what each document is.

A document is uploaded with a form before the form's action exists: it is *staged* (kept,
written to disk, visible to its uploader only) and then *attached* by the action that names
it, in that action's transaction. The action's payload holds the document's id, type, name,
media type, size and SHA-256, so the hash chain covers it; from then on, like the journal,
neither the document nor its bytes can be changed or deleted (the triggers below). Staged
documents nobody attached are deleted after a day (`purge_staged`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.clock import iso_ms
from edge.errors import FieldProblem, InvalidInput
from edge.ids import uuid7
from edge.journal.db import sqlite3
from edge.texts import tr
from edge.workflow.documents import DocumentRef, refs_of
from edge.workflow.fold import Entry

# Bytes per stored chunk: a document is read and sent a chunk at a time, never whole.
CHUNK = 65_536

# Schema 9 (edge/journal/schema.py).
MIGRATION = """
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size > 0),
        sha256 TEXT NOT NULL,
        uploaded_by TEXT NOT NULL,
        uploaded_at TEXT NOT NULL,
        record_id TEXT,
        action_id TEXT,
        seq INTEGER,
        sent_bytes INTEGER NOT NULL DEFAULT 0,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_try_at TEXT,
        updated_at TEXT
    );
    CREATE INDEX documents_by_record ON documents (record_id, seq);
    CREATE INDEX documents_to_send ON documents (sent_at, seq) WHERE seq IS NOT NULL;
    CREATE INDEX documents_staged ON documents (uploaded_by, uploaded_at) WHERE seq IS NULL;
    CREATE TABLE document_chunks (
        document_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (document_id, n)
    );
    CREATE TRIGGER documents_fixed
    BEFORE UPDATE OF id, type, name, media_type, size, sha256, uploaded_by, uploaded_at
    ON documents
    BEGIN SELECT RAISE(ABORT, 'a document cannot be changed'); END;
    CREATE TRIGGER documents_attached_once BEFORE UPDATE OF record_id, action_id, seq
    ON documents WHEN OLD.action_id IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a document stays with the action that attached it'); END;
    CREATE TRIGGER documents_kept BEFORE DELETE ON documents WHEN OLD.action_id IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a document attached to an action cannot be deleted'); END;
    CREATE TRIGGER document_chunks_fixed BEFORE UPDATE ON document_chunks
    BEGIN SELECT RAISE(ABORT, 'a document cannot be changed'); END;
    CREATE TRIGGER document_chunks_kept BEFORE DELETE ON document_chunks
    WHEN (SELECT action_id FROM documents WHERE id = OLD.document_id) IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a document attached to an action cannot be deleted'); END;
"""

_REF = "id, type, name, media_type, size, sha256"
GONE = tr("A document attached to this form is no longer on the box: attach it again.")


@dataclass(frozen=True)
class Stored:
    """A document on the box, and where it stands with the registry."""

    ref: DocumentRef
    uploaded_by: str
    uploaded_at: str
    record_id: str | None
    action_id: str | None
    seq: int | None
    sent_bytes: int
    sent_at: str | None
    attempts: int
    last_error: str | None
    next_try_at: str | None

    @property
    def staged(self) -> bool:
        return self.action_id is None


def _stored(row: sqlite3.Row) -> Stored:
    ref = DocumentRef(*(row[c] for c in ("id", "type", "name", "media_type", "size", "sha256")))
    rest = [row[c] for c in Stored.__dataclass_fields__ if c != "ref"]
    return Stored(ref, *rest)


def stage(
    conn: sqlite3.Connection,
    doc_type: str,
    name: str,
    media_type: str,
    data: bytes,
    user_id: str,
    now: datetime,
) -> DocumentRef:
    """Keep an uploaded document (already checked) until an action attaches it."""
    ref = DocumentRef(
        uuid7(), doc_type, name, media_type, len(data), hashlib.sha256(data).hexdigest()
    )
    conn.execute(
        f"INSERT INTO documents ({_REF}, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*ref.payload().values(), user_id, iso_ms(now)),
    )
    view = memoryview(data)
    conn.executemany(
        "INSERT INTO document_chunks (document_id, n, data) VALUES (?, ?, ?)",
        (
            (ref.id, n, bytes(view[at : at + CHUNK]))
            for n, at in enumerate(range(0, len(data), CHUNK))
        ),
    )
    return ref


def staged(conn: sqlite3.Connection, ids: list[str], user_id: str) -> list[DocumentRef]:
    """The documents of these ids this user uploaded and no action attached yet, in order."""
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT {_REF} FROM documents WHERE id IN ({marks}) AND uploaded_by = ? "
        "AND action_id IS NULL",
        (*ids, user_id),
    )
    found = {r["id"]: DocumentRef(*r) for r in rows}
    return [found[i] for i in ids if i in found]


def staged_bytes(conn: sqlite3.Connection, user_id: str) -> int:
    """Bytes this user uploaded that no action attached yet."""
    row = conn.execute(
        "SELECT SUM(size) FROM documents WHERE uploaded_by = ? AND seq IS NULL", (user_id,)
    ).fetchone()
    return int(row[0] or 0)


def attach(
    conn: sqlite3.Connection, refs: tuple[DocumentRef, ...], user_id: str, entry: Entry
) -> None:
    """In the action's transaction: its documents now belong to it and its record. Refused
    (the action with it) if one is gone, attached already or not the one the action names."""
    for ref in refs:
        done = conn.execute(
            "UPDATE documents SET record_id = ?, action_id = ?, seq = ?, updated_at = ? "
            "WHERE id = ? AND uploaded_by = ? AND action_id IS NULL AND sha256 = ? AND size = ? "
            "AND type = ? AND media_type = ?",
            (
                entry.record_id,
                entry.id,
                entry.seq,
                entry.created_at,
                ref.id,
                user_id,
                ref.sha256,
                ref.size,
                ref.type,
                ref.media_type,
            ),
        )
        if done.rowcount != 1:
            raise InvalidInput([FieldProblem(f"documents.{ref.type}", "gone", GONE)])


def on_record(conn: sqlite3.Connection, record_id: str) -> list[Stored]:
    """The documents attached to a record on this box, oldest first."""
    rows = conn.execute(
        "SELECT * FROM documents WHERE record_id = ? ORDER BY seq, id", (record_id,)
    )
    return [_stored(r) for r in rows]


def types_on_record(conn: sqlite3.Connection, record_id: str) -> frozenset[str]:
    rows = conn.execute("SELECT DISTINCT type FROM documents WHERE record_id = ?", (record_id,))
    return frozenset(r[0] for r in rows)


def find(conn: sqlite3.Connection, document_id: str) -> Stored | None:
    row = conn.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
    return _stored(row) if row else None


def chunks(conn: sqlite3.Connection, document_id: str) -> Iterator[bytes]:
    """The document's bytes, a chunk at a time (one query per chunk: memory stays flat)."""
    n = 0
    while True:
        row = conn.execute(
            "SELECT data FROM document_chunks WHERE document_id = ? AND n = ?", (document_id, n)
        ).fetchone()
        if row is None:
            return
        yield bytes(row[0])
        n += 1


def read_at(conn: sqlite3.Connection, document_id: str, start: int, most: int) -> bytes:
    """Up to `most` bytes of the document from byte `start` (whole chunks as stored)."""
    out = bytearray()
    n, skip = divmod(start, CHUNK)
    while len(out) < most:
        row = conn.execute(
            "SELECT data FROM document_chunks WHERE document_id = ? AND n = ?", (document_id, n)
        ).fetchone()
        if row is None:
            break
        out += bytes(row[0])[skip:]
        skip, n = 0, n + 1
    return bytes(out[:most])


def purge_staged(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete documents uploaded before `before` that no action attached (a form given up)."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM documents WHERE seq IS NULL AND uploaded_at < ?", (iso_ms(before),)
        )
    ]
    for doc_id in ids:
        conn.execute("DELETE FROM document_chunks WHERE document_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id = ? AND action_id IS NULL", (doc_id,))
    return len(ids)


def discard_staged(conn: sqlite3.Connection, ids: list[str], user_id: str) -> None:
    """Delete documents this user uploaded and then took off the form before it was saved."""
    for ref in staged(conn, ids, user_id):
        conn.execute("DELETE FROM document_chunks WHERE document_id = ?", (ref.id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (ref.id,))


def problems(conn: sqlite3.Connection) -> Iterator[tuple[int | None, str]]:
    """For `edge verify`: every attached document's bytes against the size and SHA-256 its
    action names (seq, what is wrong). Streams: one chunk in memory at a time."""
    rows = conn.execute(
        "SELECT d.id, d.seq, d.size, d.sha256, a.payload FROM documents d "
        "LEFT JOIN actions a ON a.id = d.action_id WHERE d.action_id IS NOT NULL ORDER BY d.seq"
    )
    for doc_id, seq, size, sha, payload in rows.fetchall():
        named = [d for d in refs_of(json.loads(payload or "{}")) if d.id == doc_id]
        if not named or (named[0].size, named[0].sha256) != (size, sha):
            yield seq, f"document {doc_id}: not the one its action (seq {seq}) names"
            continue
        digest, length = hashlib.sha256(), 0
        for data in chunks(conn, doc_id):
            digest.update(data)
            length += len(data)
        if (length, digest.hexdigest()) != (size, sha):
            yield seq, f"document {doc_id}: its bytes do not match its SHA-256 (seq {seq})"


def waiting(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Documents attached and not yet complete at the registry, oldest first, each with its
    record and where its action stands (a document waits for its action to be accepted)."""
    rows = conn.execute(
        "SELECT d.id, d.type, d.name, d.size, d.sent_bytes, d.attempts, d.last_error, "
        "d.next_try_at, d.record_id, r.title, r.tracking_id, r.event_type, "
        "COALESCE(s.state, 'pending') AS action_state FROM documents d "
        "LEFT JOIN records r ON r.id = d.record_id "
        "LEFT JOIN sync_state s ON s.action_id = d.action_id "
        "WHERE d.seq IS NOT NULL AND d.sent_at IS NULL ORDER BY d.seq, d.id LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]
