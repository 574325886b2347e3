"""Enrolling boxes with a real registry: a refused enrollment changes nothing there, a second
box of an office takes no records unless the operator says it replaces the first, and the
registry's key can be pinned, the token read from a file or standard input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.helpers import Registry, edge_cli, journal_conn, registry_cli, running_box
from tests.integration.test_sync import declare, receipts


def registry_box_id(home: Path) -> str:
    conn = journal_conn(home)
    row = conn.execute("SELECT value FROM box WHERE key = 'registry_box_id'").fetchone()
    conn.close()
    return str(row[0])


def national_record(registry: Registry, record_id: str) -> dict[str, Any]:
    r = httpx.get(
        f"{registry.url}/admin/v1/records/{record_id}",
        headers={"Authorization": f"Bearer {registry.admin_token}"},
    )
    r.raise_for_status()
    found: dict[str, Any] = r.json()
    return found


def office_box(tmp_path: Path, name: str, office: str = "office-1") -> Path:
    home = tmp_path / name
    edge_cli(home, "init", "--demo", "--office-id", office)
    return home


def test_a_token_for_another_office_is_refused_and_changes_nothing(
    tmp_path: Path, registry: Registry
) -> None:
    first = office_box(tmp_path, "first")
    edge_cli(first, "enroll", registry.url, registry.token("office-1"))
    with running_box(first) as box:
        clerk = box.client("clerk")
        record = declare(clerk, "Sara")
        edge_cli(first, "sync")
        clerk.post(f"/api/v1/records/{record}/actions", json={"type": "ASSIGN"})  # acknowledged
    holder = registry_box_id(first)

    stranger = office_box(tmp_path, "office-7-box", "office-7")
    token = registry.token("office-1")  # the wrong office's token
    refused = edge_cli(stranger, "enroll", registry.url, token, check=False)
    assert refused.returncode == 1
    # The registry changed nothing: the record stays with its box, whose work goes through.
    assert national_record(registry, record)["leased_to"] == holder
    assert "1 actions accepted" in edge_cli(first, "sync").stdout
    assert {state for state, _ in receipts(first).values()} == {"accepted"}
    # The stranger's key was not burnt: with its own office's token it enrolls.
    assert edge_cli(stranger, "enroll", registry.url, registry.token("office-7")).returncode == 0
    # And the office-1 token was not spent.
    other = office_box(tmp_path, "other")
    assert edge_cli(other, "enroll", registry.url, token).returncode == 0
    # The registry said why, in its own words.
    assert "for office office-1, but the box serves office office-7" in refused.stderr
    assert "not used" in refused.stderr


def test_a_second_box_of_an_office_takes_no_records_unless_it_replaces_the_first(
    tmp_path: Path, registry: Registry
) -> None:
    first = office_box(tmp_path, "first")
    edge_cli(first, "enroll", registry.url, registry.token())
    with running_box(first) as box:
        record = declare(box.client("clerk"), "Sara")
    edge_cli(first, "sync")
    holder = registry_box_id(first)

    second = office_box(tmp_path, "second")
    edge_cli(second, "enroll", registry.url, registry.token())
    assert "0 records given to this box" in edge_cli(second, "sync").stdout
    assert national_record(registry, record)["leased_to"] == holder
    with running_box(first) as box:
        r = box.client("registrar").post(
            f"/api/v1/records/{record}/actions", json={"type": "ASSIGN"}
        )
        assert r.status_code == 201
    assert "1 actions accepted" in edge_cli(first, "sync").stdout

    # The operator replaces the first box (its id: the office's boxes at the registry).
    listed = registry_cli(registry.home, "boxes", "--office-id", "office-1").stdout.splitlines()
    assert [line.split()[0] for line in listed] == [holder, registry_box_id(second)]
    replacing = registry_cli(
        registry.home, "token", "--office-id", "office-1", "--replaces", holder
    ).stdout.strip()
    third = office_box(tmp_path, "third")
    edge_cli(third, "enroll", registry.url, replacing)
    assert "1 record given to this box" in edge_cli(third, "sync").stdout
    assert national_record(registry, record)["leased_to"] == registry_box_id(third)
    # A box of another office cannot be named.
    refused = httpx.post(
        registry.url + "/admin/v1/enrollment-tokens",
        headers={"Authorization": f"Bearer {registry.admin_token}"},
        json={"office_id": "office-7", "replaces": holder},
    )
    assert refused.status_code == 404 and "office office-7" in refused.json()["detail"]


def test_the_registry_key_can_be_pinned_and_the_token_read_from_a_file_or_stdin(
    tmp_path: Path, registry: Registry
) -> None:
    pinned = registry_cli(registry.home, "fingerprint").stdout.strip()
    assert pinned.startswith("SHA256:") and len(pinned) == 50
    home = office_box(tmp_path, "box")
    token = registry.token()
    other = "SHA256:" + "A" * 43
    refused = edge_cli(
        home,
        "enroll",
        registry.url,
        "--token-file",
        "-",
        "--registry-key",
        other,
        input=token + "\n",
        check=False,
    )
    assert refused.returncode == 1
    assert f"has the key {pinned}, not {other}" in refused.stderr
    assert "Nothing was sent" in refused.stderr
    both = edge_cli(home, "enroll", registry.url, token, "--token-file", "-", check=False)
    assert both.returncode == 1 and "either as TOKEN or with --token-file" in both.stderr
    kept = tmp_path / "token"
    kept.write_text(token + "\n")
    done = edge_cli(
        home, "enroll", registry.url, "--token-file", str(kept), "--registry-key", pinned
    )
    assert "Enrolled with" in done.stdout and "taken on trust" not in done.stdout
    # Without a pin the key is taken on first use, and the box says which it took.
    trusting = office_box(tmp_path, "trusting", "office-7")
    said = edge_cli(
        trusting, "enroll", registry.url, "--token-file", "-", input=registry.token("office-7")
    )
    assert f"The registry's key, {pinned}, was taken on trust" in said.stdout
