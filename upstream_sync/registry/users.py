"""The national register of users: created by the registry's admin, learnt by the boxes of
their office at their next pull (never with a password hash), checked at login; and the users
each box says made its actions (a box's own users, made on the box), each bound to one office."""

from __future__ import annotations

from datetime import datetime

from edge.clock import iso_ms
from edge.ids import uuid7
from edge.journal.db import sqlite3
from edge.workflow.config import Config
from upstream_sync.protocol import UserInfo
from upstream_sync.registry import leases
from upstream_sync.registry.db import RegistryDB, rows_in


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


# What a user may read: each pair grants the records of these events (None: every event) of
# this office (None: every office).
Reach = list[tuple[frozenset[str] | None, str | None]]


def reach(db: RegistryDB, config: Config, username: str, box_office: str) -> Reach:
    """What `username`, asking at a box of `box_office`, may read: from the registry's own
    register and the `record.read` scopes of their role in the country configuration.
    Nothing for a user it does not know, an inactive one, one of another office than the
    box's, or a role without record scopes."""
    row = db.read(
        lambda c: c.execute(
            "SELECT role, office_id FROM users WHERE username = ? AND active = 1", (username,)
        ).fetchone()
    )
    if row is None or row["office_id"] != box_office:
        return []
    granted: Reach = []
    for scope in config.role_scopes.get(row["role"], ()):
        if scope.name == "record.read":
            where = scope.option("jurisdiction")
            office = None if where is None or "all" in where else str(row["office_id"])
            granted.append((scope.option("event"), office))
    return granted


def declare(
    c: sqlite3.Connection, box_id: str, office: str, declared: list[UserInfo], stamp: str
) -> None:
    """Note the users a box says made its actions. Only users of the box's office: one
    declared with another office, or whose id the registry holds for another office (a
    national user, or one another box declared), is not noted."""
    ids = [u.id for u in declared]
    held = {r[0]: r[1] for r in _offices(c, ids)}
    c.executemany(
        "INSERT INTO box_users (user_id, office_id, username, role, box_id, declared_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
        "username = excluded.username, role = excluded.role",
        [
            (u.id, office, u.username, u.role, box_id, stamp)
            for u in declared
            if u.office_id == office and held.get(u.id, office) == office
        ],
    )


def of_office(c: sqlite3.Connection, office: str, ids: set[str]) -> set[str]:
    """Which of these user ids are users of `office`: national ones, or made on its boxes."""
    return {str(r[0]) for r in _offices(c, list(ids)) if r[1] == office}


def _offices(c: sqlite3.Connection, ids: list[str]) -> list[sqlite3.Row]:
    """(user id, office) of each of these ids the registry knows, national or declared."""
    return rows_in(c, "SELECT id, office_id FROM users WHERE id", ids) + rows_in(
        c, "SELECT user_id, office_id FROM box_users WHERE user_id", ids
    )
