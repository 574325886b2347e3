"""The journal's read side: records, timelines and workqueue listings, on read-only
connections of their own (one per thread) so reads never wait for the writer."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from edge.journal.db import connect
from edge.journal.records import entry_from_row, state_from_row
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


@dataclass(frozen=True)
class RecordRow:
    state: RecordState
    tracking_id: str
    title: str


class Reader:
    """Read-only access to journal.db."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, readonly=True)
            self._local.conn = conn
        return conn

    def record(self, record_id: str) -> RecordRow | None:
        row = self.conn().execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
        return RecordRow(state_from_row(row), row["tracking_id"], row["title"]) if row else None

    def timeline(self, record_id: str) -> list[tuple[Entry, SyncInfo]]:
        rows = self.conn().execute(
            "SELECT a.*, s.state AS sync_state, s.attempts, s.last_error, s.next_try_at, "
            "s.registry_time, s.reason FROM actions a "
            "LEFT JOIN sync_state s ON s.action_id = a.id "
            "WHERE a.record_id = ? ORDER BY a.seq",
            (record_id,),
        )
        return [
            (
                entry_from_row(r),
                SyncInfo(
                    r["sync_state"] or "pending",
                    r["attempts"] or 0,
                    r["last_error"],
                    r["next_try_at"],
                    r["registry_time"],
                    r["reason"],
                ),
            )
            for r in rows
        ]

    def workqueue(
        self, query: WorkqueueQuery, actor: Actor, page: int, page_size: int
    ) -> tuple[list[RecordRow], int]:
        """One page of the records matching a workqueue that the actor may read."""
        where, params = _query_filter(query, actor)
        read_sql, read_params = _read_filter(actor)
        sql = f"FROM records WHERE ({where}) AND ({read_sql})"
        args = [*params, *read_params]
        total = self.conn().execute(f"SELECT COUNT(*) {sql}", args).fetchone()[0]
        rows = self.conn().execute(
            f"SELECT * {sql} ORDER BY updated_at DESC, id LIMIT ? OFFSET ?",
            [*args, page_size, (page - 1) * page_size],
        )
        return [RecordRow(state_from_row(r), r["tracking_id"], r["title"]) for r in rows], total

    def outbox(self, actor: Actor, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """Actions not yet accepted by the registry, on records the actor may read."""
        read_sql, read_params = _read_filter(actor)
        sql = (
            "FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id "
            "JOIN records ON records.id = a.record_id "
            f"WHERE (s.state IS NULL OR s.state != 'accepted') AND ({read_sql})"
        )
        total = self.conn().execute(f"SELECT COUNT(*) {sql}", read_params).fetchone()[0]
        rows = self.conn().execute(
            "SELECT a.id, a.seq, a.record_id, a.type, a.custom_type, a.payload, a.created_at, "
            "a.created_by, records.tracking_id, records.title, "
            "COALESCE(s.state, 'pending') AS state, COALESCE(s.attempts, 0) AS attempts, "
            f"s.last_error, s.next_try_at, s.reason {sql} ORDER BY a.seq LIMIT ? OFFSET ?",
            [*read_params, page_size, (page - 1) * page_size],
        )
        return [dict(r) for r in rows], total

    def sync_summary(self) -> dict[str, Any]:
        """Counts by state and the box's last push outcome (for the outbox and banners)."""
        conn = self.conn()
        counts = dict(
            conn.execute(
                "SELECT state, COUNT(*) FROM sync_state WHERE state != 'accepted' GROUP BY state"
            ).fetchall()
        )
        unsent = conn.execute(
            "SELECT COUNT(*) FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id "
            "WHERE s.action_id IS NULL"
        ).fetchone()[0]
        counts["pending"] = counts.get("pending", 0) + unsent
        box = dict(
            conn.execute(
                "SELECT key, value FROM box WHERE key IN ('registry_url', 'sync_last_success', "
                "'sync_last_error', 'sync_next_try')"
            ).fetchall()
        )
        return {
            "counts": counts,
            "enrolled": bool(box.get("registry_url")),
            "last_success_at": box.get("sync_last_success") or None,
            "last_error": box.get("sync_last_error") or None,
            "next_try_at": box.get("sync_next_try") or None,
        }

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


_HAS_FLAG = "EXISTS (SELECT 1 FROM json_each(records.flags) WHERE value = ?)"


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


def _read_filter(actor: Actor) -> tuple[str, list[Any]]:
    """SQL for `can_read`: own drafts, plus what the actor's record.read scopes cover."""
    alternatives = ["(records.status = ? AND records.created_by = ?)"]
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
