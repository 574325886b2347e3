"""Run an `edge` command whose wall clock is shifted by the seconds written in the file named
by EDGE_TEST_CLOCK_SHIFT, re-read as the process runs: a clock stepped while the box works, as
on a Pi without a real-time clock. The monotonic clock and the time since boot are not
shifted, as on the Pi.

(This is what libfaketime's FAKETIME_TIMESTAMP_FILE with FAKETIME_DONT_FAKE_MONOTONIC does, but
that combination makes Python 3.11's time.sleep fail with EINVAL: libfaketime issue #426.)

    python -m tests.shifted_clock --home HOME worker
"""

from __future__ import annotations

import datetime as _datetime
import os
import sys
import time
from pathlib import Path
from typing import Any

_time, _time_ns, _clock_gettime = time.time, time.time_ns, time.clock_gettime
_read: tuple[float, float] = (-1.0, 0.0)  # (monotonic when read, shift)


def shift() -> float:
    """The shift in seconds, read from its file at most ten times a second."""
    global _read
    now = time.monotonic()
    if now - _read[0] > 0.1:
        try:
            value = float(Path(os.environ["EDGE_TEST_CLOCK_SHIFT"]).read_text().strip() or 0)
        except (OSError, ValueError):
            value = 0.0
        _read = (now, value)
    return _read[1]


def _shifted_clock_gettime(clock: int) -> float:
    return _clock_gettime(clock) + (shift() if clock == time.CLOCK_REALTIME else 0.0)


class _ShiftedDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return cls.fromtimestamp(time.time(), tz)

    @classmethod
    def utcnow(cls) -> Any:
        return cls.fromtimestamp(time.time(), _datetime.UTC).replace(tzinfo=None)

    @classmethod
    def today(cls) -> Any:
        return cls.now()


time.time = lambda: _time() + shift()
time.time_ns = lambda: _time_ns() + int(shift() * 1e9)
time.clock_gettime = _shifted_clock_gettime
_datetime.datetime = _ShiftedDatetime  # type: ignore[misc]

if __name__ == "__main__":
    from edge.cli import main

    sys.exit(main(sys.argv[1:]))
