"""Applying one journal entry to a record's state.

The fold uses only what the entry itself holds (type, payload, flags added and removed), never
the configuration, so replaying an old journal under a newer configuration gives the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.workflow.model import CORE_ACTIONS, ActionType, RecordState, Status


@dataclass(slots=True)
class Entry:
    """One journal row: an action on a record. Never changed once written (the database
    refuses it); the dataclass is mutable only so the writer can set `hash` last."""

    seq: int
    id: str
    record_id: str
    event_type: str
    type: ActionType
    custom_type: str | None
    created_at: str
    client_time: str | None
    clock: str
    boot_id: str
    created_by: str
    created_at_location: str
    payload: dict[str, Any]
    flags_added: tuple[str, ...]
    flags_removed: tuple[str, ...]
    prev_hash: str = ""
    hash: str = ""


def merge_declaration(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The declaration after changes; a null or empty value clears the field."""
    merged = dict(base)
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def fold(state: RecordState | None, e: Entry) -> RecordState:
    """The record's state after entry e (a new object; the input is not changed)."""
    if e.type is ActionType.CREATE:
        state = RecordState(
            id=e.record_id,
            event_type=e.event_type,
            office_id=e.created_at_location,
            created_by=e.created_by,
            created_at=e.created_at,
            assigned_to=e.created_by,
        )
    elif state is None:
        raise ValueError(f"seq {e.seq}: {e.type} on record {e.record_id} before its CREATE")
    else:
        # Declarations hold only JSON scalars: a shallow copy of each container is a full copy.
        # (Built field by field: dataclasses.replace costs as much as the rest of the fold.)
        pending = state.pending_correction
        state = RecordState(
            state.id,
            state.event_type,
            state.office_id,
            state.created_by,
            state.created_at,
            state.status,
            set(state.flags),
            state.assigned_to,
            dict(state.declaration),
            dict(pending) if pending is not None else None,
            state.updated_at,
            state.last_seq,
        )
    changes = e.payload.get("declaration")
    if e.type is ActionType.REQUEST_CORRECTION:
        state.pending_correction = dict(changes or {})
    elif e.type is ActionType.APPROVE_CORRECTION:
        state.declaration = merge_declaration(state.declaration, state.pending_correction or {})
        state.pending_correction = None
    elif e.type is ActionType.REJECT_CORRECTION:
        state.pending_correction = None
    elif changes:
        state.declaration = merge_declaration(state.declaration, changes)

    if e.type is ActionType.EDIT:
        state.status = Status.REGISTERED if e.payload.get("then") == "REGISTER" else Status.DECLARED
    elif e.type is not ActionType.CUSTOM:
        result = CORE_ACTIONS[e.type].result_status
        if result is not None:
            state.status = result

    state.flags = (state.flags - set(e.flags_removed)) | set(e.flags_added)

    if e.type in (ActionType.CREATE, ActionType.ASSIGN):
        state.assigned_to = e.created_by
    elif e.type is ActionType.CUSTOM or CORE_ACTIONS[e.type].releases:
        state.assigned_to = None
    state.updated_at = e.created_at
    state.last_seq = e.seq
    return state
