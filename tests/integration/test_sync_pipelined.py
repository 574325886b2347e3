"""Batches a box sends before the answer to the one before (`push-pipelined.v1`), against a
real registry: each is checked only after the one it continues, one whose predecessor never
comes is refused for the box to send both again, and a refusal in a batch the box had no
answer to yet still holds back the later actions of its record."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import Registry, edge_cli, journal_conn, start_registry, stop_process
from tests.integration.test_sync_capabilities import signed
from tests.integration.test_sync_pull import new_box_with_a_birth
from upstream_sync import chainlinks
from upstream_sync import protocol as p

EVERYTHING = ",".join(p.CAPABILITIES)


def actions_of(home: Path) -> list[p.WireAction]:
    conn = journal_conn(home)
    fields = ", ".join(p.WireAction.__struct_fields__)
    rows = [p.WireAction(*r) for r in conn.execute(f"SELECT {fields} FROM actions ORDER BY seq")]
    conn.close()
    return rows


def push(
    home: Path, registry: Registry, actions: list[p.WireAction], nonce: str, after: int, seen: int
) -> httpx.Response:
    conn = journal_conn(home)
    users = chainlinks.users_of(conn, actions)
    conn.close()
    body = p.encode(
        p.PushBatch("2026-11-22T08:00:00.000Z", actions, users=users, after=after, seen=seen)
    )
    headers = signed(home, "/v1/push", body, nonce, EVERYTHING)
    return httpx.post(registry.url + "/v1/push", content=body, headers=headers, timeout=30)


def statuses(r: httpx.Response, actions: list[p.WireAction]) -> list[str]:
    assert r.status_code == 200, r.text
    result: p.PushResult = p.decode(r.content, p.PushResult)
    return [x.status for x in result.every_result([a.id for a in actions])]


@pytest.fixture
def quick_registry(tmp_path: Path) -> Registry:
    """A registry whose pipelined batches wait one second for their turn."""
    home = tmp_path / "registry"
    home.mkdir()
    return start_registry(home, env={"EDGE_REGISTRY_PUSH_TURN_WAIT_SECONDS": "1"})


def test_a_batch_sent_ahead_waits_for_the_one_it_continues(
    tmp_path: Path, quick_registry: Registry
) -> None:
    registry = quick_registry
    try:
        home = new_box_with_a_birth(tmp_path, registry)
        create, declared = actions_of(home)
        # The DECLARE leaves first, before the CREATE's batch (sent before its answer, as two
        # batches on two connections may arrive): it waits for the CREATE, then is accepted.
        answers: dict[str, httpx.Response] = {}
        ahead = threading.Thread(
            target=lambda: answers.update(d=push(home, registry, [declared], "d1", 1, 0))
        )
        ahead.start()
        time.sleep(0.3)
        assert statuses(push(home, registry, [create], "c1", 0, 0), [create]) == ["accepted"]
        ahead.join()
        assert statuses(answers["d"], [declared]) == ["accepted"]
    finally:
        stop_process(registry.process)


def test_a_batch_whose_predecessor_never_comes_is_refused_and_changes_nothing(
    tmp_path: Path, quick_registry: Registry
) -> None:
    registry = quick_registry
    try:
        home = new_box_with_a_birth(tmp_path, registry)
        _, declared = actions_of(home)
        started = time.monotonic()
        r = push(home, registry, [declared], "d1", 1, 0)
        assert r.status_code == 409, r.text
        assert "has not arrived" in r.json()["detail"]
        assert time.monotonic() - started >= 1.0  # it waited its turn first
        # Nothing was taken: the box's next drain sends both, both accepted, none refused.
        assert "2 actions accepted" in edge_cli(home, "sync").stdout
        # The same batch not sent ahead (the box had every answer) is checked at once.
        r = push(home, registry, [declared], "d2", 1, 1)
        assert statuses(r, [declared]) == ["duplicate"]
    finally:
        stop_process(registry.process)
