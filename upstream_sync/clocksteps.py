"""How far the box's clock jumped when NTP first set it in a boot, measured once the clock is
synchronised and sent with the next push (docs/sync-protocol.md, "Timestamps").

Kept as box facts: `clock_anchor:<boot>` (wall clock and time since boot at the boot's first
unsynced action), `clock_step:<boot>` (the measured step) and `clock_step_sent:<boot>` (a
push carried it)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from edge.clock import clock_step, iso_ms
from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.db import sqlite3
from upstream_sync.protocol import ClockStep

MEASURED, SENT = "clock_step:", "clock_step_sent:"


def measure_clock_step(
    conn: sqlite3.Connection, boot: str, now_pair: tuple[int, int], now: datetime
) -> int | None:
    """Once the clock is synchronised: how far it jumped since this boot's first unsynced
    action (None when there was none, or it was measured already). Called with the clock
    synchronised; the step is sent with the next push."""
    anchor = box_value(conn, f"clock_anchor:{boot}")
    if anchor is None or box_value(conn, f"{MEASURED}{boot}") is not None:
        return None
    wall, since_boot = (int(x) for x in anchor.split())
    offset = clock_step((wall, since_boot), now_pair)
    set_box_value(conn, f"{MEASURED}{boot}", msgspec.json.encode([offset, iso_ms(now)]).decode())
    return offset


def unsent_clock_steps(conn: sqlite3.Connection) -> list[ClockStep]:
    """The measured steps no push has carried yet."""
    rows = conn.execute(
        "SELECT key, value FROM box WHERE key LIKE ? AND key NOT IN "
        "(SELECT ? || substr(key, ?) FROM box WHERE key LIKE ?)",
        (f"{MEASURED}%", MEASURED, len(SENT) + 1, f"{SENT}%"),
    )
    steps = []
    for key, value in rows:
        offset, measured = msgspec.json.decode(value)
        steps.append(ClockStep(key.removeprefix(MEASURED), int(offset), str(measured)))
    return steps


def mark_clock_steps_sent(conn: sqlite3.Connection, steps: list[ClockStep]) -> None:
    """A push with these steps succeeded: they are not sent again."""
    for step in steps:
        set_box_value(conn, f"{SENT}{step.boot_id}", "1")
