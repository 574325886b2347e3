"""Statuses, action types and the core action table of seed 001 (the law for both)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    DRAFT = "draft"
    NOTIFIED = "notified"
    DECLARED = "declared"
    REGISTERED = "registered"
    ARCHIVED = "archived"


class ActionType(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    NOTIFY = "NOTIFY"
    DECLARE = "DECLARE"
    MARK_AS_DUPLICATE = "MARK_AS_DUPLICATE"
    MARK_NOT_DUPLICATE = "MARK_NOT_DUPLICATE"
    ARCHIVE = "ARCHIVE"
    REJECT = "REJECT"
    EDIT = "EDIT"
    REGISTER = "REGISTER"
    REQUEST_CORRECTION = "REQUEST_CORRECTION"
    APPROVE_CORRECTION = "APPROVE_CORRECTION"
    REJECT_CORRECTION = "REJECT_CORRECTION"
    PRINT = "PRINT"
    ASSIGN = "ASSIGN"
    UNASSIGN = "UNASSIGN"
    CUSTOM = "CUSTOM"
    DELETE = "DELETE"  # a draft its author gives up (OpenCRVS v2's Delete draft)


class CoreFlag(StrEnum):
    POTENTIAL_DUPLICATE = "potential-duplicate"
    REJECTED = "rejected"
    CORRECTION_REQUESTED = "correction-requested"
    DELETED = "deleted"


CORE_FLAG_LABELS = {
    CoreFlag.POTENTIAL_DUPLICATE: "Potential duplicate",
    CoreFlag.REJECTED: "Requires updates",
    CoreFlag.CORRECTION_REQUESTED: "Correction requested",
    CoreFlag.DELETED: "Deleted draft",
}

_NOT_DRAFT = frozenset(Status) - {Status.DRAFT}


@dataclass(frozen=True)
class CoreAction:
    """One row of seed 001's core action table, plus what the action does to a record."""

    type: ActionType
    label: str
    scope: str
    statuses: frozenset[Status]
    required_flags: frozenset[str] = frozenset()
    result_status: Status | None = None
    adds: frozenset[str] = frozenset()
    removes: frozenset[str] = frozenset()
    # Finishing the action hands the record back to the office (it becomes unassigned),
    # so the next person in the workflow can pick it up.
    releases: bool = True
    needs_assignment: bool = True
    form_rules: tuple[tuple[str, bool], ...] = ()  # (form key, required)


def _a(
    type_: ActionType, label: str, scope: str, statuses: frozenset[Status] | set[Status], **kw: Any
) -> CoreAction:
    return CoreAction(type_, label, scope, frozenset(statuses), **kw)


CORE_ACTIONS: dict[ActionType, CoreAction] = {
    a.type: a
    for a in [
        _a(
            ActionType.CREATE,
            "Create",
            "record.create",
            set(),
            releases=False,
            needs_assignment=False,
            result_status=Status.DRAFT,
        ),
        _a(ActionType.UPDATE, "Update", "record.create", {Status.DRAFT}, releases=False),
        _a(
            ActionType.NOTIFY,
            "Notify",
            "record.notify",
            {Status.DRAFT},
            result_status=Status.NOTIFIED,
        ),
        _a(
            ActionType.DECLARE,
            "Declare",
            "record.declare",
            {Status.DRAFT, Status.NOTIFIED},
            result_status=Status.DECLARED,
            removes=frozenset({CoreFlag.REJECTED}),
            # Who confirmed the summary was right (the pages ask the informant).
            form_rules=(("confirmation", False),),
        ),
        _a(
            ActionType.MARK_AS_DUPLICATE,
            "Mark as duplicate",
            "record.review-duplicates",
            {Status.DECLARED},
            required_flags=frozenset({CoreFlag.POTENTIAL_DUPLICATE}),
            result_status=Status.ARCHIVED,
            removes=frozenset({CoreFlag.POTENTIAL_DUPLICATE}),
            form_rules=(("reason", True),),
        ),
        _a(
            ActionType.MARK_NOT_DUPLICATE,
            "Mark not a duplicate",
            "record.review-duplicates",
            {Status.DECLARED},
            required_flags=frozenset({CoreFlag.POTENTIAL_DUPLICATE}),
            removes=frozenset({CoreFlag.POTENTIAL_DUPLICATE}),
        ),
        _a(
            ActionType.ARCHIVE,
            "Archive",
            "record.archive",
            {Status.DECLARED},
            result_status=Status.ARCHIVED,
            form_rules=(("reason", False),),
        ),
        _a(
            ActionType.REJECT,
            "Reject",
            "record.reject",
            {Status.DECLARED},
            adds=frozenset({CoreFlag.REJECTED}),
            form_rules=(("reason", True),),
        ),
        # Edit carries `then`: DECLARE (declare with edits) or REGISTER (register with edits).
        _a(
            ActionType.EDIT,
            "Edit",
            "record.declare",
            {Status.NOTIFIED, Status.DECLARED},
            removes=frozenset({CoreFlag.REJECTED}),
        ),
        _a(
            ActionType.REGISTER,
            "Register",
            "record.register",
            {Status.DECLARED},
            result_status=Status.REGISTERED,
        ),
        _a(
            ActionType.REQUEST_CORRECTION,
            "Correct",
            "record.correct",
            {Status.REGISTERED},
            adds=frozenset({CoreFlag.CORRECTION_REQUESTED}),
            form_rules=(("requester", True), ("reason", True)),
        ),
        _a(
            ActionType.APPROVE_CORRECTION,
            "Approve correction",
            "record.correction.review",
            {Status.REGISTERED},
            required_flags=frozenset({CoreFlag.CORRECTION_REQUESTED}),
            removes=frozenset({CoreFlag.CORRECTION_REQUESTED}),
        ),
        _a(
            ActionType.REJECT_CORRECTION,
            "Reject correction",
            "record.correction.review",
            {Status.REGISTERED},
            required_flags=frozenset({CoreFlag.CORRECTION_REQUESTED}),
            removes=frozenset({CoreFlag.CORRECTION_REQUESTED}),
            form_rules=(("reason", True),),
        ),
        # Issuing a certified copy is journaled like any action: who printed it, when, and
        # who collected it.
        _a(
            ActionType.PRINT,
            "Print",
            "record.print",
            {Status.REGISTERED},
            # The receipt of the fee, where the country charges one (required then).
            form_rules=(("collector", True), ("receipt", False)),
        ),
        _a(
            ActionType.ASSIGN,
            "Assign",
            "record.assign",
            _NOT_DRAFT,
            releases=False,
            needs_assignment=False,
        ),
        _a(ActionType.UNASSIGN, "Unassign", "record.assign", _NOT_DRAFT, needs_assignment=False),
        # A draft is its author's alone: giving it up hides it from everyone, for good (the
        # journal keeps that it existed, as it keeps everything).
        _a(
            ActionType.DELETE,
            "Delete draft",
            "record.create",
            {Status.DRAFT},
            adds=frozenset({CoreFlag.DELETED}),
            releases=False,
        ),
    ]
}

# What a core action's form fields are called on the pages.
FORM_LABELS = {
    "reason": "Reason",
    "comment": "Comment",
    "collector": "Collected by (the person receiving the copy)",
    "confirmation": "Confirmed by",
    "receipt": "Fee receipt number",
    "fee": "Fee",
    "requester": "Asked for by (the person who asks for the correction)",
    "draft": "Draft copy, to check (not handed out)",
}

# Order of the action menu: Assign first, core actions in workflow order, custom actions,
# Unassign last (seed 001's example lists Print, Correct, <custom>, Unassign).
MENU_ORDER: tuple[ActionType, ...] = (
    ActionType.ASSIGN,
    ActionType.UPDATE,
    ActionType.NOTIFY,
    ActionType.DECLARE,
    ActionType.DELETE,
    ActionType.EDIT,
    ActionType.MARK_AS_DUPLICATE,
    ActionType.MARK_NOT_DUPLICATE,
    ActionType.REGISTER,
    ActionType.ARCHIVE,
    ActionType.REJECT,
    ActionType.PRINT,
    ActionType.REQUEST_CORRECTION,
    ActionType.APPROVE_CORRECTION,
    ActionType.REJECT_CORRECTION,
)


@dataclass
class RecordState:
    """The current state of one record, as materialized from its journal."""

    id: str
    event_type: str
    office_id: str
    created_by: str
    created_at: str
    status: Status = Status.DRAFT
    flags: set[str] = field(default_factory=set)
    assigned_to: str | None = None
    declaration: dict[str, Any] = field(default_factory=dict)
    pending_correction: dict[str, Any] | None = None
    updated_at: str = ""
    last_seq: int = 0


@dataclass(frozen=True)
class Actor:
    """The person acting, with the scopes of their role."""

    id: str
    username: str
    display_name: str
    role: str
    office_id: str
    scopes: tuple[Any, ...]  # tuple[Scope, ...]; Any avoids an import cycle


def action_label(type_: str, payload: dict[str, Any] | str, custom_type: str | None = None) -> str:
    """What people call an action in a history or the outbox: a custom action by its audit
    copy ("Attested"), a core action by its label. `payload` as stored (JSON) or decoded."""
    if type_ != ActionType.CUSTOM:
        return CORE_ACTIONS[ActionType(type_)].label
    values = json.loads(payload) if isinstance(payload, str) else payload
    return str(values.get("audit") or custom_type or "Custom action")
