"""Supporting documents in Chromium: chosen on the declaration form, read back on the review,
shown on the record page and in the outbox, at the registry after a sync; a file too large
or not a scan refused by name and rule, in both languages, with everything typed kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import browse, click_through, office_box, shot
from tests.e2e.test_ui import fill_declaration, login
from tests.helpers import BIRTH, Box, Registry, edge_cli
from tests.web_forms import HTML, PDF, PNG

Page = Any  # playwright.sync_api.Page
RECORD = re.compile(r"/records/([0-9a-f-]{36})$")
LIMITS = {"EDGE_DOCUMENTS_MAX_FILE_BYTES": "20000"}  # 19.5 KB
LONG = "scan_" + "0123456789" * 8 + ".pdf"  # one long word
BIG = PDF + bytes(30_000)  # a real PDF's start, larger than the limit


@pytest.fixture
def docbox(tmp_path: Path, registry: Registry) -> Iterator[Box]:
    with office_box(tmp_path, registry, LIMITS) as b:
        yield b


def attach(page: Page, control: str, name: str, data: bytes, mime: str) -> None:
    page.locator(f"input[type=file][name='doc.{control}']").set_input_files(
        {"name": name, "mimeType": mime, "buffer": data}
    )


def test_a_document_attached_on_the_form_shows_on_the_record_and_reaches_the_registry(
    browser: object, docbox: Box, registry: Registry
) -> None:
    with browse(browser, docbox) as page:
        login(page, "clerk")
        page.goto("/records/new?event=birth")
        fill_declaration(page, BIRTH)
        attach(page, "birth-notification", "hospital notification.pdf", PDF, "application/pdf")
        attach(page, "mother-id", "mother id.png", PNG, "image/png")
        attach(page, "other", LONG, PDF, "application/pdf")
        page.get_by_role("button", name="Review and declare").click()
        docs = page.locator("ul.docs")
        assert "hospital notification.pdf" in docs.inner_text()
        assert "Mother's ID" in docs.inner_text()
        page.get_by_label("The informant has heard this summary").check()
        click_through(page, page.get_by_role("button", name="Declare", exact=True))
        page.wait_for_url(RECORD)
        record_id = RECORD.search(page.url).group(1)  # type: ignore[union-attr]

        section = page.locator("ul.docs[aria-labelledby=documents-h]")
        assert page.get_by_role("heading", name="Supporting documents").is_visible()
        text = section.inner_text()
        assert "hospital notification.pdf" in text and "Hospital notification of birth" in text
        assert "mother id.png" in text and "Not yet sent to the national registry." in text
        shot(page, "40-record-with-documents")
        # On a phone, in both languages, a long file name does not push the page sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        for lang in ("en", "ar"):
            page.context.add_cookies([{"name": "edge_lang", "value": lang, "url": docbox.url}])
            for path in (f"/records/{record_id}", "/outbox", "/records/new?event=birth"):
                page.goto(path)
                width = page.evaluate("document.documentElement.scrollWidth")
                wide = page.evaluate(
                    "() => [...document.querySelectorAll('body *:not(.queues *)')].filter(e => "
                    "e.getBoundingClientRect().right > 391).slice(0, 8).map(e => e.tagName + '.' "
                    "+ e.className + ' ' + Math.round(e.getBoundingClientRect().width))"
                )
                assert width <= 390, f"{path} scrolls sideways on a phone in {lang}: {wide}"
            page.goto(f"/records/{record_id}")
            shot(page, f"42-record-with-documents-phone-{lang}")
        page.context.add_cookies([{"name": "edge_lang", "value": "en", "url": docbox.url}])
        page.set_viewport_size({"width": 1366, "height": 768})
        page.goto(f"/records/{record_id}")
        # The link opens the document itself, byte for byte.
        href = section.get_by_role(
            "link", name="hospital notification.pdf", exact=True
        ).get_attribute("href")
        got = page.request.get(str(href))
        assert got.ok and got.body() == PDF
        assert got.headers["content-type"] == "application/pdf"

        # The outbox lists it until the registry holds it; after a sync, there it is.
        page.goto("/outbox")
        assert "hospital notification.pdf" in page.locator("#docs-out-h + p + table").inner_text()
        edge_cli(docbox.home, "sync")
        page.goto(f"/records/{record_id}")
        assert (
            "Not yet sent" not in page.locator("ul.docs[aria-labelledby=documents-h]").inner_text()
        )
        page.goto("/outbox")
        assert page.locator("#docs-out-h").count() == 0
    admin = {"Authorization": f"Bearer {registry.admin_token}"}
    held = httpx.get(f"{registry.url}/admin/v1/records/{record_id}/documents", headers=admin)
    held.raise_for_status()
    by_name = {d["name"]: d for d in held.json()}
    assert set(by_name) == {"hospital notification.pdf", "mother id.png", LONG}
    assert all(d["complete"] for d in by_name.values())
    pdf_id = by_name["hospital notification.pdf"]["document_id"]
    content = httpx.get(f"{registry.url}/admin/v1/documents/{pdf_id}/content", headers=admin)
    assert content.status_code == 200 and content.content == PDF


CASES = {
    "en": {
        "label": "Mother's ID",
        "large": "“scan.pdf” is larger than 19.5 KB",
        "type": "“photo.png” is not a JPEG, PNG or PDF file",
    },
    "ar": {
        "label": "هوية الأم",
        "large": "الملف “scan.pdf” أكبر من 19.5 كيلوبايت",
        "type": "الملف “photo.png” ليس صورة JPEG أو PNG ولا ملف PDF",
    },
}


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_file_too_large_or_not_a_scan_is_refused_by_name_and_the_form_kept(
    browser: object, docbox: Box, lang: str
) -> None:
    said = CASES[lang]
    with browse(browser, docbox) as page:
        login(page, "clerk")
        page.context.add_cookies([{"name": "edge_lang", "value": lang, "url": docbox.url}])
        page.goto("/records/new?event=birth")
        fill_declaration(page, BIRTH)
        review = page.locator("button[name=then][value=REVIEW]")

        # Too large: said as soon as it is chosen, and by the box if sent anyway; the good
        # file sent with it is kept with the form.
        attach(page, "birth-notification", "notification.pdf", PDF, "application/pdf")
        attach(page, "mother-id", "scan.pdf", BIG, "application/pdf")
        warned = page.locator("#doc\\.mother-id").locator(
            "xpath=preceding-sibling::p[@role='alert']"
        )
        assert warned.is_visible() and "scan.pdf" in warned.inner_text()
        click_through(page, review)
        summary = page.locator("#error-summary").inner_text()
        assert f"{said['label']}: {said['large']}" in summary, summary
        field = page.locator("#doc\\.mother-id-error")
        assert said["large"] in field.inner_text()
        assert page.locator("#doc\\.mother-id").get_attribute("aria-invalid") == "true"
        for name, value in BIRTH.items():  # everything typed is still there
            control = page.locator(f"[name='f.{name}']")
            assert control.input_value() == value, name
        assert "notification.pdf" in page.locator("fieldset.documents ul.docs").inner_text()
        shot(page, f"41-document-too-large-{lang}")

        # Not a scan: an HTML page named .png, refused by its content.
        attach(page, "mother-id", "photo.png", HTML, "image/png")
        click_through(page, review)
        summary = page.locator("#error-summary").inner_text()
        assert f"{said['label']}: {said['type']}" in summary, summary
        assert (
            page.locator("[name='f.child.first_name']").input_value() == BIRTH["child.first_name"]
        )

        # Put right: the review follows, with the document.
        attach(page, "mother-id", "id.png", PNG, "image/png")
        click_through(page, review)
        assert page.locator("#error-summary").count() == 0
        listed = page.locator("ul.docs").inner_text()
        assert "id.png" in listed and said["label"] in listed and "notification.pdf" in listed
        assert "scan.pdf" not in listed and "photo.png" not in listed
