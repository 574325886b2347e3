"""The tamper-evident hash chain over journal entries.

hash = sha256 of the canonical form: a JSON array (no spaces) of the format tag and every
column of the row in table order, `payload` and the flag lists as their stored JSON text,
ending with `prev_hash`. The first entry's prev_hash is 64 zeros. See docs/journal.md.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

FORMAT = "edge-journal-1"
GENESIS = "0" * 64
HASHED_COLUMNS = (
    "seq",
    "id",
    "record_id",
    "event_type",
    "type",
    "custom_type",
    "created_at",
    "client_time",
    "clock",
    "boot_id",
    "created_by",
    "created_at_location",
    "payload",
    "flags_added",
    "flags_removed",
    "prev_hash",
)

_encoder = msgspec.json.Encoder(order="sorted")


def canonical_json(value: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces) used for stored JSON columns."""
    return _encoder.encode(value).decode("utf-8")


def row_hash(row: Any) -> str:
    """The hash of one journal row (a mapping of its stored column values)."""
    canonical = _encoder.encode([FORMAT, *(row[c] for c in HASHED_COLUMNS)])
    return hashlib.sha256(canonical).hexdigest()
