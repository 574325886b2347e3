"""Decisions made with the record in front of you: the declaration on the confirmation page,
a correction as before → after with who asked and why, a possible duplicate beside the
record, a Reject's reason beside the record in the clerk's list; in English and Arabic."""

from __future__ import annotations

import re
from typing import Any

from edge.web.i18n import translations
from tests.e2e.conftest import click_through, shot
from tests.e2e.test_every_form import RECORD, Office, act, new_record, switch
from tests.helpers import BIRTH, Box

Page = Any  # playwright.sync_api.Page


def test_the_registrar_decides_with_the_record_in_front_of_her(page: Page, box: Box) -> None:
    db = Office(box)
    switch(page, "clerk")
    twin = {**BIRTH, "child.first_name": "Salma"}
    first = new_record(page, "birth", twin, "Declare")
    again = new_record(page, "birth", twin, "Declare")  # the same child, declared twice
    sent_back = new_record(page, "birth", {**BIRTH, "child.first_name": "Rana"}, "Declare")
    assert "potential-duplicate" in db.record(again)[1]

    switch(page, "registrar")
    # The record page shows the record it may duplicate, side by side, differences marked.
    page.goto(f"/records/{again}")
    compare = page.locator("table.side-by-side")
    assert compare.count() == 1
    header = compare.locator("thead").inner_text()
    assert db.one("SELECT tracking_id FROM records WHERE id = ?", first) in header
    assert "Salma" in compare.inner_text() and "differs" not in compare.inner_text()
    shot(page, "40-possible-duplicate")
    # The same comparison in Arabic: its headings and both decisions translated.
    page.context.add_cookies([{"name": "edge_lang", "value": "ar", "url": box.url}])
    page.reload()
    head = page.locator("table.side-by-side thead").inner_text()
    assert said("ar", "This declaration") in head and said("ar", "Possible duplicate") in head
    decide = page.locator("ul.decide").inner_text()
    for label in ("Mark as duplicate", "Mark not a duplicate"):
        assert said("ar", label) in decide, label
    shot(page, "40-possible-duplicate-ar")
    page.context.add_cookies([{"name": "edge_lang", "value": "en", "url": box.url}])
    page.reload()
    # Both decisions beside the comparison too (until she assigns it, each says why not).
    decide = page.locator("ul.decide")
    for label in ("Mark as duplicate", "Mark not a duplicate"):
        assert decide.get_by_role("button", name=label).count() == 1, label
    assert "Assign" in decide.inner_text()
    # From the comparison, either decision: here, "not a duplicate".
    act(page, again, "Mark as duplicate")  # the dialog opens; confirming without why is refused
    assert "Reason is required" in page.locator("#error-summary").inner_text()
    assert page.locator("table.side-by-side").count() == 1
    click_through(page, page.get_by_role("button", name="Not a duplicate"))
    page.wait_for_url(RECORD)
    assert "potential-duplicate" not in db.record(again)[1]
    assert db.last_action(again)[0] == "MARK_NOT_DUPLICATE"

    # Register shows the declaration being registered.
    page.goto(f"/records/{again}")
    page.locator(".actions").get_by_role("button", name="Assign", exact=True).click()
    page.locator(".actions").get_by_role("link", name="Register", exact=True).click()
    shown = page.locator("details.decision").inner_text()
    assert "Salma" in shown and "Mona" in shown
    shot(page, "41-register-with-the-declaration")
    click_through(page, page.locator("button.primary"))
    page.wait_for_url(RECORD)
    assert db.record(again)[0] == "registered"

    # A correction: only what changes, before → after, who asked and why.
    act(
        page,
        again,
        "Correct",
        {
            "f.child.first_name": "Salwa",
            "d.reason": "Misspelt at birth",
            "d.requester": "Mona Haddad, her mother",
        },
    )
    page.goto(f"/records/{again}")
    page.locator(".actions").get_by_role("button", name="Assign", exact=True).click()
    page.locator(".actions").get_by_role("link", name="Approve correction").click()
    diff = page.locator("table.diff")
    assert diff.locator("tbody tr").count() == 1  # one field changes, one row
    row = diff.locator("tbody tr").inner_text()
    assert "Child's first name(s)" in row and "Salma" in row and "Salwa" in row
    asked = page.locator("section.decision").inner_text()
    assert "Asked for by Mona Haddad, her mother" in asked and "Misspelt at birth" in asked
    assert "written down by Layla Khoury" in asked
    shot(page, "42-approve-correction")

    # Reject: the clerk sees why beside the record in "Requires updates".
    act(page, sent_back, "Reject", {"d.reason": "The mother's ID number is missing"})
    switch(page, "clerk")
    click_through(page, page.get_by_role("link", name="Requires updates"))
    listed = page.locator("tr", has_text="Rana").inner_text()
    assert "Sent back because: The mother's ID number is missing" in listed
    shot(page, "43-requires-updates-with-reason")

    # The same pages in Arabic: headings and labels translated, names kept apart (bidi).
    page.get_by_label("Language").select_option("ar")
    click_through(page, page.locator("form.language button"))
    listed = page.locator("tr", has_text="Rana").inner_text()
    assert "أُعيد بسبب" in listed and "The mother's ID number is missing" in listed
    page.get_by_label("اللغة").select_option("en")
    click_through(page, page.locator("form.language button"))
    switch(page, "registrar")
    page.get_by_label("Language").select_option("ar")
    click_through(page, page.locator("form.language button"))
    page.goto(f"/records/{again}/do/APPROVE_CORRECTION")
    assert "التصحيح المطلوب" in page.locator("section.decision h2").inner_text()
    assert page.locator("table.diff bdi", has_text="Salwa").count() == 1
    shot(page, "44-approve-correction-ar")
    click_through(page, page.locator("button.primary"))
    page.wait_for_url(RECORD)
    assert db.one("SELECT title FROM records WHERE id = ?", again) == "Salwa Haddad"
    assert re.search(r"/records/", page.url)

    # The history: each correction says what it changed, before → after, who asked and why;
    # the office by its name; the words typed with a Reject; in both languages.
    for lang in ("ar", "en"):
        page.context.add_cookies([{"name": "edge_lang", "value": lang, "url": box.url}])
        page.goto(f"/records/{again}")
        lines = page.locator(".timeline > li")
        asked = lines.filter(has_text=said(lang, "Correction requested"))
        approved = lines.filter(has=page.locator("table.diff")).filter(
            has_not_text=said(lang, "Correction requested")
        )
        for line in (asked, approved):
            assert line.count() == 1
            rows = line.locator("table.diff tbody tr")
            assert rows.count() == 1  # only the field that changes
            assert "Salma" in rows.locator("td.before").inner_text()
            assert "Salwa" in rows.locator("td.after").inner_text()
            head = line.locator("table.diff thead").inner_text()
            assert said(lang, "Before") in head and said(lang, "After") in head
        text = asked.inner_text()
        assert "Mona Haddad, her mother" in text and "Misspelt at birth" in text
        assert said(lang, "Reason") in text
        history = page.locator(".timeline").inner_text()
        assert "Ramallah Clinic" in history and "office-1" not in history
        # Whether the box's clock was set is said once above the history, not on every line
        # (every line here was saved with the same clock: no line is marked).
        assert page.locator("#clock-note").count() <= 1
        assert page.locator(".timeline [aria-describedby=clock-note]").count() == 0
        shot(page, f"45-history-with-correction-{lang}")
        page.goto(f"/records/{sent_back}")
        history = page.locator(".timeline").inner_text()
        assert f"{said(lang, 'Reason')}: The mother's ID number is missing" in history


def said(lang: str, text: str) -> str:
    return text if lang == "en" else translations(lang).gettext(text)
