"""SQLite connections with the box's durability settings, encrypted with SQLCipher.

Every box module imports `sqlite3` from here: it is `sqlcipher3`'s DB-API module, whose
exceptions are not the standard library's (`except sqlite3.Error` must name this one). A
connection given a key is encrypted (AES-256 per page, HMAC-SHA512); without one it is a plain
SQLite file (unit tests, the reference registry, the fleet tool's own records).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import EdgeError, StorageFull
from edge.texts import tr

if TYPE_CHECKING:  # the same API: the standard library's types describe it
    import sqlite3 as sqlite3
else:
    from sqlcipher3 import dbapi2 as sqlite3


def connect(
    path: Path | str, *, readonly: bool = False, key: bytes | None = None
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=FULL;
    `key` (32 bytes, the box's data key) opens an encrypted journal."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    if key is not None:
        apply_key(conn, key)
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


def apply_key(conn: sqlite3.Connection, key: bytes) -> None:
    """The raw key (no passphrase KDF: the key is random); first thing on a connection. A
    wrong key shows at the first read (`file is not a database`)."""
    if len(key) != 32:
        raise ValueError("the data key is 32 bytes")
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")


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


def export_encrypted(plain: Path, dest: Path, key: bytes) -> None:
    """An encrypted copy of a plain SQLite file (`sqlcipher_export`), fsynced."""
    conn = sqlite3.connect(str(plain), isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"ATTACH DATABASE ? AS encrypted KEY \"x'{key.hex()}'\"", (str(dest),))
        conn.execute("SELECT sqlcipher_export('encrypted')")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA encrypted.user_version = {int(version)}")
        conn.execute("DETACH DATABASE encrypted")
    finally:
        conn.close()
    with open(dest, "rb+") as f:
        os.fsync(f.fileno())


def rekey(path: Path, old: bytes, new: bytes) -> None:
    """Re-encrypt a journal with a new key (every page rewritten); nobody else may have it
    open."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        apply_key(conn, old)
        conn.execute(f"PRAGMA rekey = \"x'{new.hex()}'\"")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def opens(path: Path, key: bytes | None) -> bool:
    """Whether `key` (None: no key) reads the database at `path`."""
    conn = sqlite3.connect(str(path))
    try:
        if key is not None:
            apply_key(conn, key)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()
