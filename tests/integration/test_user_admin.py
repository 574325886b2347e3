"""User administration's safety rules, through the API of a real box and in the service:
nobody changes their own role, and an office never loses its last user manager."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.settings import Settings
from edge.users.admin import UserAdmin
from edge.users.passwords import Hasher, Params
from edge.users.register import add_user, find_user
from edge.workflow.config import load_config
from edge.workflow.model import Actor
from tests.helpers import edge_cli, running_box

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run the service's coroutine on a loop of its own (another test may own this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_an_admin_cannot_give_themself_the_registrars_role(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        admin = box.client("admin")
        me = admin.get("/api/v1/auth/me").json()
        r = admin.patch(f"/api/v1/users/{me['id']}", json={"role": "local-registrar"})
        assert r.status_code == 409 and "your own role" in r.json()["detail"]
        again = admin.get(f"/api/v1/users/{me['id']}").json()["user"]
        assert again["role"] == "local-system-admin"
        # Registering stays out of reach: the admin's role has no record scope.
        assert admin.get("/api/v1/workqueues").json() == []
        # Another user's role can still be changed, within what the configuration allows.
        clerk = next(u for u in admin.get("/api/v1/users").json() if u["username"] == "clerk")
        r = admin.patch(f"/api/v1/users/{clerk['id']}", json={"role": "registration-agent"})
        assert r.status_code == 200 and r.json()["role"] == "registration-agent"


def test_the_last_user_manager_of_an_office_cannot_be_removed(tmp_path: Path) -> None:
    config = load_config()
    settings = replace(Settings(home=tmp_path), box_id="b", office_id="o-1")
    journal, reader = Journal(tmp_path / "journal.db", config), Reader(tmp_path / "journal.db")
    service = UserAdmin(journal, reader, config, settings, Hasher(Params(8192, 1)))
    try:
        for name in ("amal", "basil"):
            journal.run(
                lambda c, n=name: add_user(
                    c,
                    config,
                    username=n,
                    display_name=n.title(),
                    role="local-system-admin",
                    office_id="o-1",
                    by="test",
                    now=NOW,
                )
            )
        amal, basil = (find_user(reader.conn(), n) for n in ("amal", "basil"))
        assert amal and basil
        as_amal, as_basil = (
            Actor(u.id, u.username, u.display_name, u.role, u.office_id, config.role_scopes[u.role])
            for u in (amal, basil)
        )
        # Amal and Basil press "deactivate" on each other at the same moment: both were
        # admins when they asked; the writer lets the first through and refuses the second.
        run(service.set_active(as_amal, basil.id, False))
        try:
            run(service.set_active(as_basil, amal.id, False))
        except Exception as exc:
            assert "last user who can manage" in str(exc)
        else:
            raise AssertionError("the office lost its last user manager")
        assert find_user(reader.conn(), "amal").active  # type: ignore[union-attr]
        try:
            run(service.edit(as_basil, amal.id, {"role": "clinic-clerk"}))
        except Exception as exc:
            assert "last user who can manage" in str(exc)
        else:
            raise AssertionError("the last user manager lost the role")
    finally:
        journal.close()
        reader.close()
