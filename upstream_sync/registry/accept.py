"""Accepting a pushed batch into the national journal (the registry's hot path): everything
the batch needs is read in bulk, each action is checked in order, and the accepted ones are
written in bulk, in one transaction with the batch's nonce.

Each action must continue the box's hash chain (registry/chain.py), be made at the box's
office by one of its office's users (registry/users.py), match its hash, and fit the record
as the registry holds it and the lease."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlite_utils import Database

from edge.clock import iso_ms, parse_iso
from edge.journal.chain import HASHED_COLUMNS, row_hash
from edge.journal.db import sqlite3
from edge.journal.records import entry_from_row, record_title, tracking_id
from edge.workflow.config import Config
from edge.workflow.fold import fold
from edge.workflow.model import RecordState, Status
from upstream_sync.protocol import ActionResult, ClockStep, PushBatch, WireAction
from upstream_sync.registry import users
from upstream_sync.registry.chain import BoxChain
from upstream_sync.registry.db import RegistryDB, rows_in

_encode_state = msgspec.json.Encoder().encode
# The journal's own columns (the box's seq kept as box_seq), plus who sent it and when.
_ACTION_COLUMNS = (
    "box_id",
    "box_seq",
    *(c for c in HASHED_COLUMNS if c != "seq"),
    "hash",
    "received_at",
    "corrected_created_at",
)
_INSERT_ACTION = (
    f"INSERT INTO actions ({', '.join(_ACTION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ACTION_COLUMNS))})"
)


def accept_batch(
    db: RegistryDB, box_id: str, nonce: str, pushed: PushBatch, now: datetime, config: Config
) -> tuple[list[ActionResult], int] | None:
    """Record a batch in one transaction: the answer for each action and how far the
    registry now holds the box's chain; None when the nonce was seen (a replay). Records'
    titles are made by `config`, the country configuration in force."""
    stamp = iso_ms(now)

    def job(c: sqlite3.Connection) -> tuple[list[ActionResult], int] | None:
        try:
            c.execute("INSERT INTO nonces VALUES (?, ?, ?)", (box_id, nonce, stamp))
        except sqlite3.IntegrityError:
            return None
        for step in pushed.clock_steps:
            _clock_step(c, box_id, step)
        batch = _Batch(c, box_id, stamp, pushed)
        results = [batch.one(a) for a in pushed.actions]
        batch.flush(config)
        return results, batch.chain.seq

    return db.write(job)


class _Record:
    __slots__ = ("changed", "leased_to", "new", "state")

    def __init__(self, leased_to: str | None, state: RecordState | None) -> None:
        self.leased_to, self.state = leased_to, state
        self.new = state is None
        self.changed = False


class _Batch:
    """One pushed batch: what it needs is read in bulk, checked action by action in order,
    and written at the end in bulk."""

    def __init__(self, c: sqlite3.Connection, box_id: str, stamp: str, pushed: PushBatch) -> None:
        self.c, self.box_id, self.stamp = c, box_id, stamp
        actions = pushed.actions
        self.office = str(
            c.execute("SELECT office_id FROM boxes WHERE box_id = ?", (box_id,)).fetchone()[0]
        )
        self.chain = BoxChain(c, box_id, pushed.links, pushed.restart)
        self.derived = pushed.derived_hashes
        users.declare(c, box_id, self.office, pushed.users, stamp)
        self.own_users = users.of_office(c, self.office, {a.created_by for a in actions})
        self.blocked: dict[str, str] = {}
        # A box that pipelines says which answers it had (`seen`): the refusals it had not
        # seen yet hold back the later actions of their records, as within one batch.
        self.pipelined = pushed.seen >= 0
        self.refused: list[tuple[str, int, str, str]] = []
        if self.pipelined:
            c.execute(
                "DELETE FROM refusals WHERE box_id = ? AND box_seq <= ?", (box_id, pushed.seen)
            )
            for record_id, action_id in c.execute(
                "SELECT record_id, action_id FROM refusals WHERE box_id = ? ORDER BY box_seq",
                (box_id,),
            ):
                self.blocked.setdefault(record_id, action_id)
        self.known = {
            r[0]: (r[1], r[2])
            for r in rows_in(
                c, "SELECT id, hash, received_at FROM actions WHERE id", [a.id for a in actions]
            )
        }
        self.records = {
            r[0]: _Record(r[1], _load_state(r[2]))
            for r in rows_in(
                c,
                "SELECT record_id, leased_to, state FROM records WHERE record_id",
                list({a.record_id for a in actions}),
            )
        }
        self.steps = dict(
            c.execute("SELECT boot_id, offset_ms FROM clock_steps WHERE box_id = ?", (box_id,))
        )
        self.rows: list[list[Any]] = []
        self.numbers = _Numbers(c, stamp)

    def one(self, a: WireAction) -> ActionResult:
        if self.derived and not (a.prev_hash and a.hash):
            a = self._derive(a)
        broken = self.chain.continues(a)  # first: a refused action still has its place
        if broken is not None:
            return self._refuse(a, "rejected", broken)
        if a.record_id in self.blocked:
            return ActionResult(
                a.id, "blocked", reason=f"waits for action {self.blocked[a.record_id]}"
            )
        known = self.known.get(a.id)
        if known is not None:
            if known[0] == a.hash:
                return ActionResult(
                    a.id, "duplicate", known[1], registration_number=self.numbers.of(a.id)
                )
            return self._refuse(a, "conflict", "The registry holds a different action with this id")
        columns = msgspec.structs.asdict(a)
        if row_hash(columns) != a.hash:
            return self._refuse(a, "rejected", "The action's content does not match its hash")
        if a.created_at_location != self.office:
            return self._refuse(
                a,
                "rejected",
                f"The action was made at office {a.created_at_location}, but this box serves "
                f"office {self.office}",
            )
        if a.created_by not in self.own_users:
            return self._refuse(
                a, "rejected", f"The action was made by a user who is not of office {self.office}"
            )
        record = self.records.get(a.record_id)
        refusal = _refusal(self.c, record, self.box_id, a)
        if refusal is not None:
            return self._refuse(a, "rejected", refusal)
        try:
            state = fold(record.state if record else None, entry_from_row(columns))
        except ValueError as exc:
            return self._refuse(a, "rejected", f"The action does not apply: {exc}")
        if record is None:
            record = self.records[a.record_id] = _Record(self.box_id, None)
        registered = state.status is Status.REGISTERED and (
            record.state is None or record.state.status is not Status.REGISTERED
        )
        record.state, record.changed = state, True
        offset = self.steps.get(a.boot_id) if a.clock == "unsynced" else None
        values = {
            **columns,
            "box_id": self.box_id,
            "box_seq": a.seq,
            "received_at": self.stamp,
            "corrected_created_at": shift(a.created_at, offset) if offset is not None else None,
        }
        self.rows.append([values[k] for k in _ACTION_COLUMNS])
        self.known[a.id] = (a.hash, self.stamp)
        number = self.numbers.give(a, state.event_type) if registered else None
        return ActionResult(a.id, "accepted", self.stamp, registration_number=number)

    def _derive(self, a: WireAction) -> WireAction:
        """The action with the hashes the box left out: `prev_hash` from the chain as the
        registry holds it, `hash` from the action's columns (the box's own hash function:
        the same action has the same hash on both sides; other content, another hash)."""
        if not a.prev_hash:
            a = msgspec.structs.replace(a, prev_hash=self.chain.previous(a.seq))
        if not a.hash:
            a = msgspec.structs.replace(a, hash=row_hash(msgspec.structs.asdict(a)))
        return a

    def _refuse(self, a: WireAction, status: str, reason: str) -> ActionResult:
        self.blocked[a.record_id] = a.id
        if self.pipelined:
            self.refused.append((self.box_id, a.seq, a.record_id, a.id))
        return ActionResult(a.id, status, reason=reason)

    def flush(self, config: Config) -> None:
        self.chain.store()
        self.numbers.store()
        self.c.executemany("INSERT OR IGNORE INTO refusals VALUES (?, ?, ?, ?)", self.refused)
        self.c.executemany(_INSERT_ACTION, self.rows)
        changed = [(rid, r, r.state) for rid, r in self.records.items() if r.changed and r.state]
        self.c.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rid,
                    s.event_type,
                    s.office_id,
                    self.box_id,
                    self.stamp,
                    s.status.value,
                    _dump_state(s),
                    tracking_id(rid, s.event_type),
                    record_title(s, config),
                )
                for rid, r, s in changed
                if r.new
            ],
        )
        self.c.executemany(
            "UPDATE records SET status = ?, state = ?, title = ? WHERE record_id = ?",
            [
                (s.status.value, _dump_state(s), record_title(s, config), rid)
                for rid, r, s in changed
                if not r.new
            ],
        )


class _Numbers:
    """Registration numbers: the next of the event's count in the registry's current year,
    given in the batch's order and written with it."""

    def __init__(self, c: sqlite3.Connection, stamp: str) -> None:
        self.c, self.year = c, parse_iso(stamp).year
        self.last: dict[str, int] = {}
        self.given: dict[str, str] = {}
        self.rows: list[tuple[str, str, str, str, int, int]] = []

    def of(self, action_id: str) -> str | None:
        """The number an action already accepted was given, if it registered a record."""
        if action_id in self.given:
            return self.given[action_id]
        row = self.c.execute(
            "SELECT number FROM registrations WHERE action_id = ?", (action_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def give(self, a: WireAction, event_type: str) -> str:
        if event_type not in self.last:
            self.last[event_type] = self.c.execute(
                "SELECT COALESCE(MAX(n), 0) FROM registrations WHERE event_type = ? AND year = ?",
                (event_type, self.year),
            ).fetchone()[0]
        n = self.last[event_type] = self.last[event_type] + 1
        number = f"{event_type[:3].upper()}-{self.year}-{n:06d}"
        self.given[a.id] = number
        self.rows.append((a.id, a.record_id, number, event_type, self.year, n))
        return number

    def store(self) -> None:
        self.c.executemany("INSERT INTO registrations VALUES (?, ?, ?, ?, ?, ?)", self.rows)


def _dump_state(s: RecordState) -> str:
    return _encode_state(s).decode()


def _load_state(text: str | None) -> RecordState | None:
    if text is None:
        return None
    doc = msgspec.json.decode(text)
    return RecordState(**{**doc, "status": Status(doc["status"]), "flags": set(doc["flags"])})


def _refusal(
    c: sqlite3.Connection, record: _Record | None, box_id: str, a: WireAction
) -> str | None:
    """Why this box may not add this action to the national journal, or None."""
    if record is None:
        return None if a.type == "CREATE" else "The registry does not know this record"
    if a.type == "CREATE":
        return "The registry already holds a record with this id"
    if record.leased_to != box_id:
        revoked = c.execute(
            "SELECT by, at FROM changes WHERE kind = 'lease-revoked' AND box_id = ? AND "
            "record_id = ? ORDER BY seq DESC LIMIT 1",
            (box_id, a.record_id),
        ).fetchone()
        if revoked is not None:
            return (
                f"This record was taken over elsewhere by {revoked['by']} at {revoked['at']}; "
                "the box no longer holds it"
            )
        return "This record is not held by this box"
    return None


def _clock_step(c: sqlite3.Connection, box_id: str, step: ClockStep) -> None:
    """Remember how far a boot's clock jumped, and correct the unsynced actions already held:
    one UPDATE that computes each corrected time in Python (sqlite-utils' convert)."""
    c.execute(
        "INSERT INTO clock_steps VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (box_id, step.boot_id, step.offset_ms, step.measured_at),
    )

    def corrected(created_at: str) -> str:
        return shift(created_at, step.offset_ms)

    table = Database(c, recursive_triggers=False, execute_plugins=False).table("actions")
    table.convert(
        "created_at",
        corrected,
        output="corrected_created_at",
        where="box_id = ? AND boot_id = ? AND clock = 'unsynced' AND corrected_created_at IS NULL",
        where_args=[box_id, step.boot_id],
    )


def shift(stamp: str, offset_ms: int) -> str:
    """An ISO time moved by a number of milliseconds."""
    return iso_ms(parse_iso(stamp) + timedelta(milliseconds=offset_ms))
