"""Whether the national registry answers right now, as the pages need it for their banner.

The sync worker learns it only when a push or pull ends, and a WAN that freezes (packets
dropped, nothing refused) ends a push only when its 30-second wait runs out. So while
someone is using the pages, the web process asks the registry's hello every few seconds
with a short wait: the blue banner shows within seconds. While nobody looks, it asks
nothing (a national registry serves thousands of boxes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("edge.watch")

# How often to ask while the pages are in use, and how long after the last page the box
# stops asking.
EVERY_SECONDS = 5.0
IDLE_AFTER_SECONDS = 60.0


class RegistryWatch:
    """The registry's liveness, asked by `probe` (True: it answered; False: it did not;
    None: there is no registry to ask)."""

    def __init__(
        self,
        probe: Callable[[], bool | None],
        every: float = EVERY_SECONDS,
        idle_after: float = IDLE_AFTER_SECONDS,
    ) -> None:
        self._probe, self._every, self._idle_after = probe, every, idle_after
        self._up: bool | None = None
        self._checked = -1e9
        self._looked = -1e9
        self._wake = asyncio.Event()

    def looked(self) -> bool | None:
        """A page is being shown: keep asking, and say what is known (None: nothing fresh,
        let the sync worker's last word stand)."""
        now = time.monotonic()
        if now - self._looked > self._idle_after:
            self._wake.set()  # the loop slept while nobody looked: ask now
        self._looked = now
        fresh = now - self._checked <= 3 * self._every
        return self._up if fresh else None

    async def run(self) -> None:
        """Ask every few seconds while the pages are in use; sleep while they are not."""
        while True:
            if time.monotonic() - self._looked > self._idle_after:
                self._wake.clear()
                await self._wake.wait()
            try:
                self._up = await asyncio.to_thread(self._probe)
            except Exception:  # a probe that broke says nothing; the worker's word stands
                log.exception("registry probe failed")
                self._up = None
            self._checked = time.monotonic()
            await asyncio.sleep(self._every)
