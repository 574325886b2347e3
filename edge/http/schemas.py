"""Request and response types of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from edge.journal.reads import Lease, SyncInfo
from edge.workflow.model import ActionType, Status


class _In(msgspec.Struct, forbid_unknown_fields=True):
    pass


class RecordCreate(_In):
    """Start a record (the CREATE action)."""

    event_type: str
    declaration: dict[str, Any] = {}
    client_time: datetime | None = None


class ActionCreate(_In):
    """Perform an action on a record."""

    type: ActionType
    custom_type: str | None = None
    declaration: dict[str, Any] | None = None
    form: dict[str, Any] | None = None
    then: Literal["DECLARE", "REGISTER"] | None = None
    client_time: datetime | None = None


class ActionOut(msgspec.Struct):
    id: str
    seq: int
    type: ActionType
    custom_type: str | None
    label: str
    created_at: str
    client_time: str | None
    clock: str
    created_by: str
    created_by_name: str
    office_id: str
    payload: dict[str, Any]
    flags_added: list[str]
    flags_removed: list[str]
    sync: SyncInfo


class RecordOut(msgspec.Struct):
    id: str
    tracking_id: str
    event_type: str
    title: str
    status: Status
    flags: list[str]
    assigned_to: str | None
    assigned_to_name: str | None
    office_id: str
    declaration: dict[str, Any]
    pending_correction: dict[str, Any] | None
    created_by: str
    created_at: str
    updated_at: str


class RecordDetail(msgspec.Struct):
    record: RecordOut
    timeline: list[ActionOut]
    # Set when the registry gave the record to another office: read-only here (see reason).
    lease: Lease | None = None


class ActionResult(msgspec.Struct):
    action: ActionOut
    record: RecordOut


class MenuItemOut(msgspec.Struct):
    type: ActionType
    custom_type: str | None
    label: str
    enabled: bool
    reason: str | None


class WorkqueueOut(msgspec.Struct):
    id: str
    label: str
    count: int  # counted up to 1000
    count_more: bool = False  # more than `count`


class RecordPage(msgspec.Struct):
    items: list[RecordOut]
    page: int
    page_size: int
    total: int  # counted up to 1000
    total_more: bool = False  # more than `total`
    next: str | None = None  # `after` for the next page; None on the last


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str  # ready | not ready | locked
    checks: dict[str, bool]  # database, disk, worker, pushing


class LoginIn(_In):
    username: str
    password: str


class MeOut(msgspec.Struct):
    id: str
    username: str
    display_name: str
    role: str
    office_id: str
    must_change_password: bool
    scopes: list[str]


class LoginOut(msgspec.Struct):
    user: MeOut
    csrf_token: str
    checked_with_registry: bool


class PasswordChange(_In):
    current_password: str
    new_password: str


class TokenCreate(_In):
    name: str


class TokenOut(msgspec.Struct):
    id: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenCreated(msgspec.Struct):
    id: str
    name: str
    token: str


class UserCreate(_In):
    username: str
    display_name: str
    role: str
    office_id: str | None = None
    password: str | None = None


class UserUpdate(_In):
    display_name: str | None = None
    role: str | None = None
    office_id: str | None = None


class PasswordReset(_In):
    password: str


class UserOut(msgspec.Struct):
    id: str
    username: str
    display_name: str
    role: str
    office_id: str
    active: bool
    has_password: bool
    must_change_password: bool
    failed_attempts: int
    locked_until: str | None
    last_login_at: str | None
    last_checked_at: str | None
    created_at: str


class UserActionOut(msgspec.Struct):
    id: str
    type: str
    created_at: str
    created_by: str
    payload: dict[str, Any]
    sync: str


class UserDetail(msgspec.Struct):
    user: UserOut
    history: list[UserActionOut]


class OutboxItem(msgspec.Struct):
    action_id: str
    seq: int
    record_id: str
    tracking_id: str
    title: str
    type: str
    label: str
    created_at: str
    created_by_name: str
    state: str
    attempts: int
    last_error: str | None
    next_try_at: str | None
    reason: str | None
    discarded_by: str | None
    discarded_at: str | None


class SyncStageOut(msgspec.Struct):
    """One stage of the sync worker's round (resync, pull, push) and where it stands."""

    name: str
    status: str  # idle | running | waiting | failed | done
    since: str | None
    last_error: str | None
    next_try: str | None
    attempts: int  # failed runs in a row
    updated_at: str | None  # the last sign of progress (a running stage that stops is stuck)
    last_done: str | None
    says: str  # the stage in a sentence, e.g. "push waiting until …, after 3 failed tries: …"


class OutboxSummary(msgspec.Struct):
    enrolled: bool
    pending: int
    sending: int
    rejected: int
    conflict: int
    discarded: int
    last_success_at: str | None
    last_error: str | None
    next_try_at: str | None
    last_pull_at: str | None
    last_pull_error: str | None
    # Whether the registry answered at the last exchange (None: never tried yet).
    registry_reachable: bool | None
    registry_checked_at: str | None
    registry_config_version: str | None
    # The sync worker's stages in the order a round runs them.
    stages: list[SyncStageOut]


class OutboxPage(msgspec.Struct):
    summary: OutboxSummary
    items: list[OutboxItem]
    page: int
    page_size: int
    total: int  # actions of the whole box not accepted yet
    next: int | None = None  # `after` for the next page; None on the last


class ProblemField(msgspec.Struct):
    field: str
    rule: str
    message: str


class Problem(msgspec.Struct):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None
