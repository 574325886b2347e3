"""The journal's single writer driven from an event loop, as the web process drives it:
jobs run in the loop, commits go to the writer thread, another process holding the write
lock never blocks the loop, and a request given up before its turn changes nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TypeVar

from edge.errors import EdgeError, InvalidInput
from edge.journal.db import connect, sqlite3
from edge.journal.store import Journal
from edge.journal.verify import verify
from edge.workflow.config import Config
from edge.workflow.engine import ActionRequest
from edge.workflow.model import ActionType
from tests.helpers import actor, run_loop

A = ActionType
T = TypeVar("T")


def rid(k: int, i: int) -> str:
    return f"00000000-0000-7000-8{k:03d}-{i:012d}"


def count(journal: Journal) -> int:
    conn = connect(journal.path, readonly=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0])
    finally:
        conn.close()


def test_loop_clients_are_group_committed_and_refusals_stay_alone(
    journal: Journal, cfg: Config
) -> None:
    clerk = actor("clinic-clerk", cfg)
    refused = 0

    async def client(k: int) -> None:
        nonlocal refused
        for i in range(20):
            await journal.append_async(
                ActionRequest(A.CREATE, rid(k, i), event_type="birth"), clerk
            )
            if i % 4 == 0:  # a refused action in a batch must not undo its neighbours
                try:
                    await journal.append_async(ActionRequest(A.DECLARE, rid(k, i)), clerk)
                except InvalidInput:
                    refused += 1

    async def main() -> None:
        await asyncio.gather(*(client(k) for k in range(10)))

    run_loop(main)
    assert refused == 50
    assert count(journal) == 200
    assert journal.writer.batches < 200  # commits carried several actions
    assert verify(journal.path).ok


def test_loop_keeps_serving_while_another_process_holds_the_write_lock(
    journal: Journal, cfg: Config
) -> None:
    clerk = actor("clinic-clerk", cfg)
    other = connect(journal.path)  # stands for the sync worker's connection
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.4, lambda: other.execute("COMMIT"))

    async def main() -> tuple[int, float]:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        start = time.monotonic()
        released.start()
        await journal.append_async(ActionRequest(A.CREATE, rid(1, 1), event_type="birth"), clerk)
        waited = time.monotonic() - start
        stop = True
        await tick_task
        return ticks, waited

    ticks, waited = run_loop(main)
    other.close()
    assert waited >= 0.35  # it did wait for the other writer ...
    assert ticks >= 15  # ... and the loop went on running meanwhile
    assert count(journal) == 1


def test_a_request_given_up_while_queued_changes_nothing(journal: Journal, cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    hold = threading.Event()
    holding = threading.Event()

    def slow_job(conn: sqlite3.Connection) -> None:
        holding.set()
        hold.wait(5)

    holder = threading.Thread(target=journal.run, args=(slow_job,))
    holder.start()
    holding.wait(5)

    async def main() -> None:
        task = asyncio.create_task(
            journal.append_async(ActionRequest(A.CREATE, rid(2, 1), event_type="birth"), clerk)
        )
        await asyncio.sleep(0.05)  # queued behind the slow job
        task.cancel()
        hold.set()
        await asyncio.sleep(0.1)
        # the writer is free again and still works for the next request
        await journal.append_async(ActionRequest(A.CREATE, rid(2, 2), event_type="birth"), clerk)

    run_loop(main)
    holder.join(5)
    conn = connect(journal.path, readonly=True)
    ids = [r[0] for r in conn.execute("SELECT record_id FROM actions")]
    assert ids == [rid(2, 2)]


def test_threads_and_a_loop_share_the_writer(journal: Journal, cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    errors: list[BaseException] = []

    def thread_client(k: int) -> None:
        try:
            for i in range(15):
                journal.append(ActionRequest(A.CREATE, rid(k, i), event_type="birth"), clerk)
        except BaseException as exc:
            errors.append(exc)

    async def loop_client(k: int) -> None:
        for i in range(15):
            await journal.append_async(
                ActionRequest(A.CREATE, rid(k, i), event_type="birth"), clerk
            )

    async def main() -> None:
        await asyncio.gather(*(loop_client(k) for k in range(4)))

    threads = [threading.Thread(target=thread_client, args=(k,)) for k in range(10, 14)]
    for t in threads:
        t.start()
    run_loop(main)
    futures = [
        journal.submit(ActionRequest(A.CREATE, rid(20, i), event_type="birth"), clerk)
        for i in range(15)
    ]
    for t in threads:
        t.join()
    assert [f.result(5).entry.record_id for f in futures] == [rid(20, i) for i in range(15)]
    assert not errors
    assert count(journal) == 135
    assert verify(journal.path).ok


def test_a_loops_save_is_marked_from_queued_to_committed(journal: Journal, cfg: Config) -> None:
    """What the web's pages step aside for (edge/saves_first.py): the whole of a save's
    journal work, committed inside the mark, refused ones too."""
    import contextlib
    from collections.abc import Iterator

    seen: list[str] = []

    @contextlib.contextmanager
    def mark() -> Iterator[None]:
        seen.append("in")
        try:
            yield
        finally:
            committed = connect(journal.path).execute("SELECT COUNT(*) FROM actions").fetchone()
            seen.append(f"out with {committed[0]} action(s) on disk")

    journal.writer.during_async = mark
    clerk = actor("clinic-clerk", cfg)
    rid = "00000000-0000-7000-8000-0000000000a1"

    async def saves() -> None:
        await journal.append_async(ActionRequest(ActionType.CREATE, rid, event_type="birth"), clerk)
        with contextlib.suppress(EdgeError):  # refused: the clerk may not register
            await journal.append_async(ActionRequest(ActionType.REGISTER, rid), clerk)

    run_loop(saves)
    assert seen == ["in", "out with 1 action(s) on disk", "in", "out with 1 action(s) on disk"]
