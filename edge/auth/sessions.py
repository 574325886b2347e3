"""Server-side login sessions and API tokens, kept in journal.db so they survive a restart of
the web process. Only SHA-256 hashes of session ids and tokens are stored: a copy of the
database does not let anyone log in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

from edge.clock import Moment, as_moment, elapsed, iso_ms, parse_iso
from edge.ids import uuid7
from edge.journal.db import sqlite3
from edge.users.register import User, user_of

TOKEN_PREFIX = "edge_"
# last_seen_at is written at most this often per session, not at every request (and at
# least four times per idle period, so a short idle limit still sees a busy user).
TOUCH_EVERY = timedelta(seconds=60)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: str
    csrf_token: str
    created_at: str
    last_seen_at: str
    expires_at: str
    # When it began and was last used, as the boot and the time since boot then: idle time
    # and age survive the clock being stepped (docs/security.md).
    created_boot: str = ""
    created_mono: int = 0
    seen_boot: str = ""
    seen_mono: int = 0

    @property
    def created(self) -> Moment:
        return Moment(parse_iso(self.created_at), self.created_boot, self.created_mono)

    @property
    def seen(self) -> Moment:
        return Moment(parse_iso(self.last_seen_at), self.seen_boot, self.seen_mono)

    @property
    def lifetime(self) -> timedelta:
        return parse_iso(self.expires_at) - parse_iso(self.created_at)


_COLUMNS = (
    "id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, "
    "created_boot, created_mono, seen_boot, seen_mono"
)


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def create_session(
    conn: sqlite3.Connection, user_id: str, now: datetime | Moment, lifetime: timedelta
) -> tuple[str, Session]:
    """A new session (a fresh id at every login: no fixation); returns (cookie value, session)."""
    at = as_moment(now)
    session_id = secrets.token_urlsafe(32)
    s = Session(
        digest(session_id),
        user_id,
        secrets.token_urlsafe(24),
        iso_ms(at.wall),
        iso_ms(at.wall),
        iso_ms(at.wall + lifetime),
        at.boot,
        at.since_boot_ms,
        at.boot,
        at.since_boot_ms,
    )
    conn.execute(
        f"INSERT INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", astuple(s)
    )
    return session_id, s


def find_session(
    conn: sqlite3.Connection, session_id: str, now: datetime | Moment, idle: timedelta
) -> Session | None:
    """The live session for a cookie value, or None when unknown, too old, idle too long, or
    last seen at a time the clock can no longer vouch for (stepped back across a reboot)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM sessions WHERE id_hash = ?", (digest(session_id),)
    ).fetchone()
    if row is None:
        return None
    s = Session(*row)
    return s if _alive(s, as_moment(now), idle) else None


def _alive(s: Session, now: Moment, idle: timedelta) -> bool:
    quiet, age = elapsed(s.seen, now), elapsed(s.created, now)
    return quiet is not None and quiet < idle and age is not None and age < s.lifetime


def needs_touch(s: Session, now: datetime | Moment, idle: timedelta) -> bool:
    """Whether this request should refresh the session's last-seen time."""
    quiet = elapsed(s.seen, as_moment(now))
    return quiet is None or quiet >= min(TOUCH_EVERY, idle / 4)


def touch(conn: sqlite3.Connection, id_hash: str, now: datetime | Moment) -> None:
    at = as_moment(now)
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?, seen_boot = ?, seen_mono = ? WHERE id_hash = ?",
        (iso_ms(at.wall), at.boot, at.since_boot_ms, id_hash),
    )


def end_session(conn: sqlite3.Connection, id_hash: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))


def purge_expired(conn: sqlite3.Connection, now: datetime | Moment, idle: timedelta) -> int:
    """Delete the sessions that can no longer be used; returns how many."""
    at = as_moment(now)
    gone = [
        (s.id_hash,)
        for s in (Session(*r) for r in conn.execute(f"SELECT {_COLUMNS} FROM sessions"))
        if not _alive(s, at, idle)
    ]
    conn.executemany("DELETE FROM sessions WHERE id_hash = ?", gone)
    return len(gone)


def create_token(
    conn: sqlite3.Connection, user_id: str, name: str, now: datetime
) -> tuple[str, ApiToken]:
    """A new API token for scripts; the secret is returned once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(uuid7(), user_id, name, iso_ms(now), None, None)
    conn.execute(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        (token.id, user_id, name, digest(secret), token.created_at),
    )
    return secret, token


def list_tokens(conn: sqlite3.Connection, user_id: str) -> list[ApiToken]:
    rows = conn.execute(
        "SELECT id, user_id, name, created_at, last_used_at, revoked_at "
        "FROM api_tokens WHERE user_id = ? ORDER BY created_at",
        (user_id,),
    )
    return [ApiToken(*r) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: str, user_id: str, now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        (iso_ms(now), token_id, user_id),
    )
    return cur.rowcount == 1


def user_by_token(conn: sqlite3.Connection, secret: str) -> User | None:
    """The user an API token belongs to; None for a token unknown here or revoked."""
    row = conn.execute(
        "SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id "
        "WHERE api_tokens.token_hash = ? AND api_tokens.revoked_at IS NULL",
        (digest(secret),),
    ).fetchone()
    return user_of(row) if row else None
