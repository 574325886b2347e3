"""One pull or push at a time on a box, across its processes (the worker, `edge sync`).

The lock is an flock on `<home>/sync.lock`, held through a file descriptor opened once: the
kernel releases it when the holder lets go, closes the file or dies. Nothing is written to
take it or to let it go, so a full disk cannot keep it taken. (huey's task lock, a row in
huey.db, could not be deleted while the disk was full, and every later push was refused
until the worker restarted.)
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "sync.lock"


class SyncLock:
    """The box's sync lock, for one process."""

    def __init__(self, home: Path) -> None:
        self._fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        # flock does not keep apart two threads sharing one descriptor.
        self._threads = threading.Lock()

    @contextmanager
    def held(self, wait: float) -> Iterator[bool]:
        """Take the lock, waiting at most `wait` seconds; yields whether it was taken."""
        deadline = time.monotonic() + wait
        if not self._threads.acquire(timeout=max(wait, 0)):
            yield False
            return
        try:
            while not self._try():
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _try(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        os.close(self._fd)
