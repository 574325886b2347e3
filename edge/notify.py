"""systemd's notify protocol (sd_notify(3)) without a library: one datagram per message to
the socket systemd names in $NOTIFY_SOCKET. Nothing happens when it is not set (a developer
running `edge serve` by hand)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger("edge.notify")


def notify(message: str) -> bool:
    """Send one message (e.g. READY=1); False when there is no systemd to tell."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog period systemd expects pings within, or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


async def feed_watchdog(interval: float) -> None:
    """Ping the watchdog from the event loop itself: if the loop is stuck, the pings stop
    and systemd restarts the service."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
