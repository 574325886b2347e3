"""The registry's admin API (`Authorization: Bearer <admin token>`): users, enrollment tokens,
leases, records and the national journal."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from edge.clock import utcnow
from upstream_sync.registry import documents, enrollment, leases, records, users
from upstream_sync.registry.context import RegistryContext, registry_of
from upstream_sync.registry.errors import AdminOnly, UnknownRecord

Req = Request[Any, Any, Any]


def _admin(request: Req, state: State) -> RegistryContext:
    """The registry's context, for a request carrying the admin token; refuse any other."""
    reg = registry_of(state)
    header = request.headers.get("authorization", "")
    sent = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(enrollment.digest(sent), reg.db.meta("admin_token_hash") or ""):
        raise AdminOnly("The registry's admin API needs its admin token")
    return reg


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    display_name: str
    role: str
    office_id: str
    password: str


@post("/admin/v1/users", operation_id="createRegistryUser", status_code=201, sync_to_thread=True)
def create_user(request: Req, state: State, data: JSONBody[UserIn]) -> dict[str, str]:
    """Create (or replace) a user in the national register."""
    reg = _admin(request, state)
    verifier = reg.hasher.hash(data.password)
    users.add_user(
        reg.db, data.username, data.display_name, data.role, data.office_id, verifier, utcnow()
    )
    return {"username": data.username}


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    office_id: str
    valid_hours: int = 72
    replaces: str | None = None  # a box of the office whose records the new box takes over


class TokenOut(msgspec.Struct):
    token: str
    office_id: str
    expires_at: str
    replaces: str | None


@post(
    "/admin/v1/enrollment-tokens",
    operation_id="issueEnrollmentToken",
    status_code=201,
    sync_to_thread=True,
)
def issue_token(request: Req, state: State, data: JSONBody[TokenIn]) -> TokenOut:
    """A one-time enrollment token for a box of an office; with `replaces`, the new box
    takes over the open records of that box of the office."""
    reg = _admin(request, state)
    valid = timedelta(hours=data.valid_hours)
    token, expires = enrollment.issue_token(reg.db, data.office_id, valid, utcnow(), data.replaces)
    return TokenOut(token, data.office_id, expires, data.replaces)


@get("/admin/v1/actions", operation_id="nationalJournal", sync_to_thread=True)
def national_journal(
    request: Req, state: State, after: FromQuery[int] = 0, limit: FromQuery[int] = 1000
) -> list[dict[str, Any]]:
    """The national journal: every accepted action, in the order the registry received it."""
    reg = _admin(request, state)
    return records.national_journal(reg.db, after, min(max(limit, 1), 10_000))


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
    request: Req, state: State, record_id: FromPath[str], data: JSONBody[LeaseIn]
) -> dict[str, Any]:
    """Give a record to another box, or take it back to the registry (`box_id` null). The
    box that held it learns at its next pull; its unsent work on the record is discarded
    there, kept and shown with who took the record and why."""
    reg = _admin(request, state)
    leases.move_lease(reg.db, record_id, data.box_id, data.by, data.reason, utcnow())
    return _record(reg, record_id)


@get("/admin/v1/records/{record_id:str}", operation_id="registryRecord", sync_to_thread=True)
def registry_record(request: Req, state: State, record_id: FromPath[str]) -> dict[str, Any]:
    """A record as the registry holds it: its office, the box holding its lease, its state."""
    return _record(_admin(request, state), record_id)


def _record(reg: RegistryContext, record_id: str) -> dict[str, Any]:
    found = records.record(reg.db, record_id)
    if found is None:
        raise UnknownRecord(f"The registry has no record {record_id}")
    return found


@get(
    "/admin/v1/records/{record_id:str}/documents",
    operation_id="registryRecordDocuments",
    sync_to_thread=True,
)
def record_documents(request: Req, state: State, record_id: FromPath[str]) -> list[dict[str, Any]]:
    """The supporting documents of a record the registry holds or is receiving."""
    return documents.of_record(_admin(request, state).db, record_id)


@get("/admin/v1/documents/{document_id:str}", operation_id="registryDocument", sync_to_thread=True)
def registry_document(request: Req, state: State, document_id: FromPath[str]) -> dict[str, Any]:
    """A supporting document: its record, action, kind, size, SHA-256 and bytes received."""
    return documents.document(_admin(request, state).db, document_id)


@get(
    "/admin/v1/documents/{document_id:str}/content",
    operation_id="registryDocumentContent",
    sync_to_thread=True,
)
def registry_document_content(
    request: Req, state: State, document_id: FromPath[str]
) -> Response[bytes]:
    """A complete supporting document's bytes (404 until the registry holds all of them)."""
    media_type, data = documents.content(_admin(request, state).db, document_id)
    return Response(data, media_type=media_type, headers={"x-content-type-options": "nosniff"})


ADMIN_ROUTES = [
    create_user,
    issue_token,
    national_journal,
    move_lease,
    registry_record,
    record_documents,
    registry_document,
    registry_document_content,
]
