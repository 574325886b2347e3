"""Upgrading a box from before encryption at rest (issue 14): its plain journal is encrypted in
place at the first start, nothing is lost, the hash chain still verifies, and the key shown by
the setup slot is replaced once a member of staff has logged in."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from edge.identity import load_device_key
from edge.journal.db import sqlite3
from edge.keys import runtime
from edge.settings import load_settings
from tests.helpers import BIRTH, edge_cli, journal_conn, running_box

NAME = "Qudsiyyat"


def make_plain(home: Path) -> None:
    """The box as the release before this one left it: a plain journal, a plain device key,
    no key slots."""
    settings = load_settings(home)
    pem = load_device_key(home / "device.key").private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    plain = home / "plain.db"
    conn = journal_conn(home)
    conn.execute("ATTACH DATABASE ? AS plain KEY ''", (str(plain),))
    conn.execute("SELECT sqlcipher_export('plain')")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA plain.user_version = {version}")
    conn.execute("DETACH DATABASE plain")
    conn.close()
    for name in ("journal.db-wal", "journal.db-shm", "keyslots.json"):
        (home / name).unlink(missing_ok=True)
    plain.replace(home / "journal.db")
    (home / "device.key").write_bytes(pem)
    runtime.forget(settings)
    check = sqlite3.connect(str(home / "journal.db"))
    check.execute("PRAGMA journal_mode=WAL")
    assert check.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 4
    check.close()


def test_a_plain_journal_is_encrypted_in_place_and_nothing_is_lost(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        clerk = box.client("clerk")
        for _ in range(2):
            rid = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
            declaration = {**BIRTH, "child.last_name": NAME}
            r = clerk.post(
                f"/api/v1/records/{rid}/actions",
                json={"type": "DECLARE", "declaration": declaration},
            )
            assert r.status_code == 201
    make_plain(home)
    assert NAME.encode() in (home / "journal.db").read_bytes()
    assert edge_cli(home, "verify").returncode == 0  # the old box works as before

    with running_box(home) as box:  # the first start of the new release encrypts
        assert box.client().get("/readyz").json()["status"] != "locked"  # setup slot
        records = box.client("clerk").get("/api/v1/workqueues/my-drafts/records")
        assert records.status_code == 200
    raw = b"".join(p.read_bytes() for p in home.glob("journal.db*"))
    assert NAME.encode() not in raw and b"SQLite format 3" not in raw
    assert b"PRIVATE KEY" not in (home / "device.key").read_bytes()
    assert not list(home.glob("*.encrypting")) and not list(home.glob("*.migrating"))
    conn = journal_conn(home)
    assert conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 4
    conn.close()
    assert edge_cli(home, "verify").returncode == 0  # the chain still verifies
    # The clerk's login gave a user slot, so the setup slot went; the next start replaced the
    # key it had kept in the clear.
    slots = (home / "keyslots.json").read_text()
    assert '"setup"' not in slots and '"user"' in slots
    shown = runtime.read_key(load_settings(home))
    with running_box(home):
        pass
    assert runtime.read_key(load_settings(home)) != shown
    assert edge_cli(home, "verify").returncode == 0
