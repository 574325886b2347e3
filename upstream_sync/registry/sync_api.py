"""The registry's side of the sync protocol, for boxes: hello and enroll, then requests signed
by an enrolled box (push, pull, search, lease, login check). Every answer says which
capabilities both sides speak; a capability turned off is refused before anything else."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, RawBody

from edge.clock import iso_ms, utcnow
from edge.identity import public_key_hex
from upstream_sync import protocol as p
from upstream_sync.registry import accept, chain, documents, enrollment, leases, records, users
from upstream_sync.registry.context import RegistryContext, registry_of
from upstream_sync.registry.errors import (
    BadMessage,
    BadSignature,
    NotEnrolledBox,
    NotOffered,
    OutOfTurn,
    Replayed,
    TooLarge,
    Unsigned,
    UnsupportedProtocol,
)

log = logging.getLogger("upstream_sync.registry")

Req = Request[Any, Any, Any]


def _check_protocol(request: Req) -> None:
    version = request.headers.get(p.H_PROTOCOL)
    if version not in p.SUPPORTED:
        raise UnsupportedProtocol(
            f"This registry speaks sync protocol {', '.join(sorted(p.SUPPORTED))}; the box "
            f"sent {version or 'none'}. Update the older side."
        )


def _offered(reg: RegistryContext, request: Req, capability: str) -> None:
    if capability not in reg.offered:
        log.warning("refused %s: %s is turned off on this registry", request.url.path, capability)
        raise NotOffered(f"This registry does not offer {capability} (its `capabilities` setting)")


def _both(reg: RegistryContext, request: Req) -> str:
    """The capabilities this registry and the asking box both speak, for the answer's header."""
    both = p.negotiate(reg.offered, request.headers.get(p.H_CAPABILITIES))
    return ",".join(c for c in p.CAPABILITIES if c in both)


def _wire(reg: RegistryContext, request: Req, nonce: str, value: Any) -> Response[bytes]:
    body = p.encode(value)
    signature = p.sign(reg.key, p.answer_string(nonce, 200, body))
    return Response(
        body,
        media_type=p.MEDIA_TYPE,
        headers={
            p.H_SIGNATURE: signature,
            p.H_PROTOCOL: p.PROTOCOL,
            p.H_CAPABILITIES: _both(reg, request),
        },
    )


# An enrollment is a token and a key: a few hundred bytes. Its endpoint is the only one open
# to anyone, so it takes little, before and after inflating.
ENROLL_MAX_BYTES = 64 * 1024


def _decode(body: bytes, kind: type[Any], limit: int) -> Any:
    try:
        return p.decode(body, kind, limit)
    except p.MessageTooLarge:
        raise TooLarge(f"The message is larger than {limit} bytes once inflated") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadMessage(f"body: {exc}") from None


def _signature(request: Req, rule: str) -> tuple[str, str, str, str]:
    """A signed request's box id, time, nonce and signature; Unsigned (with `rule`) if any
    is missing."""
    h = request.headers
    box_id, time, nonce, signature = (
        h.get(p.H_BOX),
        h.get(p.H_TIME),
        h.get(p.H_NONCE),
        h.get(p.H_SIGNATURE),
    )
    if not (box_id and time and nonce and signature):
        raise Unsigned(f"Unsigned request: {rule}")
    return box_id, time, nonce, signature


def _signed(reg: RegistryContext, request: Req, path: str, body: bytes) -> tuple[str, str]:
    """The enrolled box that signed this request, and its nonce; refuse anything else."""
    box_id, time, nonce, signature = _signature(request, "the box must sign every request")
    key = enrollment.enrolled_key(reg.db, box_id)
    if key is None:
        raise NotEnrolledBox("This box is not enrolled with the registry")
    if not p.verify(key, signature, p.signing_string("POST", path, box_id, time, nonce, body)):
        raise BadSignature("The request's signature does not match the box's enrolled key")
    return box_id, nonce


def _signed_message(
    reg: RegistryContext,
    request: Req,
    capability: str,
    body: bytes,
    kind: type[Any],
    limit: int | None = None,
) -> tuple[str, str, Any]:
    """A signed, never-seen request from an enrolled box: (box id, nonce, decoded body)."""
    _check_protocol(request)
    _offered(reg, request, capability)
    box_id, nonce = _signed(reg, request, request.url.path, body)
    if not enrollment.note_nonce(reg.db, box_id, nonce, utcnow()):
        raise Replayed("A request with this nonce was already received from this box")
    return box_id, nonce, _decode(body, kind, limit or reg.settings.max_message_bytes)


@get("/v1/hello", operation_id="hello")
async def hello(request: Req, state: State) -> Response[p.Hello]:
    """Protocol versions and capabilities this registry speaks, and its public key."""
    reg = registry_of(state)
    offered = [c for c in p.CAPABILITIES if c in reg.offered]
    return Response(
        p.Hello(sorted(p.SUPPORTED), offered, public_key_hex(reg.key)),
        headers={p.H_CAPABILITIES: _both(reg, request)},
    )


@post(
    "/v1/enroll",
    operation_id="enroll",
    status_code=200,
    sync_to_thread=True,
    request_max_body_size=ENROLL_MAX_BYTES,
)
def enroll(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """Spend a one-time token on a box's public key; answers the box id and registry key."""
    reg = registry_of(state)
    _check_protocol(request)
    req: p.EnrollRequest = _decode(body, p.EnrollRequest, ENROLL_MAX_BYTES)
    try:
        bytes.fromhex(req.public_key)
    except ValueError:
        raise BadMessage("public_key: not hexadecimal") from None
    if not req.office_id:
        raise BadMessage("office_id: the box must say which office it serves")
    box_id, office = enrollment.enroll(
        reg.db, req.token, req.public_key, req.box_name, req.office_id, utcnow()
    )
    answer = p.EnrollResponse(box_id, office, public_key_hex(reg.key), reg.recovery_public.hex())
    return _wire(reg, request, "enroll", answer)


@post("/v1/push", operation_id="push", status_code=200, sync_to_thread=True)
def push(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """Accept a signed batch of actions; answers per action, signed."""
    reg = registry_of(state)
    _check_protocol(request)
    _offered(reg, request, p.PUSH)
    box_id, nonce = _signed(reg, request, "/v1/push", body)
    batch: p.PushBatch = _decode(body, p.PushBatch, reg.settings.max_message_bytes)
    if batch.derived_hashes:
        _offered(reg, request, p.PUSH_DERIVED_HASHES)
    if batch.seen < batch.after:  # sent before the answer to the batch before it
        _offered(reg, request, p.PUSH_PIPELINED)
        if not chain.turn_came(
            lambda: reg.db.read(lambda c: chain.tip(c, box_id)),
            batch.after,
            reg.settings.push_turn_wait_seconds,
        ):
            raise OutOfTurn(
                f"This batch continues the box's chain after seq {batch.after}, and the batch "
                "with the entries before it has not arrived; the box sends both again"
            )
    now = utcnow()
    try:
        answered = accept.accept_batch(reg.db, box_id, nonce, batch, now, reg.config)
    finally:
        chain.moved()
    if answered is None:
        raise Replayed("A batch with this nonce was already received from this box")
    results, chain_seq = answered
    stamp = iso_ms(now)
    asked = p.parse_capabilities(request.headers.get(p.H_CAPABILITIES)) or frozenset()
    if p.PUSH_COMPACT in reg.offered and p.PUSH_COMPACT in asked:  # only a box that names it
        # Listed: what was not simply accepted now, and a registration with its number.
        rest = [
            r
            for r in results
            if r.status != "accepted" or r.registry_time != stamp or r.registration_number
        ]
        return _wire(reg, request, nonce, p.PushResult(rest, stamp, chain_seq, stamp))
    return _wire(reg, request, nonce, p.PushResult(results, stamp, chain_seq))


@post("/v1/pull", operation_id="pull", status_code=200, sync_to_thread=True)
def pull(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """The changes for this box after its cursor: leases, records, users, config version."""
    reg = registry_of(state)
    box_id, nonce, ask = _signed_message(reg, request, p.PULL, body, p.PullRequest)
    limit = min(max(ask.limit, 1), 1000)
    page = leases.pull(reg.db, box_id, ask.cursor, limit, utcnow(), ask.resync_after)
    return _wire(reg, request, nonce, page)


@post("/v1/search", operation_id="search", status_code=200, sync_to_thread=True)
def search(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """Records the registry holds, by tracking id or name, for a box's search page: only
    those the asking user's role may read (nothing for a user the registry does not know)."""
    reg = registry_of(state)
    box_id, nonce, ask = _signed_message(reg, request, p.SEARCH, body, p.SearchRequest)
    who = users.reach(reg.db, reg.config, ask.username, enrollment.box_office(reg.db, box_id))
    hits = records.search(reg.db, ask.text[:100], min(max(ask.limit, 1), 100), who)
    return _wire(reg, request, nonce, p.SearchResult(hits))


@post("/v1/lease", operation_id="requestLease", status_code=200, sync_to_thread=True)
def request_lease(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """A box asks to hold a record (to work on it there); its next pull downloads it."""
    reg = registry_of(state)
    box_id, nonce, ask = _signed_message(reg, request, p.LEASE, body, p.LeaseRequest)
    granted, reason = leases.request_lease(reg.db, box_id, ask.record_id, ask.by[:200], utcnow())
    return _wire(reg, request, nonce, p.LeaseAnswer(granted, reason))


@post("/v1/login-check", operation_id="loginCheck", status_code=200, sync_to_thread=True)
def login_check(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """Is this the user's password? Asked by an enrolled box when someone logs in there."""
    reg = registry_of(state)
    _, nonce, check = _signed_message(reg, request, p.LOGIN_CHECK, body, p.LoginCheck)
    verifier = users.user_verifier(reg.db, check.username)
    ok, _ = reg.hasher.check(check.password, verifier)  # a decoy check when unknown
    verdict = "confirmed" if ok else "rejected" if verifier else "unknown"
    return _wire(reg, request, nonce, p.LoginVerdict(verdict))


@post(
    "/v1/actions/{action_id:str}/documents/{document_id:str}/at/{start:int}",
    operation_id="sendDocumentChunk",
    status_code=200,
    sync_to_thread=True,
)
def document_chunk(
    request: Req,
    state: State,
    action_id: FromPath[str],
    document_id: FromPath[str],
    start: FromPath[int],
    body: RawBody,
) -> Response[bytes]:
    """A chunk of a supporting document (its raw bytes), from byte `start`, of an action this
    box sent; answers how much of the document the registry holds."""
    reg = registry_of(state)
    _check_protocol(request)
    _offered(reg, request, p.DOCUMENTS)
    box_id, nonce = _signed(reg, request, request.url.path, body)
    if not enrollment.note_nonce(reg.db, box_id, nonce, utcnow()):
        raise Replayed("A request with this nonce was already received from this box")
    if start < 0:
        raise BadMessage("start: must be 0 or more")
    receipt = documents.receive(reg.db, box_id, action_id, document_id, start, body, utcnow())
    return _wire(reg, request, nonce, receipt)


SYNC_ROUTES = [hello, enroll, push, pull, search, request_lease, login_check, document_chunk]
