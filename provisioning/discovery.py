"""Boxes found on the office network by mDNS, matched to the inventory by box id (an
address alone proves nothing: the host key check does that when connecting)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from edge.mdns import Found, discover
from provisioning.inventory import Fleet


@dataclass(frozen=True)
class Match:
    found: Found
    name: str  # the inventory name, "" for a box not in the inventory
    moved_from: str  # the address the inventory had, when it changed


def find(seconds: float, interface: str = "all") -> list[Found]:
    return asyncio.run(discover(seconds, interface))


def match(fleet: Fleet, found: list[Found]) -> list[Match]:
    """Each box found, with its inventory entry (updated to its new address, if it moved)."""
    out = []
    for f in found:
        box = fleet.by_id(f.box)
        if box is None:
            out.append(Match(f, "", ""))
            continue
        moved = ""
        if f.addresses and box.address not in f.addresses:
            moved, box.address = box.address, f.addresses[0]
        out.append(Match(f, box.name, moved))
    return out
