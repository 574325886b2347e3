"""The reference registry's database: enrolled boxes, enrollment tokens, seen nonces and the
national journal of accepted actions."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from edge.clock import iso_ms, utcnow
from edge.ids import uuid7
from edge.journal.chain import HASHED_COLUMNS, row_hash
from edge.journal.db import connect
from upstream_sync.protocol import ActionResult, WireAction

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollment_tokens (
    token_hash TEXT PRIMARY KEY, office_id TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, used_at TEXT, used_by TEXT);
CREATE TABLE IF NOT EXISTS boxes (
    box_id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, office_id TEXT NOT NULL,
    name TEXT NOT NULL, enrolled_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (
    box_id TEXT NOT NULL, nonce TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (box_id, nonce));
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, office_id TEXT NOT NULL,
    leased_to TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    national_seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, box_id TEXT NOT NULL,
    box_seq INTEGER NOT NULL, record_id TEXT NOT NULL, event_type TEXT NOT NULL,
    type TEXT NOT NULL, custom_type TEXT, created_at TEXT NOT NULL, client_time TEXT,
    clock TEXT NOT NULL, boot_id TEXT NOT NULL, created_by TEXT NOT NULL,
    created_at_location TEXT NOT NULL, payload TEXT NOT NULL, flags_added TEXT NOT NULL,
    flags_removed TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS actions_by_record ON actions (record_id, national_seq);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY COLLATE NOCASE, display_name TEXT NOT NULL, role TEXT NOT NULL,
    office_id TEXT NOT NULL, verifier TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL);
"""
# The journal's own columns (the box's seq kept as box_seq), plus who sent it and when.
_ACTION_COLUMNS = (
    "box_id",
    "box_seq",
    *(c for c in HASHED_COLUMNS if c != "seq"),
    "hash",
    "received_at",
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class RegistryStore:
    """All writes under one lock on one connection (the reference registry is small)."""

    def __init__(self, path: Path) -> None:
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.write(
            lambda c: c.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                (key, value, value),
            )
        )

    def issue_token(self, office_id: str, valid: timedelta) -> tuple[str, str]:
        """A one-time enrollment token for a box of this office: (token, expires_at)."""
        token = "enr_" + secrets.token_urlsafe(24)
        now = utcnow()
        expires = iso_ms(now + valid)
        self.write(
            lambda c: c.execute(
                "INSERT INTO enrollment_tokens (token_hash, office_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (digest(token), office_id, iso_ms(now), expires),
            )
        )
        return token, expires

    def enroll(self, token: str, public_key: str, name: str, now: datetime) -> tuple[str, str]:
        """Spend a token on a public key; returns (box_id, office_id) or raises LookupError."""

        def job(c: sqlite3.Connection) -> tuple[str, str]:
            row = c.execute(
                "SELECT office_id, expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?",
                (digest(token),),
            ).fetchone()
            if row is None or row["used_at"] is not None or row["expires_at"] <= iso_ms(now):
                raise LookupError("This enrollment token is unknown, used or expired")
            if c.execute("SELECT 1 FROM boxes WHERE public_key = ?", (public_key,)).fetchone():
                raise LookupError("This device key is already enrolled")
            box_id = uuid7()
            c.execute(
                "INSERT INTO boxes VALUES (?, ?, ?, ?, ?)",
                (box_id, public_key, row["office_id"], name, iso_ms(now)),
            )
            c.execute(
                "UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
                (iso_ms(now), box_id, digest(token)),
            )
            return box_id, str(row["office_id"])

        return self.write(job)

    def box(self, box_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT * FROM boxes WHERE box_id = ?", (box_id,)
        ).fetchone()
        return row

    def accept(
        self, box_id: str, nonce: str, actions: list[WireAction], now: datetime
    ) -> list[ActionResult] | None:
        """Record a batch in one transaction; None when the nonce was seen (a replay)."""
        stamp = iso_ms(now)

        def job(c: sqlite3.Connection) -> list[ActionResult] | None:
            try:
                c.execute("INSERT INTO nonces VALUES (?, ?, ?)", (box_id, nonce, stamp))
            except sqlite3.IntegrityError:
                return None
            blocked: dict[str, str] = {}
            return [self._one(c, box_id, a, stamp, blocked) for a in actions]

        return self.write(job)

    def _one(
        self, c: sqlite3.Connection, box_id: str, a: WireAction, stamp: str, blocked: dict[str, str]
    ) -> ActionResult:
        if a.record_id in blocked:
            return ActionResult(a.id, "blocked", reason=f"waits for action {blocked[a.record_id]}")
        known = c.execute("SELECT hash, received_at FROM actions WHERE id = ?", (a.id,)).fetchone()
        if known is not None:
            if known["hash"] == a.hash:
                return ActionResult(a.id, "duplicate", known["received_at"])
            blocked[a.record_id] = a.id
            return ActionResult(
                a.id, "conflict", reason="The registry holds a different action with this id"
            )
        columns = {k: v for k, v in msgspec_to_dict(a).items()}
        if row_hash(columns) != a.hash:
            blocked[a.record_id] = a.id
            return ActionResult(
                a.id, "rejected", reason="The action's content does not match its hash"
            )
        record = c.execute(
            "SELECT office_id FROM records WHERE record_id = ?", (a.record_id,)
        ).fetchone()
        if record is None:
            if a.type != "CREATE":
                blocked[a.record_id] = a.id
                return ActionResult(
                    a.id, "rejected", reason="The registry does not know this record"
                )
            c.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                (a.record_id, a.event_type, a.created_at_location, box_id, stamp),
            )
        values = {**columns, "box_id": box_id, "box_seq": a.seq, "received_at": stamp}
        c.execute(
            f"INSERT INTO actions ({', '.join(_ACTION_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(_ACTION_COLUMNS))})",
            [values[k] for k in _ACTION_COLUMNS],
        )
        return ActionResult(a.id, "accepted", stamp)

    def add_user(
        self, username: str, display_name: str, role: str, office_id: str, verifier: str
    ) -> None:
        self.write(
            lambda c: c.execute(
                "INSERT INTO users (username, display_name, role, office_id, verifier, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
                "display_name = excluded.display_name, role = excluded.role, "
                "office_id = excluded.office_id, verifier = excluded.verifier",
                (username, display_name, role, office_id, verifier, iso_ms(utcnow())),
            )
        )

    def user_verifier(self, username: str) -> str | None:
        row = self.conn.execute(
            "SELECT verifier FROM users WHERE username = ? AND active = 1", (username,)
        ).fetchone()
        return str(row[0]) if row else None

    def note_nonce(self, box_id: str, nonce: str, now: datetime) -> bool:
        """Remember a nonce; False when this box used it before (a replay)."""

        def job(c: sqlite3.Connection) -> bool:
            try:
                c.execute("INSERT INTO nonces VALUES (?, ?, ?)", (box_id, nonce, iso_ms(now)))
            except sqlite3.IntegrityError:
                return False
            return True

        return self.write(job)

    def journal(self, after: int, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM actions WHERE national_seq > ? ORDER BY national_seq LIMIT ?",
            (after, limit),
        )
        return [dict(r) for r in rows]


def msgspec_to_dict(a: WireAction) -> dict[str, Any]:
    return {f: getattr(a, f) for f in a.__struct_fields__}
