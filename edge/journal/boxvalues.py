"""The box's own key-value facts in journal.db (`box` table): its id, its registry, the sync
worker's marks and heartbeats."""

from __future__ import annotations

from edge.clock import Moment, iso_ms, parse_iso
from edge.journal.db import sqlite3


def box_value(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM box WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def set_box_value(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO box (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def set_moment(conn: sqlite3.Connection, key: str, at: Moment) -> None:
    """A time kept with its boot and time since boot (`<wall> <boot> <ms>`), so how long ago
    it was can be told across clock steps (edge.clock.elapsed)."""
    set_box_value(conn, key, f"{iso_ms(at.wall)} {at.boot} {at.since_boot_ms}")


def moment_value(conn: sqlite3.Connection, key: str) -> Moment | None:
    """A time kept by `set_moment` (or a bare wall time, kept before it)."""
    text = box_value(conn, key)
    if not text:
        return None
    wall, _, rest = text.partition(" ")
    boot, _, mono = rest.partition(" ")
    return Moment(parse_iso(wall), boot, int(mono or 0))
