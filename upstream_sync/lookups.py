"""The registry asked while someone waits at the box: search it, and bring a record here
(edge.upstream.Upstream, which the box's pages use). Neither is asked of a registry that does
not offer it."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.clock import utcnow
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.upstream import RegistryHit
from upstream_sync import capabilities
from upstream_sync import protocol as p
from upstream_sync.enrollment import enrollment
from upstream_sync.stages.pull import pull_once
from upstream_sync.transport import (
    EXCHANGE_ERRORS,
    INTERACTIVE_TIMEOUT,
    LEASE_TIMEOUT,
    answers,
    describe,
    signed_exchange,
)

log = logging.getLogger("upstream_sync.lookups")

NO_LEASES = "The national registry does not let boxes bring records here."


def registry_search(
    reader: Reader,
    device_key: Path,
    text: str,
    username: str,
    timeout: float = INTERACTIVE_TIMEOUT,
) -> list[p.RecordHit] | None:
    """Records in the registry matching the text that `username` may read; None when it
    cannot be searched (not enrolled, no `search.v1`, or no answer now)."""
    who = enrollment(reader)
    if who is None or not capabilities.speaks(reader.conn(), p.SEARCH):
        return None
    body = p.encode(p.SearchRequest(text, 20, username))
    try:
        answer = signed_exchange(who, device_key, "/v1/search", body, utcnow(), timeout)
        result: p.SearchResult = p.decode(answer.body, p.SearchResult)
    except EXCHANGE_ERRORS as exc:
        log.info("registry search not possible: %s", describe(exc))
        return None
    return result.records


def bring_here(
    journal: Journal, reader: Reader, device_key: Path, record_id: str, by: str
) -> str | None:
    """Ask the registry for a record's lease and download it (the explicit "make available
    offline" choice). None when done, else why not, in a sentence."""
    who = enrollment(reader)
    if who is None:
        return "This box is not enrolled with a registry."
    if not capabilities.speaks(reader.conn(), p.LEASE):
        return NO_LEASES
    body = p.encode(p.LeaseRequest(record_id, by))
    try:
        answer = signed_exchange(who, device_key, "/v1/lease", body, utcnow(), LEASE_TIMEOUT)
        lease: p.LeaseAnswer = p.decode(answer.body, p.LeaseAnswer)
    except EXCHANGE_ERRORS as exc:
        return f"The registry cannot be asked now: {describe(exc)}."
    if not lease.granted:
        return lease.reason
    pulled = pull_once(journal, reader, device_key)
    return f"The record could not be downloaded: {pulled.error}." if pulled.error else None


class RegistryLookups:
    """The registry asked on a user's behalf (edge.upstream.Upstream), for the pages."""

    def __init__(self, journal: Journal, reader: Reader, device_key: Path) -> None:
        self.journal, self.reader, self.device_key = journal, reader, device_key

    def probe(self) -> bool | None:
        who = enrollment(self.reader)
        return None if who is None else answers(who)

    def search(self, text: str, user_id: str) -> list[RegistryHit] | None:
        row = self.reader.conn().execute("SELECT username FROM users WHERE id = ?", (user_id,))
        user = row.fetchone()
        if user is None:
            return []
        hits = registry_search(self.reader, self.device_key, text, str(user[0]))
        if hits is None:
            return None
        return [
            RegistryHit(
                h.record_id,
                h.tracking_id,
                h.title,
                h.event_type,
                h.status,
                h.office_id,
                h.held_by_office,
            )
            for h in hits
        ]

    def bring(self, record_id: str, by: str) -> str | None:
        return bring_here(self.journal, self.reader, self.device_key, record_id, by)
