"""The `edge` command line as an IT officer uses it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from edge.journal.db import connect
from edge.journal.store import Journal
from edge.keys.runtime import key_for_home
from edge.settings import load_settings
from edge.users.register import actor_of, find_user
from edge.workflow.config import load_config
from edge.workflow.engine import ActionRequest
from edge.workflow.model import ActionType
from tests.helpers import BIRTH, edge_cli

PASSWORD = "correct horse battery"


def password_file(tmp_path: Path, text: str = PASSWORD) -> str:
    path = tmp_path / f"password-{len(list(tmp_path.glob('password-*')))}.txt"
    path.write_text(text + "\n")
    return str(path)


def init(home: Path, tmp_path: Path, *extra: str) -> None:
    edge_cli(home, "init", "--password-file", password_file(tmp_path), *extra)


def test_init_creates_a_working_box(tmp_path: Path) -> None:
    home = tmp_path / "box"
    out = edge_cli(
        home,
        "init",
        "--office-id",
        "ramallah",
        "--office-name",
        "Ramallah Clinic",
        "--password-file",
        password_file(tmp_path),
    )
    assert "Ramallah Clinic" in out.stdout
    assert stat.S_IMODE(os.stat(home / "device.key").st_mode) == 0o600
    s = load_settings(home)
    assert s.mode == "production" and s.office_id == "ramallah" and len(s.box_id) == 36
    users = edge_cli(home, "users", "list").stdout
    assert "admin" in users and "local-system-admin" in users
    assert edge_cli(home, "verify").stdout.startswith("OK")
    again = edge_cli(home, "init", "--password-file", password_file(tmp_path), check=False)
    assert again.returncode == 2 and "already holds a box" in again.stderr


def test_verify_names_what_is_off_and_the_first_broken_seq(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init", "--demo")
    cfg = load_config()
    conn = connect(tmp_path / "journal.db", key=key_for_home(tmp_path))
    user = find_user(conn, "clerk")
    conn.close()
    assert user is not None
    clerk = actor_of(user, cfg)
    j = Journal(tmp_path / "journal.db", cfg, key=key_for_home(tmp_path))
    rid = "00000000-0000-7000-8000-000000000009"
    j.append(ActionRequest(ActionType.CREATE, rid, event_type="birth"), clerk)
    j.append(ActionRequest(ActionType.DECLARE, rid, declaration=BIRTH), clerk)
    j.close()
    ok = edge_cli(tmp_path, "verify")
    assert ok.returncode == 0 and re.search(r"\(checked in \d+\.\d s\)", ok.stdout)
    # The outbox loses an action behind the box's back: named, and counted again.
    conn = connect(tmp_path / "journal.db", key=key_for_home(tmp_path))
    conn.execute("DELETE FROM outbox_open WHERE seq = 2")
    conn.close()
    off = edge_cli(tmp_path, "verify", check=False)
    assert off.returncode == 1 and "seq 2 is missing from the outbox" in off.stdout
    assert "`edge recount`" in off.stdout and "first broken seq" not in off.stdout
    fixed = edge_cli(tmp_path, "recount").stdout
    assert "what was off: seq 2 is missing from the outbox" in fixed
    assert edge_cli(tmp_path, "verify").stdout.startswith("OK")
    conn = connect(tmp_path / "journal.db", key=key_for_home(tmp_path))
    conn.execute("DROP TRIGGER actions_no_update")
    conn.execute("UPDATE actions SET created_by = 'someone-else' WHERE seq = 2")
    conn.close()
    result = edge_cli(tmp_path, "verify", check=False)
    assert result.returncode == 1
    assert "first broken seq: 2" in result.stdout and "checked in" in result.stdout


def test_users_add_names_the_bad_field(tmp_path: Path) -> None:
    home = tmp_path / "box"
    init(home, tmp_path)
    pw = password_file(tmp_path)
    bad = edge_cli(
        home,
        "users",
        "add",
        "x y",
        "--name",
        "X",
        "--role",
        "astronaut",
        "--password-file",
        pw,
        check=False,
    )
    assert bad.returncode == 1
    assert "username" in bad.stderr
    bad = edge_cli(
        home,
        "users",
        "add",
        "amina",
        "--name",
        "A",
        "--role",
        "astronaut",
        "--password-file",
        pw,
        check=False,
    )
    assert bad.returncode == 1 and "role" in bad.stderr
    short = edge_cli(
        home,
        "users",
        "add",
        "amina",
        "--name",
        "Amina",
        "--role",
        "clinic-clerk",
        "--password-file",
        password_file(tmp_path, "short"),
        check=False,
    )
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    ok = edge_cli(
        home,
        "users",
        "add",
        "amina",
        "--name",
        "Amina",
        "--role",
        "clinic-clerk",
        "--password-file",
        pw,
    )
    assert "Added amina" in ok.stdout
    assert "must change password" in edge_cli(home, "users", "list").stdout


def test_init_without_terminal_or_password_file_refuses(tmp_path: Path) -> None:
    result = edge_cli(tmp_path / "box", "init", check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "--password-file" in result.stderr
    assert not (tmp_path / "box" / "edge.toml").exists()


def test_invalid_setting_stops_startup_naming_it(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init", "--demo")
    result = edge_cli(tmp_path, "serve", check=False, env={**os.environ, "EDGE_PORT": "99999"})
    assert result.returncode == 2
    assert "setting `port`: must be between 0 and 65535" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_home_tells_what_to_do(tmp_path: Path) -> None:
    result = edge_cli(tmp_path / "missing", "verify", check=False)
    assert result.returncode == 2 and "edge init" in result.stderr


def test_malformed_scope_in_country_config_stops_startup(tmp_path: Path) -> None:
    from edge.workflow.config import default_config_path

    country = tmp_path / "country.toml"
    text = default_config_path().read_text()
    country.write_text(
        text.replace(
            '"record.print[jurisdiction=my-office]"', '"record.print[jurisdiction=my office]"', 1
        )
    )
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    result = edge_cli(
        home, "serve", check=False, env={**os.environ, "EDGE_COUNTRY_CONFIG": str(country)}
    )
    assert result.returncode == 2
    assert "country.toml: roles[registration-agent].scopes" in result.stderr
    assert "record.print[jurisdiction=my office]" in result.stderr
    assert "Traceback" not in result.stderr
