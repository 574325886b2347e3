"""A box's processes hold a shared lock on `<home>/edge.lock` while they run, so that
`edge restore` (which takes it exclusively) cannot replace the journal under them."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from edge.errors import EdgeError

_held: list[int] = []  # kept open for the life of the process


def hold_shared(home: Path) -> None:
    fd = os.open(home / "edge.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held.append(fd)


def take_exclusive(home: Path) -> int:
    """The lock for a maintenance command; refuses while the box runs."""
    fd = os.open(home / "edge.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EdgeError(
            "the box is running: stop it first (systemctl stop edge-web edge-worker)"
        ) from None
    return fd
