"""Conversions between journal rows, record rows and the workflow's objects."""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from typing import Any

import msgspec

from edge.journal.chain import canonical_json
from edge.journal.db import sqlite3
from edge.workflow.config import Config
from edge.workflow.fold import Entry
from edge.workflow.model import ActionType, RecordState, Status

RECORD_COLUMNS = (
    "id",
    "tracking_id",
    "event_type",
    "status",
    "flags",
    "assigned_to",
    "office_id",
    "declaration",
    "pending_correction",
    "created_by",
    "created_at",
    "updated_at",
    "last_seq",
    "title",
    "dedup_key",
    "search_text",
)


def tracking_id(record_id: str, event_type: str) -> str:
    """A short id people can read out on the phone, derived from the record id."""
    digest = hashlib.sha256(record_id.encode()).digest()
    code = base64.b32encode(digest).decode()[:7]
    return f"{event_type[:1].upper()}{code}"


_decode = msgspec.json.decode


def entry_from_row(row: sqlite3.Row | dict[str, Any]) -> Entry:
    return Entry(
        seq=row["seq"],
        id=row["id"],
        record_id=row["record_id"],
        event_type=row["event_type"],
        type=ActionType(row["type"]),
        custom_type=row["custom_type"],
        created_at=row["created_at"],
        client_time=row["client_time"],
        clock=row["clock"],
        boot_id=row["boot_id"],
        created_by=row["created_by"],
        created_at_location=row["created_at_location"],
        payload=_decode(row["payload"]),
        flags_added=tuple(_decode(row["flags_added"])),
        flags_removed=tuple(_decode(row["flags_removed"])),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def entry_columns(e: Entry) -> dict[str, Any]:
    """The stored column values of an entry (JSON columns as canonical text)."""
    return {
        "seq": e.seq,
        "id": e.id,
        "record_id": e.record_id,
        "event_type": e.event_type,
        "type": str(e.type),
        "custom_type": e.custom_type,
        "created_at": e.created_at,
        "client_time": e.client_time,
        "clock": e.clock,
        "boot_id": e.boot_id,
        "created_by": e.created_by,
        "created_at_location": e.created_at_location,
        "payload": canonical_json(e.payload),
        "flags_added": canonical_json(list(e.flags_added)),
        "flags_removed": canonical_json(list(e.flags_removed)),
        "prev_hash": e.prev_hash,
    }


def state_from_row(row: sqlite3.Row | dict[str, Any]) -> RecordState:
    pending = row["pending_correction"]
    return RecordState(
        id=row["id"],
        event_type=row["event_type"],
        office_id=row["office_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        status=Status(row["status"]),
        flags=set(_decode(row["flags"])),
        assigned_to=row["assigned_to"],
        declaration=_decode(row["declaration"]),
        pending_correction=_decode(pending) if pending is not None else None,
        updated_at=row["updated_at"],
        last_seq=row["last_seq"],
    )


def state_columns(s: RecordState, config: Config | None) -> dict[str, Any]:
    """Column values of a record row; title and dedup_key are derived with the configuration."""
    return {
        "id": s.id,
        "tracking_id": tracking_id(s.id, s.event_type),
        "event_type": s.event_type,
        "status": s.status.value,
        "flags": canonical_json(sorted(s.flags)),
        "assigned_to": s.assigned_to,
        "office_id": s.office_id,
        "declaration": canonical_json(s.declaration),
        "pending_correction": (
            canonical_json(s.pending_correction) if s.pending_correction is not None else None
        ),
        "created_by": s.created_by,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "last_seq": s.last_seq,
        "title": record_title(s, config) if config else "",
        "dedup_key": dedup_key(s.event_type, s.declaration, config) if config else None,
        "search_text": search_text(s, config) if config else "",
    }


def changed_columns(old: RecordState, new: RecordState, config: Config) -> dict[str, Any]:
    """Only the record columns an action changed (fewer index updates on the hot path)."""
    cols: dict[str, Any] = {"updated_at": new.updated_at, "last_seq": new.last_seq}
    if new.status is not old.status:
        cols["status"] = new.status.value
    if new.flags != old.flags:
        cols["flags"] = canonical_json(sorted(new.flags))
    if new.assigned_to != old.assigned_to:
        cols["assigned_to"] = new.assigned_to
    if new.declaration != old.declaration:
        cols["declaration"] = canonical_json(new.declaration)
        cols["title"] = record_title(new, config)
        cols["dedup_key"] = dedup_key(new.event_type, new.declaration, config)
        cols["search_text"] = search_text(new, config)
    if new.pending_correction != old.pending_correction:
        cols["pending_correction"] = (
            canonical_json(new.pending_correction) if new.pending_correction is not None else None
        )
    return cols


def record_title(s: RecordState, config: Config) -> str:
    event = config.events.get(s.event_type)
    parts = [str(s.declaration.get(f, "")).strip() for f in (event.title if event else [])]
    return " ".join(p for p in parts if p)


# Arabic letters people write either way: hamza forms of alef, taa marbuta and haa, alef
# maqsura and yaa, hamza on waw and yaa. Folded to one form for search ("ساره" finds "سارة").
_ALEF, _HEH, _YEH, _WAW = (
    "\N{ARABIC LETTER ALEF}",
    "\N{ARABIC LETTER HEH}",
    "\N{ARABIC LETTER YEH}",
    "\N{ARABIC LETTER WAW}",
)
_ARABIC_FOLD = str.maketrans(
    {
        "\N{ARABIC LETTER ALEF WITH HAMZA ABOVE}": _ALEF,
        "\N{ARABIC LETTER ALEF WITH HAMZA BELOW}": _ALEF,
        "\N{ARABIC LETTER ALEF WITH MADDA ABOVE}": _ALEF,
        "\N{ARABIC LETTER ALEF WASLA}": _ALEF,
        "\N{ARABIC LETTER TEH MARBUTA}": _HEH,
        "\N{ARABIC LETTER ALEF MAKSURA}": _YEH,
        "\N{ARABIC LETTER WAW WITH HAMZA ABOVE}": _WAW,
        "\N{ARABIC LETTER YEH WITH HAMZA ABOVE}": _YEH,
        "\N{ARABIC TATWEEL}": None,
    }
)


def searchable(text: str) -> str:
    """Text as the search index keeps it: case, accents, Arabic diacritics (harakat) and
    tatweel gone, spelling variants folded."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ARABIC_FOLD))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", kept).casefold()


def search_text(s: RecordState, config: Config) -> str:
    """What a record is found by: its title and every name in its declaration, searchable."""
    event = config.events.get(s.event_type)
    names = [
        str(s.declaration[f.id])
        for f in (event.fields if event else [])
        if "name" in f.id and isinstance(s.declaration.get(f.id), str)
    ]
    words = searchable(" ".join([record_title(s, config), *names])).split()
    return " ".join(dict.fromkeys(words))  # each word once


def dedup_key(event_type: str, declaration: dict[str, Any], config: Config) -> str | None:
    """Normalized duplicate-detection key, or None when a key field is empty."""
    event = config.events.get(event_type)
    if not event or not event.duplicate_keys:
        return None
    values = [str(declaration.get(f, "")).strip().casefold() for f in event.duplicate_keys]
    if not all(values):
        return None
    return "|".join(values)
