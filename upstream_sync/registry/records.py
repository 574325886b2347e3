"""Reading the national records: a record as the registry holds it, the search a box's
staff use to find one, and the national journal in the order it was received."""

from __future__ import annotations

from typing import Any

import msgspec

from upstream_sync.protocol import RecordHit
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.users import Reach


def record(db: RegistryDB, record_id: str) -> dict[str, Any] | None:
    """A record's office, the box holding its lease, its status and state; None if unknown."""
    row = db.read(
        lambda c: c.execute(
            "SELECT record_id, event_type, office_id, leased_to, status, state FROM records "
            "WHERE record_id = ?",
            (record_id,),
        ).fetchone()
    )
    if row is None:
        return None
    return {**dict(row), "state": msgspec.json.decode(row["state"])}


def search(db: RegistryDB, text: str, limit: int, reach: Reach) -> list[RecordHit]:
    """Records whose tracking id is the text, or whose name has every word of it (`%` and
    `_` are letters here, not wildcards), among those `reach` lets the asking user read."""
    words = [w for w in text.split() if w][:5]
    if not words or not reach:
        return []
    like = " AND ".join("r.title LIKE ? ESCAPE '\\'" for _ in words)
    allowed, allowed_args = _readable(reach)
    rows = db.read(
        lambda c: c.execute(
            "SELECT r.record_id, r.tracking_id, r.title, r.event_type, r.status, r.office_id, "
            f"r.leased_to, b.office_id AS held_by FROM records r LEFT JOIN boxes b "
            f"ON b.box_id = r.leased_to WHERE (r.tracking_id = ? OR ({like})) AND ({allowed}) "
            "ORDER BY r.created_at DESC LIMIT ?",
            (
                text.strip().upper(),
                *(f"%{_escaped(w)}%" for w in words),
                *allowed_args,
                limit,
            ),
        ).fetchall()
    )
    return [
        RecordHit(
            r["record_id"],
            r["tracking_id"],
            r["title"],
            r["event_type"],
            r["status"],
            r["office_id"],
            r["leased_to"],
            r["held_by"],
        )
        for r in rows
    ]


def _readable(reach: Reach) -> tuple[str, list[str]]:
    """The SQL condition (and its arguments) for the records `reach` grants."""
    alternatives, args = [], []
    for events, office in reach:
        terms = ["1"]
        if events is not None:
            terms.append(f"r.event_type IN ({', '.join('?' * len(events))})")
            args += sorted(events)
        if office is not None:
            terms.append("r.office_id = ?")
            args.append(office)
        alternatives.append(" AND ".join(terms))
    return " OR ".join(f"({a})" for a in alternatives), args


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def national_journal(db: RegistryDB, after: int, limit: int) -> list[dict[str, Any]]:
    """Every accepted action after `after`, in the order the registry received it."""
    rows = db.read(
        lambda c: c.execute(
            "SELECT * FROM actions WHERE national_seq > ? ORDER BY national_seq LIMIT ?",
            (after, limit),
        ).fetchall()
    )
    return [dict(r) for r in rows]
