"""SQLite connections with the box's durability settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.errors import EdgeError, StorageFull
from edge.texts import tr


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=FULL."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    if not readonly:
        # WAL lets readers work while the writer commits; FULL syncs the WAL at every commit,
        # so a power cut right after a 2xx cannot lose the action.
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    # Savepoints (one per job in a group commit) keep a statement journal; in memory it
    # costs nothing, as a temp file it costs a file write per job.
    conn.execute("PRAGMA temp_store=MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


def storage_error(exc: sqlite3.Error) -> EdgeError | None:
    """The box's error for a full disk, or None for any other SQLite error."""
    text = str(exc).lower()
    if "full" in text or getattr(exc, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
        return StorageFull(
            tr(
                "The box's storage is full, so nothing new can be saved. Everything saved before "
                "is safe. Ask IT staff to free space on the box."
            )
        )
    return None
