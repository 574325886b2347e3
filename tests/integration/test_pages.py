"""The pages and the API from a real box process: one error mapper (a page for people, a problem
document for programs, with the status the error carries), and listings as long as configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BIRTH, Box, edge_cli, running_box

PROBLEM = "application/problem+json"
FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "text/html"}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    home: Path = tmp_path_factory.mktemp("errors") / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as b:
        yield b


def test_a_person_gets_pages_and_a_program_gets_problems(box: Box) -> None:
    browser = box.client("clerk")
    browser.headers["accept"] = "text/html"
    cases = [
        ("GET", "/no-such-page", 404, {}),
        ("GET", "/queues/", 404, {}),
        ("DELETE", "/outbox", 405, {}),
        ("POST", "/records/new", 413, {"content": b"x=" + b"x" * 2_000_000, "headers": FORM}),
    ]
    for method, path, status, extra in cases:
        r = browser.request(method, path, **extra)  # type: ignore[arg-type]
        assert r.status_code == status, (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), (path, r.text[:200])
        assert "<h1>" in r.text and "Traceback" not in r.text
        assert 'href="/static/app.css"' in r.text  # the page around it, not a bare message
    api = box.client("clerk")
    for method, path, status in [
        ("GET", "/api/v1/no-such-thing", 404),
        ("DELETE", "/api/v1/outbox", 405),
        ("GET", "/api/v1/records/not-a-record", 404),
    ]:
        r = api.request(method, path)
        assert r.status_code == status, (path, r.status_code)
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["status"] == status


def test_an_error_keeps_its_status_on_a_page(box: Box) -> None:
    # A role without record.create asking to create: the status says forbidden, not 422.
    admin = box.client("admin")
    admin.headers["accept"] = "text/html"
    page = admin.get("/records/new?event=birth")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = admin.post("/records/new", data={"csrf_token": token, "event": "birth", "then": ""})
    assert r.status_code == 403, r.status_code
    assert "Your role does not allow" in r.text


def test_a_page_asks_to_log_in_where_the_api_says_401(box: Box) -> None:
    anonymous = box.client()
    r = anonymous.get("/outbox")
    assert r.status_code == 302 and r.headers["location"].startswith("/login?next=")
    r = anonymous.get("/api/v1/outbox")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM


def test_the_pages_list_page_size_records_a_page(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home, env={"EDGE_PAGE_SIZE": "2"}) as b:
        clerk = b.client("clerk")
        for _ in range(3):
            clerk.post("/api/v1/records", json={"event_type": "birth"})
        page = clerk.get("/queues/my-drafts").text
        assert page.count('<a href="/records/') == 2 and "Page 1 of 2" in page


def test_each_person_lands_on_their_own_work(tmp_path: Path) -> None:
    """After logging in, `/` leads a clerk to what she sent when she has no drafts (and to
    her drafts when she has some), an agent and a registrar to their first queue with
    something in it, the local admin to the users."""
    edge_cli(tmp_path, "init", "--demo")
    with running_box(tmp_path) as box:

        def lands(user: str) -> str:
            answer = box.client(user).get("/", follow_redirects=False)
            assert answer.status_code in (302, 303), answer.text
            return str(answer.headers["location"])

        assert lands("clerk") == "/queues/sent-for-review"
        assert lands("admin") == "/users"
        clerk = box.client("clerk")
        draft = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]
        assert lands("clerk") == "/queues/my-drafts"
        registrar_before = lands("registrar")
        sent = clerk.post(
            f"/api/v1/records/{draft['id']}/actions", json={"type": "DECLARE", "declaration": BIRTH}
        )
        assert sent.status_code == 201, sent.text
        assert lands("clerk") == "/queues/sent-for-review"
        assert lands("agent") == lands("registrar") == "/queues/ready-for-review"
        assert registrar_before != "/queues/ready-for-review"  # it was empty: not landed on
