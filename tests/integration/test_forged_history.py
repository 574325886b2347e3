"""An enrolled box that forges its history, against a real registry: batches signed with the
box's own key whose actions do not continue its hash chain, reuse a seq (a fork), or are
stamped with another office or a user the box does not have. None reaches the national
journal; the box's genuine work goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec

from edge.identity import load_device_key
from edge.ids import uuid7
from edge.journal.chain import GENESIS, row_hash
from edge.journal.db import sqlite3
from tests.helpers import Registry, edge_cli, journal_conn, running_box
from tests.integration.test_sync import declare, signed_push
from tests.integration.test_sync_pull import new_box, new_box_with_a_birth
from upstream_sync import protocol as p

NONCES = iter(range(10**6))


def journal_row(home: Path, seq: int) -> dict[str, Any]:
    conn = journal_conn(home)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM actions WHERE seq = ?", (seq,)).fetchone())
    conn.close()
    return row


def forged(like: dict[str, Any], seq: int, prev_hash: str, **changes: str) -> p.WireAction:
    """A new record's CREATE at `seq` after `prev_hash`, its hash right for its content."""
    columns = {
        **{f: like[f] for f in p.WireAction.__struct_fields__},
        "seq": seq,
        "id": uuid7(),
        "record_id": uuid7(),
        "type": "CREATE",
        "payload": "{}",
        "flags_added": "[]",
        "flags_removed": "[]",
        "prev_hash": prev_hash,
        **changes,
    }
    columns["hash"] = row_hash(columns)
    return p.WireAction(**columns)


def push(
    home: Path,
    registry: Registry,
    actions: list[p.WireAction],
    users: list[p.UserInfo] | None = None,
    derived: bool = False,
) -> list[p.ActionResult]:
    """A batch signed with the box's own key, as a box that forges its history would send
    (`derived`: the hashes left out, for the registry to derive)."""
    conn = journal_conn(home)
    box_id = conn.execute("SELECT value FROM box WHERE key = 'registry_box_id'").fetchone()[0]
    conn.close()
    declared: dict[str, Any] = {"users": users} if users else {}
    if derived:
        actions = [msgspec.structs.replace(a, prev_hash="", hash="") for a in actions]
        declared["derived_hashes"] = True
    body = p.encode(p.PushBatch("2026-11-22T08:00:00.000Z", actions, **declared))
    key = load_device_key(home / "device.key")
    headers = signed_push(home, box_id, key, body, f"forged-{next(NONCES)}")
    r = httpx.post(registry.url + "/v1/push", content=body, headers=headers)
    assert r.status_code == 200, r.text
    result: p.PushResult = p.decode(r.content, p.PushResult)
    return result.results


def test_the_registry_refuses_history_a_box_forges(tmp_path: Path, registry: Registry) -> None:
    home = new_box(tmp_path, registry, "box")
    with running_box(home) as box:
        declare(box.client("clerk"), "Sara")
        assert "2 actions accepted" in edge_cli(home, "sync").stdout
        first, second = journal_row(home, 1), journal_row(home, 2)
        assert first["prev_hash"] == GENESIS

        # A CREATE whose prev_hash does not continue the chain, and one reusing seq 2.
        (gap,) = push(home, registry, [forged(second, 3, "f" * 64)])
        assert gap.status == "rejected" and "does not continue this box's chain" in str(gap.reason)
        (fork,) = push(home, registry, [forged(second, 2, first["hash"])])
        assert fork.status == "rejected" and "a fork of the box's chain" in str(fork.reason)
        # Neither took a place in the chain: the box's own work goes on.
        declare(box.client("clerk"), "Omar")
        assert "2 actions accepted" in edge_cli(home, "sync").stdout
        fourth = journal_row(home, 4)

        # Continuing the chain, but made at another office, or by a user the box does not
        # have, or by one it says is of another office.
        elsewhere = forged(fourth, 5, fourth["hash"], created_at_location="office-9")
        (office,) = push(home, registry, [elsewhere])
        assert office.status == "rejected" and "made at office office-9" in str(office.reason)
        stranger = forged(fourth, 6, elsewhere.hash, created_by="nobody")
        (unknown,) = push(home, registry, [stranger])
        assert unknown.status == "rejected" and "not of office office-1" in str(unknown.reason)
        visitor = p.UserInfo("intruder", "intruder", "I", "local-registrar", "office-9", True)
        claimed = forged(fourth, 7, stranger.hash, created_by="intruder")
        (other,) = push(home, registry, [claimed], [visitor])
        assert other.status == "rejected" and "not of office office-1" in str(other.reason)

    national = registry.journal()
    assert [(a["box_seq"], a["type"]) for a in national] == [
        (1, "CREATE"),
        (2, "DECLARE"),
        (3, "CREATE"),
        (4, "DECLARE"),
    ]


def test_hashes_a_box_leaves_out_are_derived_from_its_chain(
    tmp_path: Path, registry: Registry
) -> None:
    home = new_box_with_a_birth(tmp_path, registry)
    # The box's own drain leaves the hashes out (its registry speaks push-derived-hashes.v1).
    assert "2 actions accepted" in edge_cli(home, "sync").stdout
    first, second = journal_row(home, 1), journal_row(home, 2)
    held = {row["id"]: row["hash"] for row in registry.journal()}
    assert held == {first["id"]: first["hash"], second["id"]: second["hash"]}

    # Left out, the hashes cannot be forged, and the chain's checks still hold: the same
    # action again is a duplicate; another action at a held seq is a fork; a gap is refused.
    again = p.WireAction(**{f: second[f] for f in p.WireAction.__struct_fields__})
    (same,) = push(home, registry, [again], derived=True)
    assert same.status == "duplicate"
    (fork,) = push(home, registry, [forged(second, 2, "")], derived=True)
    assert fork.status == "rejected" and "a fork of the box's chain" in str(fork.reason)
    (gap,) = push(home, registry, [forged(second, 4, "")], derived=True)
    assert gap.status == "rejected" and "has a gap before seq 4" in str(gap.reason)
    # The next entry, its hashes left out, continues the chain with the box's own hash.
    third = forged(second, 3, second["hash"])
    (ok,) = push(home, registry, [third], derived=True)
    assert ok.status == "accepted"
    assert {row["id"]: row["hash"] for row in registry.journal()}[third.id] == third.hash
