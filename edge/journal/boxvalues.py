"""The box's own key-value facts in journal.db (`box` table): its id, its registry, the sync
worker's marks and heartbeats."""

from __future__ import annotations

import sqlite3


def box_value(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM box WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def set_box_value(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO box (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
