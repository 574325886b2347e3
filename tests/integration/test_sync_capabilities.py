"""Capabilities negotiated between a box and a real registry that has some turned off: the
registry answers what both sides speak, refuses what it does not offer, and the box does not
ask for it; turned back on, the box learns so at its next pull."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge.identity import load_device_key
from tests.helpers import (
    Registry,
    edge_cli,
    journal_conn,
    running_box,
    start_registry,
    stop_process,
)
from tests.integration.test_sync import declare, national_registrar
from tests.integration.test_sync_pull import (
    admin,
    box_id,
    new_box,
    new_box_with_a_birth,
    point_at,
)
from upstream_sync import chainlinks
from upstream_sync import protocol as p

CORE_ONLY = {"EDGE_REGISTRY_CAPABILITIES": "push.v1,pull.v1"}
REFUSED_LINE = "is turned off on this registry"


def signed(home: Path, path: str, body: bytes, nonce: str, capabilities: str) -> dict[str, str]:
    """The headers of a request signed by the box at `home`, naming these capabilities."""
    stamp = "2026-11-22T08:00:00.000Z"
    ident = box_id(home)
    message = p.signing_string("POST", path, ident, stamp, nonce, body)
    return {
        "content-type": p.MEDIA_TYPE,
        p.H_PROTOCOL: p.PROTOCOL,
        p.H_CAPABILITIES: capabilities,
        p.H_BOX: ident,
        p.H_TIME: stamp,
        p.H_NONCE: nonce,
        p.H_SIGNATURE: p.sign(load_device_key(home / "device.key"), message),
    }


def stored_capabilities(home: Path) -> str | None:
    conn = journal_conn(home)
    row = conn.execute("SELECT value FROM box WHERE key = 'registry_capabilities'").fetchone()
    conn.close()
    return None if row is None else str(row[0])


def refusals(registry: Registry) -> int:
    return (registry.home / "registry.log").read_text().count(REFUSED_LINE)


def test_a_box_does_not_ask_a_registry_for_what_it_does_not_offer(tmp_path: Path) -> None:
    home = tmp_path / "registry"
    home.mkdir()
    registry = start_registry(home, env=CORE_ONLY)
    try:
        assert httpx.get(registry.url + "/v1/hello").json()["capabilities"] == [p.PUSH, p.PULL]
        box_home = new_box(tmp_path, registry, "box")
        assert stored_capabilities(box_home) == "push.v1,pull.v1"  # learnt at enrollment

        # The registry answers what both speak, and refuses what it has turned off.
        body = p.encode(p.PullRequest(0))
        everything = ",".join(p.CAPABILITIES)
        pulled = httpx.post(
            registry.url + "/v1/pull",
            content=body,
            headers=signed(box_home, "/v1/pull", body, "n1", everything),
        )
        assert pulled.status_code == 200 and pulled.headers[p.H_CAPABILITIES] == "push.v1,pull.v1"
        ask = p.encode(p.SearchRequest("Sara"))
        refused = httpx.post(
            registry.url + "/v1/search",
            content=ask,
            headers=signed(box_home, "/v1/search", ask, "n2", everything),
        )
        assert refused.status_code == 404 and "search.v1" in refused.json()["detail"]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refusals(registry) == 1

        national = "national password 1"
        created = national_registrar(registry, national)
        assert created.status_code == 201
        with running_box(box_home) as box:
            clerk = box.client("clerk")
            record = declare(clerk, "Sara")
            assert "2 actions accepted" in edge_cli(box_home, "sync").stdout  # push and pull work
            # No login check: the box decides from its own verifier, as when offline.
            login = {"username": "registrar", "password": national}
            assert httpx.post(box.url + "/api/v1/auth/login", json=login).status_code == 401
            own = box.client("registrar")  # the demo password the box itself keeps
            assert own.get("/api/v1/auth/me").status_code == 200
            # No search: the page says the registry cannot be searched, and never asked it.
            page = clerk.get("/search", params={"q": "Sara"})
            assert page.status_code == 200 and "cannot be searched" in page.text
            # No leases to ask for: bringing a record here says why, without asking.
            admin(
                registry,
                "POST",
                f"/admin/v1/records/{record}/lease",
                json={"box_id": None, "by": "Nadia"},
            )
            edge_cli(box_home, "sync")
            token = own.headers["X-CSRF-Token"]
            brought = own.post("/records/bring", data={"record_id": record, "csrf_token": token})
            assert brought.status_code == 409 and "bring records here" in brought.text
            assert refusals(registry) == 1  # none of the three reached the registry
    finally:
        stop_process(registry.process)

    # Turned back on: the next pull tells the box, and it asks again.
    again = start_registry(home, registry.admin_token)
    try:
        point_at(box_home, again.url)
        edge_cli(box_home, "sync")
        assert stored_capabilities(box_home) == everything
        with running_box(box_home) as box:
            online = box.client()
            answer = online.post("/api/v1/auth/login", json=login)
            assert answer.status_code == 200 and answer.json()["checked_with_registry"] is True
            token = answer.json()["csrf_token"]
            page = online.get("/search", params={"q": "Sara"})  # a user the registry knows
            assert page.status_code == 200 and "cannot be searched" not in page.text
            assert "No records in the registry match" not in page.text  # it found Sara
            brought = online.post("/records/bring", data={"record_id": record, "csrf_token": token})
            assert brought.status_code in (302, 303), brought.text
            assert admin(again, "GET", f"/admin/v1/records/{record}").json()["leased_to"]
        # Both sides: what the box named, among what the registry offers.
        body = p.encode(p.PullRequest(0))
        pulled = httpx.post(
            again.url + "/v1/pull",
            content=body,
            headers=signed(box_home, "/v1/pull", body, "n3", "pull.v1,lease.v1,other.v9"),
        )
        assert pulled.headers[p.H_CAPABILITIES] == "pull.v1,lease.v1"
    finally:
        stop_process(again.process)


def _push(
    home: Path, registry: Registry, actions: list[p.WireAction], nonce: str, caps: str
) -> p.PushResult:
    conn = journal_conn(home)
    users = chainlinks.users_of(conn, actions)  # the box's clerk, declared with the batch
    conn.close()
    body = p.encode(p.PushBatch("2026-11-22T08:00:00.000Z", actions, users=users))
    r = httpx.post(
        registry.url + "/v1/push",
        content=body,
        headers=signed(home, "/v1/push", body, nonce, caps),
    )
    assert r.status_code == 200, r.text
    result: p.PushResult = p.decode(r.content, p.PushResult)
    return result


def test_a_compact_push_answer_only_to_a_box_that_names_it(
    tmp_path: Path, registry: Registry
) -> None:
    home = new_box_with_a_birth(tmp_path, registry)
    conn = journal_conn(home)
    fields = ", ".join(p.WireAction.__struct_fields__)
    create, declared = (
        p.WireAction(*row) for row in conn.execute(f"SELECT {fields} FROM actions ORDER BY seq")
    )
    conn.close()

    # A box that does not name push-compact.v1 gets an answer for every action.
    full = _push(home, registry, [create], "c1", "push.v1,pull.v1")
    assert full.accepted_at is None
    assert [(r.id, r.status) for r in full.results] == [(create.id, "accepted")]

    # One that names it: the accepted actions are left out, and said by accepted_at.
    compact = _push(home, registry, [declared], "c2", ",".join(p.CAPABILITIES))
    assert compact.results == [] and compact.accepted_at == compact.registry_time
    (expanded,) = compact.every_result([declared.id])
    assert (expanded.id, expanded.status, expanded.registry_time) == (
        declared.id,
        "accepted",
        compact.registry_time,
    )
    # Anything else is still listed: sent again, both are duplicates, with their first time.
    again = _push(home, registry, [create, declared], "c3", ",".join(p.CAPABILITIES))
    assert [(r.id, r.status) for r in again.results] == [
        (create.id, "duplicate"),
        (declared.id, "duplicate"),
    ]
    assert again.results[1].registry_time == compact.registry_time
    assert [r.status for r in again.every_result([create.id, declared.id])] == ["duplicate"] * 2
    # The box's own drain reads the compact answer right: a receipt for each action, the
    # two it sent by hand as duplicates (their first time), the two new ones as accepted.
    with running_box(home) as box:
        declare(box.client("clerk"), "Omar")
    assert "4 actions accepted" in edge_cli(home, "sync").stdout
    conn = journal_conn(home)
    receipts = conn.execute(
        "SELECT s.state, s.registry_time FROM actions a JOIN sync_state s ON s.action_id = a.id "
        "ORDER BY a.seq"
    ).fetchall()
    conn.close()
    assert [state for state, _ in receipts] == ["accepted"] * 4
    assert receipts[1][1] == compact.registry_time and receipts[2][1] == receipts[3][1]
    assert receipts[2][1] not in (None, compact.registry_time)
