"""A reboot locks the box (issue 14): real `edge serve` and `edge worker` processes, the key in
memory forgotten as a power cut does. A staff member's login unlocks it while the registry is
down; a wrong password never does; until then the API, /readyz and the CLI say it is locked and
the worker waits, losing nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.commands.init import DEMO_PASSWORD
from edge.keys import runtime
from edge.settings import load_settings
from tests.helpers import (
    BIRTH,
    edge_cli,
    journal_conn,
    registry_cli,
    running_box,
    start_registry,
    start_worker,
    stop_process,
    stop_worker,
)


def wait_for(check: object, seconds: float = 40.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_rebooted_box_is_locked_until_staff_log_in_even_with_the_registry_down(
    tmp_path: Path,
) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    registry = start_registry(tmp_path / "registry")
    edge_cli(home, "enroll", registry.url, registry.token())
    with running_box(home) as box:
        clerk = box.client("clerk")
        rid = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
        r = clerk.post(
            f"/api/v1/records/{rid}/actions", json={"type": "DECLARE", "declaration": BIRTH}
        )
        assert r.status_code == 201
    stop_process(registry.process)  # the WAN is down after the power cut
    settings = load_settings(home)
    runtime.forget(settings)  # the power cut: the key in memory is gone

    # The CLI says so, and how to unlock.
    locked = edge_cli(home, "verify", check=False)
    assert locked.returncode != 0 and "locked" in locked.stderr and "--unlock-user" in locked.stderr

    worker = start_worker(home)
    try:
        with running_box(home) as box:
            assert box.client().get("/readyz").json()["status"] == "locked"
            api = box.client().get("/api/v1/records/" + rid)
            assert api.status_code == 503 and api.json()["code"] == "locked"
            assert api.headers["content-type"] == "application/problem+json"
            page = box.client().get("/login")
            assert page.status_code == 200 and 'id="locked"' in page.text
            assert box.client().get("/outbox").headers["location"] == "/login"
            # Wrong passwords, unknown users: refused, and the box stays locked.
            for username, password in (("clerk", "not the password"), ("nobody", DEMO_PASSWORD)):
                r = box.client().post(
                    "/api/v1/auth/login", json={"username": username, "password": password}
                )
                assert r.status_code == 401, r.text
            assert runtime.read_key(settings) is None
            assert box.client().get("/readyz").json()["status"] == "locked"
            assert "waits until someone logs in" in (home / "worker.log").read_text()
            # The clerk logs in: the box unlocks, the work is all there.
            clerk = box.client("clerk")
            record = clerk.get(f"/api/v1/records/{rid}")
            assert record.status_code == 200 and record.json()["record"]["status"] == "declared"
            assert box.client().get("/readyz").json()["status"] != "locked"
            assert runtime.read_key(settings) is not None
            # The worker sees it and starts (its heartbeat is written in the journal).
            assert wait_for(lambda: "the worker starts" in (home / "worker.log").read_text())

            def beat() -> bool:
                conn = journal_conn(home)
                try:
                    return bool(
                        conn.execute("SELECT 1 FROM box WHERE key = 'worker_heartbeat'").fetchone()
                    )
                finally:
                    conn.close()

            assert wait_for(beat)
    finally:
        stop_worker(worker)
    assert edge_cli(home, "verify").returncode == 0  # unlocked: the chain verifies


def test_the_cli_unlocks_with_a_staff_password_and_never_with_a_wrong_one(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    settings = load_settings(home)
    runtime.forget(settings)
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.write_text("not the password")
    right.write_text(DEMO_PASSWORD)
    refused = edge_cli(
        home, "--unlock-user", "clerk", "--unlock-password-file", str(wrong), "verify", check=False
    )
    assert refused.returncode != 0 and "does not unlock" in refused.stderr
    assert runtime.read_key(settings) is None
    done = edge_cli(home, "--unlock-user", "clerk", "--unlock-password-file", str(right), "verify")
    assert done.returncode == 0 and runtime.read_key(settings) is not None


def test_rekey_gives_a_new_key_that_every_slot_opens(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    settings = load_settings(home)
    with running_box(home) as box:
        box.client("clerk").post("/api/v1/records", json={"event_type": "birth"})
    old = runtime.read_key(settings)
    assert edge_cli(home, "rekey").returncode == 0
    new = runtime.read_key(settings)
    assert new is not None and new != old
    runtime.forget(settings)
    password = tmp_path / "password"
    password.write_text(DEMO_PASSWORD)
    unlock = ["--unlock-user", "registrar", "--unlock-password-file", str(password)]
    assert edge_cli(home, *unlock, "verify").returncode == 0
    assert runtime.read_key(settings) == new
    with running_box(home) as box:  # the device key opens with the new key too
        assert box.client("clerk").get("/api/v1/auth/me").status_code == 200


def test_the_setup_slot_goes_with_the_first_user_and_its_key_is_replaced(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--unattended")
    settings = load_settings(home)
    slots = (home / "keyslots.json").read_text()
    assert '"setup"' in slots
    setup_key = runtime.read_key(settings)
    password = tmp_path / "password"
    password.write_text("a long admin password")
    edge_cli(
        home,
        "users",
        "add",
        "admin",
        "--name",
        "Admin",
        "--role",
        "local-system-admin",
        "--password-file",
        str(password),
    )
    assert '"setup"' not in (home / "keyslots.json").read_text()
    assert "edge rekey" in edge_cli(home, "doctor", check=False).stdout
    with running_box(home):  # the first start replaces the key the setup slot showed
        pass
    assert runtime.read_key(settings) not in (None, setup_key)
    assert setup_key is not None and setup_key.hex() not in (home / "keyslots.json").read_text()
    assert edge_cli(home, "verify").returncode == 0


def test_the_recovery_key_rescues_a_box_and_restores_its_backup_on_a_new_box(
    tmp_path: Path,
) -> None:
    private = tmp_path / "recovery.key"
    registry_cli(tmp_path / "registry", "recovery-key", "new", "--out", str(private))
    public = Path(f"{private}.pub")
    assert "private" not in public.read_text() and private.stat().st_mode & 0o077 == 0
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo", "--recovery-public-key", str(public))
    assert '"recovery"' in (home / "keyslots.json").read_text()
    with running_box(home) as box:
        box.client("clerk").post("/api/v1/records", json={"event_type": "birth"})
    edge_cli(home, "backup", str(tmp_path / "backup.db"))
    settings = load_settings(home)
    runtime.forget(settings)
    # Everybody forgot their password: IT sets a new one for the admin with the recovery key.
    password = tmp_path / "password"
    password.write_text("a brand new admin password")
    rescue = ["--recovery-key", str(private), "users", "reset-password", "admin"]
    assert edge_cli(home, *rescue, "--password-file", str(password)).returncode == 0
    runtime.forget(settings)
    unlock = ["--unlock-user", "admin", "--unlock-password-file", str(password)]
    assert edge_cli(home, *unlock, "verify").returncode == 0
    # The box died: a new one (first boot of an image) gets its backup with the recovery key,
    # and its staff's passwords unlock it afterwards.
    spare = tmp_path / "spare"
    edge_cli(spare, "init", "--unattended")
    restore = ["--recovery-key", str(private), "restore", str(tmp_path / "backup.db"), "--force"]
    assert edge_cli(spare, *restore).returncode == 0
    assert '"setup"' not in (spare / "keyslots.json").read_text()
    runtime.forget(load_settings(spare))
    demo = tmp_path / "demo"
    demo.write_text(DEMO_PASSWORD)
    by_clerk = ["--unlock-user", "clerk", "--unlock-password-file", str(demo)]
    assert "1 actions" in edge_cli(spare, *by_clerk, "verify").stdout  # the CREATE
    wrong = tmp_path / "wrong.key"
    registry_cli(tmp_path / "registry", "recovery-key", "new", "--out", str(wrong))
    runtime.forget(load_settings(spare))
    refused = edge_cli(spare, "--recovery-key", str(wrong), "verify", check=False)
    assert refused.returncode != 0 and "does not open" in refused.stderr


def test_the_pages_open_once_another_process_unlocked_the_box(tmp_path: Path) -> None:
    """The worker (by the registry's slot) or `edge unlock` unlocks: the running web process
    follows within seconds, nobody having logged in."""
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    runtime.forget(load_settings(home))
    password = tmp_path / "password"
    password.write_text(DEMO_PASSWORD)
    with running_box(home) as box:
        assert box.client().get("/readyz").json()["status"] == "locked"
        unlock = ["--unlock-user", "clerk", "--unlock-password-file", str(password), "unlock"]
        assert edge_cli(home, *unlock).returncode == 0
        assert wait_for(lambda: box.client().get("/readyz").json()["status"] != "locked", 15)
        assert box.client("registrar").get("/api/v1/auth/me").status_code == 200


def test_a_box_gets_the_countrys_recovery_key_from_its_registry_at_enrollment(
    tmp_path: Path,
) -> None:
    """The registry's operator sets the recovery public key once (`recovery_public_key`);
    every box that enrolls is sealed to it, with nobody carrying the file to each box."""
    reg_home = tmp_path / "registry"
    private = tmp_path / "recovery.key"
    registry_cli(reg_home, "recovery-key", "new", "--out", str(private))
    admin = registry_cli(reg_home, "init").stdout.strip()
    not_a_key = tmp_path / "not-a-key.pub"
    not_a_key.write_text("hello\n")
    with pytest.raises(RuntimeError, match="does not hold a recovery key"):
        start_registry(reg_home, admin, env={"EDGE_REGISTRY_RECOVERY_PUBLIC_KEY": str(not_a_key)})
    registry = start_registry(
        reg_home, admin, env={"EDGE_REGISTRY_RECOVERY_PUBLIC_KEY": f"{private}.pub"}
    )
    try:
        home = tmp_path / "box"
        edge_cli(home, "init", "--demo")
        enrolled = edge_cli(home, "enroll", registry.url, registry.token()).stdout
        assert "recovery key" in enrolled
    finally:
        stop_process(registry.process)
    runtime.forget(load_settings(home))  # a power cut, and everybody forgot their password
    assert edge_cli(home, "verify", check=False).returncode != 0
    assert edge_cli(home, "--recovery-key", str(private), "verify").returncode == 0
