"""Joining a registry (`edge enroll`): the box's public key for a one-time token, and the
registry's address, key and capabilities kept in the journal."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from edge.clock import iso_ms, utcnow
from edge.identity import load_device_key, public_key_hex
from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.store import Journal
from upstream_sync import capabilities
from upstream_sync import protocol as p
from upstream_sync.transport import (
    BATCH_TIMEOUT,
    Enrollment,
    RegistryRefused,
    headers,
    problem_of,
)


def enrollment(reader: Reader) -> Enrollment | None:
    """The registry this box is enrolled with, or None."""
    conn = reader.conn()
    url, box_id, key = (
        box_value(conn, k) for k in ("registry_url", "registry_box_id", "registry_key")
    )
    return Enrollment(url, box_id, key) if url and box_id and key else None


def enroll(
    journal: Journal,
    device_key: Path,
    url: str,
    token: str,
    office_id: str,
    name: str,
    timeout: float = BATCH_TIMEOUT,
    registry_key: str | None = None,
) -> Enrollment:
    """Send the box's public key with a one-time token and the office it serves; store the
    box id and registry key. `registry_key`: the fingerprint the registry's operator gave;
    a registry with another key is refused before the token is sent."""
    key = load_device_key(device_key)
    base = url.rstrip("/")
    with httpx.Client(timeout=timeout) as http:
        hello = msgspec.json.decode(http.get(f"{base}/v1/hello").content, type=p.Hello)
        if p.PROTOCOL not in hello.protocols:
            raise RegistryRefused(
                f"The registry speaks protocol {', '.join(hello.protocols)}; "
                f"this box speaks {p.PROTOCOL}. Update the older side."
            )
        if registry_key is not None and p.fingerprint(hello.registry_key) != registry_key:
            raise RegistryRefused(
                f"The registry at {base} has the key {p.fingerprint(hello.registry_key)}, not "
                f"{registry_key}: it is not the registry you were given (or its key changed). "
                "Nothing was sent to it."
            )
        body = p.encode(p.EnrollRequest(token, public_key_hex(key), name, office_id))
        r = http.post(f"{base}/v1/enroll", content=body, headers=headers())
    if r.status_code != 200:
        raise RegistryRefused(problem_of(r))
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
    both = p.parse_capabilities(r.headers.get(p.H_CAPABILITIES))
    if both is None:  # a registry that does not negotiate: what its hello lists
        both = frozenset(hello.capabilities) & frozenset(p.CAPABILITIES)

    def store(conn: sqlite3.Connection) -> None:
        for k, v in (
            ("registry_url", base),
            ("registry_box_id", answer.box_id),
            ("registry_key", answer.registry_key),
            ("enrolled_at", iso_ms(utcnow())),
        ):
            set_box_value(conn, k, v)
        capabilities.store(conn, both)

    journal.run(store)
    try:
        recovery = bytes.fromhex(answer.recovery_key)
    except ValueError:
        recovery = b""
    if len(recovery) != 32:
        recovery = b""
    return Enrollment(base, answer.box_id, answer.registry_key, recovery)
