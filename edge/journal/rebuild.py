"""A record's state from everything the box knows about it.

For a record the box made and still holds, that is the fold of its own journal actions. Once
the registry has sent the box a copy of a record (a lease granted or revoked), the state is the
fold of the registry's actions in national order, then of the box's own actions the registry
does not hold yet; discarded actions (a revoked lease) are kept in the journal but never
folded. `edge verify` checks the materialized state against the same rule.
"""

from __future__ import annotations

from edge.journal.db import sqlite3
from edge.journal.records import RECORD_COLUMNS, entry_from_row, state_columns
from edge.workflow.config import Config
from edge.workflow.fold import Entry, fold
from edge.workflow.model import RecordState

# An upsert, not INSERT OR REPLACE: a replace deletes the row without its triggers, which
# left the record's old flags in record_flags (its flag queues) and its old row in the search
# index; an update keeps the row and runs them.
_UPSERT_RECORD = (
    f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in RECORD_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RECORD_COLUMNS if c != "id")
)


def record_entries(conn: sqlite3.Connection, record_id: str) -> list[Entry]:
    copied = [
        entry_from_row({**dict(r), "seq": 0})
        for r in conn.execute(
            "SELECT * FROM registry_actions WHERE record_id = ? ORDER BY national_seq",
            (record_id,),
        )
    ]
    held = {e.id for e in copied}
    own = [
        entry_from_row(r)
        for r in conn.execute(
            "SELECT a.* FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id "
            "WHERE a.record_id = ? AND (s.state IS NULL OR s.state != 'discarded') "
            "ORDER BY a.seq",
            (record_id,),
        )
    ]
    return copied + [e for e in own if e.id not in held]


def replay(entries: list[Entry]) -> RecordState | None:
    state = None
    for e in entries:
        state = fold(state, e)
    return state


def rebuild(conn: sqlite3.Connection, record_id: str, config: Config) -> RecordState | None:
    """Recompute and store one record's state; None (and no row) when nothing is left."""
    state = replay(record_entries(conn, record_id))
    if state is None:
        conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
    else:
        conn.execute(_UPSERT_RECORD, state_columns(state, config))
    return state
