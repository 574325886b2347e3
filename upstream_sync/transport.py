"""The box's signed exchanges with the registry: every request signed with the device key,
every answer checked against the registry's key, and failures said in plain words."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import msgspec

from edge.clock import iso_ms
from edge.errors import EdgeError
from edge.identity import load_device_key
from upstream_sync import protocol as p

# How long the box waits for the registry: a push or pull batch, a lease asked for while
# someone waits, a search or login check while someone waits.
BATCH_TIMEOUT = 30.0
LEASE_TIMEOUT = 10.0
INTERACTIVE_TIMEOUT = 3.0
# Is the registry there at all (the pages' banner): a short question, a short wait.
PROBE_TIMEOUT = 3.0


class NotEnrolled(EdgeError):
    status = 409
    title = "This box is not enrolled with a registry"


class RegistryRefused(EdgeError):
    status = 502
    title = "The registry refused the request"

    def __init__(self, detail: str, answered: int | None = None) -> None:
        super().__init__(detail)
        self.answered = answered  # the registry's HTTP status, when it answered with one


# What could go wrong in an exchange: no connection, a refusal, a broken answer.
EXCHANGE_ERRORS = (httpx.HTTPError, RegistryRefused, msgspec.DecodeError, OSError)


@dataclass(frozen=True)
class Enrollment:
    """The registry this box is enrolled with: its address, the box's id there, its key."""

    url: str
    box_id: str
    registry_key: str
    recovery_key: bytes = b""  # the country's recovery public key, if the registry gave one


@dataclass(frozen=True)
class Answer:
    """A signed answer's body, and the capabilities the registry said both sides speak
    (None: it did not say)."""

    body: bytes
    capabilities: frozenset[str] | None


def headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What every request carries: the media type, the protocol, the box's capabilities."""
    return {
        "content-type": p.MEDIA_TYPE,
        p.H_PROTOCOL: p.PROTOCOL,
        p.H_CAPABILITIES: ",".join(p.CAPABILITIES),
        **(extra or {}),
    }


def signed_exchange(
    who: Enrollment, device_key: Path, path: str, body: bytes, now: datetime, timeout: float
) -> Answer:
    """POST a body signed by the box; the answer once its signature checks out."""
    nonce, stamp = p.new_nonce(), iso_ms(now)
    signature = p.sign(
        load_device_key(device_key), p.signing_string("POST", path, who.box_id, stamp, nonce, body)
    )
    sent = headers(
        {p.H_BOX: who.box_id, p.H_TIME: stamp, p.H_NONCE: nonce, p.H_SIGNATURE: signature}
    )
    r = _client().post(f"{who.url}{path}", content=body, headers=sent, timeout=timeout)
    if r.status_code != 200:
        raise RegistryRefused(problem_of(r), r.status_code)
    if not p.verify(
        who.registry_key, r.headers.get(p.H_SIGNATURE, ""), p.answer_string(nonce, 200, r.content)
    ):
        raise RegistryRefused("The answer is not signed with the registry's key")
    return Answer(r.content, p.parse_capabilities(r.headers.get(p.H_CAPABILITIES)))


_local = threading.local()


def _client() -> httpx.Client:
    """One HTTP client per thread, kept: its TLS setup (loading the CA bundle takes ~20 ms)
    and its kept-alive connection serve every exchange of a drain."""
    http: httpx.Client | None = getattr(_local, "http", None)
    if http is None:
        http = _local.http = httpx.Client()
    return http


def answers(who: Enrollment, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the registry answers its hello now: False on no connection, no answer in
    `timeout` (a frozen WAN drops packets without refusing them), or an answer that is not
    the registry's hello."""
    try:
        r = _client().get(f"{who.url}/v1/hello", timeout=timeout)
    except EXCHANGE_ERRORS:
        return False
    return r.status_code == 200


def problem_of(r: httpx.Response) -> str:
    """A refusal in a sentence: the status and the registry's own detail."""
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = None
    return f"the registry answered {r.status_code}: {detail or r.reason_phrase}"


def answered_by_registry(exc: BaseException) -> bool:
    """The registry answered (refused, or a broken answer): the WAN itself is up."""
    return not isinstance(exc, (httpx.TransportError, OSError))


# The outbox shows these to staff (translated by the web UI's catalogs).
NO_ANSWER = "the registry did not answer in time"
NO_CONNECTION = "the registry cannot be reached (no connection)"


def describe(exc: BaseException) -> str:
    """A failed exchange in the words the outbox shows."""
    if isinstance(exc, httpx.TimeoutException):
        return NO_ANSWER
    if isinstance(exc, httpx.ConnectError):
        return NO_CONNECTION
    if isinstance(exc, RegistryRefused):
        return exc.detail
    return f"the exchange with the registry broke off ({type(exc).__name__})"
