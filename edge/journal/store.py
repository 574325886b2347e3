"""The journal's write side: an action is decided, hashed, appended, folded and committed
in one transaction of the single writer."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

from edge.clock import boot_id, clock_pair, clock_synced, iso_ms, local_date, utcnow
from edge.errors import KeyReused, NotFound, RecordTakenElsewhere
from edge.ids import uuid7
from edge.journal import attachments
from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.chain import GENESIS, HASHED_COLUMNS, canonical_json, row_hash
from edge.journal.db import connect, sqlite3
from edge.journal.records import (
    RECORD_COLUMNS,
    changed_columns,
    dedup_key,
    entry_columns,
    entry_from_row,
    search_text,
    state_columns,
    state_from_row,
)
from edge.journal.schema import migrate
from edge.journal.writer import Writer
from edge.texts import tr
from edge.workflow.config import Config
from edge.workflow.engine import ActionRequest, decide
from edge.workflow.fold import Entry, fold, merge_declaration
from edge.workflow.model import ActionType, Actor, RecordState, Status
from edge.workflow.rules import can_read

T = TypeVar("T")

_ACTION_COLUMNS = (*HASHED_COLUMNS, "hash")
_INSERT_ACTION = (
    f"INSERT INTO actions ({', '.join(_ACTION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _ACTION_COLUMNS)})"
)
_INSERT_RECORD = (
    f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in RECORD_COLUMNS)})"
)


class Appended(NamedTuple):
    """A committed action and the record's state right after it (`replayed`: the action was
    committed by an earlier request with the same idempotency key; the state is today's)."""

    entry: Entry
    state: RecordState
    replayed: bool = False


class _Stamp(NamedTuple):
    id: str
    created_at: str
    client_time: str | None
    clock: str
    boot_id: str
    today: date


def load_state(conn: sqlite3.Connection, record_id: str) -> RecordState | None:
    row = conn.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
    return state_from_row(row) if row else None


def _check_lease(conn: sqlite3.Connection, record_id: str) -> None:
    lease = conn.execute(
        "SELECT changed_by, changed_at, reason FROM leases "
        "WHERE record_id = ? AND state = 'revoked'",
        (record_id,),
    ).fetchone()
    if lease is not None:
        raise RecordTakenElsewhere(
            tr(
                "This record was taken over elsewhere by %(who)s at %(when)s%(why)s. It can be "
                "read here but not changed until the registry gives it back to this office.",
                who=lease["changed_by"],
                when=lease["changed_at"],
                why=f": {lease['reason']}" if lease["reason"] else "",
            )
        )


class Journal:
    """Appends actions through the single writer; owns journal.db's schema."""

    def __init__(
        self,
        path: Path,
        config: Config,
        batch_max: int = 256,
        timezone: str = "UTC",
        key: bytes | None = None,
    ) -> None:
        """`key`: the box's data key (an encrypted journal); None for a plain file."""
        self.path = path
        self.config = config
        self.timezone = timezone  # the office's: "today" for dates in declarations
        conn = connect(path, key=key)
        try:
            migrate(conn)
            _fill_search_text(conn, config)
        finally:
            conn.close()
        self.writer = Writer(path, batch_max, key)
        self.writer.start()
        # Called after each committed action (in the caller's thread, or the writer's for
        # `submit`), e.g. to ask the sync worker to push soon. Must be quick, must not raise.
        self.after_append: list[Callable[[], None]] = []

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run any write job through the single writer and wait for its commit."""
        result: T = self.writer.run(job)
        return result

    async def run_async(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`run` for the event loop: awaits the commit without blocking other requests."""
        result: T = await self.writer.run_async(job)
        return result

    def submit(
        self,
        req: ActionRequest,
        actor: Actor,
        confirmed_at: datetime | None = None,
        client_time: str | None = None,
        key: str | None = None,
    ) -> Future[Appended]:
        """Queue an action without waiting; the future resolves once it is committed."""
        future: Future[Appended] = self.writer.submit(
            self._job(req, actor, confirmed_at, client_time, key)
        )
        if self.after_append:
            future.add_done_callback(self._notify_if_done)
        return future

    def append(
        self,
        req: ActionRequest,
        actor: Actor,
        confirmed_at: datetime | None = None,
        client_time: str | None = None,
        key: str | None = None,
    ) -> Appended:
        """Append and wait for the commit (for the CLI, tests and benchmarks)."""
        done: Appended = self.writer.run(self._job(req, actor, confirmed_at, client_time, key))
        self._notify()
        return done

    async def append_async(
        self,
        req: ActionRequest,
        actor: Actor,
        confirmed_at: datetime | None = None,
        client_time: str | None = None,
        key: str | None = None,
    ) -> Appended:
        """Append and wait for the commit, from the event loop. `key`: an idempotency key
        (the same key again answers with the first action instead of a second)."""
        job = self._job(req, actor, confirmed_at, client_time, key)
        done: Appended = await self.writer.run_async(job)
        self._notify()
        return done

    async def append_all_async(
        self, reqs: list[ActionRequest], actor: Actor, key: str | None = None
    ) -> list[Appended]:
        """Several actions of one form (Create then Declare) in one transaction: all are
        committed or none is (a refused Declare leaves no draft behind). With `key`, a retry
        is answered with the first try's first action, replayed."""
        stamps = [self._stamp(None, None) for _ in reqs]

        def job(conn: sqlite3.Connection) -> list[Appended]:
            if key is not None and (first := self._replay(conn, reqs, actor, key)) is not None:
                return [first]
            done = [self._append(conn, r, actor, s) for r, s in zip(reqs, stamps, strict=True)]
            if key is not None:
                self._remember(conn, reqs, actor, key, done[0])
            return done

        appended: list[Appended] = await self.writer.run_async(job)
        self._notify()
        return appended

    def _stamp(self, confirmed_at: datetime | None, client_time: str | None) -> _Stamp:
        when = confirmed_at or utcnow()
        return _Stamp(
            uuid7(),
            iso_ms(when),
            client_time,
            "synced" if clock_synced() else "unsynced",
            boot_id(),
            local_date(when, self.timezone),
        )

    def _job(
        self,
        req: ActionRequest,
        actor: Actor,
        confirmed_at: datetime | None,
        client_time: str | None,
        key: str | None = None,
    ) -> Callable[[sqlite3.Connection], Appended]:
        # Taken now, before queueing: created_at is when the user confirmed the action.
        stamp = self._stamp(confirmed_at, client_time)
        if key is None:
            return lambda conn: self._append(conn, req, actor, stamp)
        return lambda conn: self._append_once(conn, req, actor, stamp, key)

    def _notify_if_done(self, future: Future[Appended]) -> None:
        if future.exception() is None:
            self._notify()

    def _notify(self) -> None:
        for listener in self.after_append:
            listener()

    def _append_once(
        self, conn: sqlite3.Connection, req: ActionRequest, actor: Actor, stamp: _Stamp, key: str
    ) -> Appended:
        """Append unless this user's key was used: then the first action, if the request is
        the same, else KeyReused. In the append's own transaction, so a kill between the two
        cannot happen."""
        first = self._replay(conn, [req], actor, key)
        if first is not None:
            return first
        done = self._append(conn, req, actor, stamp)
        self._remember(conn, [req], actor, key, done)
        return done

    def _replay(
        self, conn: sqlite3.Connection, reqs: list[ActionRequest], actor: Actor, key: str
    ) -> Appended | None:
        row = conn.execute(
            "SELECT request, action_id FROM idempotency WHERE user_id = ? AND key = ?",
            (actor.id, key),
        ).fetchone()
        if row is None:
            return None
        if row[0] != _fingerprint(reqs):
            raise KeyReused(tr("This Idempotency-Key was already used for another request"))
        first = entry_from_row(
            conn.execute("SELECT * FROM actions WHERE id = ?", (row[1],)).fetchone()
        )
        state = load_state(conn, first.record_id)
        if state is None:  # the record was rebuilt elsewhere: say so, never append again
            raise NotFound(tr("There is no record %(id)s on this box", id=first.record_id))
        return Appended(first, state, replayed=True)

    def _remember(
        self,
        conn: sqlite3.Connection,
        reqs: list[ActionRequest],
        actor: Actor,
        key: str,
        first: Appended,
    ) -> None:
        conn.execute(
            "INSERT INTO idempotency (user_id, key, request, action_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (actor.id, key, _fingerprint(reqs), first.entry.id, first.entry.created_at),
        )

    def _append(
        self, conn: sqlite3.Connection, req: ActionRequest, actor: Actor, stamp: _Stamp
    ) -> Appended:
        state = None
        if req.type is not ActionType.CREATE:
            state = load_state(conn, req.record_id)
            if state is None or not can_read(state, actor):
                raise NotFound(tr("There is no record %(id)s on this box", id=req.record_id))
            _check_lease(conn, req.record_id)
        duplicates = self._duplicates(conn, state, req)
        documents = (
            attachments.types_on_record(conn, req.record_id)
            if req.type in (ActionType.DECLARE, ActionType.EDIT)
            else frozenset()
        )
        decision = decide(state, req, actor, self.config, stamp.today, duplicates, documents)
        last = conn.execute("SELECT seq, hash FROM actions ORDER BY seq DESC LIMIT 1").fetchone()
        entry = Entry(
            seq=last[0] + 1 if last else 1,
            id=stamp.id,
            record_id=req.record_id,
            event_type=decision.event_type,
            type=req.type,
            custom_type=req.custom_type,
            created_at=stamp.created_at,
            client_time=stamp.client_time,
            clock=stamp.clock,
            boot_id=stamp.boot_id,
            created_by=actor.id,
            created_at_location=actor.office_id,
            payload=decision.payload,
            flags_added=decision.flags_added,
            flags_removed=decision.flags_removed,
            prev_hash=last[1] if last else GENESIS,
        )
        columns = entry_columns(entry)
        entry.hash = columns["hash"] = row_hash(columns)
        conn.execute(_INSERT_ACTION, columns)
        if req.documents:  # staged before, theirs from now on: in this same transaction
            attachments.attach(conn, req.documents, actor.id, entry)
        if stamp.clock == "unsynced":  # where this boot's wall clock stood (see clock.py)
            conn.execute(
                "INSERT OR IGNORE INTO box (key, value) VALUES (?, ?)",
                (f"clock_anchor:{stamp.boot_id}", " ".join(map(str, clock_pair()))),
            )
        new = fold(state, entry)
        if state is None:
            conn.execute(_INSERT_RECORD, state_columns(new, self.config))
        else:
            cols = changed_columns(state, new, self.config)
            sets = ", ".join(f"{c} = :{c}" for c in cols)
            conn.execute(f"UPDATE records SET {sets} WHERE id = :id", {**cols, "id": new.id})
        return Appended(entry, new)

    def _duplicates(
        self, conn: sqlite3.Connection, state: RecordState | None, req: ActionRequest
    ) -> tuple[str, ...]:
        declares = req.type is ActionType.DECLARE or (
            req.type is ActionType.EDIT and req.then is ActionType.DECLARE
        )
        if state is None or not declares:
            return ()
        merged = merge_declaration(state.declaration, req.declaration or {})
        key = dedup_key(state.event_type, merged, self.config)
        if key is None:
            return ()
        rows = conn.execute(
            "SELECT id FROM records WHERE event_type = ? AND dedup_key = ? AND id != ? "
            "AND status NOT IN (?, ?) ORDER BY created_at LIMIT 20",
            (state.event_type, key, state.id, Status.DRAFT.value, Status.ARCHIVED.value),
        )
        return tuple(r[0] for r in rows)


def _fingerprint(reqs: list[ActionRequest]) -> str:
    """What makes two requests the same request: a new record's id is made anew for each
    try, so it does not count."""
    new = reqs[0].type is ActionType.CREATE
    fields = [
        {k: v for k, v in dataclasses.asdict(r).items() if not (new and k == "record_id")}
        for r in reqs
    ]
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


SEARCH_TEXT_FILLED = "search_text_filled"  # a `box` key: _fill_search_text is done


def _fill_search_text(conn: sqlite3.Connection, config: Config) -> None:
    """Records from before the search index (schema 8) get their search text, once; it needs
    the country configuration, which a migration does not have. Marked done in `box`, so a
    start does not read every record to find none left."""
    if box_value(conn, SEARCH_TEXT_FILLED):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            "SELECT * FROM records WHERE search_text = '' AND declaration != '{}'"
        ).fetchall()
        conn.executemany(
            "UPDATE records SET search_text = ? WHERE id = ?",
            [(search_text(state_from_row(r), config), r["id"]) for r in rows],
        )
        set_box_value(conn, SEARCH_TEXT_FILLED, "1")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
