"""A shared PC in an office: sessions that end, the next person at the keyboard, a box that
drops at the moment of Declare, and certified copies. Real box, registry and Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from edge.web.i18n import translations
from tests.e2e.conftest import browse, click_through, office_box, shot
from tests.e2e.test_ui import (
    declare,
    fill_declaration,
    login,
    logout,
    open_record,
    review_and_declare,
)
from tests.helpers import BIRTH, Box, Registry, edge_cli

Page = Any  # playwright.sync_api.Page
# A twelve-second idle limit: long enough to act between steps on a busy machine, short
# enough to wait out.
SHORT_IDLE = {"EDGE_SESSION_IDLE_MINUTES": "0.2"}


def saved_forms(page: Page) -> dict[str, str]:
    """What the browser keeps of forms (local storage), by key."""
    stored: dict[str, str] = page.evaluate(
        "() => Object.fromEntries(Object.keys(localStorage)"
        ".filter(k => k.startsWith('edge.form.')).map(k => [k, localStorage.getItem(k)]))"
    )
    return stored


def test_a_busy_user_stays_logged_in_and_an_idle_one_is_told(
    browser: object, tmp_path: Path, registry: Registry
) -> None:
    with office_box(tmp_path, registry, SHORT_IDLE) as box, browse(browser, box) as page:
        login(page, "clerk")
        # Busy for twice the idle limit: moving between pages keeps the session.
        start = time.monotonic()
        while time.monotonic() - start < 16:
            page.goto("/outbox")
            page.goto("/help")
            time.sleep(1)
        assert "/help" in page.url and page.locator(".me").count() == 1
        # Typing in a form is activity too, though nothing is sent until submitted.
        page.goto("/records/new?event=birth")
        start = time.monotonic()
        while time.monotonic() - start < 16:
            page.locator("[name='f.child.first_name']").press_sequentially("a")
            time.sleep(0.7)
        page.goto("/outbox")
        assert "/outbox" in page.url, "typing in a form did not keep the session"
        # Idle: the page warns before the end; "Stay logged in" keeps the session.
        warning = page.locator("#session-warning")
        warning.wait_for(state="visible", timeout=15_000)
        assert "logged out in" in warning.inner_text()
        shot(page, "20-session-warning")
        warning.get_by_role("button", name="Stay logged in").click()
        warning.wait_for(state="hidden", timeout=5_000)
        page.goto("/help")
        assert "/help" in page.url
        # Then nothing more: the page says the session has ended, and the box agrees.
        warning.wait_for(state="visible", timeout=15_000)
        page.get_by_text("Your login session has ended").wait_for(timeout=15_000)
        assert not warning.get_by_role("button", name="Stay logged in").is_visible()
        page.goto("/outbox")
        page.wait_for_url(re.compile(r"/login\?"))
        assert "Your login session ended" in page.locator("main").inner_text()
        shot(page, "21-session-ended")
        # Switching the language keeps the page as it was: the message and where to go back.
        page.get_by_label("Language").select_option("ar")
        click_through(page, page.get_by_role("button", name="Change"))
        page.wait_for_url(re.compile(r"/login\?next=.*ended=1"))
        assert "انتهت جلستك" in page.locator("main").inner_text()
        page.get_by_label("اللغة").select_option("en")
        click_through(page, page.locator("form.language button"))
        page.wait_for_url(re.compile(r"/login\?next="))
        # Logging in again goes back where the user was.
        page.get_by_label("Username").fill("clerk")
        page.get_by_label("Password", exact=True).fill("demo-password")
        click_through(page, page.get_by_role("button", name="Log in"))
        page.wait_for_url(re.compile(r"/outbox$"))


def test_the_admin_resets_a_password_from_the_users_page(page: Page, box: Box) -> None:
    _login_admin(page)
    page.get_by_role("link", name="Users").click()
    page.locator("tr", has_text="clerk").get_by_role("link", name="Reset password").click()
    page.get_by_label("One-time password").fill("a new one-time password")
    click_through(page, page.get_by_role("button", name="Reset password"))
    page.wait_for_url(re.compile(r"/users$"))  # a page that can be reloaded, not the POST
    assert "has a one-time password" in page.locator(".notice").inner_text()
    assert "Must choose a new password" in page.locator("tr", has_text="clerk").inner_text()
    page.reload()  # no resubmission, and the message is said once
    assert page.locator(".notice.done").count() == 0
    [(must_change,)] = box.rows("SELECT must_change_password FROM users WHERE username='clerk'")
    assert must_change == 1
    [(kind,)] = box.rows(
        "SELECT type FROM user_actions WHERE user_id = (SELECT id FROM users "
        "WHERE username='clerk') ORDER BY seq DESC LIMIT 1",
    )
    assert kind == "RESET_PASSWORD"
    logout(page)
    # The old password no longer works; the one-time one leads to choosing a new one.
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password", exact=True).fill("demo-password")
    page.get_by_role("button", name="Log in").click()
    assert "Wrong username or password" in page.locator("#error-summary").inner_text()
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password", exact=True).fill("a new one-time password")
    click_through(page, page.get_by_role("button", name="Log in"))
    page.wait_for_url(re.compile(r"/password$"))


def _login_admin(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill("demo-password")
    click_through(page, page.get_by_role("button", name="Log in"))
    page.wait_for_url(re.compile(r"/(users|search)"))


FAMILY = {
    "child.first_name": "Rami",
    "mother.first_name": "Huda",
    "mother.last_name": "Khalil",
    "mother.national_id": "402199887",
}


def test_the_next_person_at_the_pc_never_sees_the_last_ones_form(page: Page, box: Box) -> None:
    login(page, "clerk")
    page.goto("/records/new?event=birth")
    fill_declaration(page, FAMILY)
    assert any("402199887" in v for v in saved_forms(page).values())  # kept while working
    logout(page)
    assert saved_forms(page) == {}, "Log out left the clerk's form in the browser"
    login(page, "agent")  # the next shift, same PC
    page.goto("/records/new?event=birth")
    for field in FAMILY:
        assert page.locator(f"[name='f.{field}']").input_value() == ""
    assert "402199887" not in page.content()
    shot(page, "22-next-user-empty-form")
    # Cancel forgets the form too.
    fill_declaration(page, {"child.first_name": "Omar"})
    click_through(page, page.get_by_role("link", name="Cancel"))
    page.goto("/records/new?event=birth")
    assert page.locator("[name='f.child.first_name']").input_value() == ""
    assert saved_forms(page) == {}


def test_a_declaration_is_kept_when_the_session_ended_before_declare(
    browser: object, tmp_path: Path, registry: Registry
) -> None:
    with office_box(tmp_path, registry, SHORT_IDLE) as box, browse(browser, box) as page:
        login(page, "clerk")
        page.goto("/records/new?event=birth")
        fill_declaration(page, BIRTH)
        page.get_by_role("button", name="Review and declare").click()
        # She is called away; the session ends while the summary is open.
        page.get_by_text("Your login session has ended").wait_for(timeout=30_000)
        page.get_by_label("The informant has heard this summary").check()
        click_through(page, page.get_by_role("button", name="Declare", exact=True))
        page.wait_for_url(re.compile(r"/login\?"))
        assert "Your login session ended" in page.locator("main").inner_text()
        assert box.rows("SELECT COUNT(*) FROM actions") == [(0,)]
        page.get_by_label("Username").fill("clerk")
        page.get_by_label("Password", exact=True).fill("demo-password")
        page.get_by_role("button", name="Log in").click()
        # Back on her form, with everything she typed and a word that it was not sent.
        page.wait_for_url(re.compile(r"/records/new\?event=birth$"))
        assert page.locator("#unsent").is_visible()
        for field, value in BIRTH.items():
            assert page.locator(f"[name='f.{field}']").input_value() == value
        shot(page, "23-unsent-form-back")
        review_and_declare(page)
        page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
        assert "Declare: saved on this box" in page.locator(".notice.done").inner_text()
        assert saved_forms(page) == {}  # the box confirmed it: nothing left in the browser
        assert box.rows("SELECT type FROM actions ORDER BY seq") == [("CREATE",), ("DECLARE",)]


def test_a_declaration_is_kept_when_the_box_cannot_be_reached_at_declare(
    page: Page, box: Box
) -> None:
    login(page, "clerk")
    page.goto("/records/new?event=birth")
    fill_declaration(page, BIRTH)
    page.get_by_role("button", name="Review and declare").click()
    page.get_by_label("The informant has heard this summary").check()
    # The Wi-Fi drops just as she presses Declare: the request never reaches the box.
    page.route(re.compile(r".*/records/new$"), lambda route: route.abort("connectionreset"))
    page.get_by_role("button", name="Declare", exact=True).click()  # leads to an error page
    page.wait_for_url(re.compile(r"^chrome-error://"))  # "This site can't be reached"
    page.unroute(re.compile(r".*/records/new$"))
    assert box.rows("SELECT COUNT(*) FROM actions") == [(0,)]
    page.goto("/records/new?event=birth")
    assert page.locator("#unsent").is_visible()
    assert page.locator("[name='f.child.first_name']").input_value() == BIRTH["child.first_name"]
    review_and_declare(page)
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    assert saved_forms(page) == {}


def pdf_text(page: Page, tmp_path: Path) -> str:
    """The page printed to PDF by Chromium, as text (poppler's pdftotext)."""
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext is missing (Debian package poppler-utils; make test installs it)"
    pdf = tmp_path / "copy.pdf"
    page.pdf(path=str(pdf))
    return subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True).stdout


def test_printing_is_an_action_of_those_who_may_print_and_draft_until_accepted(
    page: Page, box: Box, tmp_path: Path
) -> None:
    login(page, "clerk")
    record_id = declare(page, "Birth", BIRTH)
    logout(page)
    login(page, "registrar")
    open_record(page, record_id)
    click_through(page, page.get_by_role("button", name="Assign"))
    page.get_by_role("link", name="Register").click()
    click_through(page, page.get_by_role("button", name=re.compile("Confirm")))
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    # Not yet accepted by the registry (no worker runs): any copy is a draft.
    click_through(page, page.get_by_role("button", name="Assign"))
    click_through(page, page.get_by_role("link", name="Print", exact=True))
    assert "will say DRAFT" in page.locator("main").inner_text()  # said before printing
    # A draft is printed to check, never handed out: nobody collects it, nothing is paid.
    assert (
        page.locator("#fee").count() == 0 and page.get_by_label("Fee receipt number").count() == 0
    )
    click_through(page, page.get_by_role("button", name=re.compile("Confirm")))
    page.wait_for_url(re.compile(r"/print\?copy="))
    heading = page.locator("h1").inner_text()
    assert heading.startswith("DRAFT") and heading.endswith("not a certificate")
    page.emulate_media(media="print")
    assert page.locator(".watermark").is_visible()  # printed, not only on screen
    assert "DRAFT" in pdf_text(page, tmp_path)
    page.emulate_media(media="screen")
    shot(page, "24-draft-copy")
    draft_copy = page.url
    # In Arabic: the same warning in the title, the mark across the page.
    page.context.add_cookies([{"name": "edge_lang", "value": "ar", "url": box.url}])
    page.reload()
    title = translations("ar").gettext("DRAFT \u2013 not a certificate")
    assert page.locator("h1").inner_text() == title
    assert page.locator(".watermark").is_visible()
    shot(page, "24-draft-copy-ar")
    page.context.add_cookies([{"name": "edge_lang", "value": "en", "url": box.url}])
    page.reload()
    printed = box.rows("SELECT created_by, payload FROM actions WHERE type = 'PRINT'")
    assert len(printed) == 1 and '"draft":"yes"' in printed[0][1]
    assert "fee" not in printed[0][1] and "receipt" not in printed[0][1]
    open_record(page, record_id)
    assert page.locator(".timeline").get_by_text("Print").count() == 1
    logout(page)

    # The clerk may not print: neither the copy nor the Print dialog is shown to her.
    login(page, "clerk")
    for path in (f"/records/{record_id}/print", f"/records/{record_id}/do/PRINT"):
        page.goto(path)
        assert page.locator("h1").inner_text() == "Not found"
        assert "Certified copy" not in page.content() and "DRAFT" not in page.content()
    page.goto(draft_copy)
    assert page.locator("h1").inner_text() == "Not found"
    logout(page)

    # Once the registry accepted the registration, the copy is final; the PRINT is synced.
    edge_cli(box.home, "sync")
    login(page, "registrar")
    open_record(page, record_id)
    click_through(page, page.get_by_role("button", name="Assign"))
    click_through(page, page.get_by_role("link", name="Print", exact=True))
    assert "will say DRAFT" not in page.locator("main").inner_text()
    assert "costs 10.00 ILS" in page.locator("#fee").inner_text()  # the country's fee
    page.get_by_role("button", name=re.compile("Confirm")).click()  # nobody named: refused
    summary = page.locator("#error-summary").inner_text()
    assert "Collected by" in summary and "Fee receipt number is required" in summary
    page.get_by_label(re.compile("Collected by")).fill("Mona Haddad")
    page.get_by_label("Fee receipt number").fill("R-7782")
    click_through(page, page.get_by_role("button", name=re.compile("Confirm")))
    page.wait_for_url(re.compile(r"/print\?copy="))
    assert "Certified copy" in page.locator("h1").inner_text()
    # The copy says who registered it, when and where, and what was paid for it.
    copy = page.locator(".certificate").inner_text()
    for said in ("Date of registration", "Registrar", "Layla Khoury", "Ramallah Clinic"):
        assert said in copy, said
    assert re.search(r"Registration number\s+BIR-\d{4}-000001", copy), copy
    assert "Fee 10.00 ILS paid, receipt R-7782" in copy
    shot(page, "25-certified-copy")
    assert page.locator(".watermark").count() == 0
    assert "DRAFT" not in pdf_text(page, tmp_path)
    # The first copy stays what it was: a draft, never a clean certificate after the fact.
    page.goto(draft_copy)
    assert page.locator("h1").inner_text().startswith("DRAFT")
    logout(page)
    login(page, "agent")  # another user cannot reprint someone else's copy
    page.goto(draft_copy)
    assert "can no longer be printed" in page.locator("h1").inner_text()
    edge_cli(box.home, "sync")
    accepted = box.rows(
        "SELECT COUNT(*) FROM actions a JOIN sync_state s ON s.action_id = a.id "
        "WHERE a.type = 'PRINT' AND s.state = 'accepted'",
    )
    assert accepted == [(2,)]


def test_a_declare_whose_answer_was_lost_is_not_done_twice(page: Page, box: Box) -> None:
    login(page, "clerk")
    page.goto("/records/new?event=birth")
    fill_declaration(page, BIRTH)

    def lost_answer(route: Any) -> None:
        route.fetch()  # the box receives the form and saves the record ...
        route.abort("connectionreset")  # ... but its answer never reaches the PC

    page.get_by_role("button", name="Review and declare").click()
    page.get_by_label("The informant has heard this summary").check()
    page.route(re.compile(r".*/records/new$"), lost_answer)
    page.get_by_role("button", name="Declare", exact=True).click()  # leads to an error page
    page.wait_for_url(re.compile(r"^chrome-error://"))
    page.unroute(re.compile(r".*/records/new$"))
    assert box.rows("SELECT COUNT(*) FROM records") == [(1,)]
    # She does what the page tells her: the form is back, "not sent yet"; she presses again.
    page.goto("/records/new?event=birth")
    assert page.locator("#unsent").is_visible()
    review_and_declare(page)
    page.wait_for_url(re.compile(r"/records/[0-9a-f-]{36}$"))
    assert box.rows("SELECT COUNT(*) FROM records") == [(1,)]  # the same record, not a second
    assert box.rows("SELECT type FROM actions ORDER BY seq") == [("CREATE",), ("DECLARE",)]
    assert saved_forms(page) == {}
