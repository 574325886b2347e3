"""What the journal keeps beside its actions so that no page counts the journal: the counts of
actions by sync state, the outbox (the actions the registry has not accepted), each user's
waiting actions, each record's flags and the search index. Triggers keep them in the writer's
own transaction (schema 8 and 12), so they cannot drift unless something edits the database
behind the box's back or a future bug does. `edge verify` compares each with a count from the
journal itself (`miscounted`); `edge recount` counts them all again (`recount`). Neither
touches the journal: every figure here is derived from it.
"""

from __future__ import annotations

from edge.journal.db import sqlite3

SINCE = 12  # the schema from which the journal keeps all of them

# Counted from the journal: what each kept figure should be.
_SYNC_COUNTS = """
SELECT state, SUM(n) AS n FROM (
    SELECT state, COUNT(*) AS n FROM sync_state GROUP BY state
    UNION ALL
    SELECT 'pending', COUNT(*) FROM actions a
    WHERE NOT EXISTS (SELECT 1 FROM sync_state s WHERE s.action_id = a.id)
) GROUP BY state
"""
# An action is in the outbox until the registry accepted it (s: its receipt, if any).
_IS_OPEN = "(s.state IS NULL OR s.state != 'accepted')"
_OPEN = f"SELECT a.seq FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id WHERE {_IS_OPEN}"
_BY_USER = """
SELECT a.created_by, COUNT(*) FROM outbox_open o JOIN actions a ON a.seq = o.seq
GROUP BY a.created_by
"""
_FLAGS = "SELECT r.id, j.value FROM records r, json_each(r.flags) j WHERE r.flags != '[]'"
_KEPT_FLAGS = "SELECT record_id, flag FROM record_flags"
# The search index's own list of documents (FTS5 keeps one size row per indexed record). A
# record indexed with stale words is not seen here (that needs the index's write lock);
# `edge recount` rebuilds the index all the same.
_UNINDEXED = (
    "SELECT r.rowid FROM records r WHERE NOT EXISTS "
    "(SELECT 1 FROM records_search_docsize d WHERE d.id = r.rowid)"
)
_STRAY_INDEXED = (
    "SELECT d.id FROM records_search_docsize d WHERE NOT EXISTS "
    "(SELECT 1 FROM records r WHERE r.rowid = d.id)"
)


def miscounted(conn: sqlite3.Connection) -> list[str]:
    """What disagrees with the journal, in words; empty when everything does. Read-only, in
    one read transaction (a save committing meanwhile cannot look like a drift); one pass over
    the actions (seconds at a million), memory flat."""
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        return _miscounted(conn)
    finally:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")


def _miscounted(conn: sqlite3.Connection) -> list[str]:
    found = []
    differ = _differ(conn, "SELECT state, n FROM sync_counts", _SYNC_COUNTS)
    if differ:
        found.append(f"the counts of actions by sync state differ ({differ})")
    first = conn.execute(
        "SELECT a.seq, o.seq IS NOT NULL FROM actions a "
        "LEFT JOIN sync_state s ON s.action_id = a.id "
        "LEFT JOIN outbox_open o ON o.seq = a.seq "
        f"WHERE (o.seq IS NOT NULL) != {_IS_OPEN} "
        "ORDER BY a.seq LIMIT 1"
    ).fetchone()
    if first is not None:
        where = "in the outbox although accepted" if first[1] else "missing from the outbox"
        found.append(f"seq {first[0]} is {where}")
    stray = conn.execute(
        "SELECT COUNT(*) FROM outbox_open o WHERE NOT EXISTS "
        "(SELECT 1 FROM actions a WHERE a.seq = o.seq)"
    ).fetchone()[0]
    if stray:
        found.append(f"actions in the outbox the journal does not have: {stray}")
    differ = _differ(conn, "SELECT user_id, n FROM outbox_by_user", _BY_USER)
    if differ:
        found.append(f"users' counts of waiting actions differ ({differ})")
    for what, rows in (
        ("records' flags missing from the flag queues", f"{_FLAGS} EXCEPT {_KEPT_FLAGS}"),
        ("flags in the flag queues their records do not have", f"{_KEPT_FLAGS} EXCEPT {_FLAGS}"),
        ("records missing from the search index", _UNINDEXED),
        ("search index entries for no record", _STRAY_INDEXED),
    ):
        n = conn.execute(f"SELECT COUNT(*) FROM ({rows})").fetchone()[0]
        if n:
            found.append(f"{what}: {n}")
    return found


# What `recount` puts back, each in a transaction of its own so that the journal's write lock
# is held a second or so at a time at a million actions, not for all of them together (a save
# waits for it, far less than its busy timeout). Each part is right at its commit and the
# triggers keep it so; outbox_by_user comes after the outbox it counts. The outbox and the
# flag queues change only the rows that are wrong (rewriting them all would also journal every
# page they fill); the search index is rebuilt whole, as a record indexed with stale words is
# not seen by `miscounted`.
_PARTS = (
    ("DELETE FROM sync_counts", f"INSERT INTO sync_counts {_SYNC_COUNTS}"),
    (
        "DELETE FROM outbox_open WHERE NOT EXISTS (SELECT 1 FROM actions a "
        "LEFT JOIN sync_state s ON s.action_id = a.id WHERE a.seq = outbox_open.seq "
        f"AND {_IS_OPEN})",
        f"INSERT OR IGNORE INTO outbox_open (seq) {_OPEN}",
    ),
    ("DELETE FROM outbox_by_user", f"INSERT INTO outbox_by_user {_BY_USER}"),
    (
        "DELETE FROM record_flags WHERE NOT EXISTS (SELECT 1 FROM records r, json_each(r.flags) j "
        "WHERE r.id = record_flags.record_id AND j.value = record_flags.flag)",
        f"INSERT OR IGNORE INTO record_flags {_FLAGS}",
    ),
    ("INSERT INTO records_search (records_search) VALUES ('rebuild')",),
)


def recount(conn: sqlite3.Connection) -> None:
    """Every kept figure counted again from the journal, and the search index rebuilt."""
    for part in _PARTS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in part:
                conn.execute(sql)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back itself (a full disk)
                conn.execute("ROLLBACK")
            raise


def in_brief(found: list[str]) -> str:
    """What `miscounted` found, the first three in words: for one line of a message."""
    more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
    return "; ".join(found[:3]) + more


def _differ(conn: sqlite3.Connection, kept_sql: str, counted_sql: str) -> str:
    """The keys whose kept figure is not the counted one, at most five: "pending: kept 13,
    counted 12"; empty when they agree."""
    kept, counted = _nonzero(conn, kept_sql), _nonzero(conn, counted_sql)
    keys = sorted(k for k in kept.keys() | counted.keys() if kept.get(k) != counted.get(k))
    shown = [f"{k}: kept {kept.get(k, 0)}, counted {counted.get(k, 0)}" for k in keys[:5]]
    return "; ".join(shown + ([f"{len(keys) - 5} more"] if len(keys) > 5 else []))


def _nonzero(conn: sqlite3.Connection, sql: str) -> dict[str, int]:
    return {k: n for k, n in conn.execute(sql) if n}
