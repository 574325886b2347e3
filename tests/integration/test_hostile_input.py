"""Hostile input from the office network, against a real box: every action route reached with
real record ids (draft, declared, registered) and generated bodies — wrong types, JSON nested
thousands deep, NUL and control characters, times that overflow — never gets a 500 and changes
nothing it should not. Also what the pages and static files refuse before any handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.workflow.config import load_config
from edge.workflow.model import ActionType
from tests.helpers import BIRTH, Box, edge_cli, running_box

FIELDS = sorted({f.id for e in load_config().events.values() for f in e.fields})
TRICKY_TEXT = ["A\x00B", "\x1b[31mred", "x" * 5000, "ساره", "", " ", "<script>", "\ud7ff"]
TRICKY_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-13-40T99:99:99Z",
    "not a time",
    "2026-11-22T10:00:00Z",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(TRICKY_TEXT)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
# Every action but Delete draft, which would end the draft the other tests post to.
KINDS = [t.value for t in ActionType if t is not ActionType.DELETE]
bodies = st.fixed_dictionaries(
    {"type": st.sampled_from([*KINDS, "", "DROP TABLE", "print"])},
    optional={
        "declaration": st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values)
        | json_values,
        "form": st.dictionaries(st.sampled_from(["reason", "collector", "comments"]), json_values),
        "client_time": st.sampled_from(TRICKY_TIMES) | json_values,
        "then": st.sampled_from(["DECLARE", "REGISTER", "PRINT"]) | json_values,
        "custom_type": st.sampled_from(["Attest", "Issue-Verifiable-Credential", "x"])
        | json_values,
    },
)


@dataclass
class World:
    box: Box
    clients: dict[str, httpx.Client]
    records: list[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("hostile") / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        clerk, registrar = box.client("clerk"), box.client("registrar")
        new = {"event_type": "birth"}
        draft = clerk.post("/api/v1/records", json=new).json()["record"]["id"]
        declared = clerk.post("/api/v1/records", json=new).json()["record"]["id"]
        clerk.post(
            f"/api/v1/records/{declared}/actions", json={"type": "DECLARE", "declaration": BIRTH}
        )
        registered = clerk.post("/api/v1/records", json=new).json()["record"]["id"]
        other = {**BIRTH, "child.first_name": "Lina"}
        clerk.post(
            f"/api/v1/records/{registered}/actions", json={"type": "DECLARE", "declaration": other}
        )
        for kind in ("ASSIGN", "REGISTER", "ASSIGN"):
            r = registrar.post(f"/api/v1/records/{registered}/actions", json={"type": kind})
            assert r.status_code == 201, r.text
        yield World(box, {"clerk": clerk, "registrar": registrar}, [draft, declared, registered])


def server_errors(box: Box) -> list[str]:
    log = (box.home / "serve.log").read_text(errors="replace")
    return [line[:300] for line in log.splitlines() if "unexpected error" in line]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, who=st.sampled_from(["clerk", "registrar"]), which=st.integers(0, 2))
def test_generated_actions_on_real_records_never_get_a_500(
    world: World, body: dict[str, Any], who: str, which: int
) -> None:
    record = world.records[which]
    r = world.clients[who].post(f"/api/v1/records/{record}/actions", json=body)
    assert r.status_code < 500, (body, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"


def test_the_known_breakers_get_a_clear_4xx(world: World) -> None:
    clerk = world.clients["clerk"]
    draft = world.records[0]
    url = f"/api/v1/records/{draft}/actions"
    deep = "1"
    for _ in range(3000):
        deep = f"[{deep}]"
    cases: list[tuple[str, Any]] = [
        ("select given a list", {"type": "UPDATE", "declaration": {"child.sex": ["female"]}}),
        ("select given an object", {"type": "UPDATE", "declaration": {"child.sex": {"a": 1}}}),
        (
            "client time overflow",
            {
                "type": "UPDATE",
                "declaration": {"child.first_name": "A"},
                "client_time": "0001-01-01T00:00:00+01:00",
            },
        ),
        ("NUL in a name", {"type": "UPDATE", "declaration": {"child.first_name": "A\x00B"}}),
        ("escape codes in a reason", {"type": "ASSIGN", "form": {"reason": "\x1b[2J"}}),
    ]
    before = len(clerk.get(f"/api/v1/records/{draft}").json()["timeline"])
    for name, body in cases:
        r = clerk.post(url, json=body)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:200])
    nested = '{"type":"UPDATE","declaration":{"child.first_name":' + deep + "}}"
    r = clerk.post(url, content=nested, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and "nested too deeply" in r.text
    after = len(clerk.get(f"/api/v1/records/{draft}").json()["timeline"])
    assert after == before  # all refused, nothing changed
    assert server_errors(world.box) == []


def test_pages_and_files_refuse_what_no_page_has(world: World) -> None:
    anonymous = httpx.Client(base_url=world.box.url)
    assert anonymous.get("/static/app.css%00.html").status_code == 404
    assert anonymous.get("/static/%1b[31m").status_code == 404
    # A page form that is not UTF-8 is refused, not read as Latin-1.
    clerk = world.box.client("clerk")
    page = clerk.get("/records/new?event=birth").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    body = b"csrf_token=" + token.encode() + b"&event=birth&then=&f.child.first_name=%E9t%E9"
    r = clerk.post(
        "/records/new",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422 and "UTF-8" in r.text
    r = clerk.post(
        "/records/new",
        data={"csrf_token": token, "event": "birth", "then": "", "f.child.first_name": "A\x00"},
    )
    assert r.status_code == 422 and "cannot be typed" in r.text
    drafts = clerk.get("/api/v1/workqueues/my-drafts/records").json()
    assert not any("\x00" in json.dumps(r) or "t\xe9" in json.dumps(r) for r in drafts["items"])
    assert server_errors(world.box) == []
