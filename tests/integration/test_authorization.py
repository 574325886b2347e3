"""The authorization matrix: every API route by every role of the default configuration, plus
anonymous and a deactivated user, against a real server. A route missing from the matrix
fails the test, so a new route cannot ship without deciding who may use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from edge.app import create_app
from edge.settings import load_settings
from edge.workflow.config import load_config
from tests.helpers import BIRTH, Box, edge_cli, running_box

ROLES = {
    "clerk": "clinic-clerk",
    "agent": "registration-agent",
    "registrar": "local-registrar",
    "hospadmin": "hospital-administrator",
    "admin": "local-system-admin",
}
PRINCIPALS = [*ROLES, "anonymous", "deactivated"]
Y, N = "allow", "deny"  # deny: 403, or 404 for a record the user may not see
EVERYONE = dict.fromkeys(ROLES, Y)
ADMIN_ONLY = {**dict.fromkeys(ROLES, N), "admin": Y}
RECORD_READERS = {**EVERYONE, "hospadmin": N, "admin": N}
CREATORS = {**EVERYONE, "hospadmin": N, "admin": N}


@dataclass
class Ctx:
    record: str
    clerk_id: str
    admin_id: str
    tokens: dict[str, str] = field(default_factory=dict)  # principal -> token made by a probe


Probe = Callable[[Ctx, str], tuple[str, str, Any]]

# route -> (who may use it, a request that is harmless to repeat)
MATRIX: dict[str, tuple[dict[str, str] | str, Probe]] = {
    "GET /healthz": ("public", lambda c, u: ("GET", "/healthz", None)),
    # Cheap health checks; metrics are for the office network (the tests run on loopback).
    "GET /readyz": ("public", lambda c, u: ("GET", "/readyz", None)),
    "GET /metrics": ("public", lambda c, u: ("GET", "/metrics", None)),
    "POST /api/v1/auth/login": (
        "public",
        lambda c, u: (
            "POST",
            "/api/v1/auth/login",
            {"username": "clerk", "password": "demo-password"},
        ),
    ),
    "POST /api/v1/auth/logout": (EVERYONE, lambda c, u: ("POST", "/api/v1/auth/logout", None)),
    "GET /api/v1/auth/me": (EVERYONE, lambda c, u: ("GET", "/api/v1/auth/me", None)),
    "POST /api/v1/auth/password": (
        EVERYONE,
        lambda c, u: (  # too short: 422 once allowed
            "POST",
            "/api/v1/auth/password",
            {"current_password": "demo-password", "new_password": "short"},
        ),
    ),
    "GET /api/v1/auth/tokens": (EVERYONE, lambda c, u: ("GET", "/api/v1/auth/tokens", None)),
    "POST /api/v1/auth/tokens": (
        EVERYONE,
        lambda c, u: ("POST", "/api/v1/auth/tokens", {"name": "matrix"}),
    ),
    "DELETE /api/v1/auth/tokens/{token_id:str}": (
        EVERYONE,
        lambda c, u: ("DELETE", f"/api/v1/auth/tokens/{c.tokens.get(u, 'none')}", None),
    ),
    "GET /api/v1/users": (ADMIN_ONLY, lambda c, u: ("GET", "/api/v1/users", None)),
    "POST /api/v1/users": (
        ADMIN_ONLY,
        lambda c, u: (  # weak password: 422 once allowed
            "POST",
            "/api/v1/users",
            {
                "username": f"new-{u}",
                "display_name": "New",
                "role": "clinic-clerk",
                "password": "short",
            },
        ),
    ),
    "GET /api/v1/users/{user_id:str}": (
        ADMIN_ONLY,
        lambda c, u: ("GET", f"/api/v1/users/{c.clerk_id}", None),
    ),
    "PATCH /api/v1/users/{user_id:str}": (
        ADMIN_ONLY,
        lambda c, u: ("PATCH", f"/api/v1/users/{c.clerk_id}", {}),
    ),
    "POST /api/v1/users/{user_id:str}/deactivate": (
        ADMIN_ONLY,
        lambda c, u: (  # self: 409
            "POST",
            f"/api/v1/users/{c.admin_id}/deactivate",
            None,
        ),
    ),
    "POST /api/v1/users/{user_id:str}/reactivate": (
        ADMIN_ONLY,
        lambda c, u: ("POST", f"/api/v1/users/{c.clerk_id}/reactivate", None),
    ),
    "POST /api/v1/users/{user_id:str}/reset-password": (
        ADMIN_ONLY,
        lambda c, u: ("POST", f"/api/v1/users/{c.clerk_id}/reset-password", {"password": "short"}),
    ),
    "POST /api/v1/users/{user_id:str}/unlock": (
        ADMIN_ONLY,
        lambda c, u: ("POST", f"/api/v1/users/{c.clerk_id}/unlock", None),
    ),
    "POST /api/v1/users/{user_id:str}/username-reminder": (
        ADMIN_ONLY,
        lambda c, u: ("POST", f"/api/v1/users/{c.clerk_id}/username-reminder", None),
    ),
    "POST /api/v1/records": (
        CREATORS,
        lambda c, u: ("POST", "/api/v1/records", {"event_type": "birth"}),
    ),
    "GET /api/v1/records/{record_id:str}": (
        RECORD_READERS,
        lambda c, u: ("GET", f"/api/v1/records/{c.record}", None),
    ),
    "GET /api/v1/records/{record_id:str}/menu": (
        RECORD_READERS,
        lambda c, u: ("GET", f"/api/v1/records/{c.record}/menu", None),
    ),
    "POST /api/v1/records/{record_id:str}/actions": (
        RECORD_READERS,
        lambda c, u: ("POST", f"/api/v1/records/{c.record}/actions", {"type": "UNASSIGN"}),
    ),  # 409 if allowed
    "GET /api/v1/workqueues": (EVERYONE, lambda c, u: ("GET", "/api/v1/workqueues", None)),
    # Everyone logged in sees the outbox, filtered to the records they may read.
    "GET /api/v1/outbox": (EVERYONE, lambda c, u: ("GET", "/api/v1/outbox", None)),
    "GET /api/v1/workqueues/{queue_id:str}/records": (
        {**EVERYONE, "admin": N},
        lambda c, u: ("GET", "/api/v1/workqueues/assigned-to-me/records", None),
    ),
}


def app_routes(home: Path, api: bool = True) -> set[str]:
    """The API's routes (the web pages' are checked in test_web_authorization.py)."""
    app = create_app(load_settings(home), load_config())
    return {
        f"{m} {r.path}"
        for r in app.routes
        if isinstance(r, HTTPRoute)
        for m in r.methods - {"HEAD", "OPTIONS"}
        if not r.path.startswith("/api/schema")  # the public API description
        and r.path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) == api
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Box, Ctx]]:
    home = tmp_path_factory.mktemp("authz")
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        admin, clerk = box.client("admin"), box.client("clerk")
        users = {u["username"]: u["id"] for u in admin.get("/api/v1/users").json()}
        rec = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
        clerk.post(f"/api/v1/records/{rec}/actions", json={"type": "DECLARE", "declaration": BIRTH})
        yield box, Ctx(rec, users["clerk"], users["admin"])


def session_for(box: Box, principal: str) -> httpx.Client:
    if principal == "anonymous":
        return box.client()
    if principal == "deactivated":
        admin = box.client("admin")
        name = "gone"
        if not any(u["username"] == name for u in admin.get("/api/v1/users").json()):
            admin.post(
                "/api/v1/users",
                json={
                    "username": name,
                    "display_name": "Gone",
                    "role": "local-registrar",
                    "password": "first password",
                },
            )
            uid = next(u["id"] for u in admin.get("/api/v1/users").json() if u["username"] == name)
            gone = box.client(name, "first password")
            gone.post(
                "/api/v1/auth/password",
                json={"current_password": "first password", "new_password": "second password"},
            )
            admin.post(f"/api/v1/users/{uid}/deactivate")
            return gone  # logged in before being deactivated
        return box.client()
    return box.client(principal)


def test_every_route_is_in_the_matrix(world: tuple[Box, Ctx]) -> None:
    box, _ = world
    routes = app_routes(box.home)
    assert routes - set(MATRIX) == set(), "routes without an authorization decision"
    assert set(MATRIX) - routes == set(), "matrix entries for routes that no longer exist"


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_authorization_matrix(world: tuple[Box, Ctx], principal: str) -> None:
    box, ctx = world
    client = session_for(box, principal)
    failures = []
    for route, (who, probe) in MATRIX.items():
        method, url, body = probe(ctx, principal)
        # Public routes run on a fresh client: logging in must not replace this session.
        use = box.client() if who == "public" else client
        r = use.request(method, url, json=body) if body is not None else use.request(method, url)
        if who == "public":
            expected = "public"
            ok = r.status_code < 400 or (url == "/readyz" and r.status_code == 503)
        elif principal in ("anonymous", "deactivated"):
            expected = "401"
            ok = r.status_code == 401
        else:
            expected = who[principal]  # type: ignore[index]
            ok = (
                (r.status_code in (403, 404))
                if expected == N
                else (r.status_code not in (401, 403, 404) and r.status_code < 500)
            )
        if not ok:
            failures.append(
                f"{route} as {principal}: expected {expected}, got {r.status_code} {r.text[:120]}"
            )
        if route == "POST /api/v1/auth/tokens" and r.status_code == 201:
            ctx.tokens[principal] = r.json()["id"]
        if route == "POST /api/v1/auth/logout" and r.status_code == 204:
            client = session_for(box, principal)  # logged out: log in again for the rest
    assert not failures, "\n".join(failures)
