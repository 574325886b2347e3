"""The office web UI in a real browser, against real box, worker and registry processes."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.chaos_proxy import ChaosProxy
from tests.e2e.conftest import browse, click_through, office_box, shot
from tests.helpers import (
    BIRTH,
    DEATH,
    Box,
    Registry,
    edge_cli,
    journal_conn,
    start_registry,
    stop_process,
)

Page = Any  # playwright.sync_api.Page


def login(page: Page, user: str, password: str = "demo-password") -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    click_through(page, page.get_by_role("button", name="Log in"))
    page.wait_for_url(re.compile(r"/queues/"))


def logout(page: Page) -> None:
    click_through(page, page.get_by_role("button", name="Log out"))
    page.wait_for_url(re.compile(r"/login"))


def fill_declaration(page: Page, values: dict[str, str]) -> None:
    for field, value in values.items():
        control = page.locator(f"[name='f.{field}']")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)


def review_and_declare(page: Page) -> None:
    """The clerk reads the summary back to the informant, ticks the confirmation, declares."""
    page.get_by_role("button", name="Review and declare").click()
    page.get_by_label("The informant has heard this summary").check()
    page.get_by_role("button", name="Declare", exact=True).click()


def declare(page: Page, event: str, values: dict[str, str]) -> str:
    page.get_by_role("link", name="New declaration").click()
    page.get_by_role("link", name=event).click()
    fill_declaration(page, values)
    review_and_declare(page)
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    return str(page.url.rsplit("/", 1)[1])


def open_record(page: Page, record_id: str) -> None:
    page.goto(f"/records/{record_id}")


def wait_for_text(page: Page, record_id: str, text: str, seconds: float = 30) -> None:
    """Reload the record page until the text shows (the worker works in the background)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        open_record(page, record_id)
        if page.get_by_text(text).count():
            return
        time.sleep(0.5)
    raise AssertionError(f"“{text}” never showed on the record page")


def test_clerk_declares_registrar_registers_and_the_registry_accepts(
    page: Page, box: Box, registry: Registry, worker: object
) -> None:
    page.goto("/")
    assert "/login" in page.url  # nothing without logging in
    shot(page, "01-login")
    login(page, "clerk")
    shot(page, "02-workqueue")
    # A missing required field is named next to the field and in the summary at the top.
    page.get_by_role("link", name="New declaration").click()
    page.get_by_role("link", name="Birth").click()
    fill_declaration(page, {k: v for k, v in BIRTH.items() if k != "child.sex"})
    # The review reads everything back; the gap is marked there and Declare is not offered.
    page.get_by_role("button", name="Review and declare").click()
    assert "Required: not filled in" in page.locator("div.review").inner_text()
    assert "Sara" in page.locator("div.review").inner_text()
    assert page.get_by_role("button", name="Declare", exact=True).count() == 0
    shot(page, "03-review-with-a-gap")
    page.get_by_role("button", name="Change answers").click()
    # Back on the form, everything typed is still there and the gap is named at the field.
    assert page.locator("[name='f.child.first_name']").input_value() == BIRTH["child.first_name"]
    assert page.locator("#f\\.child\\.sex-error").inner_text() == "Sex is required."
    shot(page, "03-declaration-errors")
    page.locator("[name='f.child.sex']").select_option("female")
    page.get_by_role("button", name="Review and declare").click()
    # Declare without the informant's confirmation: refused, named, nothing saved.
    page.get_by_role("button", name="Declare", exact=True).click()
    assert "confirm" in page.locator("#error-summary").inner_text().lower()
    page.get_by_label("The informant has heard this summary").check()
    click_through(page, page.get_by_role("button", name="Declare", exact=True))
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    record_id = page.url.rsplit("/", 1)[1]
    assert page.get_by_text("Declared", exact=True).count()
    wait_for_text(page, record_id, "Accepted by the national registry")
    logout(page)

    login(page, "registrar")
    page.get_by_role("searchbox").fill("Sara")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Sara Haddad").first.click()
    # The menu is the engine's: Register is shown disabled, with why, until assigned.
    register = page.get_by_role("button", name="Register")
    assert register.is_disabled()
    assert "Assign this record to yourself first" in page.locator(".actions").inner_text()
    page.get_by_role("button", name="Assign").click()
    page.get_by_role("link", name="Register").click()
    shot(page, "04-register-confirm")
    click_through(page, page.get_by_role("button", name=re.compile("Confirm")))
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    shot(page, "05-record-registered")
    wait_for_text(page, record_id, "Registered", seconds=5)
    # Never final before the registry accepted it; then it is.
    wait_for_text(page, record_id, "Accepted by the national registry")
    deadline = time.monotonic() + 30
    while page.get_by_text("not final until").count() and time.monotonic() < deadline:
        time.sleep(0.5)
        open_record(page, record_id)
    assert page.get_by_text("not final until").count() == 0
    types = [a["type"] for a in registry.journal() if a["record_id"] == record_id]
    assert types == ["CREATE", "DECLARE", "ASSIGN", "REGISTER"]


def test_offline_blue_banner_then_green_when_sent(
    page: Page, box: Box, registry: Registry, worker: object
) -> None:
    port = int(registry.url.rsplit(":", 1)[1])
    login(page, "clerk")
    stop_process(registry.process)
    record_id = declare(page, "Birth", BIRTH)
    # The banner appears without a reload once the worker found the registry unreachable.
    page.locator(".banner.offline").wait_for(timeout=30_000)
    banner = page.locator(".banner.offline").inner_text()
    assert "cannot be reached" in banner and "saved on this box" in banner
    assert re.search(r"\d+ actions? (is|are) waiting", banner)
    shot(page, "06-offline-banner")
    page.get_by_role("link", name="Outbox").first.click()
    expect(page.locator("h1")).to_contain_text("Outbox")
    rows = page.locator("table.records tbody tr")
    assert rows.count() >= 2
    # Waiting, or caught in the middle of a try that will fail: either way never "sent".
    first = rows.first.inner_text()
    assert "Waiting to be sent" in first or "Being sent" in first, first
    assert "cannot be reached" in page.locator("table.records").inner_text()
    shot(page, "07-outbox-offline")
    open_record(page, record_id)
    unsent = re.compile("Saved on this box, not yet sent|Being sent to the registry")
    assert page.locator(".timeline .sync").filter(has_text=unsent).count() == 2
    assert page.get_by_text("Accepted by the national registry").count() == 0

    back = start_registry(registry.home, registry.admin_token, port=port)
    try:
        page.locator(".banner.sent").wait_for(timeout=45_000)
        assert "have been sent" in page.locator(".banner.sent").inner_text()
        shot(page, "08-sent-banner")
        open_record(page, record_id)
        assert page.locator(".banner.sent").count() == 1  # persists until dismissed
        page.get_by_role("button", name="Dismiss").click()
        expect(page.locator(".banner")).to_have_count(0)
        wait_for_text(page, record_id, "Accepted by the national registry")
    finally:
        stop_process(back.process)


def test_a_frozen_wan_turns_the_banner_blue_within_seconds_and_green_is_per_user(
    browser: object, tmp_path: Path, registry: Registry
) -> None:
    # The WAN stalls: packets go nowhere, nothing is refused. No sync worker runs, so only
    # the pages' own probe can notice.
    proxy = ChaosProxy(int(registry.url.rsplit(":", 1)[1]), cut_probability=0)
    via = f"http://127.0.0.1:{proxy.port}"
    try:
        with office_box(tmp_path, registry, {}, url=via) as box, browse(browser, box) as page:
            login(page, "clerk")
            assert page.locator(".banner").count() == 0
            proxy.frozen.set()
            frozen_at = time.monotonic()
            page.locator(".banner.offline").wait_for(timeout=30_000)  # no reload
            took = time.monotonic() - frozen_at
            assert took < 20, f"the blue banner took {took:.0f} s"
            record_id = declare(page, "Birth", BIRTH)
            assert page.locator(".banner.offline").count() == 1
            proxy.frozen.clear()
            edge_cli(box.home, "sync")  # the WAN is back: her work is sent
            page.locator(".banner.sent").wait_for(timeout=30_000)
            logout(page)
            # The next person at this PC did nothing offline: no green banner for them.
            login(page, "registrar")
            page.wait_for_timeout(6_000)  # a poll of the banner or more
            assert page.locator(".banner").count() == 0
            logout(page)
            # The clerk, on another PC, is told her work was sent, until she dismisses it.
            with browse(browser, box) as other:
                login(other, "clerk")
                assert "have been sent" in other.locator(".banner.sent").inner_text()
                other.get_by_role("button", name="Dismiss").click()
                expect(other.locator(".banner")).to_have_count(0)
                open_record(other, record_id)
                assert other.locator(".banner").count() == 0
    finally:
        proxy.close()


def test_the_attest_worked_example(page: Page, box: Box, registry: Registry) -> None:
    login(page, "clerk")
    record_id = declare(page, "Death", DEATH)
    assert page.get_by_text("Pending attestation").count()
    logout(page)
    login(page, "registrar")
    open_record(page, record_id)
    page.get_by_role("button", name="Assign").click()
    register = page.get_by_role("button", name="Register")
    assert register.is_disabled()
    assert "waits until the hospital administrator attests" in page.locator(".actions").inner_text()
    page.get_by_role("button", name="Unassign").click()
    logout(page)
    login(page, "hospadmin")
    page.get_by_role("link", name="Pending attestation").click()
    expect(page.get_by_role("link", name="Ali Saleh")).to_have_count(1)
    page.get_by_role("link", name="Ali Saleh").click()
    page.get_by_role("button", name="Assign").click()
    page.get_by_role("link", name="Attest", exact=True).click()
    assert "confirm that the event occurred in your health facility" in page.content()
    page.get_by_label("Comments").fill("Seen by Dr Khalil")
    shot(page, "09-attest-dialog")
    click_through(page, page.get_by_role("button", name=re.compile("Confirm")))
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    assert page.get_by_text("Attested", exact=True).count()
    logout(page)
    login(page, "registrar")
    open_record(page, record_id)
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("link", name="Register")).to_have_count(1)  # enabled now


def test_arabic_renders_right_to_left(page: Page, box: Box) -> None:
    login(page, "clerk")
    page.get_by_label("Language").select_option("ar")
    click_through(page, page.get_by_role("button", name="Change"))
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    assert page.get_by_role("link", name="تصريح جديد").count() == 1
    # Laid out from the right: the office name sits right of the language menu.
    brand = page.locator(".brand").bounding_box()
    language = page.locator(".language").bounding_box()
    assert brand["x"] > language["x"]
    shot(page, "10-arabic")
    page.get_by_role("link", name="تصريح جديد").click()
    page.get_by_role("link", name="ولادة").click()
    # The click returns once the new page starts arriving; wait for its form.
    expect(page.get_by_label(re.compile("اسم الطفل"))).to_have_count(1)
    shot(page, "11-arabic-form")


def test_a_half_filled_form_survives_a_reload_and_pages_fit_a_tablet(page: Page, box: Box) -> None:
    page.set_viewport_size({"width": 1024, "height": 600})
    login(page, "clerk")
    page.goto("/records/new?event=birth")
    page.locator("[name='f.child.first_name']").fill("Lina")
    page.reload()
    assert page.locator("[name='f.child.first_name']").input_value() == "Lina"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024, "the form scrolls sideways on a 1024 by 600 tablet"
    shot(page, "12-tablet-form")
    # Keyboard only: Tab from the top reaches the skip link first, then real controls.
    page.goto("/outbox")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_pages_answer_without_javascript_and_forms_need_the_token(box: Box) -> None:
    import httpx

    with httpx.Client(base_url=box.url) as http:
        http.post("/login", data={"username": "clerk", "password": "demo-password"})
        page = http.get("/records/new?event=birth")
        assert page.status_code == 200 and "<script" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        refused = http.post("/records/new", data={"event": "birth", "then": ""})
        assert refused.status_code == 403 and "expired" in refused.text
        conn = journal_conn(box.home)
        assert conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == 0
        conn.close()


def test_search_the_registry_and_bring_a_record_here(
    page: Page, tmp_path: Any, box: Box, registry: Registry
) -> None:
    import httpx

    from tests.helpers import edge_cli, running_box

    # Another box of the office made a record; the registry then released it.
    other = tmp_path / "other"
    edge_cli(other, "init", "--demo", "--office-id", "office-1")
    edge_cli(other, "enroll", registry.url, registry.token())
    with running_box(other) as b:
        clerk = b.client("clerk")
        rid = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
        declared = {**BIRTH, "child.first_name": "Yara"}
        clerk.post(
            f"/api/v1/records/{rid}/actions", json={"type": "DECLARE", "declaration": declared}
        )
    edge_cli(other, "sync")
    httpx.post(
        f"{registry.url}/admin/v1/records/{rid}/lease",
        headers={"Authorization": f"Bearer {registry.admin_token}"},
        json={"box_id": None, "by": "national office"},
    ).raise_for_status()
    # The registry shows its records to the users it knows, as their role allows.
    registry.add_user("registrar", "local-registrar").raise_for_status()
    edge_cli(box.home, "sync")  # the box has been in touch with the registry

    login(page, "registrar")
    page.get_by_role("searchbox").fill("Yara")
    click_through(page, page.get_by_role("button", name="Search"))
    page.wait_for_url(re.compile(r"/search\?q=Yara"))
    registry_table = page.locator("table.records").last
    expect(registry_table).to_contain_text("In the registry only")
    shot(page, "13-registry-search")
    click_through(page, page.get_by_role("button", name="Assign to me"))
    page.wait_for_url(re.compile(rf"/records/{rid}$"))
    assert page.get_by_text("Assigned to Layla Khoury").count()
    assert page.get_by_role("link", name="Register").count() == 1
    page.get_by_role("searchbox").fill("Yara")
    click_through(page, page.get_by_role("button", name="Search"))
    page.wait_for_url(re.compile(r"/search\?q=Yara"))
    expect(page.locator("table.records").last).to_contain_text("On this box")


def test_the_local_admin_manages_users(page: Page, box: Box) -> None:
    login_any(page, "admin")
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add a user").click()
    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Full name").fill("Nadia Farah")
    page.get_by_label("One-time password").fill("short")
    page.get_by_label("Role").select_option("registration-agent")
    page.get_by_role("button", name="Add the user").click()
    assert "at least" in page.locator("#error-summary").inner_text()  # too short: said, kept out
    page.get_by_label("One-time password").fill("first day password")
    click_through(page, page.get_by_role("button", name="Add the user"))
    page.wait_for_url(re.compile(r"/users$"))
    row = page.locator("tr", has_text="nadia")
    assert "Must choose a new password" in row.inner_text()
    shot(page, "14-users")
    # The new user must choose their own password before anything else.
    other = page.context.browser.new_context(base_url=box.url)
    p2 = other.new_page()
    p2.goto("/login")
    p2.get_by_label("Username").fill("nadia")
    p2.get_by_label("Password", exact=True).fill("first day password")
    p2.get_by_role("button", name="Log in").click()
    p2.wait_for_url(re.compile(r"/password$"))
    p2.get_by_label("Current password").fill("first day password")
    p2.get_by_label("New password", exact=True).fill("nadia's own password")
    p2.get_by_label("New password again").fill("nadia's own password")
    p2.get_by_role("button", name="Change password").click()
    p2.wait_for_url(re.compile(r"/queues/"))
    other.close()
    page.reload()
    row = page.locator("tr", has_text="nadia")
    assert "Active" in row.inner_text()
    row.get_by_role("link", name="Deactivate").click()
    page.get_by_label("Why").fill("Left the office")
    page.get_by_role("button", name="Deactivate").click()
    assert "Nadia Farah can no longer log in" in page.locator(".notice").inner_text()
    assert "Deactivated" in page.locator("tr", has_text="nadia").inner_text()


def login_any(page: Page, user: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password", exact=True).fill("demo-password")
    click_through(page, page.get_by_role("button", name="Log in"))


def test_a_correction_is_requested_and_approved(page: Page, box: Box) -> None:
    login(page, "clerk")
    record_id = declare(page, "Birth", BIRTH)
    logout(page)
    login(page, "registrar")
    open_record(page, record_id)
    page.get_by_role("button", name="Assign").click()
    page.get_by_role("link", name="Register").click()
    page.get_by_role("button", name=re.compile("Confirm")).click()
    page.get_by_role("button", name="Assign").click()
    page.get_by_role("link", name="Correct", exact=True).click()
    page.locator("[name='f.child.first_name']").fill("Sarah")
    page.get_by_role("button", name="Correct", exact=True).click()
    assert "Reason is required" in page.locator("#error-summary").inner_text()
    assert page.locator("[name='f.child.first_name']").input_value() == "Sarah"  # kept
    page.get_by_label(re.compile("Reason")).fill("Misspelt at the desk")
    page.get_by_label(re.compile("Asked for by")).fill("Mona Haddad, the mother")
    click_through(page, page.get_by_role("button", name="Correct", exact=True))
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    assert "Sarah" in page.locator("section.summary").inner_text()  # the requested change
    shot(page, "15-correction-requested")
    page.get_by_role("button", name="Assign").click()
    page.get_by_role("link", name="Approve correction").click()
    click_through(page, page.get_by_role("button", name=re.compile("Confirm")))
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    assert page.locator("h1").inner_text() == "Sarah Haddad"


# WCAG AA: 4.5:1 for text, 3:1 for large text (disabled controls are exempt).
CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text()


def test_contrast_keyboard_and_screen_sizes(page: Page, box: Box, registry: Registry) -> None:
    # Keyboard only: log in without touching the mouse.
    page.goto("/login")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the language menu to the username
    focused = page.evaluate("document.activeElement.id")
    while focused != "username":
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
    page.keyboard.type("clerk")
    page.keyboard.press("Tab")
    page.keyboard.type("demo-password")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/queues/"))
    record_id = declare(page, "Birth", BIRTH)
    outline = page.evaluate(
        "() => { const b = document.querySelector('.actions a, .actions button:not([disabled])');"
        " b.focus(); return getComputedStyle(b).outlineStyle; }"
    )
    assert outline == "solid", "keyboard focus must be visible"
    pages = ["/outbox", "/help", f"/records/{record_id}"]
    pages += ["/records/new?event=birth", "/queues/my-drafts", "/search?q=Sara"]
    for width, height in ((1366, 768), (1024, 600)):
        page.set_viewport_size({"width": width, "height": height})
        for path in pages:
            page.goto(path)
            assert page.evaluate(CONTRAST_JS) == [], f"{path}: text below WCAG AA contrast"
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{path} scrolls sideways at {width}x{height}"
