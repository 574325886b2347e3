"""Each user's actions the registry has not accepted yet: kept by triggers (schema 12), they
must agree with counting them after every kind of receipt change, and after the migration."""

from __future__ import annotations

from edge.journal.db import connect, sqlite3
from edge.journal.notes import waiting_of
from edge.journal.schema import LATEST, migrate
from edge.journal.store import Journal
from edge.journal.tallies import miscounted
from edge.workflow.config import Config
from tests.unit.test_journal import fill


def counted(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT a.created_by, COUNT(*) FROM actions a LEFT JOIN sync_state s "
        "ON s.action_id = a.id WHERE s.state IS NULL OR s.state != 'accepted' "
        "GROUP BY a.created_by"
    )
    return dict(rows.fetchall())


def kept(conn: sqlite3.Connection) -> dict[str, int]:
    users = [r[0] for r in conn.execute("SELECT DISTINCT created_by FROM actions")]
    return {u: n for u in users if (n := waiting_of(conn, u))}


def receipt(conn: sqlite3.Connection, seq: int, state: str) -> None:
    conn.execute(
        "INSERT INTO sync_state (action_id, seq, record_id, state, updated_at) "
        "SELECT id, seq, record_id, ?, created_at FROM actions WHERE seq = ?",
        (state, seq),
    )


def test_kept_counts_follow_every_receipt_change(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 3)  # a clerk's and a registrar's actions, none sent yet
    conn = connect(journal.path)
    assert kept(conn) == counted(conn) and sorted(kept(conn).values()) == [6, 6]
    steps = [
        lambda: receipt(conn, 1, "accepted"),
        lambda: receipt(conn, 2, "accepted"),
        lambda: receipt(conn, 3, "rejected"),  # still the user's to resolve: still counted
        lambda: receipt(conn, 4, "sending"),
        lambda: conn.execute("UPDATE sync_state SET state = 'accepted' WHERE seq = 4"),
        lambda: conn.execute("UPDATE sync_state SET state = 'conflict' WHERE seq = 1"),
        lambda: conn.execute("DELETE FROM sync_state WHERE seq = 2"),
        lambda: conn.execute(
            "INSERT INTO sync_state (action_id, seq, record_id, state, updated_at) "
            "SELECT id, seq, record_id, 'accepted', created_at FROM actions"
            " WHERE seq NOT IN (SELECT seq FROM sync_state)"
        ),
    ]
    for step in steps:
        step()
        assert kept(conn) == counted(conn)
        assert miscounted(conn) == []  # and every other kept figure agrees with the journal
    creators = dict(conn.execute("SELECT seq, created_by FROM actions WHERE seq IN (1, 3)"))
    assert kept(conn) == {creators[1]: 1, creators[3]: 1}  # the conflict and the rejected one
    conn.close()


def test_migration_counts_what_is_already_waiting(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 2)
    journal.close()
    conn = connect(journal.path)
    receipt(conn, 1, "accepted")
    receipt(conn, 5, "rejected")
    conn.executescript(
        "DROP TRIGGER waiting_opened; DROP TRIGGER waiting_closed; DROP TABLE outbox_by_user;"
        f"PRAGMA user_version = {LATEST - 1};"
    )
    assert migrate(conn) == LATEST
    assert kept(conn) == counted(conn) and sum(kept(conn).values()) == 7
    conn.close()
