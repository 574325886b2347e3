"""The national register of users: created by the registry's admin, learnt by the boxes of
their office at their next pull (never with a password hash), checked at login."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from edge.clock import iso_ms
from edge.ids import uuid7
from upstream_sync.registry import leases
from upstream_sync.registry.db import RegistryDB


def add_user(
    db: RegistryDB,
    username: str,
    display_name: str,
    role: str,
    office_id: str,
    verifier: str,
    now: datetime,
) -> str:
    """Create or replace a user; the boxes of their office learn it at their next pull."""

    def job(c: sqlite3.Connection) -> str:
        c.execute(
            "INSERT INTO users (username, id, display_name, role, office_id, verifier, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
            "display_name = excluded.display_name, role = excluded.role, "
            "office_id = excluded.office_id, verifier = excluded.verifier",
            (username, uuid7(), display_name, role, office_id, verifier, iso_ms(now)),
        )
        leases.note_change(c, "user", now, office_id=office_id, username=username)
        return str(c.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0])

    return db.write(job)


def user_verifier(db: RegistryDB, username: str) -> str | None:
    """The password verifier of an active user; None for anyone else."""
    row = db.read(
        lambda c: c.execute(
            "SELECT verifier FROM users WHERE username = ? AND active = 1", (username,)
        ).fetchone()
    )
    return str(row[0]) if row else None
