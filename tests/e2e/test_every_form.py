"""Every form post of every page, submitted in Chromium as staff would, each checked for what
it changed on the box. The browser's own posts are recorded, and the test fails if a form post
of the pages was never made: a new page form cannot go untested."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.workflow.model import ActionType
from tests.e2e.conftest import click_through, shot
from tests.e2e.test_ui import fill_declaration, login, review_and_declare
from tests.helpers import BIRTH, DEATH, Box, Registry, edge_cli, journal_conn, running_box
from tests.integration.test_authorization import app_routes
from tests.web_forms import PDF

Page = Any  # playwright.sync_api.Page
RECORD = re.compile(r"/records/([0-9a-f-]{36})")
# Posted by the page script, not a form: tests/e2e/test_shared_pc.py clicks it.
SCRIPT_POSTS = {"POST /ui/keepalive"}
# Posted by a page only after the registry was unreachable: submitted, and what it changes
# checked, by tests/e2e/test_ui.py (the banner tests).
ELSEWHERE = {"POST /ui/dismiss-sent"}


@dataclass
class Posts:
    """The form posts the browser made: route patterns, and the actions posted."""

    routes: dict[str, re.Pattern[str]]
    seen: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)

    def record(self, request: Any) -> None:
        if request.method != "POST" or request.resource_type != "document":
            return
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        for route, pattern in self.routes.items():
            if pattern.fullmatch("/" + path):
                self.seen.add(route)
        if m := re.fullmatch(r"records/[0-9a-f-]{36}/do/([A-Z_]+)", path):
            self.actions.add(m.group(1))
        if path == "records/new":
            self.actions.add("CREATE")


def pattern(route: str) -> re.Pattern[str]:
    path = route.split(" ", 1)[1]
    return re.compile(re.sub(r"\{[a-z_]+:(str|path)\}", "[^/]+", path))


class Office:
    """The box's database as the test reads it."""

    def __init__(self, box: Box) -> None:
        self.box = box

    def one(self, sql: str, *args: Any) -> Any:
        conn = journal_conn(self.box.home)
        try:
            row = conn.execute(sql, args).fetchone()
            return row[0] if row and len(row) == 1 else row
        finally:
            conn.close()

    def record(self, rid: str) -> tuple[str, set[str], str | None]:
        status, flags, assigned = self.one(
            "SELECT status, flags, assigned_to FROM records WHERE id = ?", rid
        )
        return status, set(json.loads(flags)), assigned

    def last_action(self, rid: str) -> tuple[str, dict[str, Any]]:
        kind, payload = self.one(
            "SELECT type, payload FROM actions WHERE record_id = ? ORDER BY seq DESC LIMIT 1", rid
        )
        return kind, json.loads(payload)

    def user(self, username: str, column: str) -> Any:
        return self.one(f"SELECT {column} FROM users WHERE username = ?", username)


def switch(page: Page, user: str, password: str = "demo-password") -> None:
    if page.locator("form[data-logout]").count():
        click_through(page, page.get_by_role("button", name="Log out"))
        page.wait_for_url(re.compile(r"/login"))
    page.goto("/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    click_through(page, page.get_by_role("button", name="Log in"))


def new_record(page: Page, event: str, values: dict[str, str], button: str) -> str:
    page.goto(f"/records/new?event={event}")
    fill_declaration(page, values)
    if button == "Declare":
        review_and_declare(page)
    else:
        page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(RECORD)
    return str(RECORD.search(page.url).group(1))  # type: ignore[union-attr]


def act(
    page: Page,
    rid: str,
    label: str,
    fields: dict[str, str] | None = None,
    button: str = "",
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> None:
    """Assign the record if needed, open the action, fill its form (and choose its files:
    control name to file name, bytes, type), confirm."""
    page.goto(f"/records/{rid}")
    assign = page.locator(".actions").get_by_role("button", name="Assign", exact=True)
    if assign.count() and assign.is_enabled():
        click_through(page, assign)
        page.wait_for_url(RECORD)
    page.locator(".actions").get_by_role("link", name=label, exact=True).click()
    for name, value in (fields or {}).items():
        control = page.locator(f"[name='{name}']")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    for name, (filename, data, mime) in (files or {}).items():
        page.locator(f"[name='{name}']").set_input_files(
            {"name": filename, "mimeType": mime, "buffer": data}
        )
    confirm = page.get_by_role("button", name=button) if button else page.locator("button.primary")
    click_through(page, confirm)


def test_every_form_post_of_every_page(
    page: Page, box: Box, registry: Registry, tmp_path: Path
) -> None:
    routes = {r: pattern(r) for r in app_routes(box.home, api=False) if r.startswith("POST ")}
    posts = Posts(routes)
    page.on("request", posts.record)
    db = Office(box)

    # -- the clerk: language, drafts, notify, declare -----------------------------------
    login(page, "clerk")
    page.get_by_label("Language").select_option("ar")
    click_through(page, page.get_by_role("button", name="Change"))
    assert page.locator("html").get_attribute("lang") == "ar"
    page.get_by_label("اللغة").select_option("en")
    click_through(page, page.locator("form.language button"))
    assert page.locator("html").get_attribute("lang") == "en"

    draft = new_record(page, "birth", {"child.first_name": "Dina"}, "Save draft")
    assert db.record(draft)[0] == "draft"
    given_up = new_record(page, "birth", {"child.first_name": "Zeina"}, "Save draft")
    act(page, given_up, "Delete draft")
    assert "deleted" in db.record(given_up)[1]
    assert "The draft was deleted" in page.locator(".notice.done").inner_text()
    page.goto("/queues/my-drafts")
    assert "Zeina" not in page.locator("main").inner_text()
    page.goto(f"/records/{given_up}")
    assert page.locator("h1").inner_text() == "Not found"
    # The declaration forms send files too (multipart): a document attached by the UPDATE.
    scan = ("notification.pdf", PDF, "application/pdf")
    act(
        page, draft, "Update", {"f.child.last_name": "Saad"}, files={"doc.birth-notification": scan}
    )
    kind, payload = db.last_action(draft)
    assert kind == "UPDATE" and [d["name"] for d in payload["documents"]] == ["notification.pdf"]
    act(page, draft, "Notify")
    assert db.record(draft)[0] == "notified"
    notified = new_record(page, "birth", {"child.first_name": "Nour"}, "Send incomplete (notify)")
    assert db.record(notified)[0] == "notified"
    declared = new_record(page, "birth", BIRTH, "Declare")
    assert db.record(declared)[0] == "declared"
    twin = {**BIRTH, "child.first_name": "Salma"}
    first = new_record(page, "birth", twin, "Declare")
    again = new_record(page, "birth", twin, "Declare")  # the same child declared twice
    thrice = new_record(page, "birth", twin, "Declare")
    assert "potential-duplicate" in db.record(again)[1]
    death = new_record(page, "death", DEATH, "Declare")
    assert "pending-attestation" in db.record(death)[1]

    # -- the agent: declare a notification, edit, reject ---------------------------------
    switch(page, "agent")
    act(
        page,
        notified,
        "Declare",
        {f"f.{k}": v for k, v in BIRTH.items() if k != "child.first_name"},
    )
    assert db.record(notified)[0] == "declared"
    act(page, declared, "Edit", {"f.child.weight_kg": "3.2"}, button="Declare with edits")
    kind, payload = db.last_action(declared)
    assert kind == "EDIT" and payload["then"] == "DECLARE"
    act(page, notified, "Reject", {"d.reason": "Mother's name misspelt"})
    assert "rejected" in db.record(notified)[1]
    shot(page, "30-agent-after-reject")

    # -- the registrar: duplicates, register, print, corrections, custom, unassign -------
    switch(page, "registrar")
    act(page, again, "Mark not a duplicate")
    assert "potential-duplicate" not in db.record(again)[1]
    act(page, thrice, "Mark as duplicate", {"d.reason": "Same child as an earlier record"})
    assert db.record(thrice)[0] == "archived"
    act(page, first, "Archive", {"d.reason": "Withdrawn by the family"})
    assert db.record(first)[0] == "archived"
    act(page, declared, "Edit", {"f.child.weight_kg": "3.3"}, button="Register with edits")
    assert db.record(declared)[0] == "registered"
    act(page, again, "Register")
    assert db.record(again)[0] == "registered"
    act(page, again, "Print")  # before the registry accepted it: a draft, to check
    assert db.last_action(again) == ("PRINT", {"form": {"draft": "yes"}})
    edge_cli(box.home, "sync")  # accepted: a copy is certified, collected and paid for
    act(page, again, "Print", {"d.collector": "Mona Haddad", "d.receipt": "R-2026-0042"})
    assert db.last_action(again) == (
        "PRINT",
        {"form": {"collector": "Mona Haddad", "receipt": "R-2026-0042", "fee": "10.00 ILS"}},
    )
    act(
        page,
        again,
        "Correct",
        {"f.child.first_name": "Salwa", "d.reason": "Misspelt", "d.requester": "Her mother"},
    )
    assert "correction-requested" in db.record(again)[1]
    act(page, again, "Reject correction", {"d.reason": "No proof given"})
    assert "correction-requested" not in db.record(again)[1]
    act(
        page,
        again,
        "Correct",
        {"f.child.first_name": "Salwa", "d.reason": "Misspelt", "d.requester": "Her mother"},
    )
    act(page, again, "Approve correction")
    assert db.one("SELECT title FROM records WHERE id = ?", again) == "Salwa Haddad"
    act(page, again, "Issue verifiable credential")
    assert db.last_action(again)[1]["audit"] == "Verifiable credential issued"
    page.goto(f"/records/{declared}")
    click_through(page, page.locator(".actions").get_by_role("button", name="Assign", exact=True))
    page.wait_for_url(RECORD)
    assert db.record(declared)[2] is not None
    click_through(page, page.locator(".actions").get_by_role("button", name="Unassign", exact=True))
    page.wait_for_url(RECORD)
    assert db.record(declared)[2] is None

    # -- the hospital administrator attests the death (a custom action with a form) ------
    switch(page, "hospadmin")
    act(page, death, "Attest", {"d.comments": "Seen by Dr Khalil"})
    assert "pending-attestation" not in db.record(death)[1]
    assert db.last_action(death)[1]["form"] == {"comments": "Seen by Dr Khalil"}

    # -- a record found in the registry, brought here ----------------------------------
    other = tmp_path / "other"
    edge_cli(other, "init", "--demo", "--office-id", "office-1")
    edge_cli(other, "enroll", registry.url, registry.token())
    with running_box(other) as b:
        clerk = b.client("clerk")
        rid = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
        born = {**BIRTH, "child.first_name": "Yara"}
        clerk.post(f"/api/v1/records/{rid}/actions", json={"type": "DECLARE", "declaration": born})
    edge_cli(other, "sync")
    import httpx

    httpx.post(
        f"{registry.url}/admin/v1/records/{rid}/lease",
        headers={"Authorization": f"Bearer {registry.admin_token}"},
        json={"box_id": None, "by": "national office"},
    ).raise_for_status()
    registry.add_user("registrar", "local-registrar").raise_for_status()  # known nationally
    edge_cli(box.home, "sync")
    switch(page, "registrar")
    page.goto("/search?q=Yara")
    click_through(page, page.get_by_role("button", name="Assign to me"))
    page.wait_for_url(re.compile(rf"/records/{rid}$"))
    assert db.record(rid)[2] is not None

    # -- "Send now" in the outbox: the push is asked for at once ------------------------
    page.goto("/outbox")
    click_through(page, page.get_by_role("button", name="Send now"))
    page.wait_for_url(re.compile(r"/outbox$"))
    assert "trying to send now" in page.locator(".notice.done").inner_text()
    assert db.one("SELECT status FROM sync_stages WHERE name = 'push'") in ("waiting", "done")
    assert "Sending to the registry" in page.locator(".stages").inner_text()

    # -- the local admin: add, reset, unlock, deactivate, reactivate; the new user's password
    switch(page, "admin")
    page.goto("/users/new")
    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Full name").fill("Nadia Farah")
    page.get_by_label("One-time password").fill("first day password")
    page.get_by_label("Role").select_option("registration-agent")
    click_through(page, page.get_by_role("button", name="Add the user"))
    page.wait_for_url(re.compile(r"/users$"))
    assert db.user("nadia", "must_change_password") == 1
    switch(page, "nadia", "first day password")
    page.wait_for_url(re.compile(r"/password$"))
    page.get_by_label("Current password").fill("first day password")
    page.get_by_label("New password", exact=True).fill("nadia's own password")
    page.get_by_label("New password again").fill("nadia's own password")
    click_through(page, page.get_by_role("button", name="Change password"))
    page.wait_for_url(re.compile(r"/queues/"))
    assert db.user("nadia", "must_change_password") == 0
    page.get_by_role("button", name="Log out").click()
    for _ in range(5):  # wrong passwords until locked
        page.goto("/login")
        page.get_by_label("Username").fill("nadia")
        page.get_by_label("Password", exact=True).fill("not her password")
        page.get_by_role("button", name="Log in").click()
    assert db.user("nadia", "locked_until") is not None
    switch(page, "admin")
    page.goto("/users")
    row = page.locator("tr", has_text="nadia")
    click_through(page, row.get_by_role("button", name="Unlock"))
    page.wait_for_url(re.compile(r"/users$"))
    assert db.user("nadia", "locked_until") is None
    page.locator("tr", has_text="nadia").get_by_role("link", name="Reset password").click()
    page.get_by_label("One-time password").fill("second day password")
    click_through(page, page.get_by_role("button", name="Reset password"))
    page.wait_for_url(re.compile(r"/users$"))
    assert db.user("nadia", "must_change_password") == 1
    page.locator("tr", has_text="nadia").get_by_role("link", name="Reset password").click()
    page.get_by_role("button", name="Make one up for me").click()
    made_up = page.locator(".password-once").inner_text().strip()
    assert len(made_up) >= 10 and db.user("nadia", "must_change_password") == 1
    page.reload()  # shown once: a reload shows the users, never another password
    assert page.locator(".password-once").count() == 0 and "nadia" in page.content()
    # A user added without a password gets one the box makes up, shown once.
    page.goto("/users/new")
    page.get_by_label("Username").fill("rami")
    page.get_by_label("Full name").fill("Rami Odeh")
    page.get_by_label("Role").select_option("registration-agent")
    page.get_by_role("button", name="Add the user").click()
    assert len(page.locator(".password-once").inner_text().strip()) >= 10
    assert db.user("rami", "must_change_password") == 1
    page.get_by_role("link", name="Done").click()
    page.locator("tr", has_text="nadia").get_by_role("link", name="Deactivate").click()
    page.get_by_role("button", name="Deactivate").click()
    assert "Say why" in page.locator("#error-summary").inner_text()  # a reason is asked for
    assert db.user("nadia", "active") == 1
    page.get_by_label("Why").fill("Moved to another office")
    click_through(page, page.get_by_role("button", name="Deactivate"))
    page.wait_for_url(re.compile(r"/users$"))
    assert db.user("nadia", "active") == 0
    click_through(
        page, page.locator("tr", has_text="nadia").get_by_role("button", name="Reactivate")
    )
    page.wait_for_url(re.compile(r"/users$"))
    assert db.user("nadia", "active") == 1
    shot(page, "31-users-after-changes")
    click_through(page, page.get_by_role("button", name="Log out"))
    page.wait_for_url(re.compile(r"/login"))

    # Every form post of the pages was made; every action went through a page.
    assert set(routes) - SCRIPT_POSTS - ELSEWHERE - posts.seen == set(), "posts never made"
    every_action = {t.value for t in ActionType}
    assert every_action - posts.actions == set(), "actions never taken from a page"
