"""The reference registry's HTTP surface: hello, enroll, push (signed), and an admin API."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from edge.clock import iso_ms, utcnow
from edge.errors import (
    EdgeError,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from edge.http.problems import EXCEPTION_HANDLERS
from edge.identity import load_device_key, public_key_hex
from edge.users.passwords import Hasher, Params
from upstream_sync import protocol as p
from upstream_sync.registry.store import RegistryStore, digest


class Replayed(EdgeError):
    status = 409
    title = "This request was already received (a replay)"


class UnsupportedProtocol(EdgeError):
    status = 426
    title = "Unsupported sync protocol version"


def _check_protocol(request: Request[Any, Any, Any]) -> None:
    version = request.headers.get(p.H_PROTOCOL)
    if version not in p.SUPPORTED:
        raise UnsupportedProtocol(
            f"This registry speaks sync protocol {', '.join(sorted(p.SUPPORTED))}; the box "
            f"sent {version or 'none'}. Update the older side."
        )


def _wire(state: State, nonce: str, value: Any) -> Response[bytes]:
    body = p.encode(value)
    signature = p.sign(state.key, p.answer_string(nonce, 200, body))
    return Response(
        body, media_type=p.MEDIA_TYPE, headers={p.H_SIGNATURE: signature, p.H_PROTOCOL: p.PROTOCOL}
    )


@get("/v1/hello", operation_id="hello")
async def hello(state: State) -> p.Hello:
    """Protocol versions and capabilities this registry speaks, and its public key."""
    return p.Hello(sorted(p.SUPPORTED), list(p.CAPABILITIES), public_key_hex(state.key))


@post("/v1/enroll", operation_id="enroll", status_code=200, sync_to_thread=True)
def enroll(request: Request[Any, Any, Any], state: State, body: bytes) -> Response[bytes]:
    """Spend a one-time token on a box's public key; answers the box id and registry key."""
    _check_protocol(request)
    try:
        req: p.EnrollRequest = p.decode(body, p.EnrollRequest)
        bytes.fromhex(req.public_key)
    except (msgspec.ValidationError, msgspec.DecodeError, OSError, ValueError) as exc:
        raise InvalidInput([FieldProblem("body", "invalid", str(exc))]) from None
    try:
        box_id, office = state.store.enroll(req.token, req.public_key, req.box_name, utcnow())
    except LookupError as exc:
        raise Forbidden(str(exc)) from None
    return _wire(state, "enroll", p.EnrollResponse(box_id, office, public_key_hex(state.key)))


@post("/v1/push", operation_id="push", status_code=200, sync_to_thread=True)
def push(request: Request[Any, Any, Any], state: State, body: bytes) -> Response[bytes]:
    """Accept a signed batch of actions; answers per action, signed."""
    box_id, nonce = _signed(request, state, "/v1/push", body)
    batch: p.PushBatch = _decode(body, p.PushBatch)
    now = utcnow()
    results = state.store.accept(box_id, nonce, batch.actions, now, batch.clock_steps)
    if results is None:
        raise Replayed("A batch with this nonce was already received from this box")
    return _wire(state, nonce, p.PushResult(results, iso_ms(now)))


@post("/v1/pull", operation_id="pull", status_code=200, sync_to_thread=True)
def pull(request: Request[Any, Any, Any], state: State, body: bytes) -> Response[bytes]:
    """The changes for this box after its cursor: leases, records, users, config version."""
    box_id, nonce, ask = _signed_message(request, state, "/v1/pull", body, p.PullRequest)
    limit = min(max(ask.limit, 1), 1000)
    return _wire(state, nonce, state.store.pull(box_id, ask.cursor, limit, ask.resync_after))


@post("/v1/search", operation_id="search", status_code=200, sync_to_thread=True)
def search(request: Request[Any, Any, Any], state: State, body: bytes) -> Response[bytes]:
    """Records the registry holds, by tracking id or name, for a box's search page."""
    _, nonce, ask = _signed_message(request, state, "/v1/search", body, p.SearchRequest)
    hits = state.store.search(ask.text[:100], min(max(ask.limit, 1), 100))
    return _wire(state, nonce, p.SearchResult(hits))


@post("/v1/lease", operation_id="requestLease", status_code=200, sync_to_thread=True)
def request_lease(request: Request[Any, Any, Any], state: State, body: bytes) -> Response[bytes]:
    """A box asks to hold a record (to work on it there); its next pull downloads it."""
    box_id, nonce, ask = _signed_message(request, state, "/v1/lease", body, p.LeaseRequest)
    granted, reason = state.store.request_lease(box_id, ask.record_id, ask.by[:200])
    return _wire(state, nonce, p.LeaseAnswer(granted, reason))


def _signed_message(
    request: Request[Any, Any, Any], state: State, path: str, body: bytes, kind: type[Any]
) -> tuple[str, str, Any]:
    """A signed, never-seen request from an enrolled box: (box id, nonce, decoded body)."""
    box_id, nonce = _signed(request, state, path, body)
    if not state.store.note_nonce(box_id, nonce, utcnow()):
        raise Replayed("A request with this nonce was already received from this box")
    return box_id, nonce, _decode(body, kind)


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return p.decode(body, kind)
    except (msgspec.ValidationError, msgspec.DecodeError, OSError) as exc:
        raise InvalidInput([FieldProblem("body", "invalid", str(exc))]) from None


def _signed(
    request: Request[Any, Any, Any], state: State, path: str, body: bytes
) -> tuple[str, str]:
    """The enrolled box that signed this request, and its nonce; refuse anything else."""
    _check_protocol(request)
    h = request.headers
    box_id, time, nonce, signature = (
        h.get(p.H_BOX),
        h.get(p.H_TIME),
        h.get(p.H_NONCE),
        h.get(p.H_SIGNATURE),
    )
    if not (box_id and time and nonce and signature):
        raise Unauthenticated("Unsigned request: the box must sign every request")
    box = state.store.box(box_id)
    if box is None:
        raise Unauthenticated("This box is not enrolled with the registry")
    message = p.signing_string("POST", path, box_id, time, nonce, body)
    if not p.verify(box["public_key"], signature, message):
        raise Unauthenticated("The request's signature does not match the box's enrolled key")
    return box_id, nonce


@post("/v1/login-check", operation_id="loginCheck", status_code=200, sync_to_thread=True)
def login_check(request: Request[Any, Any, Any], state: State, body: bytes) -> Response[bytes]:
    """Is this the user's password? Asked by an enrolled box when someone logs in there."""
    _, nonce, check = _signed_message(request, state, "/v1/login-check", body, p.LoginCheck)
    verifier = state.store.user_verifier(check.username)
    ok, _ = state.hasher.check(check.password, verifier)  # a decoy check when unknown
    verdict = "confirmed" if ok else "rejected" if verifier else "unknown"
    return _wire(state, nonce, p.LoginVerdict(verdict))


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    display_name: str
    role: str
    office_id: str
    password: str


@post("/admin/v1/users", operation_id="createRegistryUser", status_code=201, sync_to_thread=True)
def create_user(request: Request[Any, Any, Any], state: State, data: UserIn) -> dict[str, str]:
    """Create (or replace) a user in the national register."""
    _admin(request, state)
    state.store.add_user(
        data.username,
        data.display_name,
        data.role,
        data.office_id,
        state.hasher.hash(data.password),
    )
    return {"username": data.username}


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    office_id: str
    valid_hours: int = 72


class TokenOut(msgspec.Struct):
    token: str
    office_id: str
    expires_at: str


def _admin(request: Request[Any, Any, Any], state: State) -> None:
    header = request.headers.get("authorization", "")
    sent = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(digest(sent), state.store.meta("admin_token_hash") or ""):
        raise Unauthenticated("The registry's admin API needs its admin token")


@post(
    "/admin/v1/enrollment-tokens",
    operation_id="issueEnrollmentToken",
    status_code=201,
    sync_to_thread=True,
)
def issue_token(request: Request[Any, Any, Any], state: State, data: TokenIn) -> TokenOut:
    """A one-time enrollment token for a box of an office."""
    _admin(request, state)
    token, expires = state.store.issue_token(data.office_id, timedelta(hours=data.valid_hours))
    return TokenOut(token, data.office_id, expires)


@get("/admin/v1/actions", operation_id="nationalJournal", sync_to_thread=True)
def national_journal(
    request: Request[Any, Any, Any],
    state: State,
    after: FromQuery[int] = 0,
    limit: FromQuery[int] = 1000,
) -> list[dict[str, Any]]:
    """The national journal: every accepted action, in the order the registry received it."""
    _admin(request, state)
    store: RegistryStore = state.store
    return store.journal(after, min(max(limit, 1), 10_000))


class LeaseIn(msgspec.Struct, forbid_unknown_fields=True):
    box_id: str | None
    by: str
    reason: str = ""


@post(
    "/admin/v1/records/{record_id:str}/lease",
    operation_id="moveLease",
    status_code=200,
    sync_to_thread=True,
)
def move_lease(
    request: Request[Any, Any, Any], state: State, record_id: FromPath[str], data: LeaseIn
) -> dict[str, Any]:
    """Give a record to another box, or take it back to the registry (`box_id` null). The
    box that held it learns at its next pull; its unsent work on the record is discarded
    there, kept and shown with who took the record and why."""
    _admin(request, state)
    try:
        state.store.move_lease(record_id, data.box_id, data.by, data.reason)
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return _record_or_404(state, record_id)


@get("/admin/v1/records/{record_id:str}", operation_id="registryRecord", sync_to_thread=True)
def registry_record(
    request: Request[Any, Any, Any], state: State, record_id: FromPath[str]
) -> dict[str, Any]:
    """A record as the registry holds it: its office, the box holding its lease, its state."""
    _admin(request, state)
    return _record_or_404(state, record_id)


def _record_or_404(state: State, record_id: str) -> dict[str, Any]:
    store: RegistryStore = state.store
    record = store.record(record_id)
    if record is None:
        raise NotFound(f"The registry has no record {record_id}")
    return record


def create_registry_app(home: Path) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = RegistryStore(home / "registry.db")
        app.state.store = store
        app.state.key = load_device_key(home / "registry.key")
        app.state.hasher = Hasher(Params(32768, 2))
        try:
            yield
        finally:
            store.close()

    return Litestar(
        route_handlers=[
            hello,
            enroll,
            push,
            login_check,
            pull,
            search,
            request_lease,
            move_lease,
            registry_record,
            create_user,
            issue_token,
            national_journal,
        ],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,
        request_max_body_size=50_000_000,
    )
