"""`edge backup`, `edge restore` and `edge doctor` on real boxes and a real registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge.commands.init import DEMO_PASSWORD
from edge.journal.schema import LATEST
from edge.keys import runtime
from edge.settings import load_settings
from tests.helpers import edge_cli, journal_conn, running_box, start_registry, stop_process
from tests.integration.test_sync import declare, receipts


def test_restore_from_yesterday_neither_resends_nor_loses(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    registry = start_registry(tmp_path / "registry")
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "enroll", registry.url, registry.token())
    backup = tmp_path / "backups"
    backup.mkdir()
    try:
        with running_box(home) as box:
            clerk = box.client("clerk")
            sent = declare(clerk, "Sara")
            edge_cli(home, "sync")
            waiting = declare(clerk, "Omar")  # pending when the backup is taken
            out = edge_cli(home, "backup", str(backup)).stdout  # while the box serves
            assert "Backed up 4 actions" in out
            later = declare(clerk, "Lina")  # after the backup
            edge_cli(home, "sync")  # the registry now has all six
            refused = edge_cli(home, "restore", str(next(backup.glob("*.db"))), check=False)
            assert refused.returncode != 0 and "stop it first" in refused.stderr
        before = registry.journal()
        assert len(before) == 6
        done = edge_cli(home, "restore", str(next(backup.glob("*.db"))))
        assert "Restored 4 actions" in done.stdout
        assert edge_cli(home, "verify").returncode == 0
        with running_box(home) as box:
            edge_cli(home, "sync")
            after = registry.journal()
            assert [a["id"] for a in after] == [a["id"] for a in before]  # nothing twice
            states = receipts(home)
            assert set(s for s, _ in states.values()) == {"accepted"}  # the two pending: known
            registrar = box.client("registrar")
            for record, name in ((sent, "Sara"), (waiting, "Omar"), (later, "Lina")):
                detail = registrar.get(f"/api/v1/records/{record}").json()
                assert name in detail["record"]["title"]
                assert [a["type"] for a in detail["timeline"]] == ["CREATE", "DECLARE"]
            # New work: the box's chain goes on from the backup (the registry was told it was
            # restored), though the registry holds the chain's old branch to seq 6.
            declare(box.client("clerk"), "Adam")
            assert "2 actions accepted" in edge_cli(home, "sync").stdout
            assert [a["box_seq"] for a in registry.journal()[6:]] == [5, 6]
        assert edge_cli(home, "verify").returncode == 0
    finally:
        stop_process(registry.process)


def test_restore_refuses_another_box_and_a_damaged_backup(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    for home in (mine, other):
        edge_cli(home, "init", "--demo")
        with running_box(home) as box:
            declare(box.client("clerk"), "Sara")
    copy = tmp_path / "other.db"
    edge_cli(other, "backup", str(copy))
    refused = edge_cli(mine, "restore", str(copy), check=False)
    assert refused.returncode != 0 and "not of this box" in refused.stderr
    # Another box's backup opens with a key slot of that box (a staff password).
    password = tmp_path / "password"
    password.write_text(DEMO_PASSWORD)
    unlock = ["--unlock-user", "clerk", "--unlock-password-file", str(password)]
    assert edge_cli(mine, *unlock, "restore", str(copy), "--force").returncode == 0
    damaged = tmp_path / "damaged.db"
    edge_cli(mine, "backup", str(damaged))
    conn = journal_conn(damaged, home=mine)
    conn.execute("DROP TRIGGER actions_no_update")
    conn.execute("UPDATE actions SET created_by = 'someone else' WHERE seq = 1")
    conn.commit()
    conn.close()
    refused = edge_cli(mine, "restore", str(damaged), check=False)
    assert refused.returncode != 0 and "does not verify" in refused.stderr
    assert edge_cli(mine, "verify").returncode == 0  # nothing was replaced


def test_doctor_explains_what_needs_attention(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    r = edge_cli(home, "doctor", "--json", check=False)
    assert r.returncode == 1
    findings = {f["check"]: f for f in json.loads(r.stdout)}
    assert set(findings) == {
        "clock",
        "disk",
        "journal",
        "schema",
        "worker",
        "registry",
        "mdns",
        "files",
        "encryption",
    }
    assert findings["encryption"]["ok"] and findings["encryption"]["details"]["state"] == "unlocked"
    assert findings["journal"]["ok"] and findings["disk"]["ok"] and findings["files"]["ok"]
    assert not findings["registry"]["ok"] and "edge enroll" in findings["registry"]["todo"]
    assert not findings["worker"]["ok"] and findings["worker"]["todo"]
    (home / "device.key").chmod(0o644)
    text = edge_cli(home, "doctor", check=False).stdout
    assert "device.key is readable by others" in text and "chmod 600" in text
    assert "need attention" in text
    runtime.forget(load_settings(home))  # a reboot: locked, and doctor says how to unlock
    locked = {
        f["check"]: f for f in json.loads(edge_cli(home, "doctor", "--json", check=False).stdout)
    }
    assert locked["encryption"]["details"]["state"] == "locked" and "journal" not in locked
    assert "logs in" in locked["encryption"]["todo"]


def test_export_writes_the_offices_records_for_its_admin_only(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        clerk = box.client("clerk")
        declare(clerk, "Sara")
        declare(clerk, "Omar")
    out = edge_cli(home, "export", str(tmp_path / "records.csv")).stdout
    assert "Exported 2 records" in out
    text = (tmp_path / "records.csv").read_text()
    assert text.splitlines()[0].startswith("tracking_id,event_type,status")
    assert "Sara" in text and "Omar" in text and "declared" in text
    assert (tmp_path / "records.csv").stat().st_mode & 0o777 == 0o600
    edge_cli(home, "export", str(tmp_path / "records.json"), "--format", "json")
    rows = json.loads((tmp_path / "records.json").read_text())
    assert sorted(r["child.first_name"] for r in rows) == ["Omar", "Sara"]
    # Never under the box's home, where nothing personal is kept in the clear.
    inside = edge_cli(home, "export", str(home / "records.csv"), check=False)
    assert inside.returncode != 0 and "inside the box's home" in inside.stderr
    assert not (home / "records.csv").exists()


def finding(home: Path, check: str) -> dict[str, str]:
    """What `edge doctor --json` says for one of its checks."""
    found = json.loads(edge_cli(home, "doctor", "--json", check=False).stdout)
    return next(f for f in found if f["check"] == check)


def test_doctor_finds_a_database_that_lacks_part_of_its_schema(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    conn = journal_conn(home)
    conn.execute("DROP INDEX records_by_assignee")
    conn.commit()
    conn.close()
    schema = finding(home, "schema")
    assert not schema["ok"] and "records_by_assignee" in schema["says"]


def test_doctor_names_kept_counts_that_drifted_and_recount_puts_them_right(
    tmp_path: Path,
) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    conn = journal_conn(home)
    conn.execute("INSERT INTO sync_counts VALUES ('rejected', 3)")  # behind the box's back
    conn.commit()
    conn.close()

    off = finding(home, "journal")
    assert not off["ok"] and "the journal is intact" in off["says"]
    assert "rejected: kept 3, counted 0" in off["says"] and "edge recount" in off["todo"]
    copy = tmp_path / "drifted.db"
    kept = edge_cli(home, "backup", str(copy)).stdout  # the journal is intact: kept, and said
    assert "Backed up" in kept and "the counts the box keeps beside the journal are off" in kept
    edge_cli(home, "recount")
    assert finding(home, "journal")["ok"]
    restored = edge_cli(home, "restore", str(copy)).stdout  # the copy's drift comes back...
    assert "kept counts were off (the counts of actions by sync state differ" in restored
    assert "they were counted again from the journal" in restored
    assert finding(home, "journal")["ok"]  # ...and is counted away
    # A copy that lacks a kept table: restored (the journal verifies), and said plainly.
    conn = journal_conn(copy, home=home)
    conn.execute("DROP TABLE outbox_by_user")
    conn.commit()
    conn.close()
    restored = edge_cli(home, "restore", str(copy)).stdout
    assert "PROBLEM: the restored journal's kept counts cannot be counted again" in restored
    assert "outbox_by_user" in restored and "edge doctor" in restored
    assert not finding(home, "journal")["ok"]
    # New software, the box not started since: the journal is upgraded first.
    conn = journal_conn(home)
    conn.execute(f"PRAGMA user_version = {LATEST - 1}")
    conn.commit()
    conn.close()
    refused = edge_cli(home, "recount", check=False)
    assert refused.returncode != 0 and "start the box once" in refused.stderr


def test_a_box_whose_host_keeps_the_time_does_not_mark_its_times(tmp_path: Path) -> None:
    """`clock = "host"` (the demo, a developer's PC): the kernel may say "not synchronised"
    (no NTP of its own), but the actions count as made with the clock set, and `edge doctor`
    says who keeps the time."""
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home, {"EDGE_CLOCK": "host"}) as box:
        declare(box.client("clerk"), "Sara")
        assert box.rows("SELECT DISTINCT clock FROM actions") == [("synced",)]
    doctor = edge_cli(home, "doctor", env={**os.environ, "EDGE_CLOCK": "host"}, check=False)
    assert "the clock is kept by the computer the box runs on" in doctor.stdout
