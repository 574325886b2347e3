"""Server-side login sessions and API tokens, kept in journal.db so they survive a restart of
the web process. Only SHA-256 hashes of session ids and tokens are stored: a copy of the
database does not let anyone log in."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.clock import iso_ms
from edge.ids import uuid7
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


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def create_session(
    conn: sqlite3.Connection, user_id: str, now: datetime, lifetime: timedelta
) -> tuple[str, Session]:
    """A new session (a fresh id at every login: no fixation); returns (cookie value, session)."""
    session_id = secrets.token_urlsafe(32)
    s = Session(
        digest(session_id),
        user_id,
        secrets.token_urlsafe(24),
        iso_ms(now),
        iso_ms(now),
        iso_ms(now + lifetime),
    )
    conn.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
        (s.id_hash, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at),
    )
    return session_id, s


def find_session(
    conn: sqlite3.Connection, session_id: str, now: datetime, idle: timedelta
) -> Session | None:
    """The live session for a cookie value, or None when unknown, expired or idle too long."""
    row = conn.execute("SELECT * FROM sessions WHERE id_hash = ?", (digest(session_id),)).fetchone()
    if row is None:
        return None
    s = Session(*row)
    if s.expires_at <= iso_ms(now) or s.last_seen_at <= iso_ms(now - idle):
        return None
    return s


def needs_touch(s: Session, now: datetime, idle: timedelta) -> bool:
    """Whether this request should refresh the session's last-seen time."""
    return s.last_seen_at <= iso_ms(now - min(TOUCH_EVERY, idle / 4))


def touch(conn: sqlite3.Connection, id_hash: str, now: datetime) -> None:
    conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", (iso_ms(now), id_hash))


def end_session(conn: sqlite3.Connection, id_hash: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))


def purge_expired(conn: sqlite3.Connection, now: datetime, idle: timedelta) -> int:
    cur = conn.execute(
        "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?",
        (iso_ms(now), iso_ms(now - idle)),
    )
    return cur.rowcount


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
