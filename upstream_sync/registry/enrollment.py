"""Boxes joining the registry: one-time enrollment tokens per office, the enrolled boxes and
their keys, and the nonces each box has used (so a request is never accepted twice).

An enrollment changes nothing until everything the box claims has been checked: a token for
another office than the one the box serves is refused, and stays unspent. A new box of an
office takes the records another box holds only when its token says it replaces that box (the
operator's decision, `edge-registry token --replaces BOX`)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from edge.clock import iso_ms
from edge.ids import uuid7
from edge.journal.db import sqlite3
from edge.workflow.model import Status
from upstream_sync.registry import leases
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.errors import TokenRefused, UnknownBox

# Records an office's new box takes over at enrollment: everything not archived.
_CLOSED = (Status.ARCHIVED.value,)


def digest(secret: str) -> str:
    """How a token is kept: its SHA-256, never the token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    db: RegistryDB, office_id: str, valid: timedelta, now: datetime, replaces: str | None = None
) -> tuple[str, str]:
    """A one-time enrollment token for a box of this office (which takes over the records of
    box `replaces`, when given): (token, expires_at)."""
    token = "enr_" + secrets.token_urlsafe(24)
    expires = iso_ms(now + valid)

    def job(c: sqlite3.Connection) -> None:
        if replaces is not None:
            row = c.execute("SELECT office_id FROM boxes WHERE box_id = ?", (replaces,)).fetchone()
            if row is None or row[0] != office_id:
                raise UnknownBox(f"No box {replaces} of office {office_id} is enrolled")
        c.execute(
            "INSERT INTO enrollment_tokens (token_hash, office_id, created_at, expires_at, "
            "replaces) VALUES (?, ?, ?, ?, ?)",
            (digest(token), office_id, iso_ms(now), expires, replaces),
        )

    db.write(job)
    return token, expires


def enroll(
    db: RegistryDB, token: str, public_key: str, name: str, office_id: str, now: datetime
) -> tuple[str, str]:
    """Spend a token on the public key of a box serving `office_id`: (box_id, office_id).
    Refused, with nothing changed, unless the token is for that office. The box learns its
    office's users at its first pull, and the open records of the box its token replaces."""

    def job(c: sqlite3.Connection) -> tuple[str, str]:
        row = c.execute(
            "SELECT office_id, expires_at, used_at, replaces FROM enrollment_tokens "
            "WHERE token_hash = ?",
            (digest(token),),
        ).fetchone()
        if row is None or row["used_at"] is not None or row["expires_at"] <= iso_ms(now):
            raise TokenRefused("This enrollment token is unknown, used or expired")
        office = str(row["office_id"])
        if office_id != office:
            raise TokenRefused(
                f"This token is for office {office}, but the box serves office {office_id}: "
                f"ask for a token for {office_id}. The token was not used."
            )
        if c.execute("SELECT 1 FROM boxes WHERE public_key = ?", (public_key,)).fetchone():
            raise TokenRefused("This device key is already enrolled")
        box_id = uuid7()
        c.execute(
            "INSERT INTO boxes VALUES (?, ?, ?, ?, ?)",
            (box_id, public_key, office, name, iso_ms(now)),
        )
        c.execute(
            "UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
            (iso_ms(now), box_id, digest(token)),
        )
        if row["replaces"] is not None:
            _take_over(c, str(row["replaces"]), box_id, name, now)
        for u in c.execute("SELECT username FROM users WHERE office_id = ?", (office,)).fetchall():
            leases.note_change(c, "user", now, office_id=office, username=u[0])
        return box_id, office

    return db.write(job)


def _take_over(c: sqlite3.Connection, old_box: str, new_box: str, name: str, now: datetime) -> None:
    """The new box of an office replaces `old_box`: it is given the records the old one held
    that are not closed (the old box learns at its next pull, if it ever comes back)."""
    held = c.execute(
        f"SELECT record_id FROM records WHERE leased_to = ? AND status NOT IN "
        f"({','.join('?' * len(_CLOSED))}) ORDER BY created_at",
        (old_box, *_CLOSED),
    ).fetchall()
    for r in held:
        leases.move(c, r[0], new_box, f"enrollment of box {name or new_box}", "replaced", now)


def enrolled_boxes(db: RegistryDB, office_id: str | None = None) -> list[sqlite3.Row]:
    """The enrolled boxes (of one office), oldest first: id, office, name, when enrolled."""
    return db.read(
        lambda c: c.execute(
            "SELECT box_id, office_id, name, enrolled_at FROM boxes "
            "WHERE ? IS NULL OR office_id = ? ORDER BY enrolled_at",
            (office_id, office_id),
        ).fetchall()
    )


def enrolled_key(db: RegistryDB, box_id: str) -> str | None:
    """The public key a box enrolled with; None for a box the registry does not know."""
    row = db.read(
        lambda c: c.execute("SELECT public_key FROM boxes WHERE box_id = ?", (box_id,)).fetchone()
    )
    return str(row[0]) if row else None


def box_office(db: RegistryDB, box_id: str) -> str:
    """The office an enrolled box serves."""
    row = db.read(
        lambda c: c.execute("SELECT office_id FROM boxes WHERE box_id = ?", (box_id,)).fetchone()
    )
    return str(row[0]) if row else ""


def note_nonce(db: RegistryDB, box_id: str, nonce: str, now: datetime) -> bool:
    """Remember a nonce; False when this box used it before (a replay)."""

    def job(c: sqlite3.Connection) -> bool:
        try:
            c.execute("INSERT INTO nonces VALUES (?, ?, ?)", (box_id, nonce, iso_ms(now)))
        except sqlite3.IntegrityError:
            return False
        return True

    return db.write(job)
