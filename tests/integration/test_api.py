"""The JSON API against a real `edge serve` process on a free loopback port."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import BIRTH, DEATH, Box


def create(c: httpx.Client, event: str = "birth", **decl: Any) -> dict[str, Any]:
    r = c.post("/api/v1/records", json={"event_type": event, "declaration": decl})
    assert r.status_code == 201, r.text
    return r.json()["record"]


def do(c: httpx.Client, rid: str, type_: str, expect: int = 201, **body: Any) -> dict[str, Any]:
    r = c.post(f"/api/v1/records/{rid}/actions", json={"type": type_, **body})
    assert r.status_code == expect, r.text
    return r.json()


def test_clerk_declares_registrar_registers(box: Box) -> None:
    clerk, registrar = box.client("clerk"), box.client("registrar")
    rec = create(clerk, **{"child.first_name": "Sara"})
    assert rec["status"] == "draft" and rec["title"] == "Sara"
    out = do(
        clerk, rec["id"], "DECLARE", declaration=BIRTH, client_time="2026-11-22T09:15:00+02:00"
    )
    assert out["record"]["status"] == "declared" and out["record"]["assigned_to"] is None
    assert out["action"]["client_time"] == "2026-11-22T07:15:00.000Z"
    menu = registrar.get(f"/api/v1/records/{rec['id']}/menu").json()
    assert menu[0] == {
        "type": "ASSIGN",
        "custom_type": None,
        "label": "Assign",
        "enabled": True,
        "reason": None,
    }
    assert {m["label"]: m["enabled"] for m in menu}["Register"] is False
    do(registrar, rec["id"], "ASSIGN")
    do(registrar, rec["id"], "REGISTER")
    detail = registrar.get(f"/api/v1/records/{rec['id']}").json()
    assert detail["record"]["status"] == "registered"
    timeline = detail["timeline"]
    assert [a["type"] for a in timeline] == ["CREATE", "DECLARE", "ASSIGN", "REGISTER"]
    assert [a["created_by_name"] for a in timeline] == ["Amina Haddad"] * 2 + ["Layla Khoury"] * 2
    assert all(a["sync"]["state"] == "pending" for a in timeline)
    assert timeline == sorted(timeline, key=lambda a: a["seq"])


def test_attest_worked_example_over_http(box: Box) -> None:
    clerk, hosp, registrar = box.client("clerk"), box.client("hospadmin"), box.client("registrar")
    rec = create(clerk, "death")
    do(clerk, rec["id"], "DECLARE", declaration=DEATH)
    queue = hosp.get("/api/v1/workqueues/pending-attestation/records").json()
    assert rec["id"] in [r["id"] for r in queue["items"]]
    do(registrar, rec["id"], "ASSIGN")
    menu = hosp.get(f"/api/v1/records/{rec['id']}/menu").json()
    assign = next(i for i in menu if i["type"] == "ASSIGN")
    assert not assign["enabled"] and assign["reason"].startswith("Assigned to ")
    role = do(clerk, rec["id"], "REGISTER", expect=403)
    assert role["detail"] == "Your role does not allow “Register” on this record"
    refused = do(registrar, rec["id"], "REGISTER", expect=409)
    assert refused["detail"].startswith("Registration waits until the hospital administrator")
    do(registrar, rec["id"], "UNASSIGN")
    do(hosp, rec["id"], "ASSIGN")
    out = do(hosp, rec["id"], "CUSTOM", custom_type="Attest", form={"comments": "Ward 3"})
    assert out["action"]["label"] == "Attested" and out["record"]["flags"] == []
    do(registrar, rec["id"], "ASSIGN")
    assert do(registrar, rec["id"], "REGISTER")["record"]["status"] == "registered"


def test_workqueues_per_role_and_pagination(box: Box) -> None:
    clerk = box.client("clerk")
    queues = {q["id"] for q in clerk.get("/api/v1/workqueues").json()}
    assert queues == {
        "my-drafts",
        "assigned-to-me",
        "in-progress",
        "requires-updates",
        "sent-for-review",
        "recent",
    }
    hosp_queues = {q["id"] for q in box.client("hospadmin").get("/api/v1/workqueues").json()}
    assert hosp_queues == {"pending-attestation", "assigned-to-me"}
    for i in range(5):
        create(clerk, **{"child.first_name": f"Page {i}"})
    p1 = clerk.get("/api/v1/workqueues/my-drafts/records", params={"page_size": 2}).json()
    p2 = clerk.get(
        "/api/v1/workqueues/my-drafts/records", params={"page_size": 2, "page": 2}
    ).json()
    assert p1["total"] >= 5 and len(p1["items"]) == 2 and len(p2["items"]) == 2
    assert not {r["id"] for r in p1["items"]} & {r["id"] for r in p2["items"]}
    # Drafts are private: another user's draft queue does not show them.
    agent = box.client("agent").get("/api/v1/workqueues/my-drafts/records").json()
    assert not {r["id"] for r in agent["items"]} & {r["id"] for r in p1["items"]}
    r = box.client("hospadmin").get("/api/v1/workqueues/my-drafts/records")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/api/v1/records", {"event_type": "marriage"}, 422, "event_type"),
        ("post", "/api/v1/records", {"event_type": "birth", "colour": 1}, 400, "colour"),
        ("post", "/api/v1/records", {"declaration": {}}, 400, "event_type"),
        (
            "post",
            "/api/v1/records",
            {"event_type": "birth", "declaration": {"child.dob": "3000-01-01"}},
            422,
            "declaration.child.dob",
        ),
        (
            "post",
            "/api/v1/records",
            {"event_type": "birth", "declaration": {"child.dob": 5}},
            422,
            "declaration.child.dob",
        ),
        (
            "post",
            "/api/v1/records",
            {"event_type": "birth", "client_time": "yesterday"},
            400,
            "client_time",
        ),
        ("post", "/api/v1/records", ["not", "an", "object"], 400, None),
        ("get", "/api/v1/workqueues/my-drafts/records?page=0", None, 400, "page"),
        ("get", "/api/v1/workqueues/my-drafts/records?page_size=5000", None, 422, "page_size"),
        ("get", "/api/v1/workqueues/my-drafts/records?page=abc", None, 400, "page"),
        ("get", "/api/v1/records/not-a-uuid", None, 404, None),
        ("get", "/api/v1/records/00000000-0000-7000-8000-000000000000", None, 404, None),
        (
            "post",
            "/api/v1/records/00000000-0000-7000-8000-000000000000/actions",
            {"type": "PRINT"},
            404,
            None,
        ),
        (
            "post",
            "/api/v1/records/00000000-0000-7000-8000-000000000000/actions",
            {"type": "NOPE"},
            400,
            "type",
        ),
    ],
)
def test_bad_input_is_a_problem_document_naming_the_field(
    box: Box, method: str, path: str, body: Any, status: int, field: str | None
) -> None:
    r = getattr(box.client("clerk"), method)(path, **({"json": body} if body is not None else {}))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert "Traceback" not in r.text
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem


def test_garbage_never_gives_a_500(box: Box) -> None:
    c = box.client("registrar")
    rec = create(box.client("clerk"))
    bodies: list[Any] = [
        b"",
        b"{",
        b"\xff\xfe",
        b"null",
        b"[]",
        b'{"type": null}',
        b'{"type": "EDIT", "then": "PUBLISH"}',
        b'{"type": "CUSTOM"}',
        b'{"type": "CUSTOM", "custom_type": "Nope"}',
        b'{"type": "UPDATE", "declaration": {"child.first_name": ' + b"9" * 5000 + b"}}",
        b'{"type": "UPDATE", "declaration": "text"}',
        b'{"type": "UPDATE", "form": {"reason": ["a"]}}',
        b'{"type": "REJECT", "form": {"reason": "' + b"x" * 2000 + b'"}}',
    ]
    for body in bodies:
        r = c.post(
            f"/api/v1/records/{rec['id']}/actions",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert 400 <= r.status_code < 500, (body[:60], r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    huge = c.post(
        "/api/v1/records",
        content=b'{"event_type": "' + b"b" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    # None of it changed the record.
    timeline = box.client("clerk").get(f"/api/v1/records/{rec['id']}").json()["timeline"]
    assert [a["type"] for a in timeline] == ["CREATE"]


def test_anonymous_and_forged_credentials_are_401(box: Box) -> None:
    anonymous = box.client()
    assert anonymous.get("/api/v1/workqueues").status_code == 401
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    forged = [
        {"Cookie": "edge_session=made-up"},
        {"Authorization": "Bearer edge_made-up"},
        {"X-Edge-User": "registrar"},
    ]  # the old development header means nothing
    for headers in forged:
        r = httpx.get(box.url + "/api/v1/workqueues", headers=headers)
        assert r.status_code == 401, headers


def test_openapi_documents_every_route_with_an_operation_id(box: Box) -> None:
    spec = httpx.get(box.url + "/api/schema/openapi.json").json()
    ops = [op for path in spec["paths"].values() for op in path.values()]
    ids = {op["operationId"] for op in ops}
    assert {
        "createRecord",
        "performAction",
        "getRecord",
        "getActionMenu",
        "listWorkqueues",
        "listWorkqueueRecords",
        "health",
    } <= ids
    assert len(ids) == len(ops)
    assert "ActionCreate" in spec["components"]["schemas"]
