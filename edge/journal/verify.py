"""`edge verify`: re-walk the hash chain, replay the journal, compare with the materialized
state, and run SQLite's own integrity check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from edge.journal.chain import GENESIS, row_hash
from edge.journal.db import connect
from edge.journal.rebuild import record_entries, replay
from edge.journal.records import entry_from_row, state_columns
from edge.workflow.fold import fold
from edge.workflow.model import RecordState

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

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, seq: int | None, message: str) -> None:
        if seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq):
            self.first_bad_seq = seq
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)


def verify(path: Path) -> Report:
    """Check journal.db end to end; the report lists what is wrong, first broken seq first."""
    report = Report()
    conn = connect(path, readonly=True)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            report.bad(None, "SQLite integrity check failed: " + "; ".join(integrity[:5]))
        states: dict[str, RecordState] = {}
        last_seq: dict[str, int] = {}
        # Records the registry sent a copy of are replayed from it (see rebuild.py); discarded
        # actions stay in the chain but are not folded.
        copied = {r[0] for r in conn.execute("SELECT DISTINCT record_id FROM registry_actions")}
        discarded = {
            r[0] for r in conn.execute("SELECT action_id FROM sync_state WHERE state = 'discarded'")
        }
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
                entry = entry_from_row(row)
                last_seq[entry.record_id] = seq
                if entry.record_id not in copied and entry.id not in discarded:
                    states[entry.record_id] = fold(states.get(entry.record_id), entry)
            except (ValueError, KeyError, msgspec.DecodeError) as exc:
                report.bad(seq, f"seq {seq}: cannot be replayed ({exc})")
            expected, prev = seq + 1, row["hash"]
        for record_id in copied:
            try:
                state = replay(record_entries(conn, record_id))
            except (ValueError, KeyError, msgspec.DecodeError) as exc:
                report.bad(
                    None, f"record {record_id}: the registry's copy cannot be replayed ({exc})"
                )
                continue
            if state is not None:
                states[record_id] = state
        _compare(conn, states, last_seq, report)
        orphan = conn.execute(
            "SELECT s.seq FROM sync_state s LEFT JOIN actions a ON a.id = s.action_id "
            "WHERE a.id IS NULL OR a.seq != s.seq ORDER BY s.seq LIMIT 1"
        ).fetchone()
        if orphan is not None:
            report.bad(orphan[0], f"seq {orphan[0]}: its sync receipt names no such action")
    finally:
        conn.close()
    return report


def _compare(
    conn: object, states: dict[str, RecordState], last_seq: dict[str, int], report: Report
) -> None:
    rows = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM records")}  # type: ignore[attr-defined]
    report.records = len(rows)
    for record_id in sorted(set(rows) | set(states), key=lambda r: last_seq.get(r, 0)):
        row, state = rows.get(record_id), states.get(record_id)
        seq = last_seq.get(record_id)
        if row is None:
            report.bad(
                seq, f"record {record_id}: in the journal but missing from the records table"
            )
            continue
        if state is None:
            report.bad(None, f"record {record_id}: in the records table but not in the journal")
            continue
        expected = state_columns(state, None)
        for column, value in expected.items():
            if column not in _DERIVED and row[column] != value:
                report.bad(
                    seq,
                    f"record {record_id}: `{column}` is {row[column]!r} but the "
                    f"journal says {value!r} (last action seq {seq})",
                )
