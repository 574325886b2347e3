"""The push stage: draining the outbox, batch after batch, each sent while the next one is
prepared, and, with a registry that speaks `push-pipelined.v1`, up to MAX_IN_FLIGHT batches
on the link before the first answer is back.

The registry checks a batch while the box picks, marks `sending`, encodes and signs the next
one, so neither side waits for the other. Order and the per-record hold-back still hold: the
registry checks a batch only after the one before it, and each batch says which answers the
box had when it left (`seen`): the registry holds back the later actions of a record whose
action it refused in a batch the box had no answer to yet, and the box drops them from the
batches it has not sent (they go back to pending). Every batch is marked `sending` and
committed before it leaves; the answers are stored in the writer job that prepares a batch.
The number of batches in flight adapts: one more after each answer, back to one after a
failure (a lossy link gets few, each of which finishes).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from edge.clock import iso_ms, now_moment
from edge.journal import syncstages
from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.chain import row_hash
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.journal.syncstages import Stage
from upstream_sync import capabilities, chainlinks, clocksteps, outbox
from upstream_sync import protocol as p
from upstream_sync.enrollment import enrollment
from upstream_sync.transport import (
    BATCH_TIMEOUT,
    EXCHANGE_ERRORS,
    Enrollment,
    NotEnrolled,
    answered_by_registry,
    describe,
    signed_exchange,
)

log = logging.getLogger("upstream_sync.push")
_REFUSED = frozenset({"rejected", "conflict", "blocked"})
# Batches on the link at once (with `push-pipelined.v1`); long-lived threads send them, each
# with its own HTTP client and kept-alive connection, which serve every drain.
MAX_IN_FLIGHT = 3
_SENDER = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="push")
# A batch's size adapts to the link: as much as the last batches show the link carries in
# TARGET_SECONDS (a third of the timeout, so that a batch finishes on a slow, lossy link),
# within `sync_batch_bytes`; halved after a failed batch, and kept for the next drain.
TARGET_SECONDS = 10.0
MIN_BATCH_BYTES = 16 * 1024
BUDGET_KEY = "sync_batch_budget"
DEPTH_KEY = "sync_batches_in_flight"


def fitted_budget(size: int, seconds: float, cap: int) -> int:
    """The next batch's budget (JSON bytes) after one of `size` bytes took `seconds` to be
    answered: what the link carries in TARGET_SECONDS, at least MIN_BATCH_BYTES, at most
    `cap` (the setting)."""
    carried = size / max(seconds, 1e-3) * TARGET_SECONDS
    return int(max(min(carried, cap), min(MIN_BATCH_BYTES, cap)))


def after_failure(budget: int, cap: int) -> int:
    """The budget after a failed batch: half, not below MIN_BATCH_BYTES (nor above `cap`)."""
    return max(min(budget // 2, cap), min(MIN_BATCH_BYTES, cap))


@dataclass(frozen=True)
class PushReport:
    sent: int
    accepted: int
    rejected: int
    conflicts: int
    held_back: int
    error: str | None = None
    next_try: str | None = None
    retry_in: timedelta | None = None  # after a failure: the backoff before the next try


@dataclass
class _Prepared:
    """A batch marked `sending` and encoded, ready to leave: actions, and what the registry
    needs to check them (the chain's links the batch skips, the users who made them, a
    restart after `edge restore`)."""

    actions: list[p.WireAction]
    steps: list[p.ClockStep]
    held_back: int
    now: datetime
    links: list[p.ChainLink] = field(default_factory=list)
    users: list[p.UserInfo] = field(default_factory=list)
    restart: p.ChainLink | None = None
    after: int = 0  # the last seq before this batch (the batch in flight ends there)
    size: int = 0  # the actions' bytes as JSON (what the budget counts)
    derived_hashes: bool = False  # the registry derives the actions' hashes: leave them out
    pipelined: bool = False  # the registry speaks push-pipelined.v1: say `after` and `seen`
    seen: int = 0  # the box had the answers up to this seq when the batch left
    body: bytes = b""

    @property
    def last(self) -> int:
        """The last seq of the box's chain this batch covers."""
        seqs = [self.after, *(a.seq for a in self.actions[-1:]), *(k.seq for k in self.links[-1:])]
        return max(seqs)

    def encode(self) -> None:
        actions = _without_hashes(self.actions) if self.derived_hashes else self.actions
        self.body = p.encode(
            p.PushBatch(
                iso_ms(self.now),
                actions,
                self.steps,
                self.links,
                self.users,
                self.restart,
                self.derived_hashes,
                self.after if self.pipelined else -1,
                self.seen if self.pipelined else -1,
            )
        )


def _without_hashes(actions: list[p.WireAction]) -> list[p.WireAction]:
    """The actions with the hashes the registry can derive left out: an action's `hash` when
    its columns hash to it, its `prev_hash` when it is the hash of the action before it in
    the batch. An action whose content or chain is broken keeps them, for the registry to
    refuse as before."""
    out: list[p.WireAction] = []
    before: p.WireAction | None = None
    for a in actions:
        follows = before is not None and before.seq == a.seq - 1 and before.hash == a.prev_hash
        intact = row_hash(msgspec.structs.asdict(a)) == a.hash
        out.append(
            msgspec.structs.replace(
                a, prev_hash="" if follows else a.prev_hash, hash="" if intact else a.hash
            )
        )
        before = a
    return out


@dataclass
class _Settle:
    """An answered batch, stored with the next writer job."""

    results: list[p.ActionResult] = field(default_factory=list)
    steps: list[p.ClockStep] = field(default_factory=list)
    dropped: list[p.WireAction] = field(default_factory=list)  # prepared, held back, unsent
    chain_seq: int = 0
    restarted: bool = False

    def store(self, conn: sqlite3.Connection, now: datetime) -> None:
        outbox.record_results(conn, self.results, now)
        clocksteps.mark_clock_steps_sent(conn, self.steps)
        chainlinks.answered(conn, self.chain_seq, self.restarted)
        if self.dropped:
            outbox.unmark(conn, self.dropped, now)


class _Drain:
    def __init__(
        self, journal: Journal, who: Enrollment, device_key: Path, budget: int, timeout: float
    ) -> None:
        self.journal, self.who, self.device_key = journal, who, device_key
        self.cap, self.budget, self.timeout = budget, budget, timeout
        self.pipelined, self.depth = False, 1
        self.count = dict.fromkeys(("sent", "accepted", "duplicate", "rejected", "conflict"), 0)

    def prepare(self, settles: list[_Settle], after: int, starting: bool = False) -> _Prepared:
        """In one writer job: store the answers not stored yet (and empty `settles`), pick
        and mark the next batch, and note the stage's progress (or its start)."""
        at = now_moment()
        now = at.wall

        def job(conn: sqlite3.Connection) -> _Prepared:
            if starting:
                syncstages.start(conn, Stage.PUSH, at)
                kept = box_value(conn, BUDGET_KEY)  # as the last drain left it
                self.budget = min(int(kept), self.cap) if kept else self.cap
                speaks = capabilities.stored(conn) or ()
                self.pipelined = p.PUSH_PIPELINED in speaks
                self.depth = int(box_value(conn, DEPTH_KEY) or 1) if self.pipelined else 1
            else:
                syncstages.progress(conn, Stage.PUSH, at)
            for settle in settles:
                settle.store(conn, now)
            batch = outbox.select_batch(conn, self.budget, after)
            links, actions = chainlinks.skipped(conn, after, batch.actions)
            if actions:
                outbox.mark_sending(conn, actions, now)
            return _Prepared(
                actions,
                clocksteps.unsent_clock_steps(conn),
                batch.held_back,
                now,
                links,
                chainlinks.users_of(conn, actions),
                chainlinks.restart(conn) if starting else None,
                after,
                batch.size,
                p.PUSH_DERIVED_HASHES in (capabilities.stored(conn) or ()),
                self.pipelined,
            )

        prepared = self.journal.run(job)
        settles.clear()
        return prepared

    def send(self, batch: _Prepared) -> p.PushResult:
        answer = signed_exchange(
            self.who, self.device_key, "/v1/push", batch.body, batch.now, self.timeout
        )
        result: p.PushResult = p.decode(answer.body, p.PushResult)
        result.results = result.every_result([a.id for a in batch.actions])
        return result

    def settle(self, batch: _Prepared, result: p.PushResult) -> _Settle:
        """An answered batch counted, and its answers to store."""
        self.count["sent"] += len(batch.actions)
        for r in result.results:
            if r.status in self.count:
                self.count[r.status] += 1
        return _Settle(
            result.results, batch.steps, chain_seq=result.chain_seq, restarted=bool(batch.restart)
        )

    def report(
        self,
        held_back: int,
        error: str | None = None,
        retry: tuple[datetime, datetime] | None = None,
    ) -> PushReport:
        """The totals; after a failure, with when it failed and when it tries again."""
        c = self.count
        return PushReport(
            c["sent"],
            c["accepted"] + c["duplicate"],
            c["rejected"],
            c["conflict"],
            held_back,
            error,
            iso_ms(retry[1]) if retry else None,
            retry[1] - retry[0] if retry else None,
        )


def drain(
    journal: Journal,
    reader: Reader,
    device_key: Path,
    budget_bytes: int,
    cap_seconds: int,
    timeout: float = BATCH_TIMEOUT,
) -> PushReport:
    """Push until the outbox is empty or the registry fails; the totals."""
    who = enrollment(reader)
    if who is None:
        raise NotEnrolled("Enroll the box first: edge enroll URL TOKEN")
    d = _Drain(journal, who, device_key, budget_bytes, timeout)
    settles: list[_Settle] = []
    following = d.prepare(settles, 0, starting=True)
    flying: deque[_Flight] = deque()
    answered, answered_at = 0, time.monotonic()  # the last seq answered, and when
    while True:
        while (following.actions or following.links) and len(flying) < d.depth:
            following.seen = answered
            following.encode()
            flying.append(_Flight(following, _SENDER.submit(d.send, following)))
            following = d.prepare(settles, following.last)
        if not flying:
            break
        current = flying.popleft()
        try:
            result = current.answer.result()
        except EXCHANGE_ERRORS as exc:
            return _failed(d, current, flying, following, settles, exc, cap_seconds)
        batch, now = current.batch, time.monotonic()
        if batch.actions:  # the link's time for it: from when the one before was answered
            d.budget = fitted_budget(batch.size, now - max(current.sent_at, answered_at), d.cap)
        answered, answered_at = batch.last, now
        if d.pipelined:
            d.depth = min(d.depth + 1, MAX_IN_FLIGHT)
        settle = d.settle(batch, result)
        settles.append(settle)
        _hold_back(batch, following, result, settle)
        if settle.dropped and not following.actions:  # all held back: look further on
            following = d.prepare(settles, following.after)

    def finish(conn: sqlite3.Connection) -> None:
        at = now_moment()
        for settle in settles:
            settle.store(conn, at.wall)
        set_box_value(conn, BUDGET_KEY, str(d.budget))
        set_box_value(conn, DEPTH_KEY, str(d.depth))
        syncstages.finish(conn, Stage.PUSH, at)

    journal.run(finish)
    return d.report(following.held_back)


@dataclass
class _Flight:
    """A batch on its way, and its answer to come."""

    batch: _Prepared
    answer: Future[p.PushResult]
    sent_at: float = field(default_factory=time.monotonic)


def _hold_back(
    sent: _Prepared, following: _Prepared, result: p.PushResult, settle: _Settle
) -> None:
    """The registry refused some actions of `sent`: the later actions of their records wait."""
    record_of = {a.id: a.record_id for a in sent.actions}
    refused = {record_of.get(r.id) for r in result.results if r.status in _REFUSED}
    if not refused or not following.actions:
        return
    settle.dropped = [a for a in following.actions if a.record_id in refused]
    if settle.dropped:
        following.actions = [a for a in following.actions if a.record_id not in refused]
        following.held_back += len(settle.dropped)
        # Still entries of the chain between the others: they go as links.
        following.links = sorted(
            [*following.links, *map(chainlinks.link, settle.dropped)], key=lambda k: k.seq
        )


def _failed(
    d: _Drain,
    current: _Flight,
    flying: deque[_Flight],
    following: _Prepared,
    settles: list[_Settle],
    exc: BaseException,
    cap_seconds: int,
) -> PushReport:
    error = describe(exc)
    log.warning("push of %d actions failed: %s", len(current.batch.actions), error)
    # The batches sent after it: their answers are kept when the registry gave them (it took
    # the failed one first: only its answer was lost), else they failed too.
    failed = [current.batch]
    for flight in flying:
        try:
            settles.append(d.settle(flight.batch, flight.answer.result()))
        except EXCHANGE_ERRORS:
            failed.append(flight.batch)

    def job(conn: sqlite3.Connection) -> tuple[datetime, datetime]:
        at = now_moment()
        for settle in settles:
            settle.store(conn, at.wall)
        outbox.unmark(conn, following.actions, at.wall)  # prepared, never sent
        set_box_value(conn, BUDGET_KEY, str(after_failure(d.budget, d.cap)))
        set_box_value(conn, DEPTH_KEY, "1")
        unsent = [a for batch in failed for a in batch.actions]
        next_try = outbox.record_failure(
            conn, unsent, error, at.wall, cap_seconds, answered_by_registry(exc)
        )
        syncstages.fail(conn, Stage.PUSH, error, at, next_try)
        return at.wall, next_try

    retry = d.journal.run(job)
    d.count["sent"] += sum(len(batch.actions) for batch in failed)
    return d.report(current.batch.held_back, error, retry)
