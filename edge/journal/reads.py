"""The journal's read side: records, timelines and workqueue listings, on read-only
connections of their own (one per thread) so reads never wait for the writer."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from edge.journal import syncstages
from edge.journal.db import connect, sqlite3
from edge.journal.records import entry_from_row, searchable, state_from_row
from edge.journal.syncstages import Stage
from edge.workflow.config import WorkqueueQuery
from edge.workflow.fold import Entry
from edge.workflow.model import Actor, RecordState, Status


class SyncInfo(msgspec.Struct, frozen=True):
    """Where an action stands with the national registry (`pending` when no receipt yet)."""

    state: str
    attempts: int
    last_error: str | None
    next_try_at: str | None
    registry_time: str | None
    reason: str | None
    discarded_by: str | None = None
    discarded_at: str | None = None


class Lease(msgspec.Struct, frozen=True):
    """The registry took the record from this box (`revoked`) or gave it (`held`)."""

    state: str
    changed_at: str
    changed_by: str | None
    reason: str | None


@dataclass(frozen=True)
class RecordRow:
    state: RecordState
    tracking_id: str
    title: str


class Reader:
    """Read-only access to journal.db."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self._path = path
        self._key = key
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, readonly=True, key=self._key)
            self._local.conn = conn
        return conn

    def record(self, record_id: str) -> RecordRow | None:
        row = self.conn().execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
        return RecordRow(state_from_row(row), row["tracking_id"], row["title"]) if row else None

    def timeline(self, record_id: str) -> list[tuple[Entry, SyncInfo]]:
        """The record's actions: the registry's copy (if the box has one) in national order,
        then the box's own actions the registry does not hold, each with its sync state."""
        conn = self.conn()
        copied = [
            (
                entry_from_row({**dict(r), "seq": 0}),
                SyncInfo("accepted", 0, None, None, r["received_at"], None),
            )
            for r in conn.execute(
                "SELECT * FROM registry_actions WHERE record_id = ? ORDER BY national_seq",
                (record_id,),
            )
        ]
        held = {e.id for e, _ in copied}
        rows = conn.execute(
            "SELECT a.*, s.state AS sync_state, s.attempts, s.last_error, s.next_try_at, "
            "s.registry_time, s.reason, s.discarded_by, s.discarded_at FROM actions a "
            "LEFT JOIN sync_state s ON s.action_id = a.id "
            "WHERE a.record_id = ? ORDER BY a.seq",
            (record_id,),
        )
        own = [
            (
                entry_from_row(r),
                SyncInfo(
                    r["sync_state"] or "pending",
                    r["attempts"] or 0,
                    r["last_error"],
                    r["next_try_at"],
                    r["registry_time"],
                    r["reason"],
                    r["discarded_by"],
                    r["discarded_at"],
                ),
            )
            for r in rows
            if r["id"] not in held
        ]
        return copied + own

    def lease(self, record_id: str) -> Lease | None:
        row = (
            self.conn()
            .execute(
                "SELECT state, changed_at, changed_by, reason FROM leases WHERE record_id = ?",
                (record_id,),
            )
            .fetchone()
        )
        return Lease(*row) if row else None

    def workqueue(
        self,
        query: WorkqueueQuery,
        actor: Actor,
        size: int,
        after: str | None = None,
        skip: int = 0,
    ) -> tuple[list[RecordRow], str | None]:
        """One page of the records matching a workqueue that the actor may read, most
        recently changed first, after the page that ended at cursor `after`; returns the
        rows and the cursor of the next page (None on the last). Cost: one page, however
        many records the box holds (keyset on an index). `skip` only serves old clients that
        ask for page N by number."""
        sql, args = _queue_sql(query, actor)
        if after and (mark := _cursor(after)) is not None:
            sql += " AND (records.updated_at < ? OR (records.updated_at = ? AND records.id < ?))"
            args += [mark[0], mark[0], mark[1]]
        order = "ORDER BY records.updated_at DESC, records.id DESC LIMIT ? OFFSET ?"
        rows = self.conn().execute(f"SELECT records.* {sql} {order}", [*args, size + 1, skip])
        found = rows.fetchall()
        page = [RecordRow(state_from_row(r), r["tracking_id"], r["title"]) for r in found[:size]]
        last = found[size - 1] if len(found) > size else None
        return page, f"{last['updated_at']}~{last['id']}" if last else None

    def workqueue_count(self, query: WorkqueueQuery, actor: Actor) -> Count:
        """How many records a workqueue holds, counted up to COUNT_CAP ("1000+" after)."""
        sql, args = _queue_sql(query, actor)
        n = (
            self.conn()
            .execute(f"SELECT COUNT(*) FROM (SELECT 1 {sql} LIMIT ?)", [*args, COUNT_CAP + 1])
            .fetchone()[0]
        )
        return Count(min(n, COUNT_CAP), n > COUNT_CAP)

    def search(self, text: str, actor: Actor, limit: int = 50) -> list[RecordRow]:
        """Records on this box whose tracking id is the text, or whose names hold every word
        (each as the start of a name; spelling variants and accents folded), newest first."""
        read_sql, read_params = _read_filter(actor)
        words = [w for w in searchable(text).split() if w][:5]
        if not words:
            return []
        # Each word the start of a name; a one-letter word only as a whole name (a prefix
        # of one letter would match half the office).
        match = " AND ".join(
            '"' + w.replace('"', '""') + ('"*' if len(w) > 1 else '"') for w in words
        )
        # The newest matches first, straight from the index (its rowids grow with time), so
        # a common name costs one page, not every record that bears it.
        rows = self.conn().execute(
            "SELECT * FROM (SELECT records.* FROM records WHERE records.tracking_id = ? "
            "UNION ALL SELECT records.* FROM (SELECT rowid FROM records_search "
            "WHERE records_search MATCH ? ORDER BY rowid DESC LIMIT ?) AS hits "
            "CROSS JOIN records ON records.rowid = hits.rowid) AS records "
            f"WHERE ({read_sql}) LIMIT ?",
            [text.strip().upper(), match, limit * 4, *read_params, limit],
        )
        return [RecordRow(state_from_row(r), r["tracking_id"], r["title"]) for r in rows]

    def outbox(
        self, actor: Actor, size: int, after: int = 0
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Actions not yet accepted by the registry, on records the actor may read, oldest
        first, after action seq `after`; returns the rows and where the next page starts
        (None on the last). Reads only open actions, however long the journal."""
        read_sql, read_params = _read_filter(actor)
        rows = (
            self.conn()
            .execute(
                "SELECT a.id, a.seq, a.record_id, a.type, a.custom_type, a.payload, a.created_at, "
                "a.created_by, records.tracking_id, records.title, records.status, "
                "COALESCE(s.state, 'pending') AS state, COALESCE(s.attempts, 0) AS attempts, "
                f"s.last_error, s.next_try_at, COALESCE(s.reason, {_HELD_BACK}) AS reason, "
                "s.discarded_by, s.discarded_at "
                "FROM outbox_open o CROSS JOIN actions a ON a.seq = o.seq "
                "LEFT JOIN sync_state s ON s.action_id = a.id "
                "JOIN records ON records.id = a.record_id "
                f"WHERE o.seq > ? AND ({read_sql}) ORDER BY o.seq LIMIT ?",
                [after, *read_params, size + 1],
            )
            .fetchall()
        )
        page = [dict(r) for r in rows[:size]]
        return page, page[-1]["seq"] if len(rows) > size else None

    def oldest_waiting(self) -> str | None:
        """When the oldest action still waiting to be sent was confirmed (None: none)."""
        row = (
            self.conn()
            .execute(
                "SELECT a.created_at FROM outbox_open o CROSS JOIN actions a ON a.seq = o.seq "
                "LEFT JOIN sync_state s ON s.action_id = a.id "
                "WHERE s.state IS NULL OR s.state IN ('pending', 'sending') ORDER BY o.seq LIMIT 1"
            )
            .fetchone()
        )
        return str(row[0]) if row else None

    def sync_summary(self) -> dict[str, Any]:
        """Counts by state and the box's last push outcome (for the outbox and banners)."""
        conn = self.conn()
        # Kept by triggers as actions and receipts are written (schema 8): no counting here.
        counts = dict(
            conn.execute("SELECT state, n FROM sync_counts WHERE state != 'accepted'").fetchall()
        )
        box = dict(
            conn.execute(
                "SELECT key, value FROM box WHERE key IN ('registry_url', "
                "'registry_config_version', 'registry_reachable', 'registry_checked_at')"
            ).fetchall()
        )
        stages = syncstages.stages(conn)
        pull, push = (next(s for s in stages if s.name == n) for n in (Stage.PULL, Stage.PUSH))
        return {
            "counts": counts,
            "enrolled": bool(box.get("registry_url")),
            "last_success_at": push.last_done,
            "last_error": push.last_error,
            "next_try_at": push.next_try,
            "last_pull_at": pull.last_done,
            "last_pull_error": pull.last_error,
            "stages": stages,
            "registry_config_version": box.get("registry_config_version") or None,
            # None until the first exchange; then whether the registry answered last time.
            "registry_reachable": (
                box["registry_reachable"] == "1" if "registry_reachable" in box else None
            ),
            "registry_checked_at": box.get("registry_checked_at") or None,
        }

    def keyed_record(self, user_id: str, key: str) -> str | None:
        """The record a user's idempotency key already acted on, if any."""
        row = (
            self.conn()
            .execute(
                "SELECT a.record_id FROM idempotency i JOIN actions a ON a.id = i.action_id "
                "WHERE i.user_id = ? AND i.key = ?",
                (user_id, key),
            )
            .fetchone()
        )
        return str(row[0]) if row else None

    def user_names(self, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn().execute(
            f"SELECT id, display_name FROM users WHERE id IN ({marks})", list(ids)
        )
        return {r["id"]: r["display_name"] for r in rows}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# Why a pending action has not been sent: an earlier action of its record was refused.
# Why an action waits although nothing failed (the outbox says it, translated).
HELD_BACK = "Waits until the refused action before it on this record is resolved"
_HELD_BACK = (
    "CASE WHEN (s.state IS NULL OR s.state = 'pending') AND EXISTS (SELECT 1 FROM sync_state b "
    "WHERE b.record_id = a.record_id AND b.seq < a.seq AND b.state IN ('rejected', 'conflict')) "
    f"THEN '{HELD_BACK}' END"
)
_HAS_FLAG = "EXISTS (SELECT 1 FROM record_flags f WHERE f.record_id = records.id AND f.flag = ?)"
# Workqueue counts stop here: "1000+" says enough, and counting further would cost a scan.
COUNT_CAP = 1000


@dataclass(frozen=True)
class Count:
    n: int
    more: bool  # there are more than n


def _cursor(after: str) -> tuple[str, str] | None:
    updated, _, record_id = after.partition("~")
    return (updated, record_id) if updated and record_id else None


def _queue_sql(q: WorkqueueQuery, actor: Actor) -> tuple[str, list[Any]]:
    """FROM … WHERE … of a workqueue for an actor. A queue on a flag starts from the flag's
    index (few records carry one), the others from the records' indexes in their order."""
    where, params = _query_filter(q, actor)
    read_sql, read_params = _read_filter(actor)
    source = "records"
    if q.flags:
        source = "record_flags qf CROSS JOIN records ON records.id = qf.record_id"
        where = f"qf.flag = ? AND {where}"
        params = [q.flags[0], *params]
    return f"FROM {source} WHERE ({where}) AND ({read_sql})", [*params, *read_params]


def _query_filter(q: WorkqueueQuery, actor: Actor) -> tuple[str, list[Any]]:
    clauses, params = ["1"], []
    if q.status is not None:
        clauses.append(f"status IN ({','.join('?' * len(q.status))})")
        params += [s.value for s in q.status]
    if q.event is not None:
        clauses.append(f"event_type IN ({','.join('?' * len(q.event))})")
        params += q.event
    for flag in q.flags:
        clauses.append(_HAS_FLAG)
        params.append(flag)
    for flag in q.flags_absent:
        clauses.append("NOT " + _HAS_FLAG)
        params.append(flag)
    if q.assigned == "me":
        clauses.append("assigned_to = ?")
        params.append(actor.id)
    elif q.assigned == "nobody":
        clauses.append("assigned_to IS NULL")
    elif q.assigned == "others":
        clauses.append("assigned_to IS NOT NULL AND assigned_to != ?")
        params.append(actor.id)
    if q.created_by == "me":
        clauses.append("created_by = ?")
        params.append(actor.id)
    return " AND ".join(clauses), params


def _like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _read_filter(actor: Actor) -> tuple[str, list[Any]]:
    """SQL for `can_read`: own drafts, plus what the actor's record.read scopes cover."""
    alternatives = [
        "(records.status = ? AND records.created_by = ? AND NOT EXISTS (SELECT 1 FROM "
        "record_flags d WHERE d.record_id = records.id AND d.flag = 'deleted'))"
    ]
    params: list[Any] = [Status.DRAFT.value, actor.id]
    for scope in actor.scopes:
        if scope.name != "record.read":
            continue
        parts = ["records.status != ?"]
        params.append(Status.DRAFT.value)
        events = scope.option("event")
        if events is not None:
            parts.append(f"records.event_type IN ({','.join('?' * len(events))})")
            params += sorted(events)
        jurisdiction = scope.option("jurisdiction")
        if jurisdiction is not None and "all" not in jurisdiction:
            parts.append("records.office_id = ?")
            params.append(actor.office_id)
        alternatives.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(alternatives), params
