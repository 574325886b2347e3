"""The stolen-card test (issue 14): a whole office flow with known names (Latin and Arabic) and
national ids, through the API and the pages; then the box is stopped, its key forgotten (as a
power cut does) and every file under its home and this test's temporary folders is searched for
those names, those ids and the device's private key. Nothing may be found.

Before encryption at rest the same search found them in journal.db, its -wal, the backup and
device.key (the test was run on that code first, and failed there)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from edge.identity import load_device_key
from edge.keys import runtime
from edge.settings import load_settings
from tests.helpers import BIRTH, edge_cli, running_box
from tests.web_forms import PDF, WebUser, errors

LATIN = {
    "child.first_name": "Zainabiya",
    "child.last_name": "Qudsiyyat",
    "mother.first_name": "Rawaniyya",
    "mother.last_name": "Tahboubiyya",
    "mother.national_id": "407315926",
}
ARABIC = {
    "child.first_name": "زينبية",
    "child.last_name": "القدسياوي",
    "mother.first_name": "روانية",
    "mother.last_name": "طهبوبية",
    "mother.national_id": "518264037",
}
STAFF_NAME = "هالة الخطيبية"
DOCUMENT_MARK = b"Tahboubiyya mother's identity card"


def needles(private_key_pem: bytes, raw_private: bytes) -> dict[str, bytes]:
    """What must not be found, in every form it could be written in."""
    found: dict[str, bytes] = {}
    for value in [*LATIN.values(), *ARABIC.values(), STAFF_NAME]:
        found[value] = value.encode()
        escaped = json.dumps(value).strip('"')
        if escaped != value:
            found[f"{value} (JSON)"] = escaped.encode()
    body = b"".join(private_key_pem.splitlines()[1:-1])
    found["device key (PEM)"] = body
    found["device key (raw)"] = raw_private
    found["device key (hex)"] = raw_private.hex().encode()
    found["device key (base64)"] = base64.b64encode(raw_private)
    found["document"] = DOCUMENT_MARK
    return found


def test_a_stolen_card_reveals_no_name_no_id_and_no_device_key(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo", "--office-name", "Ramallah Clinic")
    with running_box(home) as box:
        # Through the API: a clerk declares, the registrar registers; an admin adds a user.
        clerk, registrar = box.client("clerk"), box.client("registrar")
        rid = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
        r = clerk.post(
            f"/api/v1/records/{rid}/actions",
            json={"type": "DECLARE", "declaration": {**BIRTH, **LATIN}},
        )
        assert r.status_code == 201, r.text
        for step in ("ASSIGN", "REGISTER"):
            r = registrar.post(f"/api/v1/records/{rid}/actions", json={"type": step})
            assert r.status_code == 201, r.text
        r = box.client("admin").post(
            "/api/v1/users",
            json={"username": "hala", "display_name": STAFF_NAME, "role": "clinic-clerk"},
        )
        assert r.status_code == 201, r.text
        # Through the pages: an Arabic declaration with a supporting document.
        web = WebUser(box, "clerk", lang="ar")
        document = PDF.replace(b"%%EOF", DOCUMENT_MARK + b"\n%%EOF")
        files = [("doc.mother-id", ("mother-id.pdf", document, "application/pdf"))]
        page = web.new_record(
            "birth", {**BIRTH, **ARABIC}, "DECLARE", files, **{"d.confirmation": "informant"}
        )
        assert page.status_code in (302, 303), errors(page.text)
        found = web.http.get("/search", params={"q": ARABIC["child.last_name"]})
        assert ARABIC["child.last_name"] in found.text  # it is there, for those let in
        # A backup, as IT staff take them (onto a stick: here, this test's folder).
        edge_cli(home, "backup", str(tmp_path / "backup.db"))
        key = load_device_key(home / "device.key")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    runtime.forget(load_settings(home))  # the power goes: the key in memory is gone
    hits = []
    files_seen = 0
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files_seen += 1
        hits += [
            f"{what} in {path.relative_to(tmp_path)}"
            for what, needle in needles(pem, raw).items()
            if needle in data
        ]
    assert files_seen >= 5
    assert hits == []
