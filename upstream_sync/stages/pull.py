"""The pull stage: fetch the registry's changes for this box after its cursor, page by page,
and apply them: leases granted and revoked (each with the record as the registry holds it),
users of the office, the configuration version. After `edge restore` the same requests carry
the resync stage: every record the box holds, page by page, from where it stopped.

One page is applied in one transaction with its cursor, so a pull cut at any point resumes
where it stopped and applying a page twice changes nothing.

The lease rules (docs/sync-protocol.md, "Pull"):
- granted: the registry's copy is stored and the record rebuilt from it, with the box's own
  actions the registry does not hold yet folded on top: a download never overwrites work
  that is still waiting to be sent.
- revoked: the copy is stored; the box's actions on the record the registry does not hold
  become `discarded` (kept in the journal, with who took the record, when and why) and the
  record returns to the registry's state. It is read-only here until it is granted back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from edge.clock import iso_ms, now_moment, utcnow
from edge.errors import InvalidInput
from edge.journal import syncstages
from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.chain import HASHED_COLUMNS
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.rebuild import rebuild
from edge.journal.store import Journal
from edge.journal.syncstages import Stage
from edge.users.register import add_user, edit_user, find_user, set_active
from edge.workflow.config import Config
from upstream_sync import capabilities, outbox
from upstream_sync import protocol as p
from upstream_sync.enrollment import enrollment
from upstream_sync.protocol import Change, PullResult, RecordCopy, UserInfo
from upstream_sync.transport import (
    BATCH_TIMEOUT,
    EXCHANGE_ERRORS,
    Answer,
    NotEnrolled,
    answered_by_registry,
    describe,
    signed_exchange,
)

log = logging.getLogger("upstream_sync.pull")

# The journal's columns (the sending box's seq kept as origin_seq), and where it came from.
_COPY_COLUMNS = (
    "national_seq",
    "origin_box",
    "origin_seq",
    *(c for c in HASHED_COLUMNS if c != "seq"),
    "hash",
    "received_at",
)
_INSERT_COPY = (
    f"INSERT OR IGNORE INTO registry_actions ({', '.join(_COPY_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COPY_COLUMNS))})"
)
BY_REGISTRY = "registry"


@dataclass
class Applied:
    granted: int = 0
    revoked: int = 0
    discarded: int = 0
    users: int = 0

    def add(self, other: Applied) -> None:
        self.granted += other.granted
        self.revoked += other.revoked
        self.discarded += other.discarded
        self.users += other.users


@dataclass(frozen=True)
class PullReport:
    pages: int
    granted: int
    revoked: int
    discarded: int
    users: int
    cursor: int
    error: str | None = None


def pull_once(
    journal: Journal,
    reader: Reader,
    device_key: Path,
    timeout: float = BATCH_TIMEOUT,
    limit: int = 200,
) -> PullReport:
    """Fetch and apply the registry's changes since the box's cursor, page by page."""
    who = enrollment(reader)
    if who is None:
        raise NotEnrolled("Enroll the box first: edge enroll URL TOKEN")
    total, pages = Applied(), 0
    conn = reader.conn()
    cursor = int(box_value(conn, "pull_cursor") or 0)
    # After a restore: every record the box holds, page by page (see edge restore).
    resync = syncstages.stage(conn, Stage.RESYNC).active
    resync_after = (box_value(conn, "resync_after") or "") if resync else None
    journal.run(partial(_started, resync=resync))
    while True:
        body = p.encode(p.PullRequest(cursor, limit, resync_after))
        try:
            answer = signed_exchange(who, device_key, "/v1/pull", body, utcnow(), timeout)
            page: PullResult = p.decode(answer.body, PullResult)
        except EXCHANGE_ERRORS as exc:
            error = describe(exc)
            log.warning("pull failed: %s", error)
            journal.run(
                partial(_failed, error=error, reachable=answered_by_registry(exc), resync=resync)
            )
            return PullReport(pages, *_counts(total), cursor, error)
        total.add(
            journal.run(
                partial(_store, page=page, answer=answer, config=journal.config, resync=resync)
            )
        )
        pages += 1
        cursor = page.cursor
        if resync:
            resync = page.resync_next is not None
            resync_after = page.resync_next
        if not page.more:
            return PullReport(pages, *_counts(total), cursor)


def _started(conn: sqlite3.Connection, resync: bool) -> None:
    now = now_moment()
    syncstages.start(conn, Stage.PULL, now)
    if resync:
        syncstages.start(conn, Stage.RESYNC, now)


def _store(
    conn: sqlite3.Connection, page: PullResult, answer: Answer, config: Config, resync: bool
) -> Applied:
    """One page, in one transaction with its cursor, the stages' progress and what the
    registry said it speaks."""
    now = now_moment()
    applied = apply_page(conn, page, config, now.wall)
    outbox.note_registry(conn, True, now.wall)
    if answer.capabilities is not None:
        capabilities.store(conn, answer.capabilities)
    if resync:
        set_box_value(conn, "resync_after", page.resync_next or "")
        if page.resync_next is None:
            syncstages.finish(conn, Stage.RESYNC, now)
        else:
            syncstages.progress(conn, Stage.RESYNC, now)
    if page.more:
        syncstages.progress(conn, Stage.PULL, now)
    else:
        syncstages.finish(conn, Stage.PULL, now)
    return applied


def _failed(conn: sqlite3.Connection, error: str, reachable: bool, resync: bool) -> None:
    now = now_moment()
    syncstages.fail(conn, Stage.PULL, error, now)
    if resync:
        syncstages.fail(conn, Stage.RESYNC, error, now)
    outbox.note_registry(conn, reachable, now.wall)


def _counts(a: Applied) -> tuple[int, int, int, int]:
    return a.granted, a.revoked, a.discarded, a.users


def apply_page(
    conn: sqlite3.Connection, page: PullResult, config: Config, now: datetime
) -> Applied:
    """Apply one page of changes and move the cursor past it (in the caller's transaction)."""
    applied = Applied()
    for change in page.changes:
        if change.kind == "user" and change.user is not None:
            applied.users += _user(conn, change.user, config, now)
        elif change.kind in ("lease-granted", "lease-revoked") and change.record is not None:
            _lease(conn, change, change.record, config, applied, now)
        else:
            log.warning("pull: change %d of unknown kind %r ignored", change.seq, change.kind)
    set_box_value(conn, "pull_cursor", str(page.cursor))
    set_box_value(conn, "registry_config_version", page.config_version)
    outbox.advance_low_water(conn)
    return applied


def _lease(
    conn: sqlite3.Connection,
    change: Change,
    copy: RecordCopy,
    config: Config,
    applied: Applied,
    now: datetime,
) -> None:
    record_id = copy.record_id
    conn.executemany(
        _INSERT_COPY,
        [
            (
                a.national_seq,
                a.origin_box,
                a.seq,
                *(getattr(a, c) for c in _COPY_COLUMNS[3:-1]),
                a.received_at,
            )
            for a in copy.actions
        ],
    )
    # The box's own actions the registry holds are accepted, whatever their receipt said.
    conn.execute(
        "INSERT INTO sync_state (action_id, seq, record_id, state, registry_time, updated_at) "
        "SELECT a.id, a.seq, a.record_id, 'accepted', r.received_at, ? FROM actions a "
        "JOIN registry_actions r ON r.id = a.id WHERE a.record_id = ? "
        "ON CONFLICT (action_id) DO UPDATE SET state = 'accepted', "
        "registry_time = excluded.registry_time, updated_at = excluded.updated_at",
        (iso_ms(now), record_id),
    )
    revoked = change.kind == "lease-revoked"
    if revoked:
        applied.revoked += 1
        applied.discarded += _discard(conn, record_id, change, now)
    else:
        applied.granted += 1
    conn.execute(
        "INSERT INTO leases (record_id, state, changed_at, changed_by, reason) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (record_id) DO UPDATE SET state = excluded.state, "
        "changed_at = excluded.changed_at, changed_by = excluded.changed_by, "
        "reason = excluded.reason",
        (record_id, "revoked" if revoked else "held", change.at, change.by, change.reason),
    )
    rebuild(conn, record_id, config)


def _discard(conn: sqlite3.Connection, record_id: str, change: Change, now: datetime) -> int:
    """Mark the record's actions the registry does not hold as discarded; returns how many."""
    reason = (
        f"The registry gave this record to another office ({change.by}"
        f"{': ' + change.reason if change.reason else ''}). This action was not sent and is "
        "kept here only for the record; it can be done again if the record comes back."
    )
    rows = conn.execute(
        "SELECT a.id, a.seq FROM actions a LEFT JOIN sync_state s ON s.action_id = a.id "
        "WHERE a.record_id = ? AND (s.state IS NULL OR s.state NOT IN ('accepted', 'discarded'))",
        (record_id,),
    ).fetchall()
    conn.executemany(
        "INSERT INTO sync_state (action_id, seq, record_id, state, reason, discarded_by, "
        "discarded_at, updated_at) VALUES (?, ?, ?, 'discarded', ?, ?, ?, ?) "
        "ON CONFLICT (action_id) DO UPDATE SET state = 'discarded', reason = excluded.reason, "
        "discarded_by = excluded.discarded_by, discarded_at = excluded.discarded_at, "
        "last_error = NULL, next_try_at = NULL, updated_at = excluded.updated_at",
        [(r["id"], r["seq"], record_id, reason, change.by, change.at, iso_ms(now)) for r in rows],
    )
    return len(rows)


def _user(conn: sqlite3.Connection, u: UserInfo, config: Config, now: datetime) -> int:
    """Create or update a user of the office; never touches a password verifier."""
    try:
        known = find_user(conn, u.username)
        if known is None:
            if not u.active:
                return 0
            add_user(
                conn,
                config,
                username=u.username,
                display_name=u.display_name,
                role=u.role,
                office_id=u.office_id,
                by=BY_REGISTRY,
                now=now,
                user_id=u.id,
            )
            return 1
        edit_user(
            conn,
            config,
            known.id,
            BY_REGISTRY,
            {"display_name": u.display_name, "role": u.role, "office_id": u.office_id},
            now,
        )
        if known.active != u.active:
            set_active(conn, known.id, u.active, BY_REGISTRY, now)
        return 1
    except InvalidInput as exc:
        # E.g. a role this box's configuration does not have: the user stays as it was.
        log.warning("pull: user %s not applied: %s", u.id, exc.detail)  # an id, not a name
        return 0
