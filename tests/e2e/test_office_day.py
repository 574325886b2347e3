"""The items of an office's day that the other browser tests do not walk through, each in
Chromium and, where there is text, in English and Arabic: where each person lands and the
word after every action, the workqueues' columns, the agent's Validate, pages only for what a
role may do, one round of validation, the declaration on the Attest and Reject pages, the
data a declaration needs, Arabic spellings in search, the login messages, the favicon, and
the outbox's next try in words once the registry is gone (last: it stops the registry).

One box and one registry serve the whole module; each test makes its own records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from playwright.sync_api import expect

from edge.clock import utcnow
from edge.web.i18n import translations
from tests.e2e.conftest import browse, click_through, office_box, shot
from tests.e2e.test_every_form import RECORD, Office, act, new_record, switch
from tests.e2e.test_ui import fill_declaration
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
LATIN = re.compile(r"[A-Za-z]")


def said(lang: str, text: str) -> str:
    """A text of the pages as the box says it in `lang`."""
    return text if lang == "en" else translations(lang).gettext(text)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Box, Registry]]:
    tmp: Path = tmp_path_factory.mktemp("office-day")
    (tmp / "registry").mkdir()
    registry = start_registry(tmp / "registry")
    try:
        with office_box(tmp, registry, {}) as box:
            yield box, registry
    finally:
        stop_process(registry.process)


@pytest.fixture
def box(office: tuple[Box, Registry]) -> Box:
    return office[0]


@pytest.fixture
def page(browser: object, box: Box) -> Iterator[Any]:
    with browse(browser, box) as p:
        yield p


def speak(page: Page, box: Box, lang: str) -> None:
    page.context.add_cookies([{"name": "edge_lang", "value": lang, "url": box.url}])


def log_in(page: Page, user: str, password: str = "demo-password") -> str:
    """Log in (after logging out whoever was, in either language); the path the box led to."""
    if page.locator("form[data-logout]").count():
        click_through(page, page.locator("form[data-logout] button"))
        page.wait_for_url(re.compile(r"/login"))
    switch(page, user, password)
    return str(page.url).split(box_netloc(page), 1)[1]


def declared(page: Page, event: str, values: dict[str, str]) -> str:
    """A declaration made in whatever language the page speaks: review, confirm, declare."""
    page.goto(f"/records/new?event={event}")
    fill_declaration(page, values)
    page.locator("button[name=then][value=REVIEW]").click()
    page.locator("[name='d.confirmation']").check()
    click_through(page, page.locator("button[name=then][value=DECLARE]"))
    page.wait_for_url(RECORD)
    return str(RECORD.search(page.url).group(1))  # type: ignore[union-attr]


def box_netloc(page: Page) -> str:
    return "/".join(str(page.url).split("/", 3)[:3])


def test_each_person_lands_on_their_work_and_is_told_what_was_saved(page: Page, box: Box) -> None:
    # A clerk with nothing yet lands on what she sent; her queues include "Recent".
    assert log_in(page, "clerk") == "/queues/sent-for-review"
    nav = page.locator("nav.queues").inner_text()
    assert "Sent for review" in nav and "Recent" in nav
    new_record(page, "birth", {"child.first_name": "Huda"}, "Save draft")
    assert said("en", "Draft saved on this box") in page.locator(".notice.done").inner_text()
    # In Arabic, the same word after a Declare.
    speak(page, box, "ar")
    page.goto("/queues/sent-for-review")
    nav = page.locator("nav.queues").inner_text()
    assert said("ar", "Sent for review") in nav and said("ar", "Recent") in nav
    declared(page, "birth", {**BIRTH, "child.first_name": "Dalia"})
    notice = page.locator(".notice.done").inner_text()
    assert "حُفظ على هذا الجهاز" in notice and not LATIN.search(notice.replace("Declare", ""))
    shot(page, "50-declared-confirmation-ar")
    speak(page, box, "en")
    # With a draft, the clerk lands on her drafts; the others on their first queue with work.
    assert log_in(page, "clerk") == "/queues/my-drafts"
    assert log_in(page, "agent") == "/queues/ready-for-review"
    assert log_in(page, "registrar") == "/queues/ready-for-review"
    assert log_in(page, "admin") == "/users"


def test_workqueues_show_the_event_date_who_declared_how_long_and_what_is_not_final(
    page: Page, box: Box
) -> None:
    log_in(page, "clerk")
    rid = new_record(page, "birth", {**BIRTH, "child.first_name": "Tamara"}, "Declare")
    log_in(page, "registrar")
    act(page, rid, "Register")  # no sync worker: the registry has not accepted it
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto("/queues/ready-to-print")
        head = page.locator("table.listing thead").inner_text()
        for column in ("Date of the event", "Declared by", "Waiting"):
            assert said(lang, column) in head, column
        row = page.locator("table.listing tbody tr", has_text="Tamara")
        text = row.inner_text()
        assert said(lang, "Not final yet") in text
        # The event's date as the record page says it, in the reader's language.
        assert format_date(date.fromisoformat(BIRTH["child.dob"]), "d MMM y", locale=lang) in text
        assert "Amina Haddad" in text and said(lang, "since today") in text
        assert row.locator("bdi", has_text="Amina Haddad").count() == 1  # isolated
        # On a phone the table is a list of cards: no header row, each cell labelled.
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.locator("table.listing thead").bounding_box()["height"] <= 1
        assert row.evaluate("e => getComputedStyle(e).display") == "block"
        label = row.locator("td").nth(2).evaluate("e => getComputedStyle(e, '::before').content")
        assert said(lang, "Date of the event") in label
        shot(page, f"51-ready-to-print-phone-{lang}")
        page.set_viewport_size({"width": 1366, "height": 768})
    speak(page, box, "en")


def test_the_agent_validates_and_pages_offer_only_what_the_role_may_do(
    page: Page, box: Box
) -> None:
    db = Office(box)
    log_in(page, "clerk")
    rid = new_record(page, "birth", {**BIRTH, "child.first_name": "Widad"}, "Declare")
    # The clerk cannot open a page for an action she may not take.
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto(f"/records/{rid}/do/REGISTER")
        assert page.locator("h1").inner_text() == said(lang, "Not found")
        assert page.locator("form[action$='/do/REGISTER']").count() == 0
    speak(page, box, "en")
    log_in(page, "agent")
    # Her Edit form offers what she may do (declare with edits), not Register with edits.
    page.goto(f"/records/{rid}")
    click_through(page, page.locator(".actions").get_by_role("button", name="Assign", exact=True))
    page.wait_for_url(RECORD)
    page.locator(".actions").get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("button", name="Declare with edits")).to_have_count(1)
    assert page.get_by_role("button", name="Register with edits").count() == 0
    page.goto(f"/records/{rid}/do/REGISTER")
    assert page.locator("h1").inner_text() == "Not found"
    # Validate (seed 001): the declaration gets the `validated` flag, shown on the record.
    act(page, rid, "Validate")
    page.wait_for_url(RECORD)
    assert "validated" in db.record(rid)[1]
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto(f"/records/{rid}")
        assert said(lang, "Validated") in page.locator(".record-head .flag").all_inner_texts()
    speak(page, box, "en")


def test_one_round_of_validation_and_a_failed_declare_saves_nothing(page: Page, box: Box) -> None:
    db = Office(box)
    log_in(page, "clerk")
    before = db.one("SELECT COUNT(*) FROM records")
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto("/records/new?event=birth")
        fill_declaration(
            page,
            {"child.first_name": "Lama", "child.dob": "2099-01-01", "informant.phone": "abc"},
        )
        click_through(page, page.locator("button[name=then][value=REVIEW]"))
        summary = page.locator("#error-summary")
        lines = summary.locator("li").all_inner_texts()
        # Every problem at once: the date in the future, the phone, and each missing field.
        assert len(lines) >= 7, lines
        text = summary.inner_text()
        if lang == "en":
            assert "cannot be in the future" in text and "Sex is required" in text
            assert "phone number may contain digits" in text
        else:  # every error in Arabic, nothing left in English
            assert not LATIN.search(text), text
        shot(page, f"52-one-round-of-errors-{lang}")
        # Declare asked for directly (no review, as an old page would): refused, nothing saved.
        page.goto("/records/new?event=birth")
        fill_declaration(page, {"child.first_name": "Lama"})
        with page.expect_navigation():
            page.evaluate(
                "() => { const b = document.querySelector('button[name=then][value=REVIEW]');"
                " b.value = 'DECLARE'; b.click(); }"
            )
        assert db.one("SELECT COUNT(*) FROM records") == before, "a failed Declare saved a record"
    speak(page, box, "en")


def test_the_review_before_declare_in_arabic(page: Page, box: Box) -> None:
    """The review in Arabic (English: tests/e2e/test_ui.py): everything read back, the gap
    marked, Declare only from there and only with the informant's confirmation."""
    db = Office(box)
    log_in(page, "clerk")
    speak(page, box, "ar")
    page.goto("/records/new?event=birth")
    no_sex = {k: v for k, v in BIRTH.items() if k != "child.sex"}
    fill_declaration(page, {**no_sex, "child.first_name": "Yasmin"})
    page.locator("button[name=then][value=REVIEW]").click()
    review = page.locator("div.review").inner_text()
    assert said("ar", "Required: not filled in") in review and "Yasmin" in review
    assert page.locator("button[name=then][value=DECLARE]").count() == 0
    page.locator("button[name=then][value=CHANGE]").click()
    page.locator("[name='f.child.sex']").select_option("female")
    page.locator("button[name=then][value=REVIEW]").click()
    label = page.locator("label[for='d.confirmation']").inner_text()
    assert label == said("ar", "The informant has heard this summary and confirms it is right.")
    page.locator("button[name=then][value=DECLARE]").click()  # not confirmed: refused
    assert not LATIN.search(page.locator("#error-summary").inner_text())
    assert db.one("SELECT COUNT(*) FROM records WHERE title LIKE 'Yasmin%'") == 0
    page.locator("[name='d.confirmation']").check()
    click_through(page, page.locator("button[name=then][value=DECLARE]"))
    page.wait_for_url(RECORD)
    shot(page, "58-declared-from-the-review-ar")
    speak(page, box, "en")


def test_a_drafts_history_says_its_copy_is_kept_at_the_registry(page: Page, box: Box) -> None:
    log_in(page, "clerk")
    draft = new_record(page, "birth", {"child.first_name": "Farah"}, "Save draft")
    edge_cli(box.home, "sync")  # the box and the registry exchange what they have
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto(f"/records/{draft}")
        history = page.locator(".timeline").inner_text()
        # Sent as a copy the registry keeps, and said so: never "accepted" as if declared.
        assert said(lang, "Copy kept by the national registry (still a draft)") in history
        assert said(lang, "Accepted by the national registry") not in history
        assert "Ramallah Clinic" in history and "office-1" not in history
        hint = "A draft is yours: nobody else sees it until you send it (notify or declare)."
        assert said(lang, hint) in page.locator("main").inner_text()
    # Given up, in Arabic: the page warns it will be gone, and says it is.
    speak(page, box, "ar")
    page.goto(f"/records/{draft}/do/DELETE")
    gone = "The draft and everything typed in it will be gone: nobody can open it again."
    assert said("ar", gone) in page.locator("main").inner_text()
    click_through(page, page.locator("button.primary"))
    page.wait_for_url(re.compile(r"/queues/"))
    assert said("ar", "The draft was deleted.") in page.locator(".notice.done").inner_text()
    speak(page, box, "en")


def test_attest_and_reject_are_decided_with_the_declaration_and_their_words_are_kept(
    page: Page, box: Box
) -> None:
    log_in(page, "clerk")
    death = new_record(page, "death", DEATH, "Declare")
    birth = new_record(page, "birth", {**BIRTH, "child.first_name": "Rima"}, "Declare")
    log_in(page, "hospadmin")
    page.goto(f"/records/{death}")
    click_through(page, page.locator(".actions").get_by_role("button", name="Assign", exact=True))
    page.wait_for_url(RECORD)
    for lang in ("ar", "en"):
        speak(page, box, lang)
        page.goto(f"/records/{death}/do/CUSTOM?custom=Attest")
        shown = page.locator("details.decision")
        assert said(lang, "The declaration") in shown.locator("summary").inner_text()
        assert "Ali" in shown.inner_text() and "Saleh" in shown.inner_text()
        shot(page, f"53-attest-with-the-declaration-{lang}")
    page.get_by_label("Comments").fill("Died in ward 3")
    click_through(page, page.locator("button.primary"))
    page.wait_for_url(RECORD)
    log_in(page, "registrar")
    page.goto(f"/records/{birth}")
    click_through(page, page.locator(".actions").get_by_role("button", name="Assign", exact=True))
    page.wait_for_url(RECORD)
    page.locator(".actions").get_by_role("link", name="Reject", exact=True).click()
    assert "Rima" in page.locator("details.decision").inner_text()
    page.get_by_label(re.compile("Reason")).fill("The mother's ID is missing")
    click_through(page, page.locator("button.primary"))
    page.wait_for_url(RECORD)
    # The words typed with each decision are on the record's history, in both languages.
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto(f"/records/{birth}")
        history = page.locator(".timeline").inner_text()
        assert f"{said(lang, 'Reason')}: The mother's ID is missing" in history
        page.goto(f"/records/{death}")
        history = page.locator(".timeline").inner_text()
        assert f"{said(lang, 'Comments')}: Died in ward 3" in history
    speak(page, box, "en")


def test_a_declaration_has_an_informant_addresses_and_the_offices_facilities(
    page: Page, box: Box
) -> None:
    log_in(page, "clerk")
    for lang in ("en", "ar"):
        speak(page, box, lang)
        page.goto("/records/new?event=birth")
        headings = page.locator("form h2.section").all_inner_texts()
        assert said(lang, "Informant") in headings, headings
        for field in ("informant.relationship", "mother.address.town", "child.birth_facility"):
            control = page.locator(f"[name='f.{field}']")
            assert control.count() == 1, field
            label = page.locator(f"label[for='{control.get_attribute('id')}']").inner_text()
            assert label.strip(), field
            if lang == "ar":
                assert not LATIN.search(label), label
        options = page.locator("[name='f.child.birth_facility'] option").all_inner_texts()
        assert said(lang, "District hospital") in options
        shot(page, f"54-birth-form-{lang}")
    speak(page, box, "en")


def test_search_matches_arabic_spellings_and_keeps_names_apart(page: Page, box: Box) -> None:
    log_in(page, "clerk")
    arabic = {**BIRTH, "child.first_name": "سارة", "mother.first_name": "إبراهيمة"}
    new_record(page, "birth", arabic, "Declare")
    for lang in ("en", "ar"):
        speak(page, box, lang)
        for typed in ("ساره", "سَارة", "ابراهيمة", "سـارة"):
            page.goto(f"/search?q={typed}")
            found = page.locator("table.records").first
            assert found.locator("bdi", has_text="سارة").count() >= 1, (lang, typed)
        shot(page, f"55-arabic-search-{lang}")
    speak(page, box, "en")


def _add_user(page: Page, username: str) -> None:
    page.goto("/users/new")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Full name").fill(username.title())
    page.get_by_label("One-time password").fill("first day password")
    page.get_by_label("Role").select_option("registration-agent")
    click_through(page, page.get_by_role("button", name="Add the user"))
    page.wait_for_url(re.compile(r"/users$"))


def _try(page: Page, username: str, password: str) -> str:
    page.goto("/login")
    page.get_by_label(re.compile("Username|اسم المستخدم")).fill(username)
    page.locator("#password").fill(password)
    click_through(page, page.locator("form[action='/login'] button"))
    return str(page.locator("#error-summary").inner_text())


def test_login_says_deactivated_warns_before_a_lockout_and_counts_minutes(
    page: Page, box: Box
) -> None:
    log_in(page, "admin")
    for lang in ("en", "ar"):
        _add_user(page, f"gone.{lang}")
        _add_user(page, f"tries.{lang}")
        page.locator("tr", has_text=f"gone.{lang}").get_by_role("link", name="Deactivate").click()
        page.get_by_label("Why").fill("Moved to Nablus")
        click_through(page, page.get_by_role("button", name="Deactivate"))
        page.wait_for_url(re.compile(r"/users$"))
    page.get_by_role("button", name="Log out").click()
    for lang in ("en", "ar"):
        speak(page, box, lang)
        told = _try(page, f"gone.{lang}", "first day password")
        deactivated = (
            "Your account has been deactivated, so you cannot log in. Ask your local admin if "
            "this is a mistake."
        )
        assert said(lang, deactivated) in told
        assert "Moved to Nablus" in told and said(lang, "Wrong username or password.") not in told
        for _ in range(3):
            _try(page, f"tries.{lang}", "not the password")
        warned = _try(page, f"tries.{lang}", "not the password")  # the 4th of 5
        careful = {"en": "one more wrong try locks this account for 1 minute", "ar": "انتبه"}
        assert careful[lang] in warned, warned
        locked = _try(page, f"tries.{lang}", "not the password")
        minute = {"en": "locked for 1 more minute.", "ar": "لمدة دقيقة واحدة أخرى"}
        assert minute[lang] in locked, locked
        assert "minutes" not in locked
        shot(page, f"56-locked-{lang}")
    speak(page, box, "en")
    # A favicon, served by the box, for a tab easy to find on a shared PC.
    href = page.locator("link[rel=icon]").get_attribute("href")
    icon = page.request.get(str(href))
    assert icon.ok and "svg" in icon.headers["content-type"]
    assert page.request.get("/favicon.ico").ok


def test_the_outbox_says_the_next_try_in_words_once_the_registry_is_gone(
    page: Page, box: Box, office: tuple[Box, Registry]
) -> None:
    """Last in the module: it stops the registry."""
    log_in(page, "clerk")
    new_record(page, "birth", {**BIRTH, "child.first_name": "Nada"}, "Declare")
    stop_process(office[1].process)
    edge_cli(box.home, "sync", check=False)  # the registry is gone: the try fails
    for lang in ("en", "ar"):
        speak(page, box, lang)
        # Due now (the try just failed, the backoff is short): never a time already past.
        next_try(box, seconds=-1)
        page.goto("/outbox")
        first = page.locator("table.records").first.locator("tbody tr").first
        assert said(lang, "any moment now") in first.inner_text(), first.inner_text()
        # Waiting a while longer (as after several failed tries): how long, in words.
        next_try(box, seconds=170)
        page.reload()
        soon = {"en": "in about 3 minutes", "ar": "خلال 3 دقائق تقريباً"}[lang]
        assert soon in first.inner_text(), first.inner_text()
        send_now = page.locator("form[action='/outbox/send-now'] button").inner_text()
        assert send_now == said(lang, "Send now")
        page.locator(".banner.offline").wait_for(timeout=20_000)
        banner = page.locator(".banner.offline").inner_text()
        assert (lang == "en") == bool(LATIN.search(banner)), banner
        shot(page, f"57-outbox-offline-{lang}")
    speak(page, box, "en")


def next_try(box: Box, seconds: float) -> None:
    """Every waiting action's next try, that many seconds from now (as the backoff sets it)."""
    at = (utcnow() + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    conn = journal_conn(box.home)
    with conn:
        conn.execute("UPDATE sync_state SET next_try_at = ? WHERE state != 'accepted'", (at,))
    conn.close()
