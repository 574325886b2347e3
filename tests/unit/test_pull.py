"""Applying pulled changes to a box's journal: what a download may and may not change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edge.journal.db import sqlite3
from edge.journal.store import Journal
from edge.journal.verify import verify
from edge.workflow.engine import ActionRequest
from edge.workflow.model import ActionType
from tests.helpers import BIRTH, actor, config, journal_conn
from upstream_sync.protocol import Change, PullResult, RecordCopy, RegistryAction, WireAction
from upstream_sync.stages.pull import apply_page

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def registry_copy(conn: sqlite3.Connection, record_id: str, upto_seq: int) -> RecordCopy:
    """The record as a registry holds it after accepting the box's actions up to a seq."""
    fields = WireAction.__struct_fields__
    rows = conn.execute(
        "SELECT * FROM actions WHERE record_id = ? AND seq <= ? ORDER BY seq", (record_id, upto_seq)
    ).fetchall()
    return RecordCopy(
        record_id,
        [
            RegistryAction(
                **{f: r[f] for f in fields},
                national_seq=100 + i,
                origin_box="box-1",
                received_at="2026-11-22T10:00:00.000Z",
            )
            for i, r in enumerate(rows)
        ],
    )


def page(*changes: Change) -> PullResult:
    return PullResult(list(changes), 9, False, "7", "2026-11-22T10:00:00.000Z")


def test_a_download_keeps_the_boxs_pending_actions_on_top(tmp_path: Path) -> None:
    clerk = actor("clinic-clerk")
    with Journal(tmp_path / "journal.db", config()) as journal:
        journal.append(ActionRequest(ActionType.CREATE, "r1", event_type="birth"), clerk)
        journal.append(ActionRequest(ActionType.DECLARE, "r1", declaration=BIRTH), clerk)

        def grant(conn: sqlite3.Connection) -> None:
            copy = registry_copy(conn, "r1", upto_seq=1)  # the registry holds only the CREATE
            apply_page(
                conn,
                page(Change(1, "lease-granted", "2026-11-22T10:00:00.000Z", "x", None, copy)),
                config(),
                NOW,
            )

        journal.run(grant)
    conn = journal_conn(tmp_path)
    conn.row_factory = sqlite3.Row
    record = conn.execute("SELECT status, declaration FROM records WHERE id = 'r1'").fetchone()
    assert record["status"] == "declared" and "child.first_name" in record["declaration"]
    receipts = dict(conn.execute("SELECT seq, state FROM sync_state"))
    assert receipts == {1: "accepted"}  # the DECLARE is still waiting to be sent (no receipt)
    assert dict(
        conn.execute(
            "SELECT key, value FROM box WHERE key IN ('pull_cursor', 'registry_config_version')"
        )
    ) == {"pull_cursor": "9", "registry_config_version": "7"}
    conn.close()
    assert verify(tmp_path / "journal.db").ok


def test_applying_the_same_page_twice_changes_nothing(tmp_path: Path) -> None:
    clerk = actor("clinic-clerk")
    with Journal(tmp_path / "journal.db", config()) as journal:
        journal.append(ActionRequest(ActionType.CREATE, "r1", event_type="birth"), clerk)
        journal.append(ActionRequest(ActionType.DECLARE, "r1", declaration=BIRTH), clerk)
        journal.append(ActionRequest(ActionType.ASSIGN, "r1"), actor("local-registrar"))

        def revoke(conn: sqlite3.Connection) -> tuple[int, int]:
            copy = registry_copy(conn, "r1", upto_seq=2)
            change = Change(1, "lease-revoked", "2026-11-22T10:00:00.000Z", "Nadia", "appeal", copy)
            first = apply_page(conn, page(change), config(), NOW)
            second = apply_page(conn, page(change), config(), NOW)
            return first.discarded, second.discarded

        assert journal.run(revoke) == (1, 0)
    conn = journal_conn(tmp_path)
    states = dict(conn.execute("SELECT seq, state FROM sync_state"))
    assert states == {1: "accepted", 2: "accepted", 3: "discarded"}
    assert conn.execute("SELECT COUNT(*) FROM registry_actions").fetchone()[0] == 2
    assert conn.execute("SELECT assigned_to FROM records").fetchone()[0] is None
    conn.close()
    assert verify(tmp_path / "journal.db").ok
