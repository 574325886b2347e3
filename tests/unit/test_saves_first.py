"""Saves first: a page waits its turn while a save is being served, never longer than
LONGEST, and not at all when nobody is saving."""

from __future__ import annotations

import asyncio

import pytest

from edge import saves_first
from edge.saves_first import SavesFirst


def test_a_page_waits_for_the_save_being_served() -> None:
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

    assert asyncio.run(scenario()) == ["save starts", "save ends", "page goes on"]


def test_nobody_saving_costs_a_page_nothing() -> None:
    async def scenario() -> list[str]:
        gate, order = SavesFirst(), []
        with gate.saving():
            pass  # a save came and went
        await gate.turn()
        order.append("page")
        return order

    assert asyncio.run(scenario()) == ["page"]


def test_a_save_that_never_ends_holds_a_page_back_only_so_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saves_first, "LONGEST", 0.02)

    async def scenario() -> bool:
        gate, released = SavesFirst(), asyncio.Event()

        async def stuck_save() -> None:
            with gate.saving():
                await released.wait()

        saving = asyncio.create_task(stuck_save())
        await asyncio.sleep(0)
        await asyncio.wait_for(gate.turn(), 5)  # gives up waiting: the page goes on
        still_saving = not saving.done()
        released.set()
        await saving
        return still_saving

    assert asyncio.run(scenario()) is True
