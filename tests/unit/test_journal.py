"""The journal on a real SQLite file: append-only, hash chain, verify, migrations, writer."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from edge.errors import InvalidInput, NotFound
from edge.journal.chain import GENESIS, row_hash
from edge.journal.db import connect, sqlite3
from edge.journal.reads import Reader
from edge.journal.records import entry_columns, state_columns
from edge.journal.schema import LATEST, migrate, version
from edge.journal.store import Journal
from edge.journal.verify import verify
from edge.workflow.config import Config
from edge.workflow.engine import ActionRequest
from edge.workflow.fold import Entry, fold
from edge.workflow.model import ActionType, Status
from tests.helpers import BIRTH, actor

A = ActionType
RID = "00000000-0000-7000-8000-000000000001"


def fill(journal: Journal, cfg: Config, n_records: int = 3) -> list[str]:
    clerk, reg = actor("clinic-clerk", cfg), actor("local-registrar", cfg)
    ids = []
    for i in range(n_records):
        rid = f"00000000-0000-7000-8000-{i:012d}"
        journal.append(ActionRequest(A.CREATE, rid, event_type="birth"), clerk)
        journal.append(
            ActionRequest(A.DECLARE, rid, declaration={**BIRTH, "child.first_name": f"Child {i}"}),
            clerk,
        )
        journal.append(ActionRequest(A.ASSIGN, rid), reg)
        journal.append(ActionRequest(A.REGISTER, rid), reg)
        ids.append(rid)
    return ids


def test_append_materializes_and_chains(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 2)
    conn = connect(journal.path, readonly=True)
    rows = conn.execute("SELECT * FROM actions ORDER BY seq").fetchall()
    assert [r["seq"] for r in rows] == list(range(1, 9))
    assert rows[0]["prev_hash"] == GENESIS
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, len(rows)))
    assert all(row_hash(r) == r["hash"] for r in rows)
    states = {r["status"] for r in conn.execute("SELECT status FROM records")}
    assert states == {"registered"}
    timeline = Reader(journal.path).timeline(rows[0]["record_id"])
    assert {sync.state for _, sync in timeline} == {"pending"}
    assert verify(journal.path).ok


def test_database_refuses_update_and_delete(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 1)
    conn = connect(journal.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE actions SET payload = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM actions WHERE seq = 2")


def tamper(path: Path, sql: str) -> None:
    conn = connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DROP TRIGGER actions_no_update")
    conn.execute("DROP TRIGGER actions_no_delete")
    conn.execute(sql)
    conn.close()


def test_verify_finds_a_changed_row(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 3)
    journal.close()
    tamper(
        journal.path,
        """UPDATE actions SET payload = replace(payload, 'Child 1', 'Child X')
                            WHERE seq = 6""",
    )
    report = verify(journal.path)
    assert not report.ok and report.first_bad_seq == 6
    assert "changed after it was written" in report.problems[0]


def test_verify_finds_a_deleted_row(journal: Journal, cfg: Config) -> None:
    fill(journal, cfg, 2)
    journal.close()
    tamper(journal.path, "DELETE FROM actions WHERE seq = 3")
    report = verify(journal.path)
    assert report.first_bad_seq == 3


def test_verify_finds_materialized_state_drift(journal: Journal, cfg: Config) -> None:
    ids = fill(journal, cfg, 2)
    journal.close()
    conn = connect(journal.path)
    conn.execute("UPDATE records SET status = 'declared' WHERE id = ?", (ids[1],))
    conn.close()
    report = verify(journal.path)
    assert report.first_bad_seq == 8 and "status" in report.problems[0]


def test_unknown_record_and_refused_action_change_nothing(journal: Journal, cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    with pytest.raises(NotFound):
        journal.append(ActionRequest(A.DECLARE, RID), clerk)
    journal.append(ActionRequest(A.CREATE, RID, event_type="birth"), clerk)
    with pytest.raises(InvalidInput):
        journal.append(ActionRequest(A.DECLARE, RID, declaration={"child.sex": "?"}), clerk)
    conn = connect(journal.path, readonly=True)
    assert conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 1


def test_duplicate_declarations_are_flagged(journal: Journal, cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    for rid in (RID, RID[:-1] + "2"):
        journal.append(ActionRequest(A.CREATE, rid, event_type="birth"), clerk)
        journal.append(ActionRequest(A.DECLARE, rid, declaration=BIRTH), clerk)
    reader = Reader(journal.path)
    first, second = reader.record(RID), reader.record(RID[:-1] + "2")
    assert first and second
    assert "potential-duplicate" not in first.state.flags
    assert "potential-duplicate" in second.state.flags
    assert reader.timeline(RID[:-1] + "2")[-1][0].payload["duplicates"] == [RID]


def test_concurrent_appends_are_group_committed(journal: Journal, cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def client(k: int) -> None:
        barrier.wait()
        for i in range(25):
            rid = f"00000000-0000-7000-8{k:03d}-{i:012d}"
            try:
                journal.append(ActionRequest(A.CREATE, rid, event_type="birth"), clerk)
                if i % 5 == 0:  # a refused action inside a batch must not undo its neighbours
                    journal.append(ActionRequest(A.DECLARE, rid), clerk)
            except InvalidInput:
                pass
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    conn = connect(journal.path, readonly=True)
    assert conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 200
    assert journal.writer.batches < 200  # some commits carried several actions
    assert verify(journal.path).ok


def test_migrations_from_empty(tmp_path: Path) -> None:
    conn = connect(tmp_path / "j.db")
    assert version(conn) == 0
    assert migrate(conn) == LATEST
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"actions", "records", "sync_state", "users", "box"} <= tables
    assert migrate(conn) == LATEST  # idempotent


def test_migration_from_previous_version_keeps_actions(tmp_path: Path, cfg: Config) -> None:
    path = tmp_path / "j.db"
    conn = connect(path)
    migrate(conn, target=LATEST - 1)
    clerk = actor("clinic-clerk", cfg)
    prev, state = GENESIS, None
    for seq, (type_, payload) in enumerate(
        [(A.CREATE, {}), (A.DECLARE, {"declaration": BIRTH})], 1
    ):
        e = Entry(
            seq,
            f"id-{seq}",
            RID,
            "birth",
            type_,
            None,
            f"2026-01-0{seq}T00:00:00.000Z",
            None,
            "synced",
            "boot",
            clerk.id,
            clerk.office_id,
            payload,
            (),
            (),
            prev,
        )
        cols = entry_columns(e)
        cols["hash"] = prev = row_hash(cols)
        conn.execute(
            f"INSERT INTO actions ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})",
            cols,
        )
        state = fold(state, e)
    assert state is not None and state.status is Status.DECLARED
    existing = {r[1] for r in conn.execute("PRAGMA table_info(records)")}
    cols = {k: v for k, v in state_columns(state, cfg).items() if k in existing}
    conn.execute(
        f"INSERT INTO records ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})", cols
    )
    assert migrate(conn) == LATEST
    conn.close()
    timeline = Reader(path).timeline(RID)
    assert [(e.id, sync.state) for e, sync in timeline] == [
        ("id-1", "pending"),
        ("id-2", "pending"),
    ]
    assert verify(path).ok
    # and the migrated journal keeps growing on the same chain
    j = Journal(path, cfg)
    try:
        reg = actor("local-registrar", cfg)
        j.append(ActionRequest(A.ASSIGN, RID), reg)
    finally:
        j.close()
    assert verify(path).ok


def test_writer_survives_a_failing_batch(journal: Journal, cfg: Config) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # leaves the writer's transaction in a state COMMIT refuses

    with pytest.raises(sqlite3.OperationalError):
        journal.run(broken)
    clerk = actor("clinic-clerk", cfg)
    journal.append(ActionRequest(A.CREATE, RID, event_type="birth"), clerk)
    assert verify(journal.path).ok


def test_newer_schema_is_refused_plainly(tmp_path: Path) -> None:
    from edge.errors import EdgeError

    conn = connect(tmp_path / "j.db")
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(EdgeError, match="newer than this software"):
        migrate(conn)


def test_records_from_before_the_search_index_are_found_after_the_upgrade(
    journal: Journal, cfg: Config
) -> None:
    (rid,) = fill(journal, cfg, 1)
    journal.close()
    conn = connect(journal.path)  # as a box upgraded from before schema 8 left it
    conn.execute("UPDATE records SET search_text = ''")
    conn.execute("DELETE FROM box WHERE key = 'search_text_filled'")
    conn.close()
    reg = actor("local-registrar", cfg)
    assert Reader(journal.path).search("Child", reg) == []
    Journal(journal.path, cfg).close()  # the start fills it, once
    assert [r.state.id for r in Reader(journal.path).search("Child", reg)] == [rid]
    conn = connect(journal.path)
    assert conn.execute("SELECT value FROM box WHERE key = 'search_text_filled'").fetchone()
    conn.execute("UPDATE records SET search_text = ''")  # were it emptied again: not looked for
    conn.close()
    Journal(journal.path, cfg).close()
    assert Reader(journal.path).search("Child", reg) == []


def test_a_rebuilt_record_leaves_no_stale_flag_or_search_entry(
    journal: Journal, cfg: Config
) -> None:
    from edge.journal.rebuild import rebuild

    (rid,) = fill(journal, cfg, 1)
    journal.close()
    conn = connect(journal.path)
    conn.execute("""UPDATE records SET flags = '["printed"]' WHERE id = ?""", (rid,))
    assert conn.execute("SELECT flag FROM record_flags WHERE record_id = ?", (rid,)).fetchall()
    conn.execute("BEGIN")
    rebuild(conn, rid, cfg)  # as a registry pull does: the journal has no such flag
    conn.execute("COMMIT")
    kept = {r[0] for r in conn.execute("SELECT flag FROM record_flags WHERE record_id = ?", (rid,))}
    folded = set(
        json.loads(conn.execute("SELECT flags FROM records WHERE id = ?", (rid,)).fetchone()[0])
    )
    assert "printed" not in kept and kept == folded  # (a late registration is flagged, say)
    hits = conn.execute(
        "SELECT COUNT(*) FROM records_search WHERE records_search MATCH 'child'"
    ).fetchone()[0]
    assert hits == 1
    conn.close()
    reg = actor("local-registrar", cfg)
    assert [r.state.id for r in Reader(journal.path).search("Child", reg)] == [rid]
