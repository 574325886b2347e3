"""The reference registry's database: enrolled boxes, enrollment tokens, seen nonces and the
national journal of accepted actions."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from edge.clock import iso_ms, parse_iso, utcnow
from edge.errors import EdgeError
from edge.ids import uuid7
from edge.journal.chain import HASHED_COLUMNS, row_hash
from edge.journal.db import connect
from edge.journal.records import entry_from_row, record_title, tracking_id
from edge.workflow.config import Config, load_config
from edge.workflow.fold import fold
from edge.workflow.model import RecordState, Status
from upstream_sync.protocol import (
    ActionResult,
    Change,
    ClockStep,
    PullResult,
    RecordCopy,
    RecordHit,
    RegistryAction,
    UserInfo,
    WireAction,
)

T = TypeVar("T")

SCHEMA_VERSION = 3
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
CREATE TABLE IF NOT EXISTS clock_steps (
    box_id TEXT NOT NULL, boot_id TEXT NOT NULL, offset_ms INTEGER NOT NULL,
    measured_at TEXT NOT NULL, PRIMARY KEY (box_id, boot_id));
"""
# Records an office's new box takes over at enrollment: everything not archived.
_CLOSED = (Status.ARCHIVED.value,)
_encode_state = msgspec.json.Encoder().encode
# The journal's own columns (the box's seq kept as box_seq), plus who sent it and when.
_ACTION_COLUMNS = (
    "box_id",
    "box_seq",
    *(c for c in HASHED_COLUMNS if c != "seq"),
    "hash",
    "received_at",
    "corrected_created_at",
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class RegistryStore:
    """All writes under one lock on one connection (the reference registry is small)."""

    def __init__(self, path: Path) -> None:
        self.conn = connect(path)
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        fresh = not self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'boxes'").fetchone()
        if version != SCHEMA_VERSION and not fresh:
            self.conn.close()
            raise EdgeError(
                f"{path} is a reference-registry database of schema {version}; this software "
                f"needs schema {SCHEMA_VERSION}. The reference registry does not migrate: "
                "start it on a new --home (and enroll the boxes again)."
            )
        self.conn.executescript(SCHEMA)
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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
            # The office's new box takes over its open records (a replaced box loses them)
            # and learns its users at its first pull.
            open_records = c.execute(
                f"SELECT record_id FROM records WHERE office_id = ? AND status NOT IN "
                f"({','.join('?' * len(_CLOSED))}) ORDER BY created_at",
                (row["office_id"], *_CLOSED),
            ).fetchall()
            for r in open_records:
                _move_lease(c, r[0], box_id, f"enrollment of box {name or box_id}", "", now)
            for u in c.execute(
                "SELECT username FROM users WHERE office_id = ?", (row["office_id"],)
            ):
                _change(c, "user", now, office_id=row["office_id"], username=u[0])
            return box_id, str(row["office_id"])

        return self.write(job)

    def box(self, box_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT * FROM boxes WHERE box_id = ?", (box_id,)
        ).fetchone()
        return row

    def accept(
        self,
        box_id: str,
        nonce: str,
        actions: list[WireAction],
        now: datetime,
        clock_steps: list[ClockStep] = [],  # noqa: B006 (never mutated)
    ) -> list[ActionResult] | None:
        """Record a batch in one transaction; None when the nonce was seen (a replay)."""
        stamp = iso_ms(now)

        def job(c: sqlite3.Connection) -> list[ActionResult] | None:
            try:
                c.execute("INSERT INTO nonces VALUES (?, ?, ?)", (box_id, nonce, stamp))
            except sqlite3.IntegrityError:
                return None
            for step in clock_steps:
                _clock_step(c, box_id, step)
            batch = _Batch(c, box_id, stamp, actions)
            results = [batch.one(a) for a in actions]
            batch.flush()
            return results

        return self.write(job)

    def add_user(
        self, username: str, display_name: str, role: str, office_id: str, verifier: str
    ) -> str:
        """Create or replace a user; the boxes of their office learn it at their next pull."""
        now = utcnow()

        def job(c: sqlite3.Connection) -> str:
            c.execute(
                "INSERT INTO users (username, id, display_name, role, office_id, verifier, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
                "display_name = excluded.display_name, role = excluded.role, "
                "office_id = excluded.office_id, verifier = excluded.verifier",
                (username, uuid7(), display_name, role, office_id, verifier, iso_ms(now)),
            )
            _change(c, "user", now, office_id=office_id, username=username)
            return str(
                c.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0]
            )

        return self.write(job)

    def move_lease(self, record_id: str, to_box: str | None, by: str, reason: str) -> None:
        """Give a record to another box (or to none): the box holding it learns at its next
        pull that its lease is revoked, the new box that it is granted."""

        def job(c: sqlite3.Connection) -> None:
            if (
                c.execute("SELECT 1 FROM records WHERE record_id = ?", (record_id,)).fetchone()
                is None
            ):
                raise LookupError(f"The registry has no record {record_id}")
            if to_box is not None and self.box(to_box) is None:
                raise LookupError(f"No box {to_box} is enrolled")
            _move_lease(c, record_id, to_box, by, reason, utcnow())

        self.write(job)

    def record(self, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT record_id, event_type, office_id, leased_to, status, state FROM records "
            "WHERE record_id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            return None
        return {**dict(row), "state": msgspec.json.decode(row["state"])}

    def search(self, text: str, limit: int) -> list[RecordHit]:
        """Records whose tracking id is the text, or whose name has every word of it."""
        words = [w for w in text.split() if w][:5]
        if not words:
            return []
        like = " AND ".join("r.title LIKE ?" for _ in words)
        rows = self.conn.execute(
            "SELECT r.record_id, r.tracking_id, r.title, r.event_type, r.status, r.office_id, "
            f"r.leased_to, b.office_id AS held_by FROM records r LEFT JOIN boxes b "
            f"ON b.box_id = r.leased_to WHERE r.tracking_id = ? OR ({like}) "
            "ORDER BY r.created_at DESC LIMIT ?",
            (text.strip().upper(), *(f"%{w}%" for w in words), limit),
        ).fetchall()
        return [
            RecordHit(
                r["record_id"],
                r["tracking_id"],
                r["title"],
                r["event_type"],
                r["status"],
                r["office_id"],
                r["leased_to"],
                r["held_by"],
            )
            for r in rows
        ]

    def request_lease(self, box_id: str, record_id: str, by: str) -> tuple[bool, str]:
        """A box asks to hold a record: granted when no other box holds it."""

        def job(c: sqlite3.Connection) -> tuple[bool, str]:
            row = c.execute(
                "SELECT r.leased_to, b.office_id FROM records r LEFT JOIN boxes b "
                "ON b.box_id = r.leased_to WHERE r.record_id = ?",
                (record_id,),
            ).fetchone()
            if row is None:
                return False, "The registry has no such record"
            if row["leased_to"] not in (None, box_id):
                return False, (
                    f"Office {row['office_id']} holds this record. Ask them, or a national "
                    "registrar, to release it."
                )
            _move_lease(c, record_id, box_id, by, "asked for at the office", utcnow())
            return True, ""

        return self.write(job)

    def pull(
        self, box_id: str, cursor: int, limit: int, resync_after: str | None = None
    ) -> PullResult:
        """The changes for a box after its cursor, each lease change with the record's
        actions; with `resync_after`, also a page of every record the box holds."""
        now = utcnow()

        def job(c: sqlite3.Connection) -> PullResult:
            resync: list[Change] = []
            resync_next = None
            if resync_after is not None:
                held = [
                    r[0]
                    for r in c.execute(
                        "SELECT record_id FROM records WHERE leased_to = ? AND record_id > ? "
                        "ORDER BY record_id LIMIT ?",
                        (box_id, resync_after, limit + 1),
                    )
                ]
                resync_next = held[limit - 1] if len(held) > limit else None
                resync = [
                    _change_out(
                        c,
                        {
                            "seq": 0,
                            "kind": "lease-granted",
                            "at": iso_ms(now),
                            "by": "registry",
                            "reason": "resync",
                            "record_id": rid,
                            "username": None,
                        },
                    )
                    for rid in held[:limit]
                ]
            office = self.box(box_id)["office_id"]  # type: ignore[index]
            rows = c.execute(
                "SELECT * FROM changes WHERE seq > ? AND (box_id = ? OR office_id = ?) "
                "ORDER BY seq LIMIT ?",
                (cursor, box_id, office, limit + 1),
            ).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            changes = [_change_out(c, r) for r in rows]
            if rows:
                next_cursor = rows[-1]["seq"]
            else:  # nothing for this box: skip what others got, up to now
                next_cursor = max(
                    cursor, c.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0
                )
            return PullResult(
                resync + changes,
                next_cursor,
                more or resync_next is not None,
                self.meta("config_version") or "1",
                iso_ms(now),
                resync_next,
            )

        return self.write(job)

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
    return msgspec.structs.asdict(a)


class _Record:
    __slots__ = ("changed", "leased_to", "new", "state")

    def __init__(self, leased_to: str | None, state: RecordState | None) -> None:
        self.leased_to, self.state = leased_to, state
        self.new = state is None
        self.changed = False


class _Batch:
    """One pushed batch: what it needs is read in bulk, checked action by action in order,
    and written at the end in bulk (the registry's hot path)."""

    def __init__(
        self, c: sqlite3.Connection, box_id: str, stamp: str, actions: list[WireAction]
    ) -> None:
        self.c, self.box_id, self.stamp = c, box_id, stamp
        self.blocked: dict[str, str] = {}
        self.known = {
            r[0]: (r[1], r[2])
            for r in _in(
                c, "SELECT id, hash, received_at FROM actions WHERE id", [a.id for a in actions]
            )
        }
        self.records = {
            r[0]: _Record(r[1], _load_state(r[2]))
            for r in _in(
                c,
                "SELECT record_id, leased_to, state FROM records WHERE record_id",
                list({a.record_id for a in actions}),
            )
        }
        self.steps = dict(
            c.execute("SELECT boot_id, offset_ms FROM clock_steps WHERE box_id = ?", (box_id,))
        )
        self.rows: list[list[Any]] = []

    def one(self, a: WireAction) -> ActionResult:
        if a.record_id in self.blocked:
            return ActionResult(
                a.id, "blocked", reason=f"waits for action {self.blocked[a.record_id]}"
            )
        known = self.known.get(a.id)
        if known is not None:
            if known[0] == a.hash:
                return ActionResult(a.id, "duplicate", known[1])
            return self._refuse(a, "conflict", "The registry holds a different action with this id")
        columns = msgspec_to_dict(a)
        if row_hash(columns) != a.hash:
            return self._refuse(a, "rejected", "The action's content does not match its hash")
        record = self.records.get(a.record_id)
        refusal = _refusal(self.c, record, self.box_id, a)
        if refusal is not None:
            return self._refuse(a, "rejected", refusal)
        try:
            state = fold(record.state if record else None, entry_from_row(columns))
        except ValueError as exc:
            return self._refuse(a, "rejected", f"The action does not apply: {exc}")
        if record is None:
            record = self.records[a.record_id] = _Record(self.box_id, None)
        record.state, record.changed = state, True
        offset = self.steps.get(a.boot_id) if a.clock == "unsynced" else None
        values = {
            **columns,
            "box_id": self.box_id,
            "box_seq": a.seq,
            "received_at": self.stamp,
            "corrected_created_at": shift(a.created_at, offset) if offset is not None else None,
        }
        self.rows.append([values[k] for k in _ACTION_COLUMNS])
        self.known[a.id] = (a.hash, self.stamp)
        return ActionResult(a.id, "accepted", self.stamp)

    def _refuse(self, a: WireAction, status: str, reason: str) -> ActionResult:
        self.blocked[a.record_id] = a.id
        return ActionResult(a.id, status, reason=reason)

    def flush(self) -> None:
        self.c.executemany(
            f"INSERT INTO actions ({', '.join(_ACTION_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(_ACTION_COLUMNS))})",
            self.rows,
        )
        changed = [(rid, r) for rid, r in self.records.items() if r.changed and r.state]
        config = _titles()
        self.c.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rid,
                    r.state.event_type,
                    r.state.office_id,
                    self.box_id,
                    self.stamp,
                    r.state.status.value,
                    _dump_state(r.state),
                    tracking_id(rid, r.state.event_type),
                    record_title(r.state, config),
                )
                for rid, r in changed
                if r.new and r.state
            ],
        )
        self.c.executemany(
            "UPDATE records SET status = ?, state = ?, title = ? WHERE record_id = ?",
            [
                (r.state.status.value, _dump_state(r.state), record_title(r.state, config), rid)
                for rid, r in changed
                if not r.new and r.state
            ],
        )


@cache
def _titles() -> Config:
    """The national configuration (the built-in default here), for records' display names."""
    return load_config()


def _in(c: sqlite3.Connection, sql: str, values: list[str]) -> list[sqlite3.Row]:
    """`sql IN (values)`, in chunks under SQLite's limit on parameters."""
    rows: list[sqlite3.Row] = []
    for k in range(0, len(values), 500):
        chunk = values[k : k + 500]
        rows += c.execute(f"{sql} IN ({','.join('?' * len(chunk))})", chunk).fetchall()
    return rows


def _dump_state(s: RecordState) -> str:
    return _encode_state(s).decode()


def _load_state(text: str | None) -> RecordState | None:
    if text is None:
        return None
    doc = msgspec.json.decode(text)
    return RecordState(**{**doc, "status": Status(doc["status"]), "flags": set(doc["flags"])})


def _change(c: sqlite3.Connection, kind: str, now: datetime, **fields: str | None) -> None:
    names = ["kind", "at", *fields]
    c.execute(
        f"INSERT INTO changes ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        (kind, iso_ms(now), *fields.values()),
    )


def _move_lease(
    c: sqlite3.Connection, record_id: str, to_box: str | None, by: str, reason: str, now: datetime
) -> None:
    held = c.execute("SELECT leased_to FROM records WHERE record_id = ?", (record_id,)).fetchone()[
        0
    ]
    if held == to_box:
        return
    if held is not None:
        _change(c, "lease-revoked", now, box_id=held, record_id=record_id, by=by, reason=reason)
    c.execute("UPDATE records SET leased_to = ? WHERE record_id = ?", (to_box, record_id))
    if to_box is not None:
        _change(c, "lease-granted", now, box_id=to_box, record_id=record_id, by=by, reason=reason)


def _refusal(
    c: sqlite3.Connection, record: _Record | None, box_id: str, a: WireAction
) -> str | None:
    """Why this box may not add this action to the national journal, or None."""
    if record is None:
        return None if a.type == "CREATE" else "The registry does not know this record"
    if a.type == "CREATE":
        return "The registry already holds a record with this id"
    if record.leased_to != box_id:
        revoked = c.execute(
            "SELECT by, at FROM changes WHERE kind = 'lease-revoked' AND box_id = ? AND "
            "record_id = ? ORDER BY seq DESC LIMIT 1",
            (box_id, a.record_id),
        ).fetchone()
        if revoked is not None:
            return (
                f"This record was taken over elsewhere by {revoked['by']} at {revoked['at']}; "
                "the box no longer holds it"
            )
        return "This record is not held by this box"
    return None


def _change_out(c: sqlite3.Connection, r: sqlite3.Row | dict[str, Any]) -> Change:
    record = user = None
    if r["record_id"] is not None:
        rows = c.execute(
            "SELECT * FROM actions WHERE record_id = ? ORDER BY national_seq", (r["record_id"],)
        )
        record = RecordCopy(
            r["record_id"],
            [
                RegistryAction(
                    **{f: a[f] for f in WireAction.__struct_fields__ if f != "seq"},
                    seq=a["box_seq"],
                    national_seq=a["national_seq"],
                    origin_box=a["box_id"],
                    received_at=a["received_at"],
                )
                for a in rows
            ],
        )
    if r["username"] is not None:
        u = c.execute("SELECT * FROM users WHERE username = ?", (r["username"],)).fetchone()
        user = UserInfo(
            u["id"], u["username"], u["display_name"], u["role"], u["office_id"], bool(u["active"])
        )
    return Change(r["seq"], r["kind"], r["at"], r["by"], r["reason"], record, user)


def _clock_step(c: sqlite3.Connection, box_id: str, step: ClockStep) -> None:
    """Remember how far a boot's clock jumped, and correct the unsynced actions already held."""
    c.execute(
        "INSERT INTO clock_steps VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (box_id, step.boot_id, step.offset_ms, step.measured_at),
    )
    for row in c.execute(
        "SELECT national_seq, created_at FROM actions WHERE box_id = ? AND boot_id = ? AND "
        "clock = 'unsynced' AND corrected_created_at IS NULL",
        (box_id, step.boot_id),
    ).fetchall():
        c.execute(
            "UPDATE actions SET corrected_created_at = ? WHERE national_seq = ?",
            (shift(row["created_at"], step.offset_ms), row["national_seq"]),
        )


def shift(stamp: str, offset_ms: int) -> str:
    """An ISO time moved by a number of milliseconds."""
    return iso_ms(parse_iso(stamp) + timedelta(milliseconds=offset_ms))
