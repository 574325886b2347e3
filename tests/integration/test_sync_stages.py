"""The worker's stages between real processes: each says where it stands in the outbox API and
in `edge doctor`, the push's backoff is waited out, and a stage that stops moving is stuck."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from edge.clock import iso_ms, utcnow
from edge.keys.runtime import read_key
from edge.settings import load_settings
from tests.helpers import Box, Registry, edge_cli, journal_conn, start_registry, stop_process
from tests.integration.test_sync import declare, receipts
from tests.integration.test_sync_pull import box, point_at  # noqa: F401 - the box fixture
from upstream_sync.worker import Worker, huey_for


def stages(box: Box) -> dict[str, dict[str, Any]]:  # noqa: F811
    summary = box.client("clerk").get("/api/v1/outbox").json()["summary"]
    assert [s["name"] for s in summary["stages"]] == ["resync", "pull", "push", "documents"]
    return {s["name"]: s for s in summary["stages"]}


def attempts(home: Path) -> list[int]:
    conn = journal_conn(home)
    rows = [r[0] for r in conn.execute("SELECT attempts FROM sync_state ORDER BY seq")]
    conn.close()
    return rows


def set_in_journal(home: Path, sql: str, *args: str) -> None:
    conn = journal_conn(home)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def worker_finding(home: Path) -> dict[str, Any]:
    findings = json.loads(edge_cli(home, "doctor", "--json", check=False).stdout)
    found: dict[str, Any] = next(f for f in findings if f["check"] == "worker")
    return found


def test_each_stage_says_where_it_stands_and_the_backoff_is_waited_out(
    box: Box,  # noqa: F811
    registry: Registry,
) -> None:
    clerk = box.client("clerk")
    declare(clerk, "Sara")
    edge_cli(box.home, "sync")
    now = stages(box)
    assert [now[n]["status"] for n in ("resync", "pull", "push")] == ["idle", "done", "done"]
    assert now["push"]["last_done"] and now["push"]["attempts"] == 0

    stop_process(registry.process)
    declare(clerk, "Omar")
    settings = load_settings(box.home)
    worker = Worker(settings, huey_for(settings), read_key(settings))  # the box is unlocked
    try:
        assert worker.sync(pull=True) == 0
        now = stages(box)
        pull, push = now["pull"], now["push"]
        assert (pull["status"], pull["attempts"]) == ("failed", 1)
        assert "cannot be reached" in pull["last_error"]
        assert (push["status"], push["attempts"]) == ("waiting", 1) and push["next_try"]
        assert push["says"].startswith(f"push waiting until {push['next_try']}, after 1 failed")
        assert attempts(box.home)[2:] == [1, 1]
        doctor = worker_finding(box.home)
        assert not doctor["ok"] and "push waiting until" in doctor["says"]
        assert {s["name"]: s["status"] for s in doctor["details"]["stages"]}["push"] == "waiting"

        # Back, but the backoff has not ended: the round waits it out, sending nothing.
        back = start_registry(registry.home, registry.admin_token)
        try:
            point_at(box.home, back.url)
            later = iso_ms(utcnow() + timedelta(minutes=5))
            set_in_journal(
                box.home, "UPDATE sync_stages SET next_try = ? WHERE name = 'push'", later
            )
            assert worker.sync(pull=False) == 0
            assert attempts(box.home)[2:] == [1, 1] and len(back.journal()) == 2
            assert stages(box)["push"]["status"] == "waiting"
            # The backoff ends: the next round sends.
            past = iso_ms(utcnow() - timedelta(seconds=1))
            set_in_journal(
                box.home, "UPDATE sync_stages SET next_try = ? WHERE name = 'push'", past
            )
            assert worker.sync(pull=True) == 2
            now = stages(box)
            assert [now[n]["status"] for n in ("pull", "push")] == ["done", "done"]
            assert now["push"]["attempts"] == 0 and now["push"]["last_error"] is None
            assert {s for s, _ in receipts(box).values()} == {"accepted"}
        finally:
            stop_process(back.process)
    finally:
        worker.close()


def test_doctor_says_a_stage_that_stopped_moving_is_stuck(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "verify")  # opens the journal: migrated
    since = iso_ms(utcnow() - timedelta(hours=1))
    set_in_journal(home, "INSERT INTO box VALUES ('worker_heartbeat', ?)", iso_ms(utcnow()))
    set_in_journal(
        home,
        "INSERT INTO sync_stages (name, status, since, updated_at, attempts, last_error) "
        "VALUES ('pull', 'running', ?, ?, 2, 'the registry did not answer in time')",
        since,
        since,
    )
    worker = worker_finding(home)
    assert not worker["ok"] and f"stuck in pull since {since}" in worker["says"]
    assert "did not answer in time" in worker["says"] and "restart edge-worker" in worker["todo"]
    text = edge_cli(home, "doctor", check=False).stdout
    assert f"stuck in pull since {since}" in text
    set_in_journal(home, "UPDATE sync_stages SET updated_at = ?", iso_ms(utcnow()))
    assert worker_finding(home)["ok"]  # running, and moving
