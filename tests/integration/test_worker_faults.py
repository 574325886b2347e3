"""The sync worker through faults, between real processes (a box, its worker, a registry): a
full disk, huey.db deleted while the box serves, a clock stepped back, and a worker that is
alive but not pushing, which `/readyz` and `edge doctor` must tell."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.helpers import (
    Registry,
    edge_cli,
    journal_conn,
    running_box,
    start_registry,
    start_worker,
    stop_process,
    stop_worker,
)
from tests.integration.test_disk_full import fill, small_disk  # noqa: F401 - the fixture
from tests.integration.test_sync import all_accepted, declare, receipts, wait_for
from tests.integration.test_sync_pull import new_box


def test_deleting_hueys_database_while_the_box_serves_keeps_pushes_prompt(
    tmp_path: Path, registry: Registry
) -> None:
    with running_box(new_box(tmp_path, registry, "box")) as box:
        worker = start_worker(box.home)
        try:
            clerk = box.client("clerk")
            declare(clerk, "Sara")
            assert wait_for(all_accepted(box, 2), 15), receipts(box)
            # huey.db holds nothing that matters: IT staff delete it and restart the worker.
            stop_worker(worker)
            for leftover in box.home.glob("huey.db*"):
                leftover.unlink()
            worker = start_worker(box.home)
            time.sleep(2)  # its start-up round is done
            for n, name in enumerate(("Omar", "Lina"), 2):
                declare(clerk, name)
                # A push is asked for after each action: sent in seconds, not at the next
                # minute.
                assert wait_for(all_accepted(box, 2 * n), 10), receipts(box)
        finally:
            stop_worker(worker)
    assert len(registry.journal()) == 6


def test_a_full_disk_does_not_stop_the_worker_for_good(
    small_disk: Path,  # noqa: F811
    registry: Registry,
) -> None:
    home = small_disk / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "enroll", registry.url, registry.token())
    with running_box(home, env={"EDGE_DISK_MIN_FREE_MB": "0"}) as box:
        worker = start_worker(home)
        try:
            clerk = box.client("clerk")
            declare(clerk, "Sara")
            assert wait_for(all_accepted(box, 2), 15), receipts(box)
            assert wait_for(lambda: stage_status(home, "pull") == "done", 15)  # start-up round
            # An exchange is on its way when the disk fills up: a push, or the minute's pull
            # when the minute turns now. Its answer cannot be stored, nor anything else
            # written (huey.db included) until IT staff make room.
            registry.process.send_signal(signal.SIGSTOP)
            for name in ("Omar", "Lina"):
                declare(clerk, name)
            in_flight = wait_for(
                lambda: (
                    "sending" in {s for s, _ in receipts(box).values()}
                    or stage_status(home, "pull") == "running"
                ),
                20,
            )
            assert in_flight, (home / "worker.log").read_text()[-2500:]
            filler = fill(small_disk)
            registry.process.send_signal(signal.SIGCONT)
            time.sleep(3)  # the answer came and could not be stored
            filler.unlink()
            declare(clerk, "Adam")
            # Room again: the batch in doubt is sent again, the new work after it.
            sent = wait_for(all_accepted(box, 8), 30)
            assert sent, (home / "worker.log").read_text()[-2500:]
            assert len(registry.journal()) == 8
            assert httpx.get(box.url + "/readyz").status_code == 200
        finally:
            registry.process.send_signal(signal.SIGCONT)
            stop_worker(worker)


def stage_status(home: Path, name: str) -> str | None:
    conn = journal_conn(home)
    row = conn.execute("SELECT status FROM sync_stages WHERE name = ?", (name,)).fetchone()
    conn.close()
    return str(row[0]) if row else None


def findings(home: Path, env: dict[str, str]) -> dict[str, dict[str, object]]:
    out = edge_cli(home, "doctor", "--json", check=False, env={**os.environ, **env}).stdout
    return {f["check"]: f for f in json.loads(out)}


def test_readyz_and_doctor_say_when_the_worker_is_alive_but_not_pushing(
    tmp_path: Path, registry: Registry
) -> None:
    from upstream_sync.synclock import SyncLock

    stalled = {"EDGE_PUSH_STALLED_MINUTES": "0.05"}  # 3 s, for the test
    home = new_box(tmp_path, registry, "box")
    with running_box(home, env=stalled) as box:
        worker = start_worker(home)
        try:
            clerk = box.client("clerk")
            declare(clerk, "Sara")
            assert wait_for(all_accepted(box, 2), 15), receipts(box)
            assert httpx.get(box.url + "/readyz").json()["checks"]["pushing"] is True
            # Something holds the sync lock (a hung `edge sync`): the worker's heartbeat
            # goes on, but nothing is pushed.
            held = SyncLock(home).held(30)  # as soon as the worker's round lets go
            assert held.__enter__()
            declare(clerk, "Omar")
            time.sleep(4)
            ready = httpx.get(box.url + "/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"] == {
                "database": True,
                "disk": True,
                "worker": True,
                "pushing": False,
            }
            said = findings(home, stalled)["worker"]
            assert not said["ok"] and "has not pushed for" in str(said["says"])
            assert "2 actions wait" in str(said["says"])
            held.__exit__(None, None, None)
            assert wait_for(all_accepted(box, 4), 40), receipts(box)
            assert httpx.get(box.url + "/readyz").status_code == 200
            assert findings(home, stalled)["worker"]["ok"]
        finally:
            stop_worker(worker)


SHIFTED = [sys.executable, "-m", "tests.shifted_clock"]


def push_attempts(home: Path) -> int:
    conn = journal_conn(home)
    row = conn.execute("SELECT attempts FROM sync_stages WHERE name = 'push'").fetchone()
    conn.close()
    return int(row[0]) if row else 0


def test_a_clock_stepped_back_after_a_wan_cut_does_not_hold_the_push(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    registry = start_registry(tmp_path / "registry")
    port = int(registry.url.rsplit(":", 1)[1])
    home = new_box(tmp_path, registry, "box")
    shift = tmp_path / "clock-shift"
    shift.write_text("0")
    with running_box(home) as box:
        worker = start_worker(home, {"EDGE_TEST_CLOCK_SHIFT": str(shift)}, SHIFTED)
        try:
            clerk = box.client("clerk")
            declare(clerk, "Sara")
            assert wait_for(all_accepted(box, 2), 15), receipts(box)
            stop_process(registry.process)  # the WAN is cut
            for name in ("Omar", "Lina", "Adam"):
                declare(clerk, name)
            assert wait_for(lambda: push_attempts(home) >= 2, 20)
            # The box's clock is stepped back five minutes (within the longest backoff, so
            # no rule about far-off times saves it); then the WAN comes back.
            shift.write_text("-300")
            time.sleep(0.5)
            registry = start_registry(registry.home, registry.admin_token, port=port)
            # The backoff, a few seconds, is waited by the time since boot: sent in seconds.
            assert wait_for(all_accepted(box, 8), 25), receipts(box)
        finally:
            stop_worker(worker)
            stop_process(registry.process)
