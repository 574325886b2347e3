"""The box's clock: UTC timestamps and whether the system clock is synchronised.

A Raspberry Pi has no real-time clock: it boots with a wrong time until NTP answers.
Every action records whether the clock was synchronised, and the boot it happened in,
so the registry can correct timestamps made before the first sync (docs/sync-protocol.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; only the return value of adjtimex is used,
    # the padding keeps the kernel from writing past the buffer.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 256)]


@lru_cache(maxsize=1)
def boot_id() -> str:
    """The kernel's id of the current boot (changes at every power-up)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


_sync_cache: tuple[float, bool] = (0.0, False)
_host_keeps_time = False


def host_keeps_time(yes: bool) -> None:
    """The setting `clock = "host"`: the machine the box runs on keeps the time (a PC, a
    virtual machine's host), so the clock counts as synchronised whatever the kernel says
    (such a machine often runs no NTP of its own, and its kernel then says "not
    synchronised")."""
    global _host_keeps_time
    _host_keeps_time = yes


def clock_synced() -> bool:
    """True when the kernel says the system clock is synchronised (cached for 10 s), or the
    host keeps the time (`host_keeps_time`)."""
    global _sync_cache
    if _host_keeps_time:
        return True
    now = time.monotonic()
    checked_at, synced = _sync_cache
    if now - checked_at < 10 and checked_at:
        return synced
    synced = _ask_kernel()
    _sync_cache = (now, synced)
    return synced


# systemd-timesyncd creates this file once it has synchronised the clock; it can be read
# where the service's sandbox forbids adjtimex (ProtectClock=yes).
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def _ask_kernel() -> bool:
    if TIMESYNC_FLAG.exists():
        return True
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return False
    return bool(state >= 0 and state != TIME_ERROR)


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def iso_ms(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, the one timestamp format of the journal."""
    u = moment.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:"
        f"{u.second:02d}.{u.microsecond // 1000:03d}Z"
    )


def local_date(moment: datetime, zone: str) -> date:
    """The calendar day in the office's time zone (a date of birth "today" is the office's
    today, not UTC's)."""
    return moment.astimezone(ZoneInfo(zone)).date()


def parse_iso(stamp: str) -> datetime:
    """An aware datetime from a journal timestamp (`iso_ms`) or any ISO 8601 time."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Moment:
    """A point in time as the box can trust it later: the wall time (for people, and across
    reboots) and, within one boot, the time since boot, which no clock step moves. A Pi
    without a real-time clock steps its wall clock both ways (at boot, when NTP answers)."""

    wall: datetime
    boot: str = ""  # "" when unknown (then only the wall time counts)
    since_boot_ms: int = 0


def now_moment() -> Moment:
    """Now, read from both clocks together."""
    wall_ms, boot_ms = clock_pair()
    return Moment(datetime.fromtimestamp(wall_ms / 1000, UTC), boot_id(), boot_ms)


def as_moment(now: datetime | Moment) -> Moment:
    """A Moment for a caller that passed a plain time (tests, old records)."""
    return now if isinstance(now, Moment) else Moment(now)


def elapsed(since: Moment, now: Moment) -> timedelta | None:
    """How long since `since`: by the time since boot within the same boot (clock steps do
    not count), else by the wall clock. None when the wall clock says `since` is in the
    future: a stored time is not trusted past a clock step back."""
    if since.boot and since.boot == now.boot:
        return timedelta(milliseconds=max(0, now.since_boot_ms - since.since_boot_ms))
    gone = now.wall - since.wall
    return gone if gone >= timedelta(0) else None


def clock_pair() -> tuple[int, int]:
    """The wall clock and the time since boot, in milliseconds, read together."""
    return int(time.time() * 1000), int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


def clock_step(anchor: tuple[int, int], now: tuple[int, int]) -> int:
    """How far the wall clock was moved (by NTP, by hand) between two readings of the same
    boot, in milliseconds: the time since boot keeps counting regardless of the wall clock."""
    return (now[0] - now[1]) - (anchor[0] - anchor[1])
