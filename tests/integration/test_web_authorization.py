"""Every web page and every kind of user: who gets the page, who is sent to log in, and that
no form is accepted without the page's token."""

from __future__ import annotations

import pytest

from tests.helpers import Box
from tests.integration.test_authorization import (
    PRINCIPALS,
    ROLES,
    Ctx,
    app_routes,
    session_for,
    world,  # noqa: F401 - the shared box and record
)

PAGE, GONE, REDIRECT, REFUSED = 200, 404, 302, 403
EVERYONE = dict.fromkeys(ROLES, PAGE)
READERS = {**EVERYONE, "hospadmin": GONE, "admin": GONE}  # a birth record
ADMIN_PAGE = {**dict.fromkeys(ROLES, GONE), "admin": PAGE}
# The users pages are not there for other roles; the admin's form without its token is refused.
ADMIN_FORM = {**dict.fromkeys(ROLES, GONE), "admin": REFUSED}

# route -> (path for the probe, answer per role). POSTs are sent without the form token.
PAGES: dict[str, tuple[str, dict[str, int] | str]] = {
    "GET /login": ("/login", "public"),
    "POST /login": ("/login", "public"),
    "POST /language": ("/language", "public"),
    "GET /static/{file_path:path}": ("/static/app.css", "public"),
    "GET /favicon.ico": ("/favicon.ico", "public"),
    "GET /ui/status": ("/ui/status", EVERYONE),
    "GET /": ("/", dict.fromkeys(ROLES, REDIRECT)),
    "GET /help": ("/help", "public"),  # general guidance, read from the login page too
    "GET /outbox": ("/outbox", EVERYONE),
    "GET /password": ("/password", EVERYONE),
    "GET /search": ("/search?q=Sara", EVERYONE),
    "GET /queues/{queue_id:str}": ("/queues/assigned-to-me", {**EVERYONE, "admin": GONE}),
    "GET /records/new": ("/records/new?event=birth", EVERYONE),
    "GET /records/{record_id:str}": ("/records/{record}", READERS),
    "GET /records/{record_id:str}/do/{action:str}": ("/records/{record}/do/ASSIGN", READERS),
    # Only a registered record has copies, only for those who may print: nobody here.
    "GET /records/{record_id:str}/print": ("/records/{record}/print", dict.fromkeys(ROLES, GONE)),
    # A supporting document: only for who may read its record (here none: it is not there).
    "GET /documents/{document_id:str}": ("/documents/doc-unknown", dict.fromkeys(ROLES, GONE)),
    "POST /logout": ("/logout", dict.fromkeys(ROLES, REFUSED)),
    "POST /password": ("/password", dict.fromkeys(ROLES, REFUSED)),
    "POST /records/new": ("/records/new", dict.fromkeys(ROLES, REFUSED)),
    "POST /records/{record_id:str}/do/{action:str}": (
        "/records/{record}/do/ASSIGN",
        dict.fromkeys(ROLES, REFUSED),
    ),
    "POST /ui/dismiss-sent": ("/ui/dismiss-sent", dict.fromkeys(ROLES, REFUSED)),
    "POST /ui/keepalive": ("/ui/keepalive", dict.fromkeys(ROLES, REFUSED)),
    "POST /outbox/send-now": ("/outbox/send-now", dict.fromkeys(ROLES, REFUSED)),
    "POST /records/bring": ("/records/bring", dict.fromkeys(ROLES, REFUSED)),
    "GET /users": ("/users", ADMIN_PAGE),
    "GET /users/new": ("/users/new", ADMIN_PAGE),
    "GET /users/{user_id:str}/reset": ("/users/{clerk}/reset", ADMIN_PAGE),
    "GET /users/{user_id:str}/deactivate": ("/users/{clerk}/deactivate", ADMIN_PAGE),
    "POST /users/new": ("/users/new", ADMIN_FORM),
    **{
        f"POST /users/{{user_id:str}}/{change}": (
            f"/users/{{clerk}}/{change}",
            ADMIN_FORM,
        )
        for change in ("reset", "unlock", "deactivate", "reactivate")
    },
}


def test_every_page_is_in_the_matrix(world: tuple[Box, Ctx]) -> None:  # noqa: F811
    box, _ = world
    routes = app_routes(box.home, api=False)
    assert routes - set(PAGES) == set(), "pages without an authorization decision"
    assert set(PAGES) - routes == set(), "matrix entries for pages that no longer exist"


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_page_authorization_matrix(world: tuple[Box, Ctx], principal: str) -> None:  # noqa: F811
    box, ctx = world
    client = session_for(box, principal)
    failures = []
    for route, (path, who) in PAGES.items():
        method = route.split()[0]
        url = path.format(record=ctx.record, clerk=ctx.clerk_id)
        if who == "public":
            r = box.client().request(method, url, data={} if method == "POST" else None)
            ok, expected = r.status_code < 500 and r.status_code != 401, "public"
        else:
            r = client.request(method, url, data={} if method == "POST" else None)
            if principal in ("anonymous", "deactivated"):
                expected = "login"
                ok = (r.status_code == 302 and "/login" in r.headers.get("location", "")) or (
                    r.status_code == 401 and url in ("/ui/status", "/ui/keepalive")
                )
            else:
                expected = str(who[principal])  # type: ignore[index]
                ok = r.status_code == who[principal]  # type: ignore[index]
        if not ok:
            failures.append(f"{route} as {principal}: expected {expected}, got {r.status_code}")
    assert not failures, "\n".join(failures)
