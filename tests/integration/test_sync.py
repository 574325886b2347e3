"""The push half of the sync protocol between real processes: a box and the reference
registry, each with its own database and identity."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.identity import load_device_key
from tests import helpers
from tests.helpers import (
    BIRTH,
    ROOT,
    Box,
    Registry,
    edge_cli,
    journal_conn,
    running_box,
    start_registry,
    stop_process,
)
from upstream_sync import protocol as p


@pytest.fixture
def box(tmp_path: Path, registry: Registry) -> Iterator[Box]:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    out = edge_cli(home, "enroll", registry.url, registry.token())
    assert "Enrolled" in out.stdout
    with running_box(home) as b:
        yield b


def receipts(box: Box | Path) -> dict[int, tuple[str, str | None]]:
    conn = journal_conn(box if isinstance(box, Path) else box.home)
    rows = conn.execute(
        "SELECT a.seq, s.state, s.reason FROM actions a "
        "LEFT JOIN sync_state s ON s.action_id = a.id ORDER BY a.seq"
    )
    out = {r[0]: (r[1] or "pending", r[2]) for r in rows}
    conn.close()
    return out


def corrupt_declare(box: Box, record_id: str) -> None:
    """Change the record's DECLARE on disk behind the journal's back: the registry refuses it."""
    conn = journal_conn(box.home)
    conn.execute("DROP TRIGGER actions_no_update")
    conn.execute(
        "UPDATE actions SET payload = replace(payload, 'Sara', 'Zara') "
        "WHERE record_id = ? AND type = 'DECLARE'",
        (record_id,),
    )
    conn.commit()
    conn.close()


def declare(c: httpx.Client, name: str) -> str:
    rid = c.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
    c.post(
        f"/api/v1/records/{rid}/actions",
        json={"type": "DECLARE", "declaration": {**BIRTH, "child.first_name": name}},
    )
    return str(rid)


def test_push_delivers_once_in_order_with_confirmation_times(box: Box, registry: Registry) -> None:
    clerk = box.client("clerk")
    for name in ("Sara", "Omar", "Lina"):
        declare(clerk, name)
    assert edge_cli(box.home, "sync").returncode == 0
    national = registry.journal()
    assert [a["box_seq"] for a in national] == list(range(1, 7))
    assert [a["type"] for a in national] == ["CREATE", "DECLARE"] * 3
    conn = journal_conn(box.home)
    local = dict(conn.execute("SELECT id, created_at FROM actions"))
    assert {a["id"]: a["created_at"] for a in national} == local  # confirmation times kept
    assert all(a["received_at"] >= a["created_at"] for a in national)
    assert set(receipts(box).values()) == {("accepted", None)}
    assert "0 actions accepted" in edge_cli(box.home, "sync").stdout  # nothing left to send
    assert len(registry.journal()) == 6
    detail = clerk.get(f"/api/v1/records/{national[0]['record_id']}").json()
    assert {a["sync"]["state"] for a in detail["timeline"]} == {"accepted"}
    assert all(a["sync"]["registry_time"] for a in detail["timeline"])


def test_an_answer_that_never_came_is_resent_and_counted_once(box: Box, registry: Registry) -> None:
    declare(box.client("clerk"), "Sara")
    edge_cli(box.home, "sync")
    # As if the worker died after the registry committed but before the answer arrived.
    conn = journal_conn(box.home)
    conn.execute("UPDATE sync_state SET state = 'sending'")
    conn.execute("UPDATE box SET value = '0' WHERE key = 'sync_low_water'")
    conn.commit()
    conn.close()
    assert "2 actions accepted" in edge_cli(box.home, "sync").stdout
    assert len(registry.journal()) == 2
    assert set(receipts(box).values()) == {("accepted", None)}


def test_a_rejected_action_holds_back_its_record_only(box: Box, registry: Registry) -> None:
    clerk = box.client("clerk")
    bad, good = declare(clerk, "Sara"), declare(clerk, "Omar")
    clerk.post(f"/api/v1/records/{bad}/actions", json={"type": "ASSIGN"})
    corrupt_declare(box, bad)
    out = edge_cli(box.home, "sync")
    assert "1 rejected" in out.stdout
    states = receipts(box)
    assert states[1] == ("accepted", None)  # CREATE of the bad record went before
    assert states[2][0] == "rejected" and "does not match its hash" in str(states[2][1])
    # Its ASSIGN waits behind the rejection (the registry said "blocked"), and the outbox
    # says so in the box's own words (translated), not the registry's.
    assert states[5] == ("pending", None)
    assert states[3] == states[4] == ("accepted", None)  # the other record flowed
    assert {a["record_id"] for a in registry.journal()} == {bad, good}
    outbox = clerk.get("/api/v1/outbox").json()
    assert [(i["state"], i["label"]) for i in outbox["items"]] == [
        ("rejected", "Declare"),
        ("pending", "Assign"),
    ]
    assert "does not match its hash" in outbox["items"][0]["reason"]
    assert "refused action before it" in outbox["items"][1]["reason"]
    assert outbox["summary"]["rejected"] == 1 and outbox["summary"]["last_error"] is None
    assert good in {a["record_id"] for a in registry.journal() if a["type"] == "DECLARE"}


def test_registry_down_then_back(tmp_path: Path, box: Box, registry: Registry) -> None:
    declare(box.client("clerk"), "Sara")
    stop_process(registry.process)
    failed = edge_cli(box.home, "sync", check=False)
    assert failed.returncode == 1 and "cannot be reached" in failed.stdout
    conn = journal_conn(box.home)
    row = conn.execute(
        "SELECT state, attempts, last_error, next_try_at FROM sync_state ORDER BY seq LIMIT 1"
    ).fetchone()
    budget = conn.execute("SELECT value FROM box WHERE key = 'sync_batch_budget'").fetchone()
    depth = conn.execute("SELECT value FROM box WHERE key = 'sync_batches_in_flight'").fetchone()
    conn.close()
    assert depth == ("1",)  # after a failure, one batch at a time
    assert row[0] == "pending" and row[1] == 1 and "cannot be reached" in row[2] and row[3]
    assert budget == (str(1024 * 1024 // 2),)  # the next batches are half the size, at first
    outbox = box.client("clerk").get("/api/v1/outbox").json()
    assert outbox["total"] == 2 and outbox["summary"]["pending"] == 2
    assert "cannot be reached" in outbox["summary"]["last_error"]
    assert outbox["summary"]["registry_reachable"] is False
    first = outbox["items"][0]
    assert (first["state"], first["attempts"], first["label"]) == ("pending", 1, "Create")
    assert "cannot be reached" in first["last_error"] and first["next_try_at"]
    row = outbox_rows(box)[0]
    assert "Waiting to be sent" in row and "— next try" in row
    # Caught in the middle of the next try, the row says so rather than "next try ...".
    conn = journal_conn(box.home)
    with conn:
        conn.execute("UPDATE sync_state SET state = 'sending' WHERE seq = ?", (first["seq"],))
    row = outbox_rows(box)[0]
    assert "Being sent" in row and "— trying again now" in row and "next try" not in row
    with conn:
        conn.execute("UPDATE sync_state SET state = 'pending' WHERE seq = ?", (first["seq"],))
    conn.close()
    back = start_registry(registry.home, registry.admin_token)
    try:
        # The registry came back on another free port; a real one keeps its address.
        conn = journal_conn(box.home)
        conn.execute("UPDATE box SET value = ? WHERE key = 'registry_url'", (back.url,))
        conn.commit()
        conn.close()
        assert "2 actions accepted" in edge_cli(box.home, "sync").stdout
        assert len(back.journal()) == 2
        summary = box.client("clerk").get("/api/v1/outbox").json()["summary"]
        assert summary["registry_reachable"] is True and summary["pending"] == 0
    finally:
        stop_process(back.process)


def outbox_rows(box: Box) -> list[str]:
    page = box.client("clerk").get("/outbox").text
    return re.findall(r'<tr class="sync-.*?</tr>', page, re.S)


def signed_push(
    home: Path, box_id: str, key: Ed25519PrivateKey, body: bytes, nonce: str = "n1"
) -> dict[str, str]:
    stamp = "2026-11-22T08:00:00.000Z"
    return {
        "content-type": p.MEDIA_TYPE,
        p.H_PROTOCOL: p.PROTOCOL,
        p.H_BOX: box_id,
        p.H_TIME: stamp,
        p.H_NONCE: nonce,
        p.H_SIGNATURE: p.sign(
            key, p.signing_string("POST", "/v1/push", box_id, stamp, nonce, body)
        ),
    }


def test_forged_replayed_unsigned_and_unenrolled_batches_are_refused(
    box: Box, registry: Registry
) -> None:
    conn = journal_conn(box.home)
    box_id = conn.execute("SELECT value FROM box WHERE key = 'registry_box_id'").fetchone()[0]
    conn.close()
    key = load_device_key(box.home / "device.key")
    body = p.encode(p.PushBatch("2026-11-22T08:00:00.000Z", []))
    url = registry.url + "/v1/push"

    def post(headers: dict[str, str], content: bytes = body) -> httpx.Response:
        return httpx.post(url, content=content, headers=headers)

    assert post(signed_push(box.home, box_id, key, body, "fresh")).status_code == 200
    replay = post(signed_push(box.home, box_id, key, body, "fresh"))
    assert replay.status_code == 409 and "replay" in replay.json()["title"]
    unsigned = post({"content-type": p.MEDIA_TYPE, p.H_PROTOCOL: p.PROTOCOL})
    assert unsigned.status_code == 401 and "Unsigned" in unsigned.json()["detail"]
    forged = post(signed_push(box.home, box_id, Ed25519PrivateKey.generate(), body, "x1"))
    assert forged.status_code == 401 and "signature" in forged.json()["detail"]
    tampered = signed_push(box.home, box_id, key, body, "x2")
    other = p.encode(p.PushBatch("2026-11-22T09:00:00.000Z", []))
    assert post(tampered, other).status_code == 401
    stranger = post(signed_push(box.home, "not-a-box", Ed25519PrivateKey.generate(), body))
    assert stranger.status_code == 401 and "not enrolled" in stranger.json()["detail"]
    old = signed_push(box.home, box_id, key, body, "x3")
    old[p.H_PROTOCOL] = "0"
    refused = post(old)
    assert refused.status_code == 426 and "protocol" in refused.json()["detail"]


def test_enrollment_tokens_are_one_time_and_per_office(tmp_path: Path, registry: Registry) -> None:
    token = registry.token("office-1")
    first, second = tmp_path / "b1", tmp_path / "b2"
    for home in (first, second):
        edge_cli(home, "init", "--demo")
    assert edge_cli(first, "enroll", registry.url, token).returncode == 0
    again = edge_cli(second, "enroll", registry.url, token, check=False)
    assert again.returncode == 1 and "unknown, used or expired" in again.stderr
    elsewhere = edge_cli(second, "enroll", registry.url, registry.token("office-9"), check=False)
    assert elsewhere.returncode == 1 and "office-9" in elsewhere.stderr
    never = tmp_path / "b3"
    edge_cli(never, "init", "--demo")
    unenrolled = edge_cli(never, "sync", check=False)
    assert unenrolled.returncode == 1 and "Enroll the box first" in unenrolled.stderr


def wait_for(predicate: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def start_worker(box: Box) -> subprocess.Popen[bytes]:
    return helpers.start_worker(box.home)


def all_accepted(box: Box, count: int) -> Callable[[], bool]:
    def check() -> bool:
        states = receipts(box)
        return len(states) == count and {s for s, _ in states.values()} == {"accepted"}

    return check


def test_worker_pushes_soon_after_each_action(box: Box, registry: Registry) -> None:
    worker = start_worker(box)
    try:
        declare(box.client("clerk"), "Sara")
        assert wait_for(all_accepted(box, 2), 15), receipts(box)
        declare(box.client("clerk"), "Omar")
        assert wait_for(all_accepted(box, 4), 15), receipts(box)
    finally:
        worker.send_signal(signal.SIGINT)  # huey's graceful stop
        worker.wait(timeout=20)
    assert len(registry.journal()) == 4


def test_deleting_hueys_database_loses_nothing(box: Box, registry: Registry) -> None:
    declare(box.client("clerk"), "Sara")  # no worker yet: stays pending
    for leftover in box.home.glob("huey.db*"):
        leftover.unlink()
    worker = start_worker(box)
    try:
        assert wait_for(all_accepted(box, 2), 15), receipts(box)
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=20)
    assert [a["type"] for a in registry.journal()] == ["CREATE", "DECLARE"]


HOLD_THE_SYNC_LOCK = """
import sys, time
from pathlib import Path
from upstream_sync.synclock import SyncLock
assert SyncLock(Path(sys.argv[1])).held(0).__enter__()
print("held", flush=True)
time.sleep(600)
"""


def test_a_sync_lock_held_by_a_killed_process_does_not_stop_sending(
    box: Box, registry: Registry
) -> None:
    declare(box.client("clerk"), "Sara")
    # A worker (or `edge sync`) killed in the middle of a push, or a power cut.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_SYNC_LOCK, str(box.home)], stdout=subprocess.PIPE, cwd=ROOT
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    holder.kill()
    holder.wait()
    worker = start_worker(box)
    try:
        assert wait_for(all_accepted(box, 2), 15), receipts(box)
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=20)


def national_registrar(registry: Registry, password: str) -> httpx.Response:
    """Create `registrar` of office-1 in the national register, with this password."""
    return registry.add_user("registrar", "local-registrar", password)


def test_login_is_checked_with_the_registry_when_it_is_reachable(
    box: Box, registry: Registry
) -> None:
    national = "national password 1"
    r = national_registrar(registry, national)
    assert r.status_code == 201

    def login(password: str) -> httpx.Response:
        return httpx.post(
            box.url + "/api/v1/auth/login", json={"username": "registrar", "password": password}
        )

    # Online, the registry decides: the box's old verifier no longer opens the door.
    assert login("demo-password").status_code == 401
    online = login(national)
    assert online.status_code == 200 and online.json()["checked_with_registry"] is True
    stop_process(registry.process)
    # Offline, the password the registry confirmed works from the box's own verifier.
    offline = login(national)
    assert offline.status_code == 200 and offline.json()["checked_with_registry"] is False
    assert login("demo-password").status_code == 401


def test_a_user_the_registry_does_not_know_yet_logs_in_from_the_box(
    box: Box, registry: Registry
) -> None:
    # Created on the box (by `edge init --demo`), never synced: online login still works.
    r = httpx.post(
        box.url + "/api/v1/auth/login", json={"username": "clerk", "password": "demo-password"}
    )
    assert r.status_code == 200 and r.json()["checked_with_registry"] is False


ONE_AT_A_TIME = {
    "EDGE_REGISTRY_CAPABILITIES": ",".join(c for c in p.CAPABILITIES if c != p.PUSH_PIPELINED)
}


@pytest.mark.parametrize(
    "registry",
    [pytest.param(None, id="pipelined"), pytest.param(ONE_AT_A_TIME, id="one-at-a-time")],
    indirect=True,
)
def test_a_refusal_holds_back_the_next_batch_already_prepared(
    box: Box, registry: Registry, request: pytest.FixtureRequest
) -> None:
    """One action per batch. Without pipelining the ASSIGN is prepared (marked sending) while
    the DECLARE is in flight, and must not leave once the DECLARE is refused. Pipelined, it
    leaves before the DECLARE's answer (the box has the CREATE's), and the registry holds it
    back itself: it saw the refusal the box had not."""
    pipelined = request.node.callspec.id == "pipelined"
    clerk = box.client("clerk")
    bad = declare(clerk, "Sara")
    clerk.post(f"/api/v1/records/{bad}/actions", json={"type": "ASSIGN"})  # seq 3, same record
    good = declare(clerk, "Omar")
    corrupt_declare(box, bad)
    one_each = {**os.environ, "EDGE_SYNC_BATCH_BYTES": "1024"}
    assert "1 rejected" in edge_cli(box.home, "sync", env=one_each).stdout
    conn = journal_conn(box.home)
    rows = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT a.seq, s.state, s.attempts FROM actions a "
            "LEFT JOIN sync_state s ON s.action_id = a.id"
        )
    }
    depth = conn.execute("SELECT value FROM box WHERE key = 'sync_batches_in_flight'").fetchone()
    conn.close()
    assert depth == ("3" if pipelined else "1",)  # one more after each answer, at most 3
    assert rows[2][0] == "rejected"
    # Pipelined: sent once and held back by the registry; else prepared, never sent.
    assert rows[3] == ("pending", 1 if pipelined else 0)
    assert rows[1][0] == rows[4][0] == rows[5][0] == "accepted"
    national = registry.journal()
    assert [a["type"] for a in national if a["record_id"] == bad] == ["CREATE"]
    assert [a["type"] for a in national if a["record_id"] == good] == ["CREATE", "DECLARE"]
    items = clerk.get("/api/v1/outbox").json()["items"]
    assert [(i["state"], i["label"]) for i in items] == [
        ("rejected", "Declare"),
        ("pending", "Assign"),
    ]
    assert "refused action before it" in items[1]["reason"]


def test_an_accepted_registration_gets_its_number_from_the_registry(
    box: Box, registry: Registry
) -> None:
    """The registry numbers each registration it accepts, per event and year, in the order
    accepted; the box keeps the number with the receipt (the same when sent again) and
    shows it on the record and the certified copy."""
    clerk, registrar = box.client("clerk"), box.client("registrar")
    ids = [declare(clerk, name) for name in ("Sara", "Omar")]
    for rid in ids:
        for type_ in ("ASSIGN", "REGISTER"):
            r = registrar.post(f"/api/v1/records/{rid}/actions", json={"type": type_})
            assert r.status_code == 201, r.text
    page = registrar.get(f"/records/{ids[0]}").text
    assert "Registration number" not in page  # not before the registry accepted it
    assert edge_cli(box.home, "sync").returncode == 0

    conn = journal_conn(box.home)
    numbers = dict(
        conn.execute(
            "SELECT a.record_id, s.registration_number FROM actions a JOIN sync_state s "
            "ON s.action_id = a.id WHERE s.registration_number IS NOT NULL"
        )
    )
    year = numbers[ids[0]][4:8]
    assert numbers == {ids[0]: f"BIR-{year}-000001", ids[1]: f"BIR-{year}-000002"}
    # Sent again (the answer lost): the registry answers the same number.
    conn.execute("UPDATE sync_state SET state = 'sending', registration_number = NULL")
    conn.execute("UPDATE box SET value = '0' WHERE key = 'sync_low_water'")
    conn.commit()
    edge_cli(box.home, "sync")
    again = dict(
        conn.execute(
            "SELECT a.record_id, s.registration_number FROM actions a JOIN sync_state s "
            "ON s.action_id = a.id WHERE s.registration_number IS NOT NULL"
        )
    )
    conn.close()
    assert again == numbers
    assert f"BIR-{year}-000001" in registrar.get(f"/records/{ids[0]}").text
