"""Small reads beside the lists and the banner: what people typed with an action (the reason
of a record's latest Reject, shown to the clerk beside the record in "Requires updates"), and
how many of a user's own actions the registry has not accepted yet (kept, not counted)."""

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
    """How many of this user's actions the registry has not accepted yet (kept per user by
    the triggers of WAITING_BY_USER: one row read, however long the outbox)."""
    row = conn.execute("SELECT n FROM outbox_by_user WHERE user_id = ?", (user_id,)).fetchone()
    return int(row[0]) if row else 0


# Schema 12: the banner asks on every page whether the person at the keyboard has work still
# waiting for the registry. Counting it from outbox_open read every waiting action (50,000
# after a month offline) on the event loop; the count is kept per user instead, in the same
# transaction as outbox_open itself.
WAITING_BY_USER = """
CREATE TABLE outbox_by_user (user_id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO outbox_by_user SELECT a.created_by, COUNT(*) FROM outbox_open o
    JOIN actions a ON a.seq = o.seq GROUP BY a.created_by;
CREATE TRIGGER waiting_opened AFTER INSERT ON outbox_open BEGIN
    INSERT INTO outbox_by_user SELECT created_by, 1 FROM actions WHERE seq = NEW.seq
        ON CONFLICT (user_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER waiting_closed AFTER DELETE ON outbox_open BEGIN
    UPDATE outbox_by_user SET n = n - 1
        WHERE user_id = (SELECT created_by FROM actions WHERE seq = OLD.seq);
END;
"""
