"""Applying what the registry sends at a pull: leases granted and revoked (each with the
record as the registry holds it), users of the office, the configuration version.

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
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from edge.clock import iso_ms
from edge.errors import InvalidInput
from edge.journal.chain import HASHED_COLUMNS
from edge.journal.rebuild import rebuild
from edge.users.register import add_user, edit_user, find_user, set_active
from edge.workflow.config import Config
from upstream_sync import outbox
from upstream_sync.protocol import Change, PullResult, RecordCopy, UserInfo

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
    outbox.set_box_value(conn, "pull_cursor", str(page.cursor))
    outbox.set_box_value(conn, "registry_config_version", page.config_version)
    outbox.set_box_value(conn, "sync_last_pull", iso_ms(now))
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
