"""The outbox: which journal actions still have to reach the registry, and their receipts.

An action without a receipt is pending. A push marks its batch `sending` (attempts + 1)
before the request, so an answer that never came leaves `sending` rows, which the next push
sends again: the registry answers `duplicate` for what it already has. Actions go in journal
order; an action the registry rejected (or that conflicts) holds back the later actions of
the same record only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from edge.clock import iso_ms
from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.db import sqlite3
from upstream_sync.protocol import ActionResult, WireAction

# A receipt in one of these states is the action's last word: it is never sent again.
FINAL = ("accepted", "rejected", "conflict", "discarded")
_FINAL_SQL = ", ".join(f"'{state}'" for state in FINAL)
# The registry's answer -> the receipt's state (`blocked` goes back to pending).
_RECEIPT = {
    "accepted": "accepted",
    "duplicate": "accepted",
    "conflict": "conflict",
    "rejected": "rejected",
}
_WIRE_FIELDS = WireAction.__struct_fields__
_WIRE_COLUMNS = ", ".join(f"a.{f}" for f in _WIRE_FIELDS)
_RECORD_ID = _WIRE_FIELDS.index("record_id")


@dataclass(frozen=True)
class Batch:
    actions: list[WireAction]
    held_back: int  # pending actions waiting behind a rejected action of their record
    size: int = 0  # the actions' bytes as JSON, before compression


def select_batch(
    conn: sqlite3.Connection, budget_bytes: int, after: int = 0, max_actions: int = 10_000
) -> Batch:
    """The next actions to send, in journal order, within a byte budget (at least one);
    `after`: only actions after this seq (the batch in flight ends there)."""
    low = max(int(box_value(conn, "sync_low_water") or 0), after)
    blocked = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT record_id FROM sync_state WHERE state IN ('rejected', 'conflict')"
        )
    }
    rows = conn.execute(
        f"SELECT {_WIRE_COLUMNS} FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id "
        "WHERE a.seq > ? AND (s.state IS NULL OR s.state IN ('pending', 'sending')) "
        "ORDER BY a.seq LIMIT ?",
        (low, max_actions),
    )
    actions: list[WireAction] = []
    size, held = 0, 0
    for row in rows:
        if row[_RECORD_ID] in blocked:
            held += 1
            continue
        action = WireAction(*row)
        cost = len(msgspec.json.encode(action))
        if actions and size + cost > budget_bytes:
            break
        actions.append(action)
        size += cost
    return Batch(actions, held, size)


def mark_sending(conn: sqlite3.Connection, actions: list[WireAction], now: datetime) -> None:
    stamp = iso_ms(now)
    conn.executemany(
        "INSERT INTO sync_state (action_id, seq, record_id, state, attempts, updated_at) "
        "VALUES (?, ?, ?, 'sending', 1, ?) ON CONFLICT (action_id) DO UPDATE SET "
        "state = 'sending', attempts = attempts + 1, updated_at = excluded.updated_at",
        [(a.id, a.seq, a.record_id, stamp) for a in actions],
    )


def unmark(conn: sqlite3.Connection, actions: list[WireAction], now: datetime) -> None:
    """Actions marked `sending` that never left: pending again, that attempt not counted."""
    conn.executemany(
        "UPDATE sync_state SET state = 'pending', attempts = MAX(attempts - 1, 0), "
        "updated_at = ? WHERE action_id = ? AND state = 'sending'",
        [(iso_ms(now), a.id) for a in actions],
    )


def record_results(conn: sqlite3.Connection, results: list[ActionResult], now: datetime) -> None:
    """Store the registry's answers; `blocked` ones go back to pending behind their record."""
    stamp = iso_ms(now)
    conn.executemany(
        "UPDATE sync_state SET state = ?, registry_time = COALESCE(?, registry_time), "
        "reason = ?, last_error = NULL, next_try_at = NULL, updated_at = ?, "
        "registration_number = COALESCE(?, registration_number) WHERE action_id = ?",
        [
            (
                _RECEIPT.get(r.status, "pending"),
                r.registry_time,
                # Held back: the outbox says why in the box's words (reads._HELD_BACK).
                None if r.status == "blocked" else r.reason,
                stamp,
                r.registration_number,
                r.id,
            )
            for r in results
        ],
    )
    note_registry(conn, True, now)
    advance_low_water(conn)


def note_registry(conn: sqlite3.Connection, reachable: bool, now: datetime) -> None:
    """Whether the last exchange with the registry got an answer (the WAN state the banners,
    mDNS and metrics show), and when."""
    set_box_value(conn, "registry_reachable", "1" if reachable else "0")
    set_box_value(conn, "registry_checked_at", iso_ms(now))


def record_failure(
    conn: sqlite3.Connection,
    actions: list[WireAction],
    error: str,
    now: datetime,
    cap_seconds: int,
    reachable: bool = False,
) -> datetime:
    """A push failed: its actions are pending again, with the error and the next try."""
    attempts = max(
        (
            conn.execute("SELECT attempts FROM sync_state WHERE action_id = ?", (a.id,)).fetchone()
            or [1]
        )[0]
        for a in actions
    )
    wait = backoff(attempts, cap_seconds)
    next_try = now + wait
    conn.executemany(
        "UPDATE sync_state SET state = 'pending', last_error = ?, next_try_at = ?, "
        "updated_at = ? WHERE action_id = ?",
        [(error, iso_ms(next_try), iso_ms(now), a.id) for a in actions],
    )
    note_registry(conn, reachable, now)
    return next_try


def backoff(attempts: int, cap_seconds: int, base_seconds: float = 2.0) -> timedelta:
    """Capped exponential backoff with jitter (half to full of the step)."""
    step = min(cap_seconds, base_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=step * random.uniform(0.5, 1.0))


def advance_low_water(conn: sqlite3.Connection) -> None:
    """Move the mark below which every action has a final answer (so selection stays cheap)."""
    low = int(box_value(conn, "sync_low_water") or 0)
    first_open = conn.execute(
        "SELECT MIN(a.seq) FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id "
        f"WHERE a.seq > ? AND (s.state IS NULL OR s.state NOT IN ({_FINAL_SQL}))",
        (low,),
    ).fetchone()[0]
    if first_open is None:
        first_open = (conn.execute("SELECT MAX(seq) FROM actions").fetchone()[0] or 0) + 1
    set_box_value(conn, "sync_low_water", str(first_open - 1))
