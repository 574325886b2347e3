"""What the box's registry speaks, as the box last heard it: stored at enrollment (from its
hello) and refreshed from every pull's answer. The box does not ask for what the registry
lacks: no search without `search.v1`, no bring-here without `lease.v1`, no login check
without `login-check.v1`."""

from __future__ import annotations

from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.db import sqlite3
from upstream_sync import protocol as p

KEY = "registry_capabilities"


def stored(conn: sqlite3.Connection) -> frozenset[str] | None:
    """What the registry speaks; None for a box enrolled before this was stored."""
    return p.parse_capabilities(box_value(conn, KEY))


def store(conn: sqlite3.Connection, capabilities: frozenset[str]) -> None:
    """Remember what the registry said both sides speak."""
    text = ",".join(c for c in p.CAPABILITIES if c in capabilities)
    if box_value(conn, KEY) != text:
        set_box_value(conn, KEY, text)


def speaks(conn: sqlite3.Connection, capability: str) -> bool:
    """Whether the registry offers this; assumed until the box has heard otherwise."""
    known = stored(conn)
    return known is None or capability in known
