"""Each box's hash chain as the registry holds it: the seq and hash of every entry the box has
sent (its actions, and the links of those a batch skips), unbroken from its first entry.

A pushed action must continue the chain: the next seq, and the hash of the entry before it
as its `prev_hash`. An action at a seq the registry holds with another hash is a fork, and is
refused. The chain is what the box signed: an action the registry refuses for another reason
(its content, its lease) still takes its place in it. A restored box goes back to an entry
the registry holds (`restart`), and its chain goes on from there; that is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.journal.chain import GENESIS
from edge.journal.db import sqlite3
from upstream_sync.protocol import ChainLink, WireAction

log = logging.getLogger("upstream_sync.registry")
_moved = threading.Condition()  # a batch was stored: the chains it moved may let one go on


def tip(c: sqlite3.Connection, box_id: str) -> int:
    """The last seq of the box's chain the registry holds (0: none)."""
    row = c.execute("SELECT MAX(seq) FROM box_chain WHERE box_id = ?", (box_id,)).fetchone()
    return int(row[0] or 0)


def moved() -> None:
    """Wake the batches waiting for their turn (after a batch was stored)."""
    with _moved:
        _moved.notify_all()


def turn_came(read_tip: Callable[[], int], after: int, seconds: float) -> bool:
    """Whether the registry holds the box's chain up to `after` within `seconds`: a batch
    sent before the answer to the one before it waits for that one to be stored."""
    deadline = time.monotonic() + seconds
    while read_tip() < after:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with _moved:
            _moved.wait(min(left, 0.5))
    return True


class BoxChain:
    """One box's chain during one pushed batch: checked entry by entry, stored at the end."""

    def __init__(
        self,
        c: sqlite3.Connection,
        box_id: str,
        links: list[ChainLink],
        restart: ChainLink | None,
    ) -> None:
        self.c, self.box_id = c, box_id
        tip = c.execute(
            "SELECT seq, hash FROM box_chain WHERE box_id = ? ORDER BY seq DESC LIMIT 1",
            (box_id,),
        ).fetchone()
        self.seq, self.hash = (int(tip[0]), str(tip[1])) if tip else (0, GENESIS)
        self.broken: str | None = None
        self._no_restart: str | None = None  # why the restart the box asked for was refused
        self._added: dict[int, str] = {}
        self._links = sorted(links, key=lambda link: link.seq)
        if restart is not None:
            self._restart(restart)

    def continues(self, a: WireAction) -> str | None:
        """Why this action does not continue the box's chain, or None (the links before it
        are taken first)."""
        while self._links and self._links[0].seq < a.seq:
            self._take(self._links.pop(0))
        return self._take(a)

    def previous(self, seq: int) -> str:
        """The hash of the box's entry before `seq` as the registry holds it (the links
        before it taken first); "" when it holds none (a gap, refused by `continues`)."""
        while self._links and self._links[0].seq < seq:
            self._take(self._links.pop(0))
        if seq - 1 == self.seq:
            return self.hash
        return (self._held(seq - 1) or "") if seq - 1 < self.seq else ""

    def store(self) -> None:
        """Keep the entries this batch added (with the links after its last action)."""
        while self._links:
            self._take(self._links.pop(0))
        self.c.executemany(
            "INSERT INTO box_chain (box_id, seq, hash) VALUES (?, ?, ?)",
            [(self.box_id, seq, h) for seq, h in self._added.items()],
        )

    def _take(self, e: WireAction | ChainLink) -> str | None:
        if e.seq <= self.seq:
            if self._held(e.seq) == e.hash:
                return None  # sent before: the same entry
            return self._no_restart or (
                f"This box's seq {e.seq} is another action at the registry: "
                "a fork of the box's chain"
            )
        if self.broken is None and e.seq != self.seq + 1:
            self.broken = f"This box's chain has a gap before seq {e.seq}"
        elif self.broken is None and e.prev_hash != self.hash:
            self.broken = (
                f"seq {e.seq} does not continue this box's chain (its prev_hash is not the "
                f"hash of seq {self.seq})"
            )
        if self.broken is not None:
            return self.broken
        self.seq, self.hash = e.seq, e.hash
        self._added[e.seq] = e.hash
        return None

    def _held(self, seq: int) -> str | None:
        """The hash of the box's entry `seq` the registry holds."""
        if seq == 0:
            return GENESIS
        if seq in self._added:
            return self._added[seq]
        row = self.c.execute(
            "SELECT hash FROM box_chain WHERE box_id = ? AND seq = ?", (self.box_id, seq)
        ).fetchone()
        return str(row[0]) if row else None

    def _restart(self, at: ChainLink) -> None:
        """The box was restored from a backup ending at `at`: its chain goes on from there.
        Only from an entry the registry holds as the box sent it."""
        if at.seq >= self.seq:
            return  # the registry holds no entry after it: nothing to go back from
        if self._held(at.seq) != at.hash:
            self.broken = self._no_restart = (
                f"This box restarted its chain at seq {at.seq}, which the registry holds "
                "with another hash"
            )
            return
        self.c.execute("DELETE FROM box_chain WHERE box_id = ? AND seq > ?", (self.box_id, at.seq))
        log.warning(
            "box %s restarted its chain at seq %d (a restore): its entries %d to %d are left "
            "behind; the actions the registry accepted stay in the national journal",
            self.box_id,
            at.seq,
            at.seq + 1,
            self.seq,
        )
        self.seq, self.hash = at.seq, at.hash
