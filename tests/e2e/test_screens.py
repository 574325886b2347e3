"""The main pages at three screen sizes (an office PC, a small netbook at 1024x600, a phone at
390x844) in both languages: nothing scrolls sideways, and each is photographed
(artifacts/screenshots/screens-<size>-<language>-<page>.png) for people to look at."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import click_through, shot
from tests.e2e.test_every_form import new_record, switch
from tests.e2e.test_ui import fill_declaration
from tests.helpers import BIRTH, DEATH, Box

Page = Any  # playwright.sync_api.Page

SIZES = {"pc": (1366, 768), "netbook": (1024, 600), "phone": (390, 844)}

# The element sticking out furthest past the right (or, in Arabic, the left) edge, if any.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width + 1) { return null; }
  let worst = null, most = 0;
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    const out = Math.max(r.right - width, -r.left);
    if (out > most + 1) { most = out; worst = e; }
  }
  return worst ? `${worst.tagName}.${worst.className} sticks out ${Math.round(most)} px` : "?";
}"""


def language(page: Page, code: str) -> None:
    page.locator("form.language select").select_option(code)
    click_through(page, page.locator("form.language button"))
    assert page.locator("html").get_attribute("lang") == code


def look(page: Page, size: str, lang: str, name: str) -> None:
    """The page fits the screen's width; photographed."""
    sticking_out = page.evaluate(OVERFLOW)
    assert sticking_out is None, f"{name} at {size} in {lang} scrolls sideways: {sticking_out}"
    # The header takes little room: a quarter of the screen, a third on a phone.
    header = page.locator("header.top").bounding_box()["height"]
    height = SIZES[size][1]
    assert header <= height * (0.34 if size == "phone" else 0.25), f"{name}: header {header} px"
    shot(page, f"screens-{size}-{lang}-{name}")


def test_the_main_pages_fit_every_screen_in_both_languages(page: Page, box: Box) -> None:
    switch(page, "clerk")
    record = new_record(page, "birth", BIRTH, "Declare")
    new_record(page, "death", DEATH, "Declare")
    new_record(page, "birth", {"child.first_name": "Nour"}, "Save draft")
    for lang in ("en", "ar"):
        language(page, lang)
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto("/queues/sent-for-review")
            assert page.locator("table.listing tbody tr").count() >= 2
            look(page, size, lang, "workqueue")
            page.goto("/records/new?event=birth")
            look(page, size, lang, "declaration")
            fill_declaration(page, BIRTH)
            click_through(page, page.locator("button[value=REVIEW]"))
            page.wait_for_url(re.compile(r"/records/new$"))
            look(page, size, lang, "review")
            page.goto(f"/records/{record}")
            look(page, size, lang, "record")
            page.goto("/search?q=Sara")
            look(page, size, lang, "search")
            page.goto("/outbox")
            look(page, size, lang, "outbox")
            page.goto("/help")
            # The help page answers the questions of a day offline.
            for anchor in ("#sending", "#box-unreachable", "#search-first"):
                assert page.locator(anchor).count() == 1
            look(page, size, lang, "help")
    # The admin's page, and the login page, at the phone's size in both languages.
    language(page, "en")
    switch(page, "admin")
    for lang in ("ar", "en"):
        language(page, lang)
        page.goto("/users")
        look(page, "phone", lang, "users")
        # On a user's card, Deactivate sits beside Reset password, not over it.
        card = page.locator("table.listing tbody tr", has_text="clerk")
        a = card.locator("a[href$='/reset']").bounding_box()
        b = card.locator("a[href$='/deactivate']").bounding_box()
        gap = max(
            a["x"] - (b["x"] + b["width"]),
            b["x"] - (a["x"] + a["width"]),
            a["y"] - (b["y"] + b["height"]),
            b["y"] - (a["y"] + a["height"]),
        )
        assert gap >= 4, f"users in {lang}: Deactivate touches Reset password ({gap:.0f} px)"
    click_through(page, page.get_by_role("button", name="Log out"))
    page.wait_for_url(re.compile(r"/login"))
    look(page, "phone", "en", "login")
