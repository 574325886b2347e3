"""Small reads beside the lists and the banner: what people typed with an action (the reason
of a record's latest Reject, shown to the clerk beside the record in "Requires updates"), and
how many of a user's own actions the registry has not accepted yet."""

from __future__ import annotations

import msgspec

from edge.journal.db import sqlite3

_decode = msgspec.json.decode


def last_said(
    conn: sqlite3.Connection, record_ids: list[str], action_type: str, key: str
) -> dict[str, str]:
    """For each record, the `key` of the form of its latest action of `action_type` (the
    registry's copy first, then the box's own actions, as the timeline orders them). Reads
    only the actions of the given records, through the by-record indexes."""
    if not record_ids:
        return {}
    marks = ",".join("?" * len(record_ids))
    found: dict[str, str] = {}
    for table, order in (("registry_actions", "national_seq"), ("actions", "seq")):
        rows = conn.execute(
            f"SELECT record_id, payload FROM {table} "  # fixed table names only
            f"WHERE record_id IN ({marks}) AND type = ? ORDER BY record_id, {order}",
            [*record_ids, action_type],
        )
        for record_id, payload in rows:
            value = (_decode(payload).get("form") or {}).get(key)
            if value not in (None, ""):
                found[record_id] = str(value)
    return found


def waiting_of(conn: sqlite3.Connection, user_id: str) -> int:
    """How many of this user's actions the registry has not accepted yet (the open actions
    are few: the ones the triggers of schema 8 keep in outbox_open)."""
    row = conn.execute(
        "SELECT COUNT(*) FROM outbox_open o JOIN actions a ON a.seq = o.seq WHERE a.created_by = ?",
        (user_id,),
    ).fetchone()
    return int(row[0])
