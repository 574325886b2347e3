"""What the box's pages ask of the national registry while someone waits: search it, and
bring a record here. The sync package implements it (upstream_sync.lookups); the app is
given one at startup, so nothing in the box's own layers imports the sync package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RegistryHit:
    """A record as the registry's search lists it."""

    record_id: str
    tracking_id: str
    title: str
    event_type: str
    status: str
    office_id: str
    held_by_office: str | None


class Upstream(Protocol):
    """The registry, asked on a user's behalf."""

    def probe(self) -> bool | None:
        """Whether the registry answers right now (a few seconds at most); None when this
        box has no registry to ask."""
        ...

    def search(self, text: str, user_id: str) -> list[RegistryHit] | None:
        """Records the registry holds matching the text that this user may see; None when
        the registry cannot be asked now."""
        ...

    def bring(self, record_id: str, by: str) -> str | None:
        """Ask the registry for a record's lease and download it here; None when done, else
        why not, in a sentence for people."""
        ...


class NoUpstream:
    """A box not connected to any registry (tests, a box before enrollment)."""

    def probe(self) -> bool | None:
        return None

    def search(self, text: str, user_id: str) -> list[RegistryHit] | None:
        return None

    def bring(self, record_id: str, by: str) -> str | None:
        return "This box is not enrolled with a registry."
