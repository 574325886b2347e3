"""The registry's escrow: per box, a secret (K_net, 32 random bytes) that opens the box's
registry key slot, and the box's unlock key, the one key that may ask for it after a reboot.

An operator who hears a box was stolen revokes it (`edge-registry box revoke`): from then on
the registry refuses the secret, says why, and logs every request, so the box stays locked
until a member of staff logs in at it. Lifting the revocation (`unrevoke`) releases it again.
Every registration, release and refusal is kept in `escrow_events`, which is also what the
rate limit counts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from edge.clock import iso_ms
from edge.journal.db import sqlite3
from upstream_sync.registry.errors import BoxRevoked, NoUnlockKey, TooManyRequests, UnknownBox

if TYPE_CHECKING:  # the database creates these tables: it imports this module
    from upstream_sync.registry.db import RegistryDB

SCHEMA = """
-- K_net is kept as it is in this reference registry: a production registry keeps it
-- encrypted under a key of its own (an HSM), since whoever reads it can open a stolen box.
CREATE TABLE IF NOT EXISTS escrow (
    box_id TEXT PRIMARY KEY, unlock_key TEXT NOT NULL, k_net TEXT NOT NULL,
    registered_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS box_revocations (
    box_id TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS escrow_events (
    seq INTEGER PRIMARY KEY, box_id TEXT NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS escrow_events_by_box ON escrow_events (box_id, at);
"""

# What a box asks for, counted per box within the last hour: a registration or a release
# (granted or refused).
_COUNTED = ("registered", "released", "refused")
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Revocation:
    revoked_at: str
    reason: str


def _event(c: sqlite3.Connection, box_id: str, now: datetime, event: str, detail: str) -> None:
    c.execute(
        "INSERT INTO escrow_events (box_id, at, event, detail) VALUES (?, ?, ?, ?)",
        (box_id, iso_ms(now), event, detail[:500]),
    )


def _revocation(c: sqlite3.Connection, box_id: str) -> Revocation | None:
    row = c.execute(
        "SELECT revoked_at, reason FROM box_revocations WHERE box_id = ?", (box_id,)
    ).fetchone()
    return Revocation(str(row[0]), str(row[1])) if row else None


def _refuse_if_revoked(c: sqlite3.Connection, box_id: str, who: str) -> None:
    """Raise BoxRevoked when the box was reported stolen (the caller's transaction rolls
    back: the refusal is kept by `note_refusal`)."""
    revoked = _revocation(c, box_id)
    if revoked is not None:
        raise BoxRevoked(
            "This box was reported stolen to the registry "
            f"({revoked.revoked_at}: {revoked.reason}): the registry does not unlock it. "
            "A member of the office's staff unlocks it by logging in.",
            box_id,
            who,
        )


def _check_rate(c: sqlite3.Connection, box_id: str, now: datetime, per_hour: int) -> None:
    since = iso_ms(now - WINDOW)
    n = c.execute(
        f"SELECT count(*) FROM escrow_events WHERE box_id = ? AND at > ? AND event IN "
        f"({','.join('?' * len(_COUNTED))})",
        (box_id, since, *_COUNTED),
    ).fetchone()[0]
    if n >= per_hour:
        raise TooManyRequests(
            f"This box asked for its unlock secret {n} times within an hour, the most the "
            "registry answers: it waits before asking again."
        )


def note_refusal(db: RegistryDB, refused: BoxRevoked, now: datetime) -> None:
    """Keep a refused request in the box's events (its own transaction, committed)."""
    db.write(lambda c: _event(c, refused.box_id, now, "refused", refused.who))


def register(
    db: RegistryDB, box_id: str, unlock_key: str, now: datetime, per_hour: int, who: str
) -> tuple[str, str]:
    """Take the box's unlock key; answer (K_net hex, registered_at). The same key registered
    again gets the same secret (a retried request); a new key gets a new secret, and the
    old key can ask for nothing any more."""

    def job(c: sqlite3.Connection) -> tuple[str, str]:
        _refuse_if_revoked(c, box_id, who)
        _check_rate(c, box_id, now, per_hour)
        row = c.execute(
            "SELECT unlock_key, k_net, registered_at FROM escrow WHERE box_id = ?", (box_id,)
        ).fetchone()
        if row is not None and row["unlock_key"] == unlock_key:
            _event(c, box_id, now, "registered", f"again, {who}")
            return str(row["k_net"]), str(row["registered_at"])
        k_net, at = secrets.token_hex(32), iso_ms(now)
        c.execute(
            "INSERT INTO escrow VALUES (?, ?, ?, ?) ON CONFLICT (box_id) DO UPDATE SET "
            "unlock_key = excluded.unlock_key, k_net = excluded.k_net, "
            "registered_at = excluded.registered_at",
            (box_id, unlock_key, k_net, at),
        )
        _event(c, box_id, now, "registered", f"{'new key' if row else 'first key'}, {who}")
        return k_net, at

    return db.write(job)


def unlock_key(db: RegistryDB, box_id: str) -> str | None:
    """The unlock key a box registered; None when it registered none."""
    row = db.read(
        lambda c: c.execute("SELECT unlock_key FROM escrow WHERE box_id = ?", (box_id,)).fetchone()
    )
    return str(row[0]) if row else None


def release(db: RegistryDB, box_id: str, now: datetime, per_hour: int, who: str) -> tuple[str, str]:
    """K_net for a box that proved it holds its unlock key: (K_net hex, registered_at).
    Refused when the box was reported stolen, or asks too often."""

    def job(c: sqlite3.Connection) -> tuple[str, str]:
        _refuse_if_revoked(c, box_id, who)
        _check_rate(c, box_id, now, per_hour)
        row = c.execute(
            "SELECT k_net, registered_at FROM escrow WHERE box_id = ?", (box_id,)
        ).fetchone()
        if row is None:
            raise NoUnlockKey("This box has registered no unlock key with the registry")
        _event(c, box_id, now, "released", who)
        return str(row["k_net"]), str(row["registered_at"])

    return db.write(job)


def revoke(db: RegistryDB, box_id: str, reason: str, now: datetime) -> None:
    """Report a box stolen: the registry refuses its secret until `unrevoke`."""

    def job(c: sqlite3.Connection) -> None:
        if not c.execute("SELECT 1 FROM boxes WHERE box_id = ?", (box_id,)).fetchone():
            raise UnknownBox(f"No box {box_id} is enrolled with the registry")
        c.execute(
            "INSERT INTO box_revocations VALUES (?, ?, ?) ON CONFLICT (box_id) DO UPDATE SET "
            "revoked_at = excluded.revoked_at, reason = excluded.reason",
            (box_id, iso_ms(now), reason),
        )
        _event(c, box_id, now, "revoked", reason)

    db.write(job)


def unrevoke(db: RegistryDB, box_id: str, reason: str, now: datetime) -> bool:
    """Lift a revocation; False when the box was not revoked."""

    def job(c: sqlite3.Connection) -> bool:
        gone = c.execute("DELETE FROM box_revocations WHERE box_id = ?", (box_id,)).rowcount
        if gone:
            _event(c, box_id, now, "unrevoked", reason)
        return bool(gone)

    return db.write(job)


def revocation(db: RegistryDB, box_id: str) -> Revocation | None:
    """Whether (when, why) a box was reported stolen."""
    return db.read(lambda c: _revocation(c, box_id))


def events(db: RegistryDB, box_id: str, limit: int = 20) -> list[sqlite3.Row]:
    """The box's last escrow events, newest first: at, event, detail."""
    return db.read(
        lambda c: c.execute(
            "SELECT at, event, detail FROM escrow_events WHERE box_id = ? "
            "ORDER BY seq DESC LIMIT ?",
            (box_id, limit),
        ).fetchall()
    )


def registered_at(db: RegistryDB, box_id: str) -> str | None:
    row = db.read(
        lambda c: c.execute(
            "SELECT registered_at FROM escrow WHERE box_id = ?", (box_id,)
        ).fetchone()
    )
    return str(row[0]) if row else None
