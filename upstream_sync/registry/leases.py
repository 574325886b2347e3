"""Which box holds which record, and what each box learns at its next pull: the ordered log
of changes (leases granted and revoked, with the record; users of its office), and the
resync of every record a restored box holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edge.clock import iso_ms
from edge.journal.db import sqlite3
from upstream_sync.protocol import (
    Change,
    PullResult,
    RecordCopy,
    RegistryAction,
    UserInfo,
    WireAction,
)
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.errors import UnknownBox, UnknownRecord


def note_change(c: sqlite3.Connection, kind: str, now: datetime, **fields: str | None) -> None:
    """Add to the log of changes the boxes learn at their next pull."""
    names = ["kind", "at", *fields]
    c.execute(
        f"INSERT INTO changes ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        (kind, iso_ms(now), *fields.values()),
    )


def move(
    c: sqlite3.Connection, record_id: str, to_box: str | None, by: str, reason: str, now: datetime
) -> None:
    """Give the record to `to_box` (None: to no box), telling the box that held it."""
    held = c.execute("SELECT leased_to FROM records WHERE record_id = ?", (record_id,)).fetchone()
    if held is None or held[0] == to_box:
        return
    if held[0] is not None:
        note_change(
            c, "lease-revoked", now, box_id=held[0], record_id=record_id, by=by, reason=reason
        )
    c.execute("UPDATE records SET leased_to = ? WHERE record_id = ?", (to_box, record_id))
    if to_box is not None:
        note_change(
            c, "lease-granted", now, box_id=to_box, record_id=record_id, by=by, reason=reason
        )


def move_lease(
    db: RegistryDB, record_id: str, to_box: str | None, by: str, reason: str, now: datetime
) -> None:
    """Give a record to another box (or to none): the box holding it learns at its next
    pull that its lease is revoked, the new box that it is granted."""

    def job(c: sqlite3.Connection) -> None:
        if c.execute("SELECT 1 FROM records WHERE record_id = ?", (record_id,)).fetchone() is None:
            raise UnknownRecord(f"The registry has no record {record_id}")
        if (
            to_box is not None
            and not c.execute("SELECT 1 FROM boxes WHERE box_id = ?", (to_box,)).fetchone()
        ):
            raise UnknownBox(f"No box {to_box} is enrolled")
        move(c, record_id, to_box, by, reason, now)

    db.write(job)


def request_lease(
    db: RegistryDB, box_id: str, record_id: str, by: str, now: datetime
) -> tuple[bool, str]:
    """A box asks to hold a record: granted when no other box holds it."""

    def job(c: sqlite3.Connection) -> tuple[bool, str]:
        row = c.execute(
            "SELECT r.leased_to, b.office_id FROM records r LEFT JOIN boxes b "
            "ON b.box_id = r.leased_to WHERE r.record_id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            return False, "The registry has no such record"
        if row["leased_to"] not in (None, box_id):
            return False, (
                f"Office {row['office_id']} holds this record. Ask them, or a national "
                "registrar, to release it."
            )
        move(c, record_id, box_id, by, "asked for at the office", now)
        return True, ""

    return db.write(job)


def pull(
    db: RegistryDB,
    box_id: str,
    cursor: int,
    limit: int,
    now: datetime,
    resync_after: str | None = None,
) -> PullResult:
    """The changes for a box after its cursor, each lease change with the record's actions;
    with `resync_after`, also a page of every record the box holds. Read in one snapshot."""

    def job(c: sqlite3.Connection) -> PullResult:
        resync, resync_next = _resync(c, box_id, limit, now, resync_after)
        office = c.execute("SELECT office_id FROM boxes WHERE box_id = ?", (box_id,)).fetchone()[0]
        rows = c.execute(
            "SELECT * FROM changes WHERE seq > ? AND (box_id = ? OR office_id = ?) "
            "ORDER BY seq LIMIT ?",
            (cursor, box_id, office, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        changes = [_change_out(c, r) for r in rows]
        if rows:
            next_cursor = rows[-1]["seq"]
        else:  # nothing for this box: skip what others got, up to now
            next_cursor = max(cursor, c.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0)
        version = c.execute("SELECT value FROM meta WHERE key = 'config_version'").fetchone()
        return PullResult(
            resync + changes,
            next_cursor,
            more or resync_next is not None,
            version[0] if version else "1",
            iso_ms(now),
            resync_next,
        )

    return db.read(job)


def _resync(
    c: sqlite3.Connection, box_id: str, limit: int, now: datetime, after: str | None
) -> tuple[list[Change], str | None]:
    """A page of the records the box holds after `after`, and where the next page starts."""
    if after is None:
        return [], None
    held = [
        r[0]
        for r in c.execute(
            "SELECT record_id FROM records WHERE leased_to = ? AND record_id > ? "
            "ORDER BY record_id LIMIT ?",
            (box_id, after, limit + 1),
        )
    ]
    granted = {"seq": 0, "kind": "lease-granted", "at": iso_ms(now), "by": "registry"}
    page = [
        _change_out(c, {**granted, "reason": "resync", "record_id": rid, "username": None})
        for rid in held[:limit]
    ]
    return page, held[limit - 1] if len(held) > limit else None


def _change_out(c: sqlite3.Connection, r: sqlite3.Row | dict[str, Any]) -> Change:
    record = user = None
    if r["record_id"] is not None:
        rows = c.execute(
            "SELECT * FROM actions WHERE record_id = ? ORDER BY national_seq", (r["record_id"],)
        )
        record = RecordCopy(
            r["record_id"],
            [
                RegistryAction(
                    **{f: a[f] for f in WireAction.__struct_fields__ if f != "seq"},
                    seq=a["box_seq"],
                    national_seq=a["national_seq"],
                    origin_box=a["box_id"],
                    received_at=a["received_at"],
                )
                for a in rows
            ],
        )
    if r["username"] is not None:
        u = c.execute("SELECT * FROM users WHERE username = ?", (r["username"],)).fetchone()
        user = UserInfo(
            u["id"], u["username"], u["display_name"], u["role"], u["office_id"], bool(u["active"])
        )
    return Change(r["seq"], r["kind"], r["at"], r["by"], r["reason"], record, user)
