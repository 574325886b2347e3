"""No page or API read plans a scan of a table that grows with the journal: every query the
read side runs while people use the box is put through EXPLAIN QUERY PLAN. A scan of actions,
records, sync_state or registry_actions is allowed only when the query stops at a LIMIT (a
keyset page in index order), so the cure of docs/performance.md stays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.app import create_app
from edge.journal import reads
from edge.journal.db import sqlite3
from edge.settings import load_settings
from edge.workflow.config import load_config
from tests.helpers import BIRTH, DEATH, edge_cli, journal_conn

GROWING = ("actions", "records", "sync_state", "registry_actions", "record_flags")
SCANNED = re.compile(r"\bSCAN (\w+)")


def growing_scans(sql: str, plan: str) -> list[str]:
    """The growing tables a plan scans, by name or by the alias the query gave them."""
    aliases = {
        alias: table
        for table, alias in re.findall(
            rf"\b({'|'.join(GROWING)})\s+(?:AS\s+)?(\w+)", sql, flags=re.IGNORECASE
        )
    }
    return [
        aliases.get(name, name)
        for name in SCANNED.findall(plan)
        if aliases.get(name, name) in GROWING
    ]


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement a read connection runs."""
    statements: list[str] = []
    real = reads.connect

    def traced_connect(path: Path, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(path, *args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(reads, "connect", traced_connect)
    yield statements


def test_no_read_of_the_pages_or_the_api_scans_the_journal(
    tmp_path: Path, traced: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_METRICS_ACCESS", "open")  # the test client has no LAN address
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    settings = load_settings(home)
    app = create_app(settings, load_config())
    with TestClient(app) as http:

        def login(user: str) -> None:
            http.cookies.clear()
            r = http.post(
                "/api/v1/auth/login", json={"username": user, "password": "demo-password"}
            )
            http.headers["x-csrf-token"] = r.json()["csrf_token"]

        login("clerk")
        rid = http.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
        http.post(f"/api/v1/records/{rid}/actions", json={"type": "DECLARE", "declaration": BIRTH})
        other = http.post("/api/v1/records", json={"event_type": "death"}).json()["record"]["id"]
        http.post(
            f"/api/v1/records/{other}/actions", json={"type": "DECLARE", "declaration": DEATH}
        )
        login("registrar")
        for kind in ("ASSIGN", "REGISTER"):
            http.post(f"/api/v1/records/{rid}/actions", json={"type": kind})
        traced.clear()
        pages = [
            "/help",
            "/outbox",
            "/ui/status",
            f"/records/{rid}",
            "/search?q=Sara",
            "/search?q=ساره",
            "/queues/ready-to-print",
            "/queues/ready-for-review",
            "/queues/requires-updates",
            "/queues/pending-attestation",
            "/queues/assigned-to-me",
            "/queues/my-drafts",
            "/queues/ready-to-print?page=2&after=2026-01-01T00:00:00.000Z~x",
            "/outbox?page=2&after=1",
        ]
        api = [
            "/api/v1/workqueues",
            "/api/v1/outbox",
            f"/api/v1/records/{rid}",
            f"/api/v1/records/{rid}/menu",
            "/api/v1/workqueues/ready-to-print/records",
            "/api/v1/workqueues/requires-updates/records",
            "/metrics",
        ]
        for user in ("clerk", "registrar"):
            login(user)
            for path in pages + api:
                answer = http.get(path).status_code
                # A clerk has no registrar's queues: refused, the registrar's reads are timed.
                assert answer == 200 or (user == "clerk" and answer in (403, 404)), (user, path)
        login("admin")
        assert http.get("/users").status_code == 200
    reads_seen = {s for s in traced if s.lstrip().upper().startswith(("SELECT", "WITH"))}
    assert len(reads_seen) > 20, "the pages ran fewer queries than expected: is tracing on?"
    conn = journal_conn(home)
    scans = []
    for sql in sorted(reads_seen):
        plan = "\n".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        if growing_scans(sql, plan) and "LIMIT" not in sql.upper():
            scans.append(f"{sql}\n{plan}")
    conn.close()
    assert scans == [], "reads that scan a table growing with the journal:\n\n" + "\n\n".join(scans)
