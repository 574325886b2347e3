"""Supporting documents at the registry: received from boxes a chunk at a time, each checked
against the action that attached it (its size and SHA-256 are in that action's payload,
under the action's hash), and kept in the registry's database.

A chunk says the byte it starts at. The registry keeps only a chunk that starts where what it
holds ends; for any other it answers how much it holds, and the box goes on from there (a
chunk sent twice after a dropped connection changes nothing). Once it holds them all, it
checks their SHA-256: a match completes the document, a mismatch drops them and asks for the
document again from byte 0.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from edge.clock import iso_ms
from edge.journal.db import sqlite3
from upstream_sync.protocol import DocumentReceipt
from upstream_sync.registry.errors import BadMessage, RegistryError, UnknownRecord

if TYPE_CHECKING:  # the database creates these tables: it imports this module
    from upstream_sync.registry.db import RegistryDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY, action_id TEXT NOT NULL, record_id TEXT NOT NULL,
    box_id TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, received INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL, completed_at TEXT);
CREATE INDEX IF NOT EXISTS documents_by_record ON documents (record_id);
CREATE TABLE IF NOT EXISTS document_parts (
    document_id TEXT NOT NULL, start INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (document_id, start));
"""
MISMATCH = "the bytes received do not match the document's SHA-256: send it again from 0"


class NotYours(RegistryError):
    """A box sent a document for an action another box sent, or one not accepted here."""

    status = 409
    title = "This document belongs to no action of this box"


def _named(c: sqlite3.Connection, box_id: str, action_id: str, document_id: str) -> Any:
    """The document as its action names it (the action must be this box's, accepted here)."""
    row = c.execute(
        "SELECT box_id, record_id, payload FROM actions WHERE id = ?", (action_id,)
    ).fetchone()
    if row is None or row["box_id"] != box_id:
        raise NotYours(f"The registry has accepted no action {action_id} from this box")
    try:
        named = json.loads(row["payload"]).get("documents") or []
        doc = next(d for d in named if isinstance(d, dict) and d.get("id") == document_id)
        return row["record_id"], doc
    except (ValueError, AttributeError, StopIteration):
        raise NotYours(f"Action {action_id} attached no document {document_id}") from None


def receive(
    db: RegistryDB,
    box_id: str,
    action_id: str,
    document_id: str,
    start: int,
    data: bytes,
    now: datetime,
) -> DocumentReceipt:
    """Keep a chunk of a document if it starts where what is held ends; say what is held."""
    stamp = iso_ms(now)

    def job(c: sqlite3.Connection) -> DocumentReceipt:
        row = c.execute(
            "SELECT received, size, completed_at FROM documents WHERE document_id = ?",
            (document_id,),
        ).fetchone()
        if row is None:
            record_id, d = _named(c, box_id, action_id, document_id)
            try:
                values = (str(d["type"]), str(d["name"]), str(d["media_type"]))
                size, sha = int(d["size"]), str(d["sha256"])
            except (KeyError, TypeError, ValueError):
                raise BadMessage(f"Action {action_id} names document {document_id} badly") from None
            c.execute(
                "INSERT INTO documents (document_id, action_id, record_id, box_id, type, name, "
                "media_type, size, sha256, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (document_id, action_id, record_id, box_id, *values, size, sha, stamp),
            )
            received, complete = 0, False
        else:
            received, size, complete = row["received"], row["size"], bool(row["completed_at"])
        if complete or start != received or not data:
            return DocumentReceipt(document_id, received, complete)
        if start + len(data) > size:
            raise BadMessage(f"document {document_id} has {size} bytes; this chunk ends after")
        c.execute("INSERT INTO document_parts VALUES (?, ?, ?)", (document_id, start, data))
        received += len(data)
        c.execute(
            "UPDATE documents SET received = ? WHERE document_id = ?", (received, document_id)
        )
        if received < size:
            return DocumentReceipt(document_id, received, False)
        return _check(c, document_id, stamp)

    result: DocumentReceipt = db.write(job)
    return result


def _check(c: sqlite3.Connection, document_id: str, stamp: str) -> DocumentReceipt:
    digest = hashlib.sha256()
    for data in _parts(c, document_id):
        digest.update(data)
    sha = c.execute("SELECT sha256 FROM documents WHERE document_id = ?", (document_id,))
    if digest.hexdigest() == sha.fetchone()[0]:
        c.execute(
            "UPDATE documents SET completed_at = ? WHERE document_id = ?", (stamp, document_id)
        )
        size = c.execute("SELECT size FROM documents WHERE document_id = ?", (document_id,))
        return DocumentReceipt(document_id, int(size.fetchone()[0]), True)
    c.execute("DELETE FROM document_parts WHERE document_id = ?", (document_id,))
    c.execute("UPDATE documents SET received = 0 WHERE document_id = ?", (document_id,))
    return DocumentReceipt(document_id, 0, False, MISMATCH)


def _parts(c: sqlite3.Connection, document_id: str) -> Iterator[bytes]:
    start = 0
    while True:
        row = c.execute(
            "SELECT data FROM document_parts WHERE document_id = ? AND start = ?",
            (document_id, start),
        ).fetchone()
        if row is None:
            return
        data = bytes(row[0])
        yield data
        start += len(data)


def document(db: RegistryDB, document_id: str) -> dict[str, Any]:
    """What the registry holds of a document: its record, action, kind, size and SHA-256,
    how many bytes it has and whether they are complete."""
    row = db.read(
        lambda c: c.execute(
            "SELECT document_id, action_id, record_id, box_id, type, name, media_type, size, "
            "sha256, received, started_at, completed_at FROM documents WHERE document_id = ?",
            (document_id,),
        ).fetchone()
    )
    if row is None:
        raise UnknownRecord(f"The registry has no document {document_id}")
    return {**dict(row), "complete": row["completed_at"] is not None}


def content(db: RegistryDB, document_id: str) -> tuple[str, bytes]:
    """A complete document's media type and bytes."""
    found = document(db, document_id)
    if not found["complete"]:
        raise UnknownRecord(f"The registry does not hold all of document {document_id} yet")
    data = db.read(lambda c: b"".join(_parts(c, document_id)))
    return str(found["media_type"]), data


def of_record(db: RegistryDB, record_id: str) -> list[dict[str, Any]]:
    rows = db.read(
        lambda c: c.execute(
            "SELECT document_id, action_id, type, name, media_type, size, sha256, received, "
            "completed_at FROM documents WHERE record_id = ? ORDER BY started_at",
            (record_id,),
        ).fetchall()
    )
    return [{**dict(r), "complete": r["completed_at"] is not None} for r in rows]
