"""Supporting documents of a declaration (a hospital notification, an ID): the kinds a
country configures for each event, and the rules an action's documents must follow.

Pure, like the engine: the bytes live in journal.db's own table (edge/journal/attachments.py);
an action carries only what identifies them (`DocumentRef`), so the hash chain covers their
SHA-256 and the fold never needs them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import msgspec

from edge.errors import FieldProblem

# What a document may be, recognised by its first bytes (never by its name): the media type
# and the file name extension it is given back with.
MEDIA_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
}
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


NAME_MAX = 120
# What never belongs in a file name shown or given back: control and format characters
# (bidirectional overrides that disguise "gpj.exe" as "exe.jpg"), and path separators.
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class DocumentType(msgspec.Struct, forbid_unknown_fields=True):
    """A kind of supporting document of an event (`[[documents]]` in the configuration)."""

    event: str
    id: str
    label: str
    required: bool = False  # to declare (DECLARE, or EDIT then DECLARE), not for a draft
    help: str = ""


@dataclass(frozen=True)
class DocumentRef:
    """A document as an action names it: enough to find and check its bytes."""

    id: str
    type: str
    name: str
    media_type: str
    size: int
    sha256: str

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
        }


def sniff(head: bytes) -> str | None:
    """The media type of a file from its first bytes; None when it is none of those allowed."""
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def clean_name(raw: str | None, media_type: str | None) -> str:
    """A file name safe to store, show and give back: the last part of any path, without
    control or invisible formatting characters, at most NAME_MAX characters, ending with the
    extension of what the file really is (its own, only to name a file refused: None)."""
    text = unicodedata.normalize("NFC", raw or "")
    base = re.split(r"[/\\]", text)[-1]
    base = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    stem = _NOT_IN_NAMES.sub("_", base).strip(" .")
    if media_type is None:
        return stem[:NAME_MAX] or "document"
    ext = MEDIA_TYPES.get(media_type, "")
    if "." in stem:  # its own extension goes: the content says what it is
        stem = stem.rpartition(".")[0]
    stem = stem.strip(" .")[: NAME_MAX - len(ext)] or "document"
    return stem + ext


def index_types(
    types: Iterable[DocumentType], events: Iterable[str], fail: Callable[[str, str], NoReturn]
) -> dict[str, dict[str, DocumentType]]:
    """The configured document types by event and id; `fail(where, message)` on an error."""
    known = set(events)
    out: dict[str, dict[str, DocumentType]] = {e: {} for e in known}
    for t in types:
        where = f"documents[{t.event}.{t.id}]"
        if t.event not in known:
            fail(f"{where}.event", f"unknown event type `{t.event}`")
        if not t.id or not all(c.isalnum() or c in "._-" for c in t.id):
            fail(where, "id may use letters, digits, '.', '_' and '-' only")
        if t.id in out[t.event]:
            fail(where, "id is used twice for this event")
        out[t.event][t.id] = t
    return out


def check(
    refs: tuple[DocumentRef, ...],
    types: dict[str, DocumentType],
    completes: bool,
    on_record: frozenset[str],
) -> list[FieldProblem]:
    """Problems with the documents an action attaches: a type the event does not have, a
    media type not allowed, and (when the action declares) a required type missing from the
    record and the action together."""
    problems = []
    for ref in refs:
        where = f"documents.{ref.type}"
        if ref.type not in types:
            problems.append(FieldProblem(where, "unknown_field", "is not a document of this form"))
        elif ref.media_type not in MEDIA_TYPES or ref.size <= 0:
            problems.append(FieldProblem(where, "media_type", "must be a JPEG, PNG or PDF file"))
    if completes:
        have = on_record | {r.type for r in refs}
        problems += [
            FieldProblem(f"documents.{t.id}", "required", f"{t.label} is required")
            for t in types.values()
            if t.required and t.id not in have
        ]
    return problems


def refs_of(payload: dict[str, Any]) -> list[DocumentRef]:
    """The documents an action's payload names (none for most actions)."""
    out = []
    for d in payload.get("documents") or ():
        try:
            out.append(
                DocumentRef(
                    str(d["id"]),
                    str(d["type"]),
                    str(d["name"]),
                    str(d["media_type"]),
                    int(d["size"]),
                    str(d["sha256"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # not a document this software wrote: nothing to show or send
    return out
