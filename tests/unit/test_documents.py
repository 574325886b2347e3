"""Supporting documents, the pure part: what a file is (by its bytes), the names kept, the
configured kinds, and the engine's rules for an action's documents."""

from __future__ import annotations

import tomllib

import pytest

from edge.errors import ConfigError, InvalidInput
from edge.workflow.config import build_config, default_config_path
from edge.workflow.documents import DocumentRef, clean_name, refs_of, sniff
from edge.workflow.model import ActionType
from tests.helpers import BIRTH, DEATH, act, actor, config

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def ref(kind: str = "birth-notification", media: str = "application/pdf") -> DocumentRef:
    return DocumentRef("doc-1", kind, "scan.pdf", media, 1234, "ab" * 32)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (PDF, "application/pdf"),
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"<!DOCTYPE html><script>alert(1)</script>", None),  # a page calling itself a PNG
        (b"GIF89a", None),
        (b" %PDF-1.4", None),  # not at the start: not taken for a PDF
        (b"", None),
    ],
)
def test_a_file_is_what_its_first_bytes_say(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    ("sent", "media", "kept"),
    [
        ("scan.PDF", "application/pdf", "scan.pdf"),
        ("photo.html", "image/jpeg", "photo.jpg"),  # named by what it is, never by what it says
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("C:\\Users\\clerk\\ID card.jpeg", "image/jpeg", "ID card.jpg"),
        ("evil\u202egpj.exe", "image/png", "evilgpj.png"),  # no right-to-left override
        ("a\x00b\x1bc.pdf", "application/pdf", "abc.pdf"),
        ("", "application/pdf", "document.pdf"),
        ("...", "image/png", "document.png"),
        ("نموذج الولادة.pdf", "application/pdf", "نموذج الولادة.pdf"),
        ("x" * 500 + ".pdf", "application/pdf", "x" * 116 + ".pdf"),
        ("report.html", None, "report.html"),  # naming a refused file: its own name
    ],
)
def test_names_are_cleaned_and_end_with_what_the_file_is(
    sent: str, media: str | None, kept: str
) -> None:
    assert clean_name(sent, media) == kept


def test_the_default_configuration_offers_documents_and_requires_none() -> None:
    cfg = config()
    assert set(cfg.documents["birth"]) == {"birth-notification", "mother-id", "other"}
    assert "cause-of-death" in cfg.documents["death"]
    assert not any(t.required for per in cfg.documents.values() for t in per.values())


def _raw(**changes: object) -> dict[str, object]:
    raw = tomllib.loads(default_config_path().read_text())
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([{"event": "marriage", "id": "x", "label": "X"}], "documents[marriage.x].event"),
        ([{"event": "birth", "id": "a b", "label": "X"}], "documents[birth.a b]: id may use"),
        (
            [
                {"event": "birth", "id": "x", "label": "X"},
                {"event": "birth", "id": "x", "label": "Y"},
            ],
            "id is used twice",
        ),
        ([{"event": "birth", "id": "x", "label": "X", "colour": "red"}], "unknown field `colour`"),
    ],
)
def test_a_bad_document_kind_is_refused_naming_the_entry(
    documents: list[dict[str, str]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_config(_raw(documents=documents), "country.toml")


def test_a_required_document_is_needed_to_declare_not_for_a_draft() -> None:
    raw = _raw(
        documents=[
            {"event": "death", "id": "cause-of-death", "label": "Cause", "required": True},
            {"event": "death", "id": "id", "label": "ID"},
        ]
    )
    cfg = build_config(raw)
    clerk = actor("clinic-clerk", cfg)
    draft = act(None, ActionType.CREATE, clerk, cfg, event_type="death", declaration=DEATH)
    with pytest.raises(InvalidInput) as refused:
        act(draft, ActionType.DECLARE, clerk, cfg, record_id=draft.id)
    assert [(p.field, p.rule) for p in refused.value.problems] == [
        ("documents.cause-of-death", "required")
    ]
    # With the certificate: declared, and the action names it.
    certificate = ref("cause-of-death")
    declared = act(
        draft, ActionType.DECLARE, clerk, cfg, record_id=draft.id, documents=(certificate,)
    )
    assert declared.status.value == "declared"


def test_an_action_names_its_documents_for_the_hash_chain() -> None:
    from edge.workflow.engine import ActionRequest, decide
    from tests.helpers import TODAY

    cfg = config()
    clerk = actor("clinic-clerk", cfg)
    req = ActionRequest(
        ActionType.CREATE, "rec-1", event_type="birth", declaration=BIRTH, documents=(ref(),)
    )
    decision = decide(None, req, clerk, cfg, TODAY)
    assert decision.payload["documents"] == [ref().payload()]
    assert refs_of(decision.payload) == [ref()]
    assert refs_of({"documents": [{"id": "x"}]}) == []  # not one this software wrote


def test_documents_only_on_actions_that_take_a_declaration() -> None:
    cfg = config()
    clerk = actor("clinic-clerk", cfg)
    with pytest.raises(InvalidInput) as unknown:
        act(None, ActionType.CREATE, clerk, cfg, event_type="birth", documents=(ref("passport"),))
    assert unknown.value.problems[0].field == "documents.passport"
    draft = act(None, ActionType.CREATE, clerk, cfg, event_type="birth", declaration=BIRTH)
    # A draft saved with only a document added is a change worth saving.
    updated = act(draft, ActionType.UPDATE, clerk, cfg, record_id=draft.id, documents=(ref(),))
    assert updated.status.value == "draft"
    declared = act(draft, ActionType.DECLARE, clerk, cfg, record_id=draft.id)
    with pytest.raises(InvalidInput) as refused:
        act(declared, ActionType.UNASSIGN, clerk, cfg, record_id=draft.id, documents=(ref(),))
    assert refused.value.problems[0].rule == "not_allowed"
