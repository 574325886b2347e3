"""Supporting documents through the office pages of a real `edge serve`: attached on the form,
kept through the review, saved with the action, given back only to whoever may read the
record; and every bad or hostile upload refused by name, changing nothing."""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.journal.verify import verify
from edge.keys.runtime import key_for_home
from tests.helpers import BIRTH, Box, edge_cli, journal_conn, running_box, start_box, stop_box
from tests.web_forms import HTML, JPEG, PDF, PNG, WebUser, errors, kept_documents

LIMITS = {
    "EDGE_DOCUMENTS_MAX_FILE_BYTES": "20000",
    "EDGE_DOCUMENTS_MAX_RECORD_BYTES": "50000",
    "EDGE_DOCUMENTS_MAX_PER_RECORD": "3",
}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    home = tmp_path_factory.mktemp("documents")
    edge_cli(home, "init", "--demo")
    with running_box(home, LIMITS) as b:
        yield b


def counts(box: Box) -> tuple[object, ...]:
    return box.rows("SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM actions)")[0]


def test_documents_go_from_the_form_to_the_record_and_to_its_readers_only(box: Box) -> None:
    clerk = WebUser(box, "clerk")
    files = [
        ("doc.birth-notification", ("hospital notification.pdf", PDF, "application/pdf")),
        ("doc.mother-id", ("mother-id.png", PNG, "image/png")),
    ]
    review = clerk.new_record("birth", BIRTH, "REVIEW", files)
    assert review.status_code == 200 and "Review before declaring" in review.text
    assert "hospital notification.pdf" in review.text and "mother-id.png" in review.text
    kept = kept_documents(review.text)
    staged = kept.split(",")
    assert len(staged) == 2
    # Before the action, only their uploader sees them.
    assert clerk.http.get(f"/documents/{staged[0]}").content == PDF
    registrar = WebUser(box, "registrar")
    assert registrar.http.get(f"/documents/{staged[0]}").status_code == 404

    declared = clerk.new_record(
        "birth", BIRTH, "DECLARE", docs=kept, **{"d.confirmation": "informant"}
    )
    assert declared.status_code == 302
    record_id = declared.headers["location"].rsplit("/", 1)[1]
    page = clerk.http.get(f"/records/{record_id}").text
    assert f'href="/documents/{staged[0]}?download=1"' in page and "Mother&#39;s ID" in page

    # The CREATE names each document (the hash chain covers its SHA-256); its bytes are kept.
    payload = json.loads(
        box.rows("SELECT payload FROM actions WHERE record_id = ? AND type = 'CREATE'", record_id)[
            0
        ][0]
    )
    assert [(d["name"], d["sha256"]) for d in payload["documents"]] == [
        ("hospital notification.pdf", hashlib.sha256(PDF).hexdigest()),
        ("mother-id.png", hashlib.sha256(PNG).hexdigest()),
    ]
    pdf = registrar.http.get(f"/documents/{staged[0]}")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in pdf.headers["content-security-policy"]
    assert pdf.headers["content-disposition"].startswith('inline; filename="hospital notification')
    png = registrar.http.get(f"/documents/{staged[1]}?download=1")
    assert png.headers["content-type"] == "image/png" and png.content == PNG
    assert png.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in png.headers["content-security-policy"]
    # A hospital administrator reads deaths only; the local admin no records: no such page.
    for who in ("hospadmin", "admin"):
        assert WebUser(box, who).http.get(f"/documents/{staged[0]}").status_code == 404

    # A draft's document is its author's: nobody else sees it, not even a registrar.
    draft = clerk.new_record(
        "birth", {"child.first_name": "Omar"}, "", [("doc.other", ("note.jpg", JPEG, "image/jpeg"))]
    )
    draft_id = draft.headers["location"].rsplit("/", 1)[1]
    (draft_doc,) = box.rows("SELECT id FROM documents WHERE record_id = ?", draft_id)
    assert clerk.http.get(f"/documents/{draft_doc[0]}").content == JPEG
    assert registrar.http.get(f"/documents/{draft_doc[0]}").status_code == 404

    # Saving the draft again with one more document: the UPDATE attaches it.
    data = {**clerk.tokens(f"/records/{draft_id}/do/UPDATE"), "f.child.last_name": "Saleh"}
    files = [("doc.mother-id", ("id.png", PNG, "image/png"))]
    assert clerk.http.post(f"/records/{draft_id}/do/UPDATE", data=data, files=files).is_redirect
    kinds = box.rows(
        "SELECT a.type, d.name FROM documents d JOIN actions a ON a.id = d.action_id "
        "WHERE d.record_id = ? ORDER BY d.seq",
        draft_id,
    )
    assert kinds == [("CREATE", "note.jpg"), ("UPDATE", "id.png")]
    report = verify(box.home / "journal.db", key_for_home(box.home))
    assert report.ok, report.problems


def test_a_document_taken_off_the_form_is_not_saved(box: Box) -> None:
    clerk = WebUser(box, "clerk")
    files = [("doc.other", ("first.png", PNG, "image/png"))]
    review = clerk.new_record("birth", BIRTH, "CHANGE", files)
    kept = kept_documents(review.text)
    assert "first.png" in review.text and "Take off the form" in review.text
    saved = clerk.new_record("birth", BIRTH, "", docs=kept, **{f"doc_remove.{kept}": "1"})
    record_id = saved.headers["location"].rsplit("/", 1)[1]
    assert box.rows("SELECT COUNT(*) FROM documents WHERE record_id = ?", record_id) == [(0,)]
    assert box.rows("SELECT COUNT(*) FROM documents WHERE id = ?", kept) == [(0,)]


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_bad_files_are_refused_by_name_and_rule_and_change_nothing(box: Box, lang: str) -> None:
    clerk = WebUser(box, "clerk", lang=lang)
    before = counts(box)
    cases = {
        "type": [("doc.mother-id", ("photo.png", HTML, "image/png"))],  # a page calling itself PNG
        "large": [("doc.birth-notification", ("scan.pdf", PDF * 3, "application/pdf"))],
        "empty": [("doc.mother-id", ("blank.jpg", b"", "image/jpeg"))],
        "many": [("doc.other", (f"p{i}.png", PNG, "image/png")) for i in range(4)],
        # Each under the 20000 bytes a file may have, the three over the 50000 a record may.
        "together": [
            ("doc.other", (f"big{i}.pdf", PDF + bytes(8000), "application/pdf")) for i in range(3)
        ],
        "unknown": [("doc.passport", ("p.png", PNG, "image/png"))],
    }
    said = {}
    for case, files in cases.items():
        r = clerk.new_record("birth", BIRTH, "DECLARE", files, **{"d.confirmation": "informant"})
        assert r.status_code == 422, (case, r.status_code)
        assert "Traceback" not in r.text
        said[case] = " ".join(errors(r.text))
    assert counts(box) == before  # nothing stored, nothing declared
    if lang == "en":
        assert "Mother's ID: “photo.png” is not a JPEG, PNG or PDF file" in said["type"]
        assert "“scan.pdf” is larger than 19.5 KB" in said["large"]
        assert "“blank.jpg” is empty" in said["empty"]
        assert "a record may have at most 3" in said["many"]
        assert "larger than 48.8 KB, the most one record may have" in said["together"]
        assert "“p.png” was sent for no document of this form" in said["unknown"]
    else:
        assert "هوية الأم" in said["type"] and "“photo.png”" in said["type"]
        assert "“scan.pdf”" in said["large"] and "19.5" in said["large"]
        assert all(
            not any(c.isascii() and c.isalpha() for c in t.split("“")[0]) for t in said.values()
        )


def test_a_good_file_sent_with_a_refused_one_is_kept_with_the_form(box: Box) -> None:
    clerk = WebUser(box, "clerk")
    good = ("doc.birth-notification", ("notification.pdf", PDF, "application/pdf"))
    refused = ("doc.mother-id", ("photo.png", HTML, "image/png"))
    r = clerk.new_record("birth", BIRTH, "REVIEW", [good, refused])
    assert r.status_code == 422 and "“photo.png” is not a JPEG" in " ".join(errors(r.text))
    kept = kept_documents(r.text)
    assert box.rows("SELECT name, action_id FROM documents WHERE id = ?", kept) == [
        ("notification.pdf", None)
    ]
    assert "photo.png" not in [n for (n,) in box.rows("SELECT name FROM documents")]
    # Sent on with the form, it is the review's.
    review = clerk.new_record("birth", BIRTH, "REVIEW", docs=kept)
    assert review.status_code == 200 and kept_documents(review.text) == kept


def test_hostile_uploads_are_bounded_and_cleaned(box: Box) -> None:
    clerk = WebUser(box, "clerk")
    before = counts(box)
    # A body larger than a declaration form may be: refused as it arrives, nothing kept.
    huge = [("doc.other", ("huge.pdf", PDF + b"\0" * 1_200_000, "application/pdf"))]
    assert clerk.new_record("birth", BIRTH, "REVIEW", huge).status_code == 413
    # Not a form sending files: held to the ordinary limit.
    tokens = clerk.tokens("/records/new?event=birth")
    flood = {**tokens, "event": "birth", "f.child.first_name": "x" * 1_100_000}
    assert clerk.http.post("/records/new", data=flood).status_code == 413
    # A stranger's files are never read into the box.
    anonymous = httpx.Client(base_url=box.url, follow_redirects=False)
    sent = anonymous.post("/records/new", data={"event": "birth"}, files=huge[:1])
    assert sent.status_code in (302, 413)
    stranger = anonymous.post(
        "/records/new", data={"event": "birth"}, files=[("doc.other", ("a.png", PNG, "image/png"))]
    )
    assert stranger.status_code == 302 and "/login" in stranger.headers["location"]
    assert counts(box) == before
    # A name with a path, control characters and a disguised extension: cleaned when kept.
    odd = "..\\..\\secret/\x1b[31mID\u202egnp.html"
    review = clerk.new_record("birth", BIRTH, "REVIEW", [("doc.other", (odd, PNG, "image/png"))])
    (name,) = box.rows("SELECT name FROM documents WHERE id = ?", kept_documents(review.text))[0]
    assert name == "[31mIDgnp.png"
    # Broken multipart: a clear refusal, never a 500.
    broken = clerk.http.post(
        "/records/new",
        content=b'--xyz\r\nContent-Disposition: form-data; name="doc.other"; filename="a"\r\n',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code in (400, 422)


def test_documents_answered_2xx_survive_kill_9(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    box = start_box(home)
    try:
        clerk = WebUser(box, "clerk")
        review = clerk.new_record(
            "birth",
            BIRTH,
            "REVIEW",
            [("doc.birth-notification", ("n.pdf", PDF, "application/pdf"))],
        )
        done = clerk.new_record(
            "birth",
            BIRTH,
            "DECLARE",
            docs=kept_documents(review.text),
            **{"d.confirmation": "informant"},
        )
        assert done.status_code == 302
        box.process.send_signal(signal.SIGKILL)  # a power cut right after the answer
        box.process.wait()
    finally:
        stop_box(box)
    report = verify(home / "journal.db", key_for_home(home))
    assert report.ok, report.problems
    conn = journal_conn(home)
    (doc_id,) = conn.execute("SELECT id FROM documents WHERE action_id IS NOT NULL").fetchone()
    data = b"".join(
        r[0]
        for r in conn.execute(
            "SELECT data FROM document_chunks WHERE document_id = ? ORDER BY n", (doc_id,)
        )
    )
    conn.close()
    assert data == PDF


def test_a_refused_file_comes_with_every_other_problem_of_the_form(box: Box) -> None:
    """One round: a refused file, a value out of range and a missing required field are all
    named at once (not the file first, then the rest at the review)."""
    clerk = WebUser(box, "clerk", lang="ar")
    values = {**BIRTH, "child.weight_kg": "99", "mother.last_name": ""}
    files = [("doc.mother-id", ("fake.png", HTML, "image/png"))]
    before = counts(box)
    page = clerk.new_record("birth", values, "REVIEW", files)
    assert page.status_code == 422
    found = " | ".join(errors(page.text))
    for label in ("الوزن عند الولادة", "اسم عائلة الأم", "هوية الأم"):  # weight, name, ID scan
        assert label in found, found
    assert counts(box) == before
