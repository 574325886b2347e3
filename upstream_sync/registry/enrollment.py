"""Boxes joining the registry: one-time enrollment tokens per office, the enrolled boxes and
their keys, and the nonces each box has used (so a request is never accepted twice)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import datetime, timedelta

from edge.clock import iso_ms
from edge.ids import uuid7
from edge.workflow.model import Status
from upstream_sync.registry import leases
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.errors import TokenRefused

# Records an office's new box takes over at enrollment: everything not archived.
_CLOSED = (Status.ARCHIVED.value,)


def digest(secret: str) -> str:
    """How a token is kept: its SHA-256, never the token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(db: RegistryDB, office_id: str, valid: timedelta, now: datetime) -> tuple[str, str]:
    """A one-time enrollment token for a box of this office: (token, expires_at)."""
    token = "enr_" + secrets.token_urlsafe(24)
    expires = iso_ms(now + valid)
    db.write(
        lambda c: c.execute(
            "INSERT INTO enrollment_tokens (token_hash, office_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)",
            (digest(token), office_id, iso_ms(now), expires),
        )
    )
    return token, expires


def enroll(
    db: RegistryDB, token: str, public_key: str, name: str, now: datetime
) -> tuple[str, str]:
    """Spend a token on a public key: (box_id, office_id). The office's new box takes over
    its open records (a replaced box loses them) and learns its users at its first pull."""

    def job(c: sqlite3.Connection) -> tuple[str, str]:
        row = c.execute(
            "SELECT office_id, expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?",
            (digest(token),),
        ).fetchone()
        if row is None or row["used_at"] is not None or row["expires_at"] <= iso_ms(now):
            raise TokenRefused("This enrollment token is unknown, used or expired")
        if c.execute("SELECT 1 FROM boxes WHERE public_key = ?", (public_key,)).fetchone():
            raise TokenRefused("This device key is already enrolled")
        box_id, office = uuid7(), str(row["office_id"])
        c.execute(
            "INSERT INTO boxes VALUES (?, ?, ?, ?, ?)",
            (box_id, public_key, office, name, iso_ms(now)),
        )
        c.execute(
            "UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
            (iso_ms(now), box_id, digest(token)),
        )
        open_records = c.execute(
            f"SELECT record_id FROM records WHERE office_id = ? AND status NOT IN "
            f"({','.join('?' * len(_CLOSED))}) ORDER BY created_at",
            (office, *_CLOSED),
        ).fetchall()
        for r in open_records:
            leases.move(c, r[0], box_id, f"enrollment of box {name or box_id}", "", now)
        for u in c.execute("SELECT username FROM users WHERE office_id = ?", (office,)).fetchall():
            leases.note_change(c, "user", now, office_id=office, username=u[0])
        return box_id, office

    return db.write(job)


def enrolled_key(db: RegistryDB, box_id: str) -> str | None:
    """The public key a box enrolled with; None for a box the registry does not know."""
    row = db.read(
        lambda c: c.execute("SELECT public_key FROM boxes WHERE box_id = ?", (box_id,)).fetchone()
    )
    return str(row[0]) if row else None


def note_nonce(db: RegistryDB, box_id: str, nonce: str, now: datetime) -> bool:
    """Remember a nonce; False when this box used it before (a replay)."""

    def job(c: sqlite3.Connection) -> bool:
        try:
            c.execute("INSERT INTO nonces VALUES (?, ?, ?)", (box_id, nonce, iso_ms(now)))
        except sqlite3.IntegrityError:
            return False
        return True

    return db.write(job)
