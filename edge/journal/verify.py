"""`edge verify`: re-walk the hash chain, replay the journal, compare with the materialized
state, run SQLite's own integrity check, and count again what is kept beside the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from edge.journal import attachments, tallies
from edge.journal.chain import GENESIS, row_hash
from edge.journal.db import connect, sqlite3
from edge.journal.rebuild import record_entries, replay
from edge.journal.records import entry_from_row, state_columns
from edge.journal.schema import version

MAX_PROBLEMS = 50
# Columns derived with the configuration (display title, duplicate and search indexes): not
# journal state.
_DERIVED = ("title", "dedup_key", "search_text")


@dataclass
class Report:
    actions: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    # Kept counts, outbox, flags or search index that disagree with the journal: the journal
    # itself is intact (`ok`), `edge recount` puts them right (edge/journal/tallies.py).
    miscounted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, seq: int | None, message: str) -> None:
        if seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq):
            self.first_bad_seq = seq
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)


def verify(path: Path, key: bytes | None = None) -> Report:
    """Check journal.db end to end; the report lists what is wrong, first broken seq first.
    Streams: the chain is walked row by row and each record replayed on its own, so memory
    stays flat however long the journal (docs/performance.md)."""
    report = Report()
    conn = connect(path, readonly=True, key=key)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            report.bad(None, "SQLite integrity check failed: " + "; ".join(integrity[:5]))
        _chain(conn, report)
        for row in conn.execute("SELECT * FROM records"):
            report.records += 1
            _compare(conn, dict(row), report)
        for (record_id,) in conn.execute(
            "SELECT DISTINCT a.record_id FROM actions a LEFT JOIN records r ON r.id = a.record_id "
            f"WHERE r.id IS NULL LIMIT {MAX_PROBLEMS}"
        ):
            report.bad(
                _last_seq(conn, record_id),
                f"record {record_id}: in the journal but missing from the records table",
            )
        orphan = conn.execute(
            "SELECT s.seq FROM sync_state s LEFT JOIN actions a ON a.id = s.action_id "
            "WHERE a.id IS NULL OR a.seq != s.seq ORDER BY s.seq LIMIT 1"
        ).fetchone()
        if orphan is not None:
            report.bad(orphan[0], f"seq {orphan[0]}: its sync receipt names no such action")
        for seq, problem in attachments.problems(conn):
            report.bad(seq, problem)
        if version(conn) >= tallies.SINCE:  # (before, some are not kept yet)
            try:
                report.miscounted = tallies.miscounted(conn)
            except sqlite3.OperationalError as exc:  # a table missing: doctor's schema check
                report.miscounted = [f"cannot be counted again ({exc})"]
    finally:
        conn.close()
    return report


def _chain(conn: sqlite3.Connection, report: Report) -> None:
    """Every entry in seq order, each hash over its content and the one before it."""
    expected, prev = 1, GENESIS
    for row in conn.execute("SELECT * FROM actions ORDER BY seq"):
        seq = row["seq"]
        report.actions += 1
        if seq != expected:
            report.bad(expected, f"seq {expected}: missing (the next entry is seq {seq})")
        if row["prev_hash"] != prev:
            report.bad(
                seq,
                f"seq {seq}: prev_hash does not match the hash of the entry "
                "before it (an entry was removed, inserted or reordered)",
            )
        if row_hash(row) != row["hash"]:
            report.bad(
                seq,
                f"seq {seq}: its content does not match its hash "
                "(it was changed after it was written)",
            )
        try:
            entry_from_row(row)
        except (ValueError, KeyError, msgspec.DecodeError) as exc:
            report.bad(seq, f"seq {seq}: cannot be replayed ({exc})")
        expected, prev = seq + 1, row["hash"]


def _last_seq(conn: sqlite3.Connection, record_id: str) -> int | None:
    row = conn.execute("SELECT MAX(seq) FROM actions WHERE record_id = ?", (record_id,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _compare(conn: sqlite3.Connection, row: dict[str, Any], report: Report) -> None:
    """One record's row against its replay (the registry's copy first, when there is one, and
    the box's own actions not discarded: see rebuild.py)."""
    record_id = row["id"]
    seq = _last_seq(conn, record_id)
    try:
        state = replay(record_entries(conn, record_id))
    except (ValueError, KeyError, msgspec.DecodeError) as exc:
        report.bad(seq, f"record {record_id}: cannot be replayed ({exc})")
        return
    if state is None:
        report.bad(None, f"record {record_id}: in the records table but not in the journal")
        return
    for column, value in state_columns(state, None).items():
        if column not in _DERIVED and row[column] != value:
            report.bad(
                seq,
                f"record {record_id}: `{column}` is {row[column]!r} but the "
                f"journal says {value!r} (last action seq {seq})",
            )
