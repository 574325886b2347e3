"""The pull half of the sync protocol and two-level assignment, between real processes: leases
granted and revoked, a fresh box taking over its office's records and users."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.journal.db import sqlite3
from edge.keys.runtime import key_for_home
from tests.helpers import (
    OFFICE,
    Box,
    Registry,
    edge_cli,
    journal_conn,
    registry_cli,
    running_box,
    start_registry,
    stop_process,
)
from tests.integration.test_sync import declare, receipts


def new_box(tmp_path: Path, registry: Registry, name: str, token: str | None = None) -> Path:
    home = tmp_path / name
    edge_cli(home, "init", "--demo")
    enrolled = edge_cli(home, "enroll", registry.url, token or registry.token()).stdout
    assert "Enrolled" in enrolled
    return home


def new_box_with_a_birth(tmp_path: Path, registry: Registry) -> Path:
    """A new enrolled box whose clerk declared one birth (CREATE and DECLARE), unsent."""
    home = new_box(tmp_path, registry, "box")
    with running_box(home) as box:
        declare(box.client("clerk"), "Sara")
    return home


@pytest.fixture
def box(tmp_path: Path, registry: Registry) -> Iterator[Box]:
    with running_box(new_box(tmp_path, registry, "box")) as b:
        yield b


def admin(registry: Registry, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        registry.url + path,
        headers={"Authorization": f"Bearer {registry.admin_token}"},
        **kwargs,
    )


def box_id(home: Path) -> str:
    conn = journal_conn(home)
    value = conn.execute("SELECT value FROM box WHERE key = 'registry_box_id'").fetchone()[0]
    conn.close()
    return str(value)


def register(box: Box, record_id: str) -> None:
    registrar = box.client("registrar")
    for action in ("ASSIGN", "REGISTER"):
        r = registrar.post(f"/api/v1/records/{record_id}/actions", json={"type": action})
        assert r.status_code == 201, r.text


def test_a_revoked_lease_discards_unsent_work_visibly_and_others_keep_flowing(
    box: Box, registry: Registry
) -> None:
    clerk = box.client("clerk")
    taken, kept = declare(clerk, "Sara"), declare(clerk, "Omar")
    assert edge_cli(box.home, "sync").returncode == 0
    # Offline work on both records, then the registry gives `taken` to another office.
    register(box, taken)
    register(box, kept)
    r = admin(
        registry,
        "POST",
        f"/admin/v1/records/{taken}/lease",
        json={"box_id": None, "by": "Registrar Nadia (district office)", "reason": "late appeal"},
    )
    assert r.status_code == 200 and r.json()["leased_to"] is None

    out = edge_cli(box.home, "sync").stdout
    assert "1 taken elsewhere (2 unsent actions discarded)" in out

    national = registry.journal()
    assert [a["type"] for a in national if a["record_id"] == kept][-2:] == ["ASSIGN", "REGISTER"]
    assert [a["type"] for a in national if a["record_id"] == taken] == ["CREATE", "DECLARE"]
    states = receipts(box)
    assert sorted(s for s, _ in states.values()).count("discarded") == 2
    assert sorted(s for s, _ in states.values()).count("accepted") == 6

    # The discarded work is kept and shown: who took the record, when, and why.
    outbox = box.client("registrar").get("/api/v1/outbox").json()
    assert outbox["summary"]["discarded"] == 2 and outbox["summary"]["pending"] == 0
    for item in outbox["items"]:
        assert item["state"] == "discarded" and item["record_id"] == taken
        assert item["discarded_by"] == "Registrar Nadia (district office)"
        assert item["discarded_at"] and "late appeal" in item["reason"]
    detail = box.client("registrar").get(f"/api/v1/records/{taken}").json()
    # The record is back to the registry's state, read-only here.
    assert detail["record"]["status"] == "declared"
    assert detail["lease"]["state"] == "revoked"
    assert detail["lease"]["changed_by"] == "Registrar Nadia (district office)"
    assert [a["sync"]["state"] for a in detail["timeline"]][-2:] == ["discarded", "discarded"]
    menu = box.client("registrar").get(f"/api/v1/records/{taken}/menu").json()
    assert menu and not any(i["enabled"] for i in menu)
    refused = box.client("registrar").post(
        f"/api/v1/records/{taken}/actions", json={"type": "ASSIGN"}
    )
    assert refused.status_code == 409 and "another office" in refused.json()["title"]
    assert "Registrar Nadia" in refused.json()["detail"]
    assert edge_cli(box.home, "verify").returncode == 0

    # Leased back: the work can be done again, as new actions.
    admin(
        registry,
        "POST",
        f"/admin/v1/records/{taken}/lease",
        json={"box_id": box_id(box.home), "by": "Registrar Nadia (district office)"},
    )
    edge_cli(box.home, "sync")
    register(box, taken)
    edge_cli(box.home, "sync")
    national = registry.journal()
    assert [a["type"] for a in national if a["record_id"] == taken] == [
        "CREATE",
        "DECLARE",
        "ASSIGN",
        "REGISTER",
    ]
    assert sorted(s for s, _ in receipts(box).values()).count("discarded") == 2
    assert box.client("registrar").get(f"/api/v1/records/{taken}").json()["lease"]["state"] == (
        "held"
    )
    assert edge_cli(box.home, "verify").returncode == 0


def test_a_new_box_takes_over_its_offices_open_records_and_users(
    tmp_path: Path, box: Box, registry: Registry
) -> None:
    clerk = box.client("clerk")
    open_record = declare(clerk, "Sara")
    archived = declare(clerk, "Omar")
    registrar = box.client("registrar")
    for action in ("ASSIGN", "ARCHIVE"):
        registrar.post(f"/api/v1/records/{archived}/actions", json={"type": action})
    edge_cli(box.home, "sync")
    created = admin(
        registry,
        "POST",
        "/admin/v1/users",
        json={
            "username": "nadia",
            "display_name": "Nadia Farah",
            "role": "local-registrar",
            "office_id": OFFICE,
            "password": "national password 2",
        },
    )
    assert created.status_code == 201

    # The office's box is replaced: the new one is enrolled for the same office, with a
    # token that says it replaces the old one.
    old = journal_conn(box.home)
    old_id = old.execute("SELECT value FROM box WHERE key = 'registry_box_id'").fetchone()[0]
    old.close()
    replacing = registry_cli(registry.home, "token", "--office-id", OFFICE, "--replaces", old_id)
    fresh = new_box(tmp_path, registry, "fresh", replacing.stdout.strip())
    out = edge_cli(fresh, "sync").stdout
    assert "1 record given to this box" in out
    conn = journal_conn(fresh)
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM records").fetchone()
    assert row["id"] == open_record and row["status"] == "declared"
    assert "Sara" in row["title"]
    user = conn.execute("SELECT * FROM users WHERE username = 'nadia'").fetchone()
    assert user["display_name"] == "Nadia Farah" and user["verifier"] is None  # never a hash
    assert conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 0
    conn.close()
    assert edge_cli(fresh, "verify").returncode == 0

    with running_box(fresh) as b:
        # The registry user logs in at the new box (checked with the registry) and works.
        nadia = b.client("nadia", password="national password 2")
        summary = nadia.get("/api/v1/outbox").json()["summary"]
        assert summary["registry_config_version"] == "1" and summary["registry_reachable"]
        detail = nadia.get(f"/api/v1/records/{open_record}").json()
        assert [a["type"] for a in detail["timeline"]] == ["CREATE", "DECLARE"]
        assert {a["sync"]["state"] for a in detail["timeline"]} == {"accepted"}
        for action in ("ASSIGN", "REGISTER"):
            r = nadia.post(f"/api/v1/records/{open_record}/actions", json={"type": action})
            assert r.status_code == 201, r.text
    assert "2 actions accepted" in edge_cli(fresh, "sync").stdout
    assert edge_cli(fresh, "verify").returncode == 0

    # The old box learns that the record moved: read-only there.
    edge_cli(box.home, "sync")
    refused = registrar.post(f"/api/v1/records/{open_record}/actions", json={"type": "ASSIGN"})
    assert refused.status_code == 409
    assert registrar.get(f"/api/v1/records/{open_record}").json()["record"]["status"] == (
        "registered"
    )
    assert edge_cli(box.home, "verify").returncode == 0


def test_an_action_sent_after_the_lease_moved_is_rejected_with_the_reason(
    box: Box, registry: Registry
) -> None:
    record = declare(box.client("clerk"), "Sara")
    edge_cli(box.home, "sync")
    register(box, record)
    admin(
        registry,
        "POST",
        f"/admin/v1/records/{record}/lease",
        json={"box_id": None, "by": "the national office"},
    )
    # Push before pull (as when the lease moves between the two): the registry refuses.
    conn = journal_conn(box.home)
    conn.execute("UPDATE box SET value = '999999' WHERE key = 'pull_cursor'")
    conn.commit()
    conn.close()
    edge_cli(box.home, "sync")
    states = receipts(box)
    assert states[3][0] == "rejected" and "taken over elsewhere" in str(states[3][1])
    assert all(a["record_id"] != record or a["type"] != "ASSIGN" for a in registry.journal())


def point_at(home: Path, url: str) -> None:
    """The registry came back on another free port (a real one keeps its address)."""
    conn = journal_conn(home)
    conn.execute("UPDATE box SET value = ? WHERE key = 'registry_url'", (url,))
    conn.commit()
    conn.close()


def test_registry_killed_after_committing_before_answering(tmp_path: Path) -> None:
    home = tmp_path / "registry"
    home.mkdir()
    crashing = start_registry(
        home,
        command=[sys.executable, "-m", "tests.crashing_registry"],
        env={"CRASH_AFTER_BATCHES": "2"},
    )
    box_home = new_box(tmp_path, crashing, "box")
    with running_box(box_home) as box:
        clerk = box.client("clerk")
        records = [declare(clerk, name) for name in ("Sara", "Omar", "Lina", "Rami", "Hala")]
    small = {**os.environ, "EDGE_SYNC_BATCH_BYTES": "2048"}  # several batches
    failed = edge_cli(box_home, "sync", check=False, env=small)
    assert failed.returncode == 1 and crashing.process.wait(timeout=10) == -signal.SIGKILL
    # The second batch is in the registry's journal; the box never heard so.
    committed = sqlite3.connect(home / "registry.db").execute("SELECT COUNT(*) FROM actions")
    in_registry = committed.fetchone()[0]
    states = receipts(box_home)
    accepted = sum(1 for s, _ in states.values() if s == "accepted")
    assert in_registry > accepted > 0

    back = start_registry(home, crashing.admin_token)
    try:
        point_at(box_home, back.url)
        assert edge_cli(box_home, "sync", env=small).returncode == 0
        national = back.journal()
    finally:
        stop_process(back.process)
    assert len(national) == 10 and len({a["id"] for a in national}) == 10  # each exactly once
    for record in records:
        mine = [a for a in national if a["record_id"] == record]
        assert [a["type"] for a in mine] == ["CREATE", "DECLARE"]
        assert mine[0]["box_seq"] < mine[1]["box_seq"]
    local = dict(journal_conn(box_home).execute("SELECT id, created_at FROM actions"))
    assert {a["id"]: a["created_at"] for a in national} == local
    assert {s for s, _ in receipts(Box(box_home, "", None)).values()} == {"accepted"}  # type: ignore[arg-type]


def test_times_from_an_unsynchronised_clock_are_corrected_by_the_measured_step(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge.clock import boot_id, clock_pair, utcnow
    from edge.journal import store
    from edge.journal.boxvalues import set_box_value
    from edge.journal.store import Journal
    from edge.workflow.engine import ActionRequest
    from edge.workflow.model import ActionType
    from tests.helpers import actor, config
    from upstream_sync import clocksteps

    home = new_box(tmp_path, registry, "box")
    users = journal_conn(home)
    clerk_id = users.execute("SELECT id FROM users WHERE username = 'clerk'").fetchone()[0]
    users.close()
    clerk = actor("clinic-clerk", uid=clerk_id)  # the box's clerk: the registry knows her office
    with Journal(home / "journal.db", config(), key=key_for_home(home)) as journal:
        # A Pi without a real-time clock, booted offline: its clock is two hours behind.
        monkeypatch.setattr(store, "clock_synced", lambda: False)
        early = journal.append(ActionRequest(ActionType.CREATE, "rec-1", event_type="birth"), clerk)
        assert early.entry.clock == "unsynced"
        wall, since_boot = clock_pair()

        def behind(c: sqlite3.Connection) -> None:
            set_box_value(c, f"clock_anchor:{boot_id()}", f"{wall - 7_200_000} {since_boot}")

        journal.run(behind)
    monkeypatch.setattr(store, "clock_synced", lambda: True)
    edge_cli(home, "sync")
    first = registry.journal()[0]
    assert first["clock"] == "unsynced" and first["corrected_created_at"] is None
    # NTP answers: the worker measures the step; the next push carries it.
    with Journal(home / "journal.db", config(), key=key_for_home(home)) as journal:
        step = journal.run(
            lambda c: clocksteps.measure_clock_step(c, boot_id(), clock_pair(), utcnow())
        )
        assert step is not None and abs(step - 7_200_000) < 5_000
        journal.append(ActionRequest(ActionType.CREATE, "rec-2", event_type="birth"), clerk)
    edge_cli(home, "sync")
    national = {a["record_id"]: a for a in registry.journal()}
    assert national["rec-1"]["created_at"] == early.entry.created_at  # what the box said, kept
    corrected = datetime.fromisoformat(national["rec-1"]["corrected_created_at"])
    said = datetime.fromisoformat(early.entry.created_at)
    assert abs((corrected - said).total_seconds() - 7200) < 5
    assert national["rec-2"]["corrected_created_at"] is None  # made with a synchronised clock


def test_the_worker_pulls_a_revocation_and_keeps_pushing_other_records(
    box: Box, registry: Registry
) -> None:
    from tests.integration.test_sync import start_worker, wait_for

    def settled() -> bool:
        states = sorted(s for s, _ in receipts(box).values())
        return states == ["accepted"] * 6 + ["discarded"] * 2

    clerk = box.client("clerk")
    taken, kept = declare(clerk, "Sara"), declare(clerk, "Omar")
    edge_cli(box.home, "sync")
    register(box, taken)
    register(box, kept)
    admin(
        registry, "POST", f"/admin/v1/records/{taken}/lease", json={"box_id": None, "by": "Nadia"}
    )
    worker = start_worker(box)  # a sync (pull, then push) runs when the worker starts
    try:
        assert wait_for(settled, 20), receipts(box)
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=20)


def test_pull_and_the_lease_api_refuse_strangers(box: Box, registry: Registry) -> None:
    from upstream_sync import protocol as p

    body = p.encode(p.PullRequest(0))
    unsigned = httpx.post(
        registry.url + "/v1/pull",
        content=body,
        headers={"content-type": p.MEDIA_TYPE, p.H_PROTOCOL: p.PROTOCOL},
    )
    assert unsigned.status_code == 401
    record = declare(box.client("clerk"), "Sara")
    edge_cli(box.home, "sync")
    no_token = httpx.post(
        registry.url + f"/admin/v1/records/{record}/lease", json={"box_id": None, "by": "x"}
    )
    assert no_token.status_code == 401
    unknown = admin(
        registry, "POST", "/admin/v1/records/nope/lease", json={"box_id": None, "by": "x"}
    )
    assert unknown.status_code == 404
    assert admin(registry, "GET", f"/admin/v1/records/{record}").json()["leased_to"] == box_id(
        box.home
    )
