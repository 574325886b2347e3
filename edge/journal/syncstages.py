"""Where the sync worker stands: one row per named stage in `sync_stages`, written by the
worker through the journal writer, read by `edge doctor`, the outbox API and the pages.

A round of the worker runs its stages in this order: `pull` (which carries the `resync`
after a restore: the same requests ask for the records the box holds), then the wait for
the push's backoff, then `push`, then `documents` (supporting documents, within a byte
budget per round: edge/journal/attachments.py). Each stage has one status:

- `idle`: never ran (`resync`: never asked for);
- `running`: started at `since`; `updated_at` moves with every page or batch, so a running
  stage whose `updated_at` stops moving is stuck (a hung or killed worker);
- `waiting`: runs again at `next_try` (the push's backoff), or at the next round when
  `next_try` is empty (a resync asked for by `edge restore`);
- `failed`: the last run failed with `last_error` (a pull is tried again the next round);
- `done`: the last run finished, at `since` (and `last_done`).

`attempts` counts failed runs in a row; a run that finishes sets it to 0 and clears
`last_error`, so an error shown is always one that still matters.

Stage state and plain facts. What the worker is doing, since when, how it went and when it
tries again is stage state, here: it was the box keys `sync_next_try`, `sync_last_error`,
`sync_last_success`, `sync_last_pull`, `sync_last_pull_error` and `resync`, which migration 5
moves into this table (and `stages()` reads from a database not migrated yet, as
`edge doctor` may open one). Positions written in the same transaction as the data they
describe stay facts in the `box` table: `pull_cursor` (applied with its page), `resync_after`
(where an interrupted resync resumes), `sync_low_water` (a mark over the receipts that keeps
batch selection cheap); so do measurements and what the registry told the box:
`clock_anchor:*`, `clock_step:*`, `clock_step_sent:*`, `registry_capabilities`,
`registry_reachable`.

Times are the box's wall clock (ISO, UTC), as shown to people; whether a stage is stuck is
judged against them, so a clock step can make a stage look stuck once, never hide one for
longer than the step.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from edge.clock import iso_ms, parse_iso
from edge.journal.schema import LEGACY_SYNC_STAGES


class Stage(StrEnum):
    """The worker's stages, in the order a round runs them."""

    RESYNC = "resync"
    PULL = "pull"
    PUSH = "push"
    DOCUMENTS = "documents"  # supporting documents, after the actions that attached them


class Status(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    WAITING = "waiting"
    FAILED = "failed"
    DONE = "done"


@dataclass(frozen=True)
class StageStatus:
    """One stage: its status since when, its last error and next try, failed runs in a row."""

    name: str
    status: str
    since: str | None = None
    last_error: str | None = None
    next_try: str | None = None
    attempts: int = 0
    updated_at: str | None = None  # the last sign of progress
    last_done: str | None = None  # when a run last finished

    @property
    def active(self) -> bool:
        """Started or asked for, and not finished."""
        return self.status in (Status.RUNNING, Status.WAITING, Status.FAILED)

    @property
    def failing(self) -> bool:
        """Its last run failed (and it waits for its next try, or the next round)."""
        return self.attempts > 0 and self.status in (Status.WAITING, Status.FAILED)

    def stuck(self, now: datetime, stale: timedelta) -> bool:
        """Running, without progress for longer than `stale`."""
        moved = self.updated_at or self.since
        return self.status == Status.RUNNING and (moved is None or parse_iso(moved) < now - stale)

    def sentence(self) -> str:
        """The stage for people: e.g. "push waiting until …, after 3 failed tries: …"."""
        what = {
            Status.IDLE: "has not run yet",
            Status.RUNNING: f"running since {self.since}",
            Status.WAITING: (
                f"waiting until {self.next_try}" if self.next_try else "waiting for the next round"
            ),
            Status.FAILED: f"failed at {self.since}",
            Status.DONE: f"done at {self.since}",
        }.get(Status(self.status), self.status)
        tries = f", after {self.attempts} failed tr{'y' if self.attempts == 1 else 'ies'}"
        said = f"{self.name} {what}{tries if self.attempts else ''}"
        if self.status == Status.RUNNING and self.updated_at and self.updated_at != self.since:
            said += f" (last progress {self.updated_at})"
        return said + (f"; last error: {self.last_error}" if self.last_error else "")


_COLUMNS = (
    "name",
    "status",
    "since",
    "last_error",
    "next_try",
    "attempts",
    "updated_at",
    "last_done",
)


def stages(conn: sqlite3.Connection) -> list[StageStatus]:
    """Every stage in round order (idle when it never ran)."""
    try:
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM sync_stages").fetchall()
    except sqlite3.OperationalError:  # a database from before migration 5: the old box keys
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM ({LEGACY_SYNC_STAGES})").fetchall()
    known = {r[0]: StageStatus(*r) for r in rows}
    return [known.get(s.value, StageStatus(s.value, Status.IDLE.value)) for s in Stage]


def stage(conn: sqlite3.Connection, name: Stage) -> StageStatus:
    return next(s for s in stages(conn) if s.name == name)


def _put(conn: sqlite3.Connection, name: Stage, now: datetime, **values: object) -> None:
    names = ["name", "updated_at", *values]
    sets = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
    conn.execute(
        f"INSERT INTO sync_stages ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT (name) DO UPDATE SET {sets}",
        (name.value, iso_ms(now), *values.values()),
    )


def start(conn: sqlite3.Connection, name: Stage, now: datetime) -> None:
    """The stage begins a run (its last error and attempts stay until it finishes)."""
    _put(conn, name, now, status=Status.RUNNING.value, since=iso_ms(now), next_try=None)


def progress(conn: sqlite3.Connection, name: Stage, now: datetime) -> None:
    """A page or batch went through: the running stage is moving."""
    conn.execute("UPDATE sync_stages SET updated_at = ? WHERE name = ?", (iso_ms(now), name.value))


def finish(conn: sqlite3.Connection, name: Stage, now: datetime) -> None:
    stamp = iso_ms(now)
    _put(
        conn,
        name,
        now,
        status=Status.DONE.value,
        since=stamp,
        last_done=stamp,
        attempts=0,
        last_error=None,
        next_try=None,
    )


def fail(
    conn: sqlite3.Connection,
    name: Stage,
    error: str,
    now: datetime,
    next_try: datetime | None = None,
) -> None:
    """The run failed: `waiting` until next_try when one is set, else `failed`."""
    conn.execute(
        "INSERT INTO sync_stages (name, status, since, updated_at) VALUES (?, 'failed', ?, ?) "
        "ON CONFLICT (name) DO NOTHING",
        (name.value, iso_ms(now), iso_ms(now)),
    )
    conn.execute(
        "UPDATE sync_stages SET status = ?, since = ?, updated_at = ?, last_error = ?, "
        "next_try = ?, attempts = attempts + 1 WHERE name = ?",
        (
            (Status.WAITING if next_try else Status.FAILED).value,
            iso_ms(now),
            iso_ms(now),
            error,
            iso_ms(next_try) if next_try else None,
            name.value,
        ),
    )


def request(conn: sqlite3.Connection, name: Stage, now: datetime) -> None:
    """Ask for a run at the next round (e.g. a resync after `edge restore`)."""
    _put(
        conn,
        name,
        now,
        status=Status.WAITING.value,
        since=iso_ms(now),
        next_try=None,
        attempts=0,
        last_error=None,
    )
