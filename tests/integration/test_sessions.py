"""Logins and sessions on a real server, with the registry unreachable (as when the WAN is
down: the box has no registry yet, so every login is an offline login)."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge.commands.init import DEMO_PASSWORD
from tests.helpers import BIRTH, Box, edge_cli, running_box, start_box, stop_box


def test_shift_change_with_the_wan_down(box: Box) -> None:
    a = box.client()
    login = a.post("/api/v1/auth/login", json={"username": "clerk", "password": DEMO_PASSWORD})
    assert login.status_code == 200 and login.json()["checked_with_registry"] is False
    a.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    rec = a.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
    assert (
        a.post(
            f"/api/v1/records/{rec}/actions", json={"type": "DECLARE", "declaration": BIRTH}
        ).status_code
        == 201
    )
    old_cookie = a.cookies["edge_session"]
    assert a.post("/api/v1/auth/logout").status_code == 204
    # A's session is over on the box, not just in A's browser.
    stale = httpx.get(box.url + "/api/v1/workqueues", cookies={"edge_session": old_cookie})
    assert stale.status_code == 401
    b = box.client("agent")
    queue = b.get("/api/v1/workqueues/ready-for-review/records").json()
    assert rec in [r["id"] for r in queue["items"]]
    detail = b.get(f"/api/v1/records/{rec}").json()
    assert detail["timeline"][-1]["created_by_name"] == "Amina Haddad"


def test_cookie_is_httponly_strict_and_not_secure_over_http(box: Box) -> None:
    r = httpx.post(
        box.url + "/api/v1/auth/login", json={"username": "clerk", "password": DEMO_PASSWORD}
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie.replace("samesite", "")


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(box: Box) -> None:
    c = box.client("clerk")
    rec = c.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
    good = c.headers.pop("X-CSRF-Token")
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": good + "x"}):
        r = c.post(
            f"/api/v1/records/{rec}/actions",
            headers=headers,
            json={"type": "UPDATE", "declaration": {"child.first_name": "Changed"}},
        )
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = c.post("/api/v1/records", headers=headers, json={"event_type": "birth"})
        assert r.status_code == 403
    c.headers["X-CSRF-Token"] = good
    detail = c.get(f"/api/v1/records/{rec}").json()
    assert [a["type"] for a in detail["timeline"]] == ["CREATE"]
    assert "child.first_name" not in detail["record"]["declaration"]


def test_deactivation_ends_sessions_and_tokens_at_once(box: Box) -> None:
    admin = box.client("admin")
    created = admin.post(
        "/api/v1/users",
        json={
            "username": "night-clerk",
            "display_name": "Night Clerk",
            "role": "clinic-clerk",
            "password": "first password",
        },
    )
    assert created.status_code == 201 and created.json()["must_change_password"]
    uid = created.json()["id"]
    user = box.client("night-clerk", "first password")
    # A one-time password allows nothing but changing it.
    assert user.get("/api/v1/workqueues").status_code == 403
    assert (
        user.post(
            "/api/v1/auth/password",
            json={"current_password": "first password", "new_password": "my own password"},
        ).status_code
        == 204
    )
    assert user.get("/api/v1/workqueues").status_code == 200
    token = user.post("/api/v1/auth/tokens", json={"name": "script"}).json()["token"]
    bearer = httpx.Client(base_url=box.url, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/v1/workqueues").status_code == 200
    assert admin.post(f"/api/v1/users/{uid}/deactivate").status_code == 200
    assert user.get("/api/v1/workqueues").status_code == 401
    assert bearer.get("/api/v1/workqueues").status_code == 401
    login = httpx.post(
        box.url + "/api/v1/auth/login",
        json={"username": "night-clerk", "password": "my own password"},
    )
    assert login.status_code == 401
    history = admin.get(f"/api/v1/users/{uid}").json()["history"]
    assert [h["type"] for h in history] == ["CREATE", "CHANGE_PASSWORD", "DEACTIVATE"]
    assert all("password" not in str(h["payload"]).replace("password_set", "") for h in history)


def test_revoked_token_stops_working(box: Box) -> None:
    c = box.client("registrar")
    made = c.post("/api/v1/auth/tokens", json={"name": "export"}).json()
    bearer = {"Authorization": f"Bearer {made['token']}"}
    assert httpx.get(box.url + "/api/v1/workqueues", headers=bearer).status_code == 200
    listed = c.get("/api/v1/auth/tokens").json()
    assert made["id"] in [t["id"] for t in listed] and "token" not in listed[0]
    assert c.delete(f"/api/v1/auth/tokens/{made['id']}").status_code == 204
    assert httpx.get(box.url + "/api/v1/workqueues", headers=bearer).status_code == 401


def test_admin_reset_forces_a_new_password(box: Box) -> None:
    admin = box.client("admin")
    users = {u["username"]: u["id"] for u in admin.get("/api/v1/users").json()}
    hosp = box.client("hospadmin")
    r = admin.post(
        f"/api/v1/users/{users['hospadmin']}/reset-password", json={"password": "one time pass"}
    )
    assert r.status_code == 200 and r.json()["must_change_password"]
    assert hosp.get("/api/v1/auth/me").status_code == 401  # the reset ended their sessions
    again = box.client("hospadmin", "one time pass")
    me = again.get("/api/v1/auth/me").json()
    assert me["must_change_password"] is True
    assert again.get("/api/v1/workqueues").status_code == 403
    r = again.post(
        "/api/v1/auth/password",
        json={"current_password": "one time pass", "new_password": "one time pass"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "unchanged"
    again.post(
        "/api/v1/auth/password",
        json={"current_password": "one time pass", "new_password": DEMO_PASSWORD},
    )
    assert again.get("/api/v1/workqueues").status_code == 200


def test_session_survives_a_restart_of_the_web_process(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init", "--demo")
    box = start_box(tmp_path)
    try:
        c = box.client("clerk")
        cookie, csrf = c.cookies["edge_session"], c.headers["X-CSRF-Token"]
    finally:
        stop_box(box)
    with running_box(tmp_path) as again:
        c2 = httpx.Client(
            base_url=again.url, cookies={"edge_session": cookie}, headers={"X-CSRF-Token": csrf}
        )
        assert c2.get("/api/v1/auth/me").json()["username"] == "clerk"
        assert c2.post("/api/v1/records", json={"event_type": "birth"}).status_code == 201


def test_no_password_or_secret_in_the_logs(box: Box) -> None:
    c = box.client("registrar")
    token = c.post("/api/v1/auth/tokens", json={"name": "log check"}).json()["token"]
    httpx.post(
        box.url + "/api/v1/auth/login",
        json={"username": "registrar", "password": "a wrong password"},
    )
    log = (box.home / "serve.log").read_text()
    for secret in (
        DEMO_PASSWORD,
        "a wrong password",
        token,
        c.cookies["edge_session"],
        c.headers["X-CSRF-Token"],
    ):
        assert secret not in log
