"""What a walkthrough of the pages in Chromium found, in English and Arabic, on a desk and a
phone: the help page before logging in (and its section on a locked box, linked from the
login page), the word after Log out and Back leading nowhere near the last user's record,
values isolated on the Arabic record page, a small file's size and the Arabic comma, the
users page's rows and labels, then (the registry stopped) the blue banner with nothing
waiting, the outbox as cards on a phone, a draft's copy at the registry said the same way on
the record and in the outbox, and the sending counts said plainly.

One box and one registry serve the module; the last test stops the registry."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from edge.clock import utcnow
from edge.journal import syncstages
from edge.web.i18n import translations
from tests.e2e.conftest import Site, browse, click_through, office_site, shot
from tests.e2e.test_every_form import RECORD, new_record
from tests.e2e.test_office_day import LATIN, log_in, said, speak
from tests.e2e.test_ui import fill_declaration
from tests.helpers import BIRTH, Box, edge_cli, journal_conn, stop_process
from upstream_sync.transport import NO_CONNECTION

Page = Any  # playwright.sync_api.Page
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
LANGS = ("en", "ar")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with office_site(tmp_path_factory.mktemp("walkthrough")) as here:
        yield here


@pytest.fixture
def box(site: Site) -> Box:
    return site.box


@pytest.fixture
def page(browser: object, box: Box) -> Iterator[Any]:
    with browse(browser, box) as p:
        yield p


def test_help_is_open_before_login_and_says_what_to_do_when_the_box_is_locked(
    page: Page, box: Box
) -> None:
    for lang in LANGS:
        speak(page, box, lang)
        page.goto("/login")
        link = page.locator("a#help-link")
        assert link.inner_text() == said(lang, "Help: working without the internet, a locked box")
        click_through(page, link)
        page.wait_for_url(re.compile(r"/help$"))  # not sent to log in first
        assert page.locator("h2#locked").inner_text() == said(lang, "The box says it is locked")
        text = page.locator("main").inner_text()
        for line in (
            "After a power cut the box is locked: it keeps the office's data encrypted until "
            "someone unlocks it.",
            "The first member of staff who logs in with their own username and password "
            "unlocks it for everyone.",
            "When the internet connection works, the national registry may unlock it by itself.",
            "Nothing is lost while it is locked.",
            "If everyone has forgotten their password, call IT: they have the recovery key.",
        ):
            assert said(lang, line) in text, (lang, line)
        assert page.locator("form[data-logout]").count() == 0  # nobody's name, no menus
        shot(page, f"80-help-logged-out-{lang}")
    # Help names the button as the outbox shows it.
    assert f"«{said('ar', 'Send now')}»" in page.locator("main").inner_text()
    speak(page, box, "en")


def test_log_out_says_so_and_back_never_leads_the_next_person_to_the_last_record(
    page: Page, box: Box
) -> None:
    for lang in LANGS:
        log_in(page, "clerk")
        rid = new_record(page, "birth", {**BIRTH, "child.first_name": f"Rana {lang}"}, "Save draft")
        speak(page, box, lang)
        page.reload()
        click_through(page, page.locator("form[data-logout] button"))
        page.wait_for_url(re.compile(r"/login\?out=1$"))
        assert page.locator("#logged-out").inner_text() == said(lang, "You have logged out.")
        shot(page, f"81-logged-out-{lang}")
        page.go_back()  # the clerk's record: the login page, without where she was
        page.wait_for_url(re.compile(r"/login"))
        assert "next=" not in page.url and rid not in page.url, page.url
        assert page.locator("form[action='/login'] input[name=next]").input_value() == "/"
        # Even a login page that still carries the record's address leads the next one home.
        page.goto(f"/login?next=/records/{rid}")
        page.locator("#username").fill("agent")
        page.locator("#password").fill("demo-password")
        click_through(page, page.locator("form[action='/login'] button.primary"))
        page.wait_for_url(re.compile(r"/queues/"))
        assert rid not in page.url
        # Logged in again: the page someone asks for is where they go, as before.
        click_through(page, page.locator("form[data-logout] button"))
        page.wait_for_url(re.compile(r"/login"))
        page.goto("/login?next=/help")
        assert page.locator("#logged-out").count() == 0  # said once, after the logout
        speak(page, box, "en")


def test_the_arabic_record_page_keeps_a_street_number_with_its_street(page: Page, box: Box) -> None:
    log_in(page, "clerk")
    values = {**BIRTH, "child.first_name": "Jana", "mother.address.street": "12 Palm Street"}
    rid = new_record(page, "birth", values, "Save draft")
    for lang in LANGS:
        speak(page, box, lang)
        page.goto(f"/records/{rid}")
        isolated = page.locator("section.summary dd > bdi", has_text="12 Palm Street")
        assert isolated.count() == 1, lang
        assert isolated.inner_text() == "12 Palm Street"
    shot(page, "82-record-street-ar")
    speak(page, box, "en")


def test_a_small_file_is_less_than_a_kilobyte_and_arabic_lists_use_the_arabic_comma(
    page: Page, box: Box
) -> None:
    small = b"%PDF-1.4\n" + b"0" * 82 + b"\n%%EOF\n"
    assert len(small) == 98
    log_in(page, "clerk")
    page.goto("/records/new?event=birth")
    fill_declaration(page, {**BIRTH, "child.first_name": "Lama"})
    page.locator("input[type=file][name='doc.birth-notification']").set_input_files(
        {"name": "note.pdf", "mimeType": "application/pdf", "buffer": small}
    )
    click_through(page, page.get_by_role("button", name="Save draft", exact=True))
    page.wait_for_url(RECORD)
    for lang in LANGS:
        speak(page, box, lang)
        page.reload()
        line = page.locator("ul.docs[aria-labelledby=documents-h] li").first.inner_text()
        assert said(lang, "less than 1 KB") in line, line
        assert (
            re.search(r"\b1 KB|1 كيلوبايت", line.replace(said(lang, "less than 1 KB"), "")) is None
        )
        if lang == "ar":
            assert ", " not in line and "، " in line, line
        shot(page, f"83-small-document-{lang}")
    speak(page, box, "en")


def test_the_users_page_rows_line_up_and_only_the_username_is_monospace(
    page: Page, box: Box
) -> None:
    log_in(page, "admin")
    page.goto("/users")
    row = page.locator("table.listing tbody tr", has_text="clerk").first
    cells = [c.bounding_box() for c in row.locator("td").all()]
    tops = {round(c["y"]) for c in cells}
    heights = {round(c["height"]) for c in cells}
    assert len(tops) == 1 and len(heights) == 1, (tops, heights)
    # The line under the row is one line, drawn at the same pixel row either side of Actions.
    actions = cells[-1]
    x, y = int(actions["x"]), int(actions["y"] + actions["height"])
    strip = page.screenshot(
        full_page=True, clip={"x": x - 20, "y": y - 4, "width": 40, "height": 8}
    )
    assert darkest_row(strip, 5) == darkest_row(strip, 35), "the line steps at Actions"
    # The words of Actions sit on the row's line, not a button's padding lower.
    link = row.locator("td").last.locator("a").first.bounding_box()
    name = row.locator(".mono").bounding_box()
    middle = [b["y"] + b["height"] / 2 for b in (link, name)]
    assert abs(middle[0] - middle[1]) <= 4, middle
    shot(page, "84-users-desk-en")
    # A made-up password in Arabic: no stray space after لـ, no "his" password for everyone.
    speak(page, box, "ar")
    page.goto("/users/new")
    page.locator("#username").fill("salma.w")
    page.locator("#display_name").fill("Salma Wakim")
    page.locator("#role").select_option("registration-agent")
    click_through(page, page.locator("form[action='/users/new'] button.primary"))
    page.wait_for_url(re.compile(r"/users\?shown="))
    text = page.locator("main").inner_text()
    assert "لـ " not in text and "مروره" not in text, text
    page.set_viewport_size(PHONE)
    page.goto("/users")
    state = page.locator("tr", has_text="salma.w").locator("td").nth(3).inner_text()
    assert said("ar", "Must choose a new password") in state and "عليه" not in state, state
    cell = page.locator("tr", has_text="salma.w").locator("td").nth(1)
    label = cell.evaluate("e => getComputedStyle(e, '::before').content")
    before = cell.evaluate("e => getComputedStyle(e, '::before').fontFamily")
    assert said("ar", "Username") in label, label
    assert "mono" not in before.lower(), before
    value = cell.locator(".mono").evaluate("e => getComputedStyle(e).fontFamily")
    assert "mono" in value.lower(), value
    shot(page, "85-users-phone-ar")
    page.set_viewport_size(DESKTOP)
    speak(page, box, "en")


def darkest_row(png: bytes, column: int) -> int:
    """The row of an RGB(A) PNG (8 bits, not interlaced, as Chromium writes a screenshot)
    whose pixel in `column` is darkest."""
    chunks, at = b"", 8
    width, height, kind = 0, 0, 2
    while at < len(png):
        size = struct.unpack(">I", png[at : at + 4])[0]
        name, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + size]
        if name == b"IHDR":
            width, height, _, kind = struct.unpack(">IIBB", body[:10])
        elif name == b"IDAT":
            chunks += body
        at += 12 + size
    step = 4 if kind == 6 else 3
    raw, stride, rows = zlib.decompress(chunks), width * step, []
    prev = bytearray(stride)
    for r in range(height):
        kind_of, line = (
            raw[r * (stride + 1)],
            bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - step] if i >= step else 0
            b, c = prev[i], prev[i - step] if i >= step else 0
            if kind_of == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(sum(line[column * step : column * step + 3]))
        prev = line
    return rows.index(min(rows))


def waiting(box: Box) -> int:
    [(n,)] = box.rows(
        "SELECT COALESCE(SUM(n), 0) FROM sync_counts WHERE state IN ('pending', 'sending')"
    )
    return int(n)


def test_offline_the_banner_the_outbox_on_a_phone_and_a_draft_tell_one_story(
    page: Page, site: Site
) -> None:
    """Last in the module: it stops the registry."""
    box = site.box
    edge_cli(box.home, "sync")  # everything sent: nothing waits
    # No restore on this box: the outbox does not talk about catching up after one.
    log_in(page, "clerk")
    resync = "Catching up with the registry after a restore"
    for lang in LANGS:
        speak(page, box, lang)
        page.goto("/outbox")
        assert said(lang, resync) not in page.locator("main").inner_text()
    conn = journal_conn(box.home)
    with conn:  # as `edge restore` asks for it
        syncstages.request(conn, syncstages.Stage.RESYNC, now=utcnow())
    conn.close()
    page.reload()
    assert said("ar", resync) in page.locator("section.stages").inner_text()
    stop_process(site.registry.process)
    edge_cli(box.home, "sync", check=False)  # the registry is gone: the try fails
    assert waiting(box) == 0
    for lang in LANGS:
        speak(page, box, lang)
        page.goto("/outbox")
        banner = page.locator(".banner.offline")
        banner.wait_for(timeout=30_000)
        assert said(lang, "The national registry cannot be reached.") in banner.inner_text()
        assert not re.search(r"\d", banner.inner_text()), banner.inner_text()  # no "0 actions"
        shot(page, f"86-blue-banner-nothing-waiting-{lang}")
    # A draft saved now: the outbox and the record page say the same of it.
    speak(page, box, "en")
    rid = new_record(page, "birth", {"child.first_name": "Widad"}, "Save draft")
    edge_cli(box.home, "sync", check=False)
    [(tries,)] = box.rows("SELECT attempts FROM sync_stages WHERE name = 'push'")
    assert tries >= 1 and waiting(box) >= 1
    for lang in LANGS:
        speak(page, box, lang)
        page.goto(f"/records/{rid}")
        history = page.locator(".timeline").inner_text()
        assert said(lang, "Kept on this box") not in history
        assert said(lang, "Saved on this box; a copy is sent to the national registry") in history
        note = (
            "Like all your work, a copy of it is sent to the national registry, where it is "
            "kept in case this box is lost; it stays a draft there too."
        )
        assert said(lang, note) in page.locator("#draft-note").inner_text()
        page.goto("/outbox")
        row = page.locator("table.outbox tbody tr", has_text="Widad").first
        draft = (
            "A draft: a copy is kept at the national registry in case this box is lost. It "
            "stays yours: nobody else sees it until you notify or declare it."
        )
        assert row.locator(".draft-note").inner_text() == said(lang, draft)
        # The two counts say what each counts.
        stages = page.locator("section.stages").inner_text()
        tried = translations(lang).ngettext(
            "%(num)d failed try since the last success or Send now.",
            "%(num)d failed tries since the last success or Send now.",
            tries,
        ) % {"num": tries}
        assert tried in stages, stages
        head = page.locator("table.outbox thead th").nth(4).inner_text()
        assert head == said(lang, "Tries in all")
        # On a phone: cards, nothing scrolls sideways, every cell in view with its label.
        page.set_viewport_size(PHONE)
        page.reload()
        table = page.locator("table.outbox")
        sizes = table.evaluate("t => [t.scrollWidth, t.clientWidth]")
        assert sizes[0] <= sizes[1] + 1, sizes
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        labels = ("Action", "Record", "Saved", "State", "Tries in all", "What happened")
        for i, name in enumerate(labels):
            cell = row.locator("td").nth(i)
            found = cell.bounding_box()
            assert found["x"] >= 0 and found["x"] + found["width"] <= PHONE["width"] + 1, name
            before = cell.evaluate("e => getComputedStyle(e, '::before').content")
            assert said(lang, name) in before, (lang, name, before)
        happened = row.locator("td").nth(5).inner_text()
        assert said(lang, NO_CONNECTION).lower() in happened.lower(), happened
        if lang == "ar":
            assert not LATIN.search(page.locator(".banner.offline").inner_text())
        shot(page, f"87-outbox-phone-{lang}")
        page.set_viewport_size(DESKTOP)
    speak(page, box, "en")
