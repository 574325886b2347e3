"""The box's side of the sync protocol: enrollment, push, pull and the login check."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx
import msgspec

from edge.auth.login import Verdict
from edge.clock import iso_ms, utcnow
from edge.errors import EdgeError
from edge.identity import load_device_key, public_key_hex
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.upstream import RegistryHit
from upstream_sync import outbox
from upstream_sync import protocol as p
from upstream_sync.pull import Applied, apply_page

log = logging.getLogger("upstream_sync.client")


class NotEnrolled(EdgeError):
    status = 409
    title = "This box is not enrolled with a registry"


class RegistryRefused(EdgeError):
    status = 502
    title = "The registry refused the request"


@dataclass(frozen=True)
class Enrollment:
    url: str
    box_id: str
    registry_key: str


@dataclass(frozen=True)
class PushReport:
    sent: int
    accepted: int
    rejected: int
    conflicts: int
    held_back: int
    error: str | None = None
    next_try: str | None = None


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "content-type": p.MEDIA_TYPE,
        p.H_PROTOCOL: p.PROTOCOL,
        p.H_CAPABILITIES: ",".join(p.CAPABILITIES),
        **(extra or {}),
    }


def enrollment(reader: Reader) -> Enrollment | None:
    conn = reader.conn()
    url, box_id, key = (
        outbox.box_value(conn, k) for k in ("registry_url", "registry_box_id", "registry_key")
    )
    return Enrollment(url, box_id, key) if url and box_id and key else None


def enroll(
    journal: Journal,
    device_key: Path,
    url: str,
    token: str,
    office_id: str,
    name: str,
    timeout: float = 30,
) -> Enrollment:
    """Send the box's public key with a one-time token; store the box id and registry key."""
    key = load_device_key(device_key)
    base = url.rstrip("/")
    with httpx.Client(timeout=timeout) as http:
        hello = msgspec.json.decode(http.get(f"{base}/v1/hello").content, type=p.Hello)
        if p.PROTOCOL not in hello.protocols:
            raise RegistryRefused(
                f"The registry speaks protocol {', '.join(hello.protocols)}; "
                f"this box speaks {p.PROTOCOL}. Update the older side."
            )
        body = p.encode(p.EnrollRequest(token, public_key_hex(key), name))
        r = http.post(f"{base}/v1/enroll", content=body, headers=_headers())
    if r.status_code != 200:
        raise RegistryRefused(_problem(r))
    if not p.verify(
        hello.registry_key,
        r.headers.get(p.H_SIGNATURE, ""),
        p.answer_string("enroll", 200, r.content),
    ):
        raise RegistryRefused("The registry's answer is not signed with its key")
    answer: p.EnrollResponse = p.decode(r.content, p.EnrollResponse)
    if answer.office_id != office_id:
        raise RegistryRefused(
            f"The token is for office {answer.office_id}, but this box serves "
            f"office {office_id}; ask for a token for {office_id}"
        )

    def store(conn: object) -> None:
        for k, v in (
            ("registry_url", base),
            ("registry_box_id", answer.box_id),
            ("registry_key", answer.registry_key),
            ("enrolled_at", iso_ms(utcnow())),
        ):
            outbox.set_box_value(conn, k, v)  # type: ignore[arg-type]

    journal.run(store)
    return Enrollment(base, answer.box_id, answer.registry_key)


@dataclass(frozen=True)
class PullReport:
    pages: int
    granted: int
    revoked: int
    discarded: int
    users: int
    cursor: int
    error: str | None = None


def pull_once(
    journal: Journal, reader: Reader, device_key: Path, timeout: float = 30, limit: int = 200
) -> PullReport:
    """Fetch and apply the registry's changes since the box's cursor, page by page."""
    who = enrollment(reader)
    if who is None:
        raise NotEnrolled("Enroll the box first: edge enroll URL TOKEN")
    total, pages = Applied(), 0
    cursor = int(outbox.box_value(reader.conn(), "pull_cursor") or 0)
    # After a restore: every record the box holds, page by page (see edge restore).
    resync = outbox.box_value(reader.conn(), "resync") == "1"
    resync_after = (outbox.box_value(reader.conn(), "resync_after") or "") if resync else None
    while True:
        body = p.encode(p.PullRequest(cursor, limit, resync_after))
        try:
            answer = signed_exchange(who, device_key, "/v1/pull", body, utcnow(), timeout)
            page: p.PullResult = p.decode(answer, p.PullResult)
        except (httpx.HTTPError, RegistryRefused, msgspec.DecodeError, OSError) as exc:
            error = describe(exc)
            log.warning("pull failed: %s", error)
            journal.run(partial(_pull_failed, error=error, reachable=answered_by_registry(exc)))
            return PullReport(pages, *_counts(total), cursor, error)

        def store(
            conn: sqlite3.Connection, page: p.PullResult = page, resyncing: bool = resync
        ) -> Applied:
            applied = apply_page(conn, page, journal.config, utcnow())
            outbox.set_box_value(conn, "sync_last_pull_error", "")
            outbox.note_registry(conn, True, utcnow())
            if resyncing:
                outbox.set_box_value(conn, "resync_after", page.resync_next or "")
                outbox.set_box_value(conn, "resync", "1" if page.resync_next else "0")
            return applied

        applied = journal.run(store)
        pages += 1
        for name in ("granted", "revoked", "discarded", "users"):
            setattr(total, name, getattr(total, name) + getattr(applied, name))
        cursor = page.cursor
        if resync:
            resync = page.resync_next is not None
            resync_after = page.resync_next
        if not page.more:
            return PullReport(pages, *_counts(total), cursor)


def _pull_failed(conn: sqlite3.Connection, error: str, reachable: bool) -> None:
    outbox.set_box_value(conn, "sync_last_pull_error", error)
    outbox.note_registry(conn, reachable, utcnow())


def answered_by_registry(exc: BaseException) -> bool:
    """The registry answered (refused, or a broken answer): the WAN itself is up."""
    return not isinstance(exc, (httpx.TransportError, OSError))


def _counts(a: Applied) -> tuple[int, int, int, int]:
    return a.granted, a.revoked, a.discarded, a.users


def signed_exchange(
    who: Enrollment, device_key: Path, path: str, body: bytes, now: datetime, timeout: float
) -> bytes:
    """POST a body signed by the box; return the answer once its signature checks out."""
    nonce, stamp = p.new_nonce(), iso_ms(now)
    signature = p.sign(
        load_device_key(device_key), p.signing_string("POST", path, who.box_id, stamp, nonce, body)
    )
    headers = _headers(
        {p.H_BOX: who.box_id, p.H_TIME: stamp, p.H_NONCE: nonce, p.H_SIGNATURE: signature}
    )
    r = _client().post(f"{who.url}{path}", content=body, headers=headers, timeout=timeout)
    if r.status_code != 200:
        raise RegistryRefused(_problem(r))
    if not p.verify(
        who.registry_key, r.headers.get(p.H_SIGNATURE, ""), p.answer_string(nonce, 200, r.content)
    ):
        raise RegistryRefused("The answer is not signed with the registry's key")
    return r.content


_local = threading.local()


def _client() -> httpx.Client:
    """One HTTP client per thread, kept: its TLS setup (loading the CA bundle takes ~20 ms)
    and its kept-alive connection serve every exchange of a drain."""
    http: httpx.Client | None = getattr(_local, "http", None)
    if http is None:
        http = _local.http = httpx.Client()
    return http


def registry_search(
    reader: Reader, device_key: Path, text: str, timeout: float = 3.0
) -> list[p.RecordHit] | None:
    """Records in the registry matching the text; None when it cannot be asked now."""
    who = enrollment(reader)
    if who is None:
        return None
    body = p.encode(p.SearchRequest(text, 20))
    try:
        answer = signed_exchange(who, device_key, "/v1/search", body, utcnow(), timeout)
        result: p.SearchResult = p.decode(answer, p.SearchResult)
    except (httpx.HTTPError, RegistryRefused, msgspec.DecodeError, OSError) as exc:
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
    body = p.encode(p.LeaseRequest(record_id, by))
    try:
        answer = signed_exchange(who, device_key, "/v1/lease", body, utcnow(), 10)
        lease: p.LeaseAnswer = p.decode(answer, p.LeaseAnswer)
    except (httpx.HTTPError, RegistryRefused, msgspec.DecodeError, OSError) as exc:
        return f"The registry cannot be asked now: {describe(exc)}."
    if not lease.granted:
        return lease.reason
    pulled = pull_once(journal, reader, device_key)
    return f"The record could not be downloaded: {pulled.error}." if pulled.error else None


class RegistryLookups:
    """The registry asked on a user's behalf (edge.upstream.Upstream), for the pages."""

    def __init__(self, journal: Journal, reader: Reader, device_key: Path) -> None:
        self.journal, self.reader, self.device_key = journal, reader, device_key

    def search(self, text: str, user_id: str) -> list[RegistryHit] | None:
        hits = registry_search(self.reader, self.device_key, text)
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


class RegistryLogin:
    """Asks the registry whether a password is right (the users issue's RegistryPasswordCheck).

    Unreachable, unenrolled, any failure, or a user the registry does not know yet (created
    on this box and not synced): "unreachable", and the box falls back to its own verifier
    within the offline window."""

    def __init__(self, reader: Reader, device_key: Path, timeout: float = 3.0) -> None:
        self.reader, self.device_key, self.timeout = reader, device_key, timeout

    def check(self, username: str, password: str) -> Verdict:
        who = enrollment(self.reader)
        if who is None:
            return Verdict.UNREACHABLE
        body = p.encode(p.LoginCheck(username, password))
        try:
            answer = signed_exchange(
                who, self.device_key, "/v1/login-check", body, utcnow(), self.timeout
            )
            verdict: p.LoginVerdict = p.decode(answer, p.LoginVerdict)
        except (httpx.HTTPError, RegistryRefused, msgspec.DecodeError, OSError) as exc:
            log.info("login check with the registry not possible: %s", describe(exc))
            return Verdict.UNREACHABLE
        return {"confirmed": Verdict.CONFIRMED, "rejected": Verdict.REJECTED}.get(
            verdict.verdict, Verdict.UNREACHABLE
        )


def _problem(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = None
    return f"the registry answered {r.status_code}: {detail or r.reason_phrase}"


# The outbox shows these to staff (translated by the web UI's catalogs).
NO_ANSWER = "the registry did not answer in time"
NO_CONNECTION = "the registry cannot be reached (no connection)"


def describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return NO_ANSWER
    if isinstance(exc, httpx.ConnectError):
        return NO_CONNECTION
    if isinstance(exc, RegistryRefused):
        return exc.detail
    return f"the exchange with the registry broke off ({type(exc).__name__})"
