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

Times are the box's wall clock (ISO, UTC), as shown to people, and also the boot and the
time since boot when the stage entered its status and when it last moved: how long a backoff
still runs, whether a stage is stuck and whether the push has stopped are measured by the time
since boot within a boot, so a clock stepped either way changes none of them (a Pi without a
real-time clock steps at boot, and again when NTP answers). Across a reboot the wall clock
counts, and a stored time it puts in the future is not trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from edge.clock import Moment, as_moment, elapsed, iso_ms, parse_iso
from edge.journal.boxvalues import box_value
from edge.journal.db import sqlite3
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
    # `since` and `updated_at` as the boot and the time since boot then ("" and 0: unknown).
    since_boot: str = ""
    since_mono: int = 0
    updated_boot: str = ""
    updated_mono: int = 0

    @property
    def entered(self) -> Moment | None:
        """When it entered its status, as a Moment."""
        return (
            Moment(parse_iso(self.since), self.since_boot, self.since_mono) if self.since else None
        )

    @property
    def moved(self) -> Moment | None:
        """Its last sign of life (a start, a page or batch, an end), as a Moment."""
        if self.updated_at:
            return Moment(parse_iso(self.updated_at), self.updated_boot, self.updated_mono)
        return self.entered

    @property
    def active(self) -> bool:
        """Started or asked for, and not finished."""
        return self.status in (Status.RUNNING, Status.WAITING, Status.FAILED)

    @property
    def failing(self) -> bool:
        """Its last run failed (and it waits for its next try, or the next round)."""
        return self.attempts > 0 and self.status in (Status.WAITING, Status.FAILED)

    def stuck(self, now: datetime | Moment, stale: timedelta) -> bool:
        """Running, without progress for longer than `stale` (a run of an earlier boot, its
        time no longer vouched for, ended with that boot)."""
        if self.status != Status.RUNNING:
            return False
        moved = self.moved
        quiet = elapsed(moved, as_moment(now)) if moved else None
        return quiet is None or quiet > stale

    def wait_left(self, now: datetime | Moment) -> timedelta | None:
        """How long its backoff still runs, if it waits for a next try: the wait it was given
        less the time since it began, by the time since boot within that boot. None when it
        does not wait, the wait is over, or began at a time the clock no longer vouches for."""
        start = self.entered
        if self.status != Status.WAITING or not self.next_try or start is None:
            return None
        gone = elapsed(start, as_moment(now))
        if gone is None:
            return None
        left = parse_iso(self.next_try) - start.wall - gone
        return left if left > timedelta(0) else None

    def quiet_for(self, now: datetime | Moment) -> timedelta | None:
        """How long it has done nothing, beyond a backoff it waits out; None when unknown (its
        last sign of life is a time of an earlier boot the clock no longer vouches for)."""
        moved = self.moved
        quiet = elapsed(moved, as_moment(now)) if moved else None
        if quiet is None or moved is None:
            return None
        if self.status == Status.WAITING and self.next_try and self.since:
            quiet -= max(timedelta(0), parse_iso(self.next_try) - parse_iso(self.since))
        return max(quiet, timedelta(0))

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


# Each column, and what it reads as in a database that does not have it yet.
_COLUMNS = {
    "name": None,
    "status": None,
    "since": None,
    "last_error": None,
    "next_try": None,
    "attempts": None,
    "updated_at": None,
    "last_done": None,
    "since_boot": "''",
    "since_mono": "0",
    "updated_boot": "''",
    "updated_mono": "0",
}


def stages(conn: sqlite3.Connection) -> list[StageStatus]:
    """Every stage in round order (idle when it never ran); from a database not migrated yet
    as well (`edge doctor` may open one): the old box keys, or the table without the boots."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(sync_stages)")}
    source = "sync_stages" if have else f"({LEGACY_SYNC_STAGES})"
    names = ", ".join(
        c if c in have or (not have and unknown is None) else f"{unknown} AS {c}"
        for c, unknown in _COLUMNS.items()
    )
    known = {r[0]: StageStatus(*r) for r in conn.execute(f"SELECT {names} FROM {source}")}
    return [known.get(s.value, StageStatus(s.value, Status.IDLE.value)) for s in Stage]


def stage(conn: sqlite3.Connection, name: Stage) -> StageStatus:
    return next(s for s in stages(conn) if s.name == name)


def _moved(at: Moment) -> dict[str, object]:
    return {
        "updated_at": iso_ms(at.wall),
        "updated_boot": at.boot,
        "updated_mono": at.since_boot_ms,
    }


def _entered(at: Moment, status: Status) -> dict[str, object]:
    return {
        "status": status.value,
        "since": iso_ms(at.wall),
        "since_boot": at.boot,
        "since_mono": at.since_boot_ms,
        **_moved(at),
    }


def _put(conn: sqlite3.Connection, name: Stage, values: dict[str, object]) -> None:
    names = ["name", *values]
    sets = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
    conn.execute(
        f"INSERT INTO sync_stages ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT (name) DO UPDATE SET {sets}",
        (name.value, *values.values()),
    )


def start(conn: sqlite3.Connection, name: Stage, now: datetime | Moment) -> None:
    """The stage begins a run (its last error and attempts stay until it finishes)."""
    _put(conn, name, {**_entered(as_moment(now), Status.RUNNING), "next_try": None})


def progress(conn: sqlite3.Connection, name: Stage, now: datetime | Moment) -> None:
    """A page or batch went through: the running stage is moving."""
    moved = _moved(as_moment(now))
    conn.execute(
        f"UPDATE sync_stages SET {', '.join(f'{k} = ?' for k in moved)} WHERE name = ?",
        (*moved.values(), name.value),
    )


def finish(conn: sqlite3.Connection, name: Stage, now: datetime | Moment) -> None:
    at = as_moment(now)
    done = {"last_done": iso_ms(at.wall), "attempts": 0, "last_error": None, "next_try": None}
    _put(conn, name, {**_entered(at, Status.DONE), **done})


def fail(
    conn: sqlite3.Connection,
    name: Stage,
    error: str,
    now: datetime | Moment,
    next_try: datetime | None = None,
) -> None:
    """The run failed: `waiting` until next_try when one is set, else `failed`."""
    at = as_moment(now)
    failed = _entered(at, Status.WAITING if next_try else Status.FAILED)
    failed |= {"last_error": error, "next_try": iso_ms(next_try) if next_try else None}
    conn.execute(
        f"INSERT INTO sync_stages (name, {', '.join(failed)}, attempts) "
        f"VALUES (?, {', '.join('?' * len(failed))}, 1) ON CONFLICT (name) DO UPDATE SET "
        f"{', '.join(f'{k} = excluded.{k}' for k in failed)}, attempts = attempts + 1",
        (name.value, *failed.values()),
    )


def request(conn: sqlite3.Connection, name: Stage, now: datetime | Moment) -> None:
    """Ask for a run at the next round (e.g. a resync after `edge restore`)."""
    asked = {"next_try": None, "attempts": 0, "last_error": None}
    _put(conn, name, {**_entered(as_moment(now), Status.WAITING), **asked})


def waiting(conn: sqlite3.Connection, limit: int = -1) -> int:
    """How many actions wait to be sent (at most `limit`; -1: all), counted from the outbox's
    low-water mark, below which every action has its final answer."""
    low = int(box_value(conn, "sync_low_water") or 0)
    count: int = conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM actions a LEFT JOIN sync_state s "
        "ON s.action_id = a.id WHERE a.seq > ? "
        "AND (s.state IS NULL OR s.state IN ('pending', 'sending')) LIMIT ?)",
        (low, limit),
    ).fetchone()[0]
    return count


def not_pushing(
    conn: sqlite3.Connection, now: datetime | Moment, stalled: timedelta
) -> timedelta | None:
    """How long the push has done nothing although actions wait and the registry answered
    at the last exchange, when that is longer than `stalled` (a wedged or hung worker whose
    heartbeat still beats); else None. A push waiting out its backoff is not idle."""
    if box_value(conn, "registry_reachable") != "1":
        return None  # the WAN (or the registry) is down: nothing the worker could do
    if not waiting(conn, 1):
        return None
    push = stage(conn, Stage.PUSH)
    quiet = push.quiet_for(now) if push.status != Status.IDLE else None
    return quiet if quiet is not None and quiet > stalled else None
