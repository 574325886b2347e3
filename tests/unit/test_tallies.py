"""What the journal keeps beside its actions (counts by sync state, the outbox, each user's
waiting actions, flag queues, the search index): each kind of drift is named by
`miscounted`, and `recount` puts back exactly what the triggers had kept."""

from __future__ import annotations

from typing import Any

import pytest

from edge.journal.db import connect, sqlite3
from edge.journal.store import Journal
from edge.journal.tallies import miscounted, recount
from edge.journal.verify import verify
from edge.workflow.config import Config
from tests.unit.test_journal import fill
from tests.unit.test_waiting_counts import receipt

DRIFTS = {
    "counts of actions by sync state": "UPDATE sync_counts SET n = n + 1 WHERE state = 'pending'",
    "seq 2 is missing from the outbox": "DELETE FROM outbox_open WHERE seq = 2",
    "seq 1 is in the outbox although accepted": "INSERT INTO outbox_open VALUES (1)",
    "actions in the outbox the journal does not have: 1": "INSERT INTO outbox_open VALUES (99)",
    "users' counts of waiting actions differ": "UPDATE outbox_by_user SET n = n + 5",
    "flags in the flag queues their records do not have: 1": (
        "INSERT INTO record_flags SELECT id, 'late' FROM records WHERE rowid = 2"
    ),
    "records' flags missing from the flag queues: 1": (
        "DELETE FROM record_flags WHERE flag = 'printed'"  # (a year on, others may be set too)
    ),
    "records missing from the search index: 1": (
        "INSERT INTO records_search (records_search, rowid, search_text) "
        "SELECT 'delete', rowid, search_text FROM records WHERE rowid = 2"
    ),
    "search index entries for no record: 1": (
        "INSERT INTO records_search (rowid, search_text) VALUES (999, 'nobody')"
    ),
}


def kept(conn: sqlite3.Connection) -> list[Any]:
    return [
        sorted(map(tuple, conn.execute(f"SELECT * FROM {table}")))
        for table in ("sync_counts", "outbox_open", "outbox_by_user", "record_flags")
    ] + [sorted(r[0] for r in conn.execute("SELECT id FROM records_search_docsize"))]


@pytest.mark.parametrize("drift", DRIFTS)
def test_a_drift_is_named_and_counted_back(journal: Journal, cfg: Config, drift: str) -> None:
    fill(journal, cfg, 3)
    journal.close()
    conn = connect(journal.path)
    receipt(conn, 1, "accepted")
    receipt(conn, 3, "rejected")
    conn.execute("""UPDATE records SET flags = '["printed"]' WHERE rowid = 1""")
    good = kept(conn)
    assert miscounted(conn) == []
    conn.executescript(DRIFTS[drift])
    found = miscounted(conn)
    assert len(found) == 1 and drift in found[0], found
    recount(conn)
    assert miscounted(conn) == [] and kept(conn) == good
    conn.close()


def test_a_missing_kept_table_is_reported_not_raised(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 1)
    journal.close()
    conn = connect(journal.path)
    conn.execute("DROP TABLE outbox_by_user")  # a failed migration, say
    conn.close()
    report = verify(journal.path)
    assert report.ok and report.miscounted[0].startswith("cannot be counted again")
    assert "outbox_by_user" in report.miscounted[0]
