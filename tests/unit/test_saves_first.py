"""Saves first: a page waits its turn while a save is under way, never longer than LONGEST
over all its steps, and not at all when nobody is saving."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from edge import saves_first
from edge.saves_first import SavesFirst
from tests.helpers import run_loop


def test_a_page_waits_for_the_save_under_way() -> None:
    async def scenario() -> list[str]:
        gate, order = SavesFirst(), []

        async def save() -> None:
            with gate.saving():
                order.append("save starts")
                await asyncio.sleep(0.01)  # the commit's fsync, say
                order.append("save ends")

        async def page() -> None:
            await gate.turn()
            order.append("page goes on")

        saving = asyncio.create_task(save())
        await asyncio.sleep(0)  # the save is under way
        await asyncio.gather(page(), saving)
        return order

    assert run_loop(scenario) == ["save starts", "save ends", "page goes on"]


def test_nobody_saving_costs_a_page_nothing() -> None:
    async def scenario() -> list[str]:
        gate, order = SavesFirst(), []
        with gate.saving():
            pass  # a save came and went
        await gate.turn()
        order.append("page")
        return order

    assert run_loop(scenario) == ["page"]


def test_saves_that_never_end_hold_a_page_back_only_so_long_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saves_first, "LONGEST", 0.2)

    async def scenario() -> tuple[float, bool]:
        gate, released = SavesFirst(), asyncio.Event()

        async def stuck_save() -> None:
            with gate.saving():
                await released.wait()

        async def page() -> float:  # its own task: one request, four steps
            loop = asyncio.get_running_loop()
            began = loop.time()
            for _ in range(4):
                await gate.turn()
            return loop.time() - began

        saving = asyncio.create_task(stuck_save())
        await asyncio.sleep(0)
        waited = await asyncio.wait_for(asyncio.create_task(page()), 5)
        still_saving = not saving.done()
        released.set()
        await saving
        return waited, still_saving

    waited, still_saving = run_loop(scenario)
    assert still_saving and 0.15 < waited < 0.5  # 0.2 s in all, not 0.2 s at each step


def test_the_gate_serves_a_new_event_loop() -> None:
    gate = SavesFirst()

    async def one_request() -> str:
        async def save() -> None:
            with gate.saving():
                await asyncio.sleep(0.01)

        saving = asyncio.create_task(save())
        await asyncio.sleep(0)
        await gate.turn()
        await saving
        return "answered"

    # The same app served by a second loop (a test's second client): no "bound to a
    # different event loop" error.
    assert [run_loop(one_request) for _ in range(2)] == ["answered", "answered"]


def test_a_page_rendering_in_a_thread_steps_aside_between_its_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saves_first, "LONGEST", 5.0)  # only the save's end may release it

    async def scenario() -> list[str]:
        gate, order, released = SavesFirst(), [], asyncio.Event()

        async def save() -> None:
            with gate.saving():
                await released.wait()
                order.append("save ends")

        def render_part() -> None:  # in a page thread
            gate.pause()
            order.append("page goes on")

        saving = asyncio.create_task(save())
        await asyncio.sleep(0)
        page = asyncio.get_running_loop().run_in_executor(None, render_part)
        await asyncio.sleep(0.05)  # the thread is held meanwhile
        order.append("still held" if not order else "not held")
        released.set()
        await asyncio.gather(saving, page)
        return order

    assert run_loop(scenario) == ["still held", "save ends", "page goes on"]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
def test_the_pages_threads_run_below_the_rest_of_the_process() -> None:
    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = priority()
    pool = saves_first.page_threads(2)
    try:
        theirs = {pool.submit(priority).result() for _ in range(4)}
    finally:
        pool.shutdown()
    assert theirs == {min(19, mine + saves_first.NICER)}
    assert priority() == mine  # the thread that started them keeps its own
