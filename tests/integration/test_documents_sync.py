"""Supporting documents from a real box's journal to a real registry process: only after the
action that attached them is accepted, within the round's byte budget, resumed from the byte
the registry holds, and checked there against the SHA-256 the action names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from edge.clock import utcnow
from edge.journal import attachments
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.keys.runtime import key_for_home
from edge.workflow.engine import ActionRequest
from edge.workflow.model import ActionType
from tests.helpers import BIRTH, Registry, actor, config, edge_cli, journal_conn
from upstream_sync.registry.documents import MISMATCH
from upstream_sync.stages.documents import send_documents
from upstream_sync.stages.round import run_round

SCAN = b"%PDF-1.7\n" + bytes(range(256)) * 600  # 153,609 bytes: three chunks on the box
BUDGET = 40_000


def admin_get(registry: Registry, path: str) -> httpx.Response:
    return httpx.get(
        registry.url + path, headers={"Authorization": f"Bearer {registry.admin_token}"}
    )


def held(registry: Registry, document_id: str) -> dict[str, Any]:
    r = admin_get(registry, f"/admin/v1/documents/{document_id}")
    r.raise_for_status()
    return dict(r.json())


def rot(path: Path, document_id: str) -> None:
    """Change a document's bytes as a failing disk would (past the box's own guard)."""
    conn = journal_conn(path)
    try:
        with conn:
            conn.execute("DROP TRIGGER document_chunks_fixed")
            conn.execute(
                "UPDATE document_chunks SET data = zeroblob(length(data)) WHERE document_id = ?",
                (document_id,),
            )
            conn.execute(
                "CREATE TRIGGER document_chunks_fixed BEFORE UPDATE ON document_chunks "
                "BEGIN SELECT RAISE(ABORT, 'a document cannot be changed'); END"
            )
    finally:
        conn.close()


def test_documents_follow_their_action_a_budget_at_a_time_and_resume(
    tmp_path: Path, registry: Registry
) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "enroll", registry.url, registry.token())
    users = journal_conn(home)
    clerk_id = users.execute("SELECT id FROM users WHERE username = 'clerk'").fetchone()[0]
    users.close()
    # The box's own clerk: the registry takes actions only from users of the box's office.
    key, clerk = home / "device.key", actor("clinic-clerk", uid=clerk_id)
    with Journal(home / "journal.db", config(), key=key_for_home(home)) as journal:
        reader = Reader(home / "journal.db", key_for_home(home))

        def declare(record_id: str, data: bytes) -> str:
            ref = journal.run(
                lambda c: attachments.stage(
                    c, "birth-notification", "n.pdf", "application/pdf", data, clerk.id, utcnow()
                )
            )
            req = ActionRequest(
                ActionType.CREATE,
                record_id,
                event_type="birth",
                declaration=BIRTH,
                documents=(ref,),
            )
            journal.append(req, clerk)
            return ref.id

        doc = declare("rec-1", SCAN)
        # Before the registry has the action, nothing of the document goes.
        assert send_documents(journal, reader, key, BUDGET, 60).sent_bytes == 0
        assert admin_get(registry, f"/admin/v1/documents/{doc}").status_code == 404

        # A round: the action first, then the budget's worth of the document, no more.
        first = run_round(journal, reader, key, 1_000_000, 60, pull=False, document_bytes=BUDGET)
        assert first.pushed is not None and first.pushed.accepted == 1
        assert first.documents is not None and first.documents.sent_bytes == BUDGET
        assert first.documents.more  # the worker starts the next round at once
        assert held(registry, doc)["received"] == BUDGET

        # A new action saved meanwhile goes in the next round, before more of the document.
        declare("rec-2", SCAN[:5000])
        second = run_round(journal, reader, key, 1_000_000, 60, pull=False, document_bytes=BUDGET)
        assert second.pushed is not None and second.pushed.accepted == 1
        assert held(registry, doc)["received"] == 2 * BUDGET

        # The box lost track of how far it got (power cut before the receipt was stored): the
        # registry says what it holds, and the box goes on from there; nothing is doubled.
        journal.run(lambda c: c.execute("UPDATE documents SET sent_bytes = 0 WHERE id = ?", (doc,)))
        rest = run_round(journal, reader, key, 1_000_000, 60, pull=False, document_bytes=None)
        assert rest.documents is not None and rest.documents.completed == 2
        got = admin_get(registry, f"/admin/v1/documents/{doc}/content")
        assert got.status_code == 200 and got.content == SCAN
        assert held(registry, doc)["complete"]
        assert attachments.waiting(reader.conn(), 10) == []  # the outbox has none left

        # Bytes changed on the box's disk: the registry's SHA-256 check refuses them; the
        # document waits, its error in the outbox, to be sent again from byte 0.
        bad = declare("rec-3", SCAN[:9000])
        rot(home / "journal.db", bad)
        run_round(journal, reader, key, 1_000_000, 60, pull=False, document_bytes=None)
        assert not held(registry, bad)["complete"]
        (row,) = attachments.waiting(reader.conn(), 10)
        assert row["id"] == bad and row["last_error"] == MISMATCH and row["sent_bytes"] == 0
        reader.close()
    conn = journal_conn(home)
    try:
        sent = conn.execute("SELECT COUNT(*) FROM documents WHERE sent_at IS NOT NULL")
        assert sent.fetchone() == (2,)
    finally:
        conn.close()
