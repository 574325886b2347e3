"""The reference registry's database: its schema, one write connection under a lock, and
read-only connections of their own for reads (so a read never sees a row that a write in
progress may still roll back)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edge.journal.db import connect, sqlite3
from upstream_sync.registry import documents, escrow
from upstream_sync.registry.errors import SchemaMismatch

T = TypeVar("T")

SCHEMA_VERSION = 6
# Versions this one migrates from, and how: each step only adds tables.
MIGRATIONS = {
    5: "escrow: per box its unlock key and secret, revocations, escrow events; "
    "refusals: the records whose later actions a refused action holds back"
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollment_tokens (
    token_hash TEXT PRIMARY KEY, office_id TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, used_at TEXT, used_by TEXT,
    replaces TEXT);  -- the box whose records the new box takes over (the operator's choice)
CREATE TABLE IF NOT EXISTS boxes (
    box_id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, office_id TEXT NOT NULL,
    name TEXT NOT NULL, enrolled_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (
    box_id TEXT NOT NULL, nonce TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (box_id, nonce));
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, office_id TEXT NOT NULL,
    leased_to TEXT, created_at TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL,
    tracking_id TEXT NOT NULL, title TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_office ON records (office_id, status);
CREATE INDEX IF NOT EXISTS records_by_tracking_id ON records (tracking_id);
CREATE TABLE IF NOT EXISTS actions (
    national_seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, box_id TEXT NOT NULL,
    box_seq INTEGER NOT NULL, record_id TEXT NOT NULL, event_type TEXT NOT NULL,
    type TEXT NOT NULL, custom_type TEXT, created_at TEXT NOT NULL, client_time TEXT,
    clock TEXT NOT NULL, boot_id TEXT NOT NULL, created_by TEXT NOT NULL,
    created_at_location TEXT NOT NULL, payload TEXT NOT NULL, flags_added TEXT NOT NULL,
    flags_removed TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    received_at TEXT NOT NULL, corrected_created_at TEXT);
CREATE INDEX IF NOT EXISTS actions_by_record ON actions (record_id, national_seq);
CREATE INDEX IF NOT EXISTS actions_by_boot ON actions (box_id, boot_id, clock);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL, role TEXT NOT NULL, office_id TEXT NOT NULL,
    verifier TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);
-- What each box must learn at its next pull, in order: leases granted to it or revoked from
-- it (box_id), users of an office (office_id).
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, box_id TEXT, office_id TEXT,
    record_id TEXT, username TEXT, at TEXT NOT NULL, by TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS changes_by_box ON changes (box_id, seq);
CREATE INDEX IF NOT EXISTS changes_by_office ON changes (office_id, seq);
-- Each box's hash chain, unbroken from its first entry (registry/chain.py).
CREATE TABLE IF NOT EXISTS box_chain (
    box_id TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (box_id, seq)) WITHOUT ROWID;
-- Users made on a box, as the box declared them with its actions: each of one office.
CREATE TABLE IF NOT EXISTS box_users (
    user_id TEXT PRIMARY KEY, office_id TEXT NOT NULL, username TEXT NOT NULL,
    role TEXT NOT NULL, box_id TEXT NOT NULL, declared_at TEXT NOT NULL);
-- The registration number given to each registration accepted (the certificate's), counted
-- per event and year: BIR-2026-000042.
CREATE TABLE IF NOT EXISTS registrations (
    action_id TEXT PRIMARY KEY, record_id TEXT NOT NULL, number TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL, year INTEGER NOT NULL, n INTEGER NOT NULL,
    UNIQUE (event_type, year, n));
-- The actions of a box refused (rejected, conflict) in a batch sent by a box that pipelines,
-- kept until the box says it has the answer (PushBatch.seen): its batches sent before that
-- answer may hold later actions of the same record, which wait (registry/accept.py).
CREATE TABLE IF NOT EXISTS refusals (
    box_id TEXT NOT NULL, box_seq INTEGER NOT NULL, record_id TEXT NOT NULL,
    action_id TEXT NOT NULL, PRIMARY KEY (box_id, box_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clock_steps (
    box_id TEXT NOT NULL, boot_id TEXT NOT NULL, offset_ms INTEGER NOT NULL,
    measured_at TEXT NOT NULL, PRIMARY KEY (box_id, boot_id));
"""


def rows_in(c: sqlite3.Connection, sql: str, values: list[str]) -> list[sqlite3.Row]:
    """`sql IN (values)`, in chunks under SQLite's limit on parameters."""
    rows: list[sqlite3.Row] = []
    for k in range(0, len(values), 500):
        chunk = values[k : k + 500]
        rows += c.execute(f"{sql} IN ({','.join('?' * len(chunk))})", chunk).fetchall()
    return rows


class RegistryDB:
    """All writes on one connection under one lock (the reference registry is small); reads
    on a read-only connection per thread, which sees only committed rows (WAL)."""

    def __init__(self, path: Path, lock_wait_seconds: float = 30) -> None:
        self.path, self._wait_ms = path, int(lock_wait_seconds * 1000)
        self.conn = self._open(readonly=False)
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        fresh = not self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'boxes'").fetchone()
        if version != SCHEMA_VERSION and not fresh and version not in MIGRATIONS:
            self.conn.close()
            raise SchemaMismatch(
                f"{path} is a reference-registry database of schema {version}; this software "
                f"needs schema {SCHEMA_VERSION}. The reference registry migrates only from "
                f"schema {', '.join(map(str, sorted(MIGRATIONS)))}: start it on a new --home "
                "(and enroll the boxes again)."
            )
        # Tables added since (supporting documents; escrow, schema 6) come with IF NOT
        # EXISTS: creating them is the migration.
        self.conn.executescript(SCHEMA + documents.SCHEMA + escrow.SCHEMA)
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._lock = threading.Lock()  # the write connection
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # never the write lock: a read must not wait

    def _open(self, readonly: bool) -> sqlite3.Connection:
        conn = connect(self.path, readonly=readonly)
        conn.execute(f"PRAGMA busy_timeout = {self._wait_ms}")
        return conn

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in one transaction on the write connection; roll back if it raises."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn on this thread's read-only connection, in one snapshot."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open(readonly=True)
            with self._readers_lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        row = self.read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.write(
            lambda c: c.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                (key, value, value),
            )
        )

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._lock:
            self.conn.close()
