"""The reference registry's parts on a real database file: its settings, its reads on
connections of their own, its search, and its errors in its own words."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.testing import TestClient

from edge.journal.chain import GENESIS, row_hash
from edge.journal.db import sqlite3
from edge.workflow.scopes import parse_scope
from tests.helpers import ROOT, config
from upstream_sync import protocol as p
from upstream_sync.protocol import ClockStep
from upstream_sync.registry import accept, enrollment, escrow, records, users
from upstream_sync.registry.app import create_registry_app
from upstream_sync.registry.cli import main
from upstream_sync.registry.db import SCHEMA_VERSION, RegistryDB
from upstream_sync.registry.errors import RegistrySettingsError, SchemaMismatch, TokenRefused
from upstream_sync.registry.settings import documented_settings, load_registry_settings

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_settings_come_from_the_file_then_the_environment_then_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = load_registry_settings(tmp_path)
    assert (defaults.host, defaults.port, defaults.offered) == (
        "127.0.0.1",
        8090,
        frozenset(p.CAPABILITIES),
    )
    (tmp_path / "registry.toml").write_text("port = 9000\nargon2_iterations = 3\n")
    monkeypatch.setenv("EDGE_REGISTRY_ARGON2_ITERATIONS", "4")
    monkeypatch.setenv("EDGE_REGISTRY_CAPABILITIES", "push.v1, pull.v1,lease.v1")
    s = load_registry_settings(tmp_path, {"port": 9100, "host": None})
    assert (s.port, s.argon2_iterations) == (9100, 4)
    assert s.offered == {p.PUSH, p.PULL, p.LEASE}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"EDGE_REGISTRY_PORT": "99999"}, "setting `port` (in "),
        ({"EDGE_REGISTRY_MAX_REQUEST_BYTES": "many"}, "expected a whole number, got 'many'"),
        ({"EDGE_REGISTRY_CAPABILITIES": "push.v1,pull.v1,search.v2"}, "unknown capability"),
        ({"EDGE_REGISTRY_CAPABILITIES": "pull.v1,search.v1"}, "must include push.v1"),
        ({"EDGE_REGISTRY_COUNTRY_CONFIG": "/nowhere/country.toml"}, "does not exist"),
        ({"EDGE_REGISTRY_LOG_LEVEL": "loud"}, "setting `log_level`"),
    ],
)
def test_an_invalid_setting_stops_startup_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RegistrySettingsError) as refused:
        load_registry_settings(tmp_path)
    assert says in refused.value.detail


def test_an_unknown_setting_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "registry.toml").write_text("prot = 80\n")
    with pytest.raises(RegistrySettingsError, match="unknown setting `prot`"):
        load_registry_settings(tmp_path)


def test_every_registry_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "sync-protocol.md").read_text()
    for name, default, _ in documented_settings():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{name}` ")), None)
        assert row is not None, f"docs/sync-protocol.md misses the registry setting `{name}`"
        shown = f"`{default}`" if default != "" else '`""`'
        assert f"`EDGE_REGISTRY_{name.upper()}`" in row and shown in row, row


def test_every_registry_endpoint_is_documented(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "sync-protocol.md").read_text()
    app = create_registry_app(tmp_path)
    routes = [
        (method, re.sub(r"\{\w+:\w+\}", "{id}", route.path))
        for route in app.routes
        for method in sorted(getattr(route, "methods", ()))
        if method not in ("HEAD", "OPTIONS") and not route.path.startswith("/schema")
    ]
    assert ("POST", "/v1/search") in routes and ("POST", "/admin/v1/records/{id}/lease") in routes
    for method, path in routes:
        assert f"`{method} {path}" in doc, f"docs/sync-protocol.md misses {method} {path}"


@pytest.fixture
def db(tmp_path: Path) -> RegistryDB:
    return RegistryDB(tmp_path / "registry.db")


def test_a_read_never_sees_a_write_that_may_still_roll_back(db: RegistryDB) -> None:
    inside, release = threading.Event(), threading.Event()

    def enroll_then_fail() -> None:
        def job(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO boxes VALUES ('box-1', 'key-1', 'office-1', 'b', '2026-11-22')")
            inside.set()
            release.wait(5)
            raise TokenRefused("rolled back")

        with pytest.raises(TokenRefused):
            db.write(job)

    writer = threading.Thread(target=enroll_then_fail)
    writer.start()
    assert inside.wait(5)
    during = enrollment.enrolled_key(db, "box-1")
    release.set()
    writer.join(5)
    assert during is None and enrollment.enrolled_key(db, "box-1") is None
    db.write(
        lambda c: c.execute(
            "INSERT INTO boxes VALUES ('box-1', 'key-1', 'office-1', 'b', '2026-11-22')"
        )
    )
    assert enrollment.enrolled_key(db, "box-1") == "key-1"  # committed: seen


def _record(db: RegistryDB, record_id: str, title: str) -> None:
    db.write(
        lambda c: c.execute(
            "INSERT INTO records VALUES (?, 'birth', 'office-1', NULL, ?, 'declared', '{}', ?, ?)",
            (record_id, f"2026-11-22T08:00:0{record_id[-1]}.000Z", f"B{record_id[-1]}", title),
        )
    )


def test_search_takes_percent_and_underscore_as_letters(db: RegistryDB) -> None:
    _record(db, "rec-1", "Sara Haddad")
    _record(db, "rec-2", "Omar 100% Saleh")
    _record(db, "rec-3", "Lina_Khoury")
    everything: users.Reach = [(None, None)]
    assert [h.record_id for h in records.search(db, "%", 10, everything)] == ["rec-2"]
    assert [h.record_id for h in records.search(db, "_", 10, everything)] == ["rec-3"]
    assert [h.record_id for h in records.search(db, "sara", 10, everything)] == ["rec-1"]
    assert [h.record_id for h in records.search(db, "b3", 10, everything)] == ["rec-3"]


def test_a_search_reaches_what_the_asking_user_s_role_may_read(db: RegistryDB) -> None:
    cfg = replace(
        config(),
        role_scopes={
            **config().role_scopes,
            "national-registrar": (parse_scope("record.read[jurisdiction=all]"),),
            "auditor": (parse_scope("record.read"),),
        },
    )
    for name, role, office, active in (
        ("layla", "local-registrar", "office-1", 1),
        ("omar", "hospital-administrator", "office-1", 1),
        ("admin", "local-system-admin", "office-1", 1),
        ("gone", "local-registrar", "office-1", 0),
        ("nadia", "national-registrar", "office-1", 1),
        ("audit", "auditor", "office-1", 1),
        ("yusuf", "local-registrar", "office-2", 1),
    ):
        users.add_user(db, name, name, role, office, "v", NOW)
        if not active:
            db.write(
                lambda c, n=name: c.execute("UPDATE users SET active = 0 WHERE username = ?", (n,))
            )
    at_office_1 = {
        name: users.reach(db, cfg, name, "office-1")
        for name in ("layla", "omar", "admin", "gone", "nadia", "audit", "yusuf", "nobody")
    }
    assert at_office_1 == {
        "layla": [(None, "office-1")],
        "omar": [(frozenset({"death"}), "office-1")],
        "admin": [],  # no record scope at all
        "gone": [],
        "nadia": [(None, None)],
        "audit": [(None, None)],
        "yusuf": [],  # a user of another office than the box's
        "nobody": [],
    }
    _record(db, "rec-1", "Sara Haddad")  # a birth of office-1
    assert [h.record_id for h in records.search(db, "sara", 10, at_office_1["layla"])] == ["rec-1"]
    assert records.search(db, "sara", 10, at_office_1["omar"]) == []
    assert records.search(db, "sara", 10, users.reach(db, cfg, "yusuf", "office-2")) == []


def test_enrollment_tokens_are_refused_in_the_registry_s_own_words(db: RegistryDB) -> None:
    token, _ = enrollment.issue_token(db, "office-1", timedelta(0), NOW)  # expires at once
    with pytest.raises(TokenRefused, match="unknown, used or expired"):
        enrollment.enroll(db, token, "ab" * 32, "box", "office-1", NOW)


def test_errors_are_problems_in_the_registry_s_words(tmp_path: Path) -> None:
    assert main(["--home", str(tmp_path), "init"]) == 0

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_registry_app(tmp_path)
    app.register(boom)
    with TestClient(app) as client:
        broken = client.get("/boom")
        assert broken.status_code == 500
        assert broken.headers["content-type"] == "application/problem+json"
        assert broken.json()["title"] == "Something went wrong on the registry"
        assert "on the box" not in broken.text and "a bug" not in broken.text
        missing = client.get("/admin/v1/records/nope", headers={"authorization": "Bearer x"})
        assert missing.status_code == 401 and missing.json()["type"].startswith("tag:edge-registry")
        nothing = client.get("/no-such-page")
        assert nothing.status_code == 404 and nothing.json()["status"] == 404


def test_a_clock_step_corrects_held_actions_and_rolls_back_with_its_batch(db: RegistryDB) -> None:
    columns = ", ".join(f"'{c}'" for c in ("b1", 1, "rec-1", "birth", "CREATE"))
    db.write(
        lambda c: c.execute(
            "INSERT INTO actions (id, box_id, box_seq, record_id, event_type, type, created_at, "
            "clock, boot_id, created_by, created_at_location, payload, flags_added, "
            "flags_removed, prev_hash, hash, received_at) VALUES ('a1', "
            f"{columns}, '2026-11-22T06:00:00.000Z', 'unsynced', 'boot-1', 'u', 'o', '{{}}', "
            "'[]', '[]', '', 'h', '2026-11-22T08:00:00.000Z')"
        )
    )
    step = ClockStep("boot-1", 7_200_000, "2026-11-22T08:00:00.000Z")

    def corrected() -> object:
        return db.read(
            lambda c: c.execute("SELECT corrected_created_at FROM actions").fetchone()[0]
        )

    def then_fail(c: sqlite3.Connection) -> None:
        accept._clock_step(c, "b1", step)
        assert c.execute("SELECT corrected_created_at FROM actions").fetchone()[0]
        raise TokenRefused("the batch failed after the step")

    with pytest.raises(TokenRefused):
        db.write(then_fail)  # sqlite-utils must not have committed inside the transaction
    assert corrected() is None
    db.write(lambda c: accept._clock_step(c, "b1", step))
    assert corrected() == "2026-11-22T08:00:00.000Z"


def chain_of(n: int, start: int = 1, prev: str = GENESIS, tag: str = "a") -> list[p.WireAction]:
    """n CREATEs of new records by user u1 of office-1, each continuing the one before."""
    out = []
    for seq in range(start, start + n):
        cols: dict[str, object] = {
            **dict.fromkeys(p.WireAction.__struct_fields__, ""),
            **{"custom_type": None, "client_time": None, "clock": "synced"},
            **{"seq": seq, "id": f"{tag}{seq}", "record_id": f"rec-{tag}{seq}"},
            **{"event_type": "birth", "type": "CREATE", "created_at": "2026-11-22T08:00:00.000Z"},
            **{"created_by": "u1", "created_at_location": "office-1", "payload": "{}"},
            **{"flags_added": "[]", "flags_removed": "[]", "prev_hash": prev},
        }
        cols["hash"] = prev = row_hash(cols)
        out.append(p.WireAction(**cols))  # type: ignore[arg-type]
    return out


def test_a_box_s_chain_takes_links_for_what_a_batch_skips_and_one_restart(
    db: RegistryDB,
) -> None:
    db.write(lambda c: c.execute("INSERT INTO boxes VALUES ('b1', 'k', 'office-1', 'b', 'x')"))
    users.add_user(db, "clerk", "Clerk", "clinic-clerk", "office-1", "v", NOW)
    db.write(lambda c: c.execute("UPDATE users SET id = 'u1'"))
    nonces = iter(range(100))

    def push(actions: list[p.WireAction], **more: Any) -> tuple[list[str], int]:
        batch = p.PushBatch("x", actions, **more)
        answered = accept.accept_batch(db, "b1", f"n{next(nonces)}", batch, NOW, config())
        assert answered is not None
        return [r.status + (f": {r.reason}" if r.reason else "") for r in answered[0]], answered[1]

    one_to_seven = chain_of(7)
    link = [p.ChainLink(a.seq, a.prev_hash, a.hash) for a in one_to_seven]
    assert push(one_to_seven[:2]) == (["accepted", "accepted"], 2)
    # 3 and 4 held back on the box: their links go with 5.
    assert push(one_to_seven[4:5], links=link[2:4]) == (["accepted"], 5)
    (gap,), tip = push(one_to_seven[6:7])  # 6 missing
    assert gap.startswith("rejected: This box's chain has a gap before seq 7") and tip == 5
    assert push(one_to_seven[2:3]) == (["accepted"], 5)  # 3, sent late: its place is held
    # Restored from a backup ending at seq 2: the chain goes on from there, once told so.
    restored = chain_of(1, start=3, prev=one_to_seven[1].hash, tag="r")
    (fork,), _ = push(restored)
    assert "a fork of the box's chain" in fork
    wrong = p.ChainLink(2, "", "f" * 64)
    (refused,), _ = push(restored, restart=wrong)
    assert "restarted its chain at seq 2, which the registry holds with another hash" in refused
    assert push(restored, restart=link[1]) == (["accepted"], 3)


def test_a_registry_of_schema_5_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    db = RegistryDB(tmp_path / "registry.db")
    db.write(lambda c: c.execute("INSERT INTO boxes VALUES ('b1', 'k', 'office-1', 'b', 'x')"))
    db.conn.executescript("DROP TABLE escrow; DROP TABLE box_revocations; PRAGMA user_version = 5")
    db.close()
    db = RegistryDB(tmp_path / "registry.db")  # schema 5, as the last release left it
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert enrollment.enrolled_key(db, "b1") == "k"
    assert escrow.register(db, "b1", "ab" * 32, NOW, 5, "test")[0]
    db.conn.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(SchemaMismatch, match="migrates only from schema 5"):
        RegistryDB(tmp_path / "registry.db")
