"""The items of an office's day that the other browser tests walk through in English only,
here in Arabic too (and in English where they were missing), in Chromium: the declaration on
the Register and Reject pages, Deactivate's question and reason, a made-up one-time password
shown once, pages that reload without posting again (post/redirect/get), the header on a
phone for each role, who started a draft, what happened in the outbox, and the blue and green
banners (last: it stops the registry and starts it again).

One box and one registry serve the whole module; each test makes its own records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from edge.web.i18n import translations
from tests.e2e.conftest import Site, browse, click_through, office_site, shot
from tests.e2e.test_every_form import RECORD, Office, new_record, switch
from tests.e2e.test_office_day import LATIN, declared, log_in, said, speak
from tests.helpers import BIRTH, Box, edge_cli, start_registry, stop_process
from upstream_sync.transport import NO_CONNECTION

Page = Any  # playwright.sync_api.Page
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with office_site(tmp_path_factory.mktemp("office-languages")) as here:
        yield here


@pytest.fixture
def box(site: Site) -> Box:
    return site.box


@pytest.fixture
def page(browser: object, box: Box) -> Iterator[Any]:
    with browse(browser, box) as p:
        yield p


def plain(text: str) -> str:
    """A text without the Unicode isolates the pages put around a name in the other
    direction (FSI … PDI), to compare it with the catalog's sentence."""
    return re.sub("[\u2066-\u2069]", "", text)


def assign(page: Page, rid: str) -> None:
    page.goto(f"/records/{rid}")
    click_through(page, page.locator(".actions").get_by_role("button", name="Assign", exact=True))
    page.wait_for_url(RECORD)


def reloads_without_posting(page: Page) -> None:
    """Reload the page the browser was sent to after a form: it is asked for again (GET),
    the form is never posted a second time, and the address stays."""
    posted: list[str] = []

    def note(request: Any) -> None:
        if request.method != "GET":
            posted.append(f"{request.method} {request.url}")

    address = page.url
    page.on("request", note)
    try:
        page.reload()
        page.wait_for_load_state()
    finally:
        page.remove_listener("request", note)
    assert posted == [], posted
    assert page.url == address


def add_user(page: Page, username: str, name: str, password: str = "") -> None:
    """Add a registration agent on the users page, in whatever language it speaks."""
    page.goto("/users/new")
    page.locator("#username").fill(username)
    page.locator("#display_name").fill(name)
    page.locator("#password").fill(password)
    page.locator("#role").select_option("registration-agent")
    click_through(page, page.locator("form[action='/users/new'] button.primary"))
    page.wait_for_url(re.compile(r"/users(\?shown=.+)?$"))


def test_register_and_reject_show_the_declaration_in_arabic(page: Page, box: Box) -> None:
    db = Office(box)
    log_in(page, "clerk")
    to_register = new_record(page, "birth", {**BIRTH, "child.first_name": "Nawal"}, "Declare")
    to_reject = new_record(page, "birth", {**BIRTH, "child.first_name": "Basma"}, "Declare")
    log_in(page, "registrar")
    assign(page, to_register)
    assign(page, to_reject)
    speak(page, box, "ar")
    for rid, action, name in ((to_register, "REGISTER", "Nawal"), (to_reject, "REJECT", "Basma")):
        page.goto(f"/records/{rid}/do/{action}")
        shown = page.locator("details.decision")
        assert shown.locator("summary").inner_text() == said("ar", "The declaration")
        assert shown.get_attribute("open") is not None  # in front of her, not folded away
        text = shown.inner_text()
        assert name in text and "Haddad" in text and "Mona" in text, text
        labels = shown.locator("dt").all_inner_texts()
        assert len(labels) >= 5 and not [x for x in labels if LATIN.search(x)], labels
        shot(page, f"60-{action.lower()}-with-the-declaration-ar")
        if action == "REJECT":
            page.locator("[name='d.reason']").fill("اسم الأم ناقص")
        click_through(page, page.locator("button.primary"))
        page.wait_for_url(RECORD)
        notice = page.locator(".notice.done").inner_text()
        assert not LATIN.search(notice), notice  # the word after the action, in Arabic
    assert db.record(to_register)[0] == "registered"
    assert "rejected" in db.record(to_reject)[1]
    speak(page, box, "en")


def test_deactivate_asks_and_wants_a_reason_in_arabic(page: Page, box: Box) -> None:
    db = Office(box)
    log_in(page, "admin")
    add_user(page, "hani.ar", "Hani Odeh", "first day password")
    speak(page, box, "ar")
    page.goto("/users")
    row = page.locator("tr", has_text="hani.ar")
    row.get_by_role("link", name=said("ar", "Deactivate"), exact=True).click()
    # Asked first: who, and what it does; nothing has changed yet.
    assert plain(page.locator("h1").inner_text()) == said("ar", "Deactivate %(name)s?") % {
        "name": "Hani Odeh"
    }
    what = (
        "They can no longer log in, and any session they have open ends now. Nothing they did "
        "is lost; you can reactivate them later."
    )
    assert said("ar", what) in page.locator("main").inner_text()
    assert db.user("hani.ar", "active") == 1
    # No reason: refused, said in Arabic, still active.
    page.locator("form[action$='/deactivate'] button.primary").click()
    summary = page.locator("#error-summary").inner_text()
    assert said("ar", "Say why this user is deactivated.") in summary and not LATIN.search(summary)
    assert db.user("hani.ar", "active") == 1
    shot(page, "61-deactivate-asks-why-ar")
    page.locator("#reason").fill("انتقل إلى مكتب نابلس")
    click_through(page, page.locator("form[action$='/deactivate'] button.primary"))
    page.wait_for_url(re.compile(r"/users$"))
    assert db.user("hani.ar", "active") == 0
    done = said("ar", "%(name)s can no longer log in.") % {"name": "Hani Odeh"}
    assert plain(page.locator(".notice.done").inner_text()) == done
    assert said("ar", "Deactivated") in page.locator("tr", has_text="hani.ar").inner_text()
    speak(page, box, "en")


def test_a_made_up_password_is_shown_once_in_arabic(page: Page, box: Box, browser: object) -> None:
    log_in(page, "admin")
    speak(page, box, "ar")
    add_user(page, "nour.ar", "Nour Ali")  # no password typed: the box makes one up
    assert "/users?shown=" in page.url  # a page of its own, got after the post
    # The word after the post keeps the Latin name apart in the Arabic sentence.
    added = said("ar", "%(name)s can now log in with their one-time password.")
    flash = page.locator("main > .notice.done").inner_text()
    assert flash == added % {"name": "\u2068Nour Ali\u2069"}, flash
    heading = said("ar", "One-time password for %(name)s") % {"name": "Nour Ali"}
    assert plain(page.locator("h1").inner_text()) == heading
    once = (
        "Give it to %(name)s now: it is shown only this once. They choose their own password "
        "when they log in with it."
    )
    assert plain(page.locator("section.narrow .notice.done").inner_text()) == said("ar", once) % {
        "name": "Nour Ali"
    }
    first = page.locator(".password-once").inner_text().strip()
    assert re.fullmatch(r"\w{4}-\w{4}-\w{4}", first), first
    shot(page, "62-password-shown-once-ar")
    reloads_without_posting(page)  # the users, never the password again
    assert page.locator("h1").inner_text() == said("ar", "Users of this office")
    assert page.locator(".password-once").count() == 0 and first not in page.content()
    # A reset the box makes up: shown once the same way, and each one is the one that works.
    page.locator("tr", has_text="nour.ar").get_by_role(
        "link", name=said("ar", "Reset password")
    ).click()
    click_through(page, page.get_by_role("button", name=said("ar", "Make one up for me")))
    page.wait_for_url(re.compile(r"/users\?shown="))
    again = page.locator(".password-once").inner_text().strip()
    assert re.fullmatch(r"\w{4}-\w{4}-\w{4}", again) and again != first
    reloads_without_posting(page)
    assert page.locator(".password-once").count() == 0 and again not in page.content()
    with browse(browser, box) as other:
        switch(other, "nour.ar", first)
        assert "/password" not in other.url  # replaced by the reset
        switch(other, "nour.ar", again)
        other.wait_for_url(re.compile(r"/password$"))  # then she chooses her own
    speak(page, box, "en")


def test_after_a_form_the_page_reloads_without_posting_again(page: Page, box: Box) -> None:
    db = Office(box)
    for lang in ("en", "ar"):
        log_in(page, "clerk")
        speak(page, box, lang)
        before = db.one("SELECT COUNT(*) FROM records")
        rid = declared(page, "birth", {**BIRTH, "child.first_name": f"Reem {lang}"})
        assert re.search(r"/records/[0-9a-f-]{36}$", page.url)  # the record, not the form's
        assert page.locator(".notice.done").count() == 1
        reloads_without_posting(page)
        assert db.one("SELECT COUNT(*) FROM records") == before + 1
        assert page.locator(".notice.done").count() == 0  # said once, not at every reload
        speak(page, box, "en")
        log_in(page, "registrar")
        assign(page, rid)
        speak(page, box, lang)
        page.goto(f"/records/{rid}/do/REGISTER")
        click_through(page, page.locator("button.primary"))
        page.wait_for_url(RECORD)
        assert page.url.endswith(f"/records/{rid}")
        reloads_without_posting(page)
        kinds = [k for (k,) in box.rows("SELECT type FROM actions WHERE record_id = ?", rid)]
        assert kinds.count("REGISTER") == 1, kinds
        assert db.record(rid)[0] == "registered"
        speak(page, box, "en")


# Each part of the header, as it must be seen on a phone: within the screen's width.
HEADER_PARTS = (
    ".brand",
    "form.language select",
    "form.language button",
    ".search input",
    ".search button",
    ".me > span",
    ".me a[href='/password']",
    "form[data-logout] button",
    "nav.queues",
)


def test_the_header_takes_little_room_on_a_phone_for_every_role(page: Page, box: Box) -> None:
    page.set_viewport_size(PHONE)
    for user, far in (("clerk", "recent"), ("registrar", "ready-to-print"), ("admin", "")):
        log_in(page, user)
        for lang in ("en", "ar"):
            speak(page, box, lang)
            for path in [f"/queues/{far}"] if far else ["/users"]:
                page.goto(path)
                header = page.locator("header.top").bounding_box()
                assert header["height"] <= 130, f"{user} in {lang}: {header['height']:.0f} px"
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{user} in {lang}: the page scrolls sideways"
                for part in HEADER_PARTS:
                    found = page.locator(f"header.top {part}").bounding_box()
                    assert found is not None and found["width"] > 0, (user, lang, part)
                    assert found["x"] >= 0 and found["x"] + found["width"] <= PHONE["width"] + 1
                assert page.locator(".search input").bounding_box()["width"] >= 100
                # The workqueues are one line of their own; the one shown is in view.
                strip = page.locator("nav.queues").bounding_box()
                assert strip["height"] <= 30, f"{user} in {lang}: the workqueues take lines"
                if far:
                    here = page.locator("nav.queues a[aria-current]").bounding_box()
                    assert strip["x"] <= here["x"] and (
                        here["x"] + here["width"] <= strip["x"] + strip["width"] + 1
                    ), f"{user} in {lang}: {far} is out of view"
                shot(page, f"63-header-phone-{user}-{lang}")
        speak(page, box, "en")
    # Before logging in too: the office and the language, in one line.
    click_through(page, page.locator("form[data-logout] button"))
    page.wait_for_url(re.compile(r"/login"))
    assert page.locator("header.top").bounding_box()["height"] <= 50
    page.set_viewport_size(DESKTOP)


def test_a_draft_in_the_list_says_who_started_it(page: Page, box: Box) -> None:
    log_in(page, "clerk")
    new_record(page, "birth", {"child.first_name": "Hind"}, "Save draft")
    new_record(page, "birth", {**BIRTH, "child.first_name": "Ruba"}, "Declare")
    column = "table.listing thead th:nth-child(5)"
    for lang in ("en", "ar"):
        speak(page, box, lang)
        # Only drafts: started; only sent: declared; both: either.
        for queue, head in (
            ("my-drafts", "Started by"),
            ("sent-for-review", "Declared by"),
            ("recent", "Declared or started by"),
        ):
            page.goto(f"/queues/{queue}")
            assert page.locator(column).inner_text() == said(lang, head), (lang, queue)
        # On a phone each card says which.
        page.set_viewport_size(PHONE)
        for name, label in (("Hind", "Started by"), ("Ruba", "Declared by")):
            cell = page.locator("table.listing tbody tr", has_text=name).locator("td").nth(4)
            shown = cell.evaluate("e => getComputedStyle(e, '::before').content")
            assert said(lang, label) in shown and "Amina Haddad" in cell.inner_text(), shown
        shot(page, f"64-recent-draft-and-declared-{lang}")
        page.set_viewport_size(DESKTOP)
    speak(page, box, "en")


def test_the_banners_and_the_outbox_in_arabic_when_the_registry_goes_and_comes_back(
    page: Page, site: Site
) -> None:
    """Last in the module: it stops the registry, then starts it again."""
    box = site.box
    port = int(site.registry.url.rsplit(":", 1)[1])
    # The agent did nothing else here: the green banner waits only for her own work.
    log_in(page, "agent")
    speak(page, box, "ar")
    stop_process(site.registry.process)
    declared(page, "birth", {**BIRTH, "child.first_name": "Lubna"})
    edge_cli(box.home, "sync", check=False)  # the registry is gone: the try fails
    page.locator(".banner.offline").wait_for(timeout=30_000)
    banner = plain(page.locator(".banner.offline").inner_text())
    [(waiting,)] = box.rows(
        "SELECT COALESCE(SUM(n), 0) FROM sync_counts WHERE state IN ('pending', 'sending')"
    )
    ar = translations("ar")
    for line in (
        "The national registry cannot be reached.",
        "Your work is saved on this box and will be sent automatically when the connection "
        "is back.",
        "See the outbox",
    ):
        assert ar.gettext(line) in banner, line
    many = "%(num)d action is waiting to be sent.", "%(num)d actions are waiting to be sent."
    assert ar.ngettext(*many, waiting) % {"num": waiting} in banner
    assert not LATIN.search(banner), banner
    shot(page, "65-offline-banner-ar")
    # The outbox says what happened, in Arabic; in English each line starts as a sentence.
    page.goto("/outbox")
    actions = page.locator("table.records").first
    said_ar = actions.locator("tbody td:last-child").all_inner_texts()
    assert any(ar.gettext(NO_CONNECTION) in t for t in said_ar), said_ar
    speak(page, box, "en")
    page.reload()
    said_en = [t.strip() for t in actions.locator("tbody td:last-child").all_inner_texts()]
    said_en = [t for t in said_en if t]
    assert any(t.startswith("The registry cannot be reached (no connection)") for t in said_en)
    assert all(t[0].isupper() for t in said_en), said_en
    shot(page, "66-outbox-what-happened-en")
    speak(page, box, "ar")
    # The registry is back and her work is sent: the green banner, for her, in Arabic.
    site.registry = start_registry(site.registry.home, site.registry.admin_token, port=port)
    edge_cli(box.home, "sync")
    page.goto("/outbox")
    page.locator(".banner.sent").wait_for(timeout=45_000)
    sent = page.locator(".banner.sent")
    assert sent.locator("strong").inner_text() == said(
        "ar", "Your offline changes have been sent to the national registry."
    )
    assert not LATIN.search(sent.inner_text()), sent.inner_text()
    shot(page, "67-sent-banner-ar")
    click_through(page, sent.get_by_role("button", name=said("ar", "Dismiss")))
    assert page.locator(".banner").count() == 0
    speak(page, box, "en")
