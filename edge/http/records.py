"""Records: create, act, read with the audit timeline, and the action menu."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Annotated, TypeVar

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody

from edge.clock import iso_ms, local_date, utcnow
from edge.errors import FieldProblem, InvalidInput, NotFound
from edge.http.schemas import (
    ActionCreate,
    ActionOut,
    ActionResult,
    MenuItemOut,
    RecordCreate,
    RecordDetail,
    RecordOut,
)
from edge.ids import is_uuid, uuid7
from edge.journal.reads import Reader, RecordRow, SyncInfo
from edge.journal.records import record_title, tracking_id
from edge.journal.store import Appended
from edge.state import BoxState
from edge.workflow.config import Config
from edge.workflow.engine import ActionRequest
from edge.workflow.fold import Entry
from edge.workflow.model import ActionType, Actor, action_label
from edge.workflow.rules import action_menu, can_read

T = TypeVar("T")
PENDING = SyncInfo("pending", 0, None, None, None, None)
# Optional on every write: the same key again (after a lost answer) is answered with what the
# first request did, instead of doing it twice.
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="idempotency-key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any string of your choice, one per intended action (e.g. a UUID)",
    ),
]
REPLAYED = "idempotent-replayed"


class RecordController(Controller):
    path = "/api/v1/records"
    tags = ["records"]

    @post("/", operation_id="createRecord", status_code=201)
    async def create_record(
        self,
        data: JSONBody[RecordCreate],
        actor: NamedDependency[Actor],
        state: BoxState,
        key: IdempotencyKey = None,
    ) -> Response[RecordDetail]:
        """Start a new record (CREATE), optionally with the first declaration fields. With an
        `Idempotency-Key`, a retry is answered with the record the first request made."""
        req = ActionRequest(
            ActionType.CREATE,
            uuid7(),
            event_type=data.event_type,
            declaration=data.declaration or None,
        )
        done = await state.journal.append_async(req, actor, client_time=_client(data), key=key)
        names = {actor.id: actor.display_name}
        row = _row_after(done, state.config)
        body = RecordDetail(record_out(row, names), [_action_out(done.entry, None, names)])
        return _answer(body, done)

    @post("/{record_id:str}/actions", operation_id="performAction", status_code=201)
    async def perform_action(
        self,
        record_id: FromPath[str],
        data: JSONBody[ActionCreate],
        actor: NamedDependency[Actor],
        state: BoxState,
        key: IdempotencyKey = None,
    ) -> Response[ActionResult]:
        """Perform one action on a record; answered once the action is on disk. With an
        `Idempotency-Key`, a retry is answered with the action the first request took."""
        _known(record_id)
        if data.type is ActionType.CREATE:
            raise NotFound("Use POST /api/v1/records to start a record")
        req = ActionRequest(
            data.type,
            record_id,
            custom_type=data.custom_type,
            declaration=data.declaration,
            form=data.form,
            then=ActionType(data.then) if data.then else None,
        )
        done = await state.journal.append_async(req, actor, client_time=_client(data), key=key)
        names = {actor.id: actor.display_name}
        if done.state.assigned_to not in (None, actor.id):
            names |= await asyncio.to_thread(state.reader.user_names, {done.state.assigned_to})
        row = _row_after(done, state.config)
        body = ActionResult(_action_out(done.entry, None, names), record_out(row, names))
        return _answer(body, done)

    @get("/{record_id:str}", operation_id="getRecord", sync_to_thread=True)
    def get_record(
        self, record_id: FromPath[str], actor: NamedDependency[Actor], state: BoxState
    ) -> RecordDetail:
        """A record with its audit timeline and each action's sync state."""
        return _detail(state.reader, record_id, actor)

    @get("/{record_id:str}/menu", operation_id="getActionMenu", sync_to_thread=True)
    def get_menu(
        self, record_id: FromPath[str], actor: NamedDependency[Actor], state: BoxState
    ) -> list[MenuItemOut]:
        """Every action this user could take on the record, enabled or with the reason."""
        row = _readable(state.reader, record_id, actor)
        names = state.reader.user_names({row.state.assigned_to or ""})
        items = action_menu(
            row.state,
            actor,
            state.config,
            today=local_date(utcnow(), state.settings.timezone),
            names=lambda uid: names.get(uid, "another user"),
        )
        lease = state.reader.lease(record_id)
        if lease is not None and lease.state == "revoked":
            taken = f"The registry gave this record to another office ({lease.changed_by})"
            return [MenuItemOut(i.type, i.custom_type, i.label, False, taken) for i in items]
        return [MenuItemOut(i.type, i.custom_type, i.label, i.enabled, i.reason) for i in items]


def _row_after(done: Appended, config: Config) -> RecordRow:
    """The record as it stands after an action, without reading it back from the database."""
    return RecordRow(
        done.state,
        tracking_id(done.state.id, done.state.event_type),
        record_title(done.state, config),
    )


def _answer(body: T, done: Appended) -> Response[T]:
    """201, saying so when it is the answer to a retry with the same idempotency key."""
    headers = {REPLAYED: "true"} if done.replayed else {}
    return Response(body, status_code=201, headers=headers)


def _client(data: RecordCreate | ActionCreate) -> str | None:
    if data.client_time is None:
        return None
    moment = data.client_time
    try:
        return iso_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except (OverflowError, ValueError):  # e.g. year 1 in a zone east of UTC
        raise InvalidInput(
            [FieldProblem("client_time", "range", "must be a time between the years 1 and 9999")]
        ) from None


def _known(record_id: FromPath[str]) -> None:
    if not is_uuid(record_id):
        raise NotFound(f"There is no record {record_id} on this box")


def _readable(reader: Reader, record_id: FromPath[str], actor: NamedDependency[Actor]) -> RecordRow:
    _known(record_id)
    row = reader.record(record_id)
    if row is None or not can_read(row.state, actor):
        raise NotFound(f"There is no record {record_id} on this box")
    return row


def _detail(reader: Reader, record_id: str, actor: Actor) -> RecordDetail:
    row = _readable(reader, record_id, actor)
    timeline = reader.timeline(record_id)
    names = reader.user_names({e.created_by for e, _ in timeline} | {row.state.assigned_to or ""})
    return RecordDetail(
        record_out(row, names),
        [_action_out(e, sync, names) for e, sync in timeline],
        reader.lease(record_id),
    )


def record_out(row: RecordRow, names: dict[str, str]) -> RecordOut:
    """A record as the API shows it (also used by the workqueue listing)."""
    s = row.state
    return RecordOut(
        id=s.id,
        tracking_id=row.tracking_id,
        event_type=s.event_type,
        title=row.title,
        status=s.status,
        flags=sorted(s.flags),
        assigned_to=s.assigned_to,
        assigned_to_name=names.get(s.assigned_to or ""),
        office_id=s.office_id,
        declaration=s.declaration,
        pending_correction=s.pending_correction,
        created_by=s.created_by,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def _action_out(e: Entry, sync: SyncInfo | None, names: dict[str, str]) -> ActionOut:
    label = action_label(e.type, e.payload, e.custom_type)
    return ActionOut(
        id=e.id,
        seq=e.seq,
        type=e.type,
        custom_type=e.custom_type,
        label=label,
        created_at=e.created_at,
        client_time=e.client_time,
        clock=e.clock,
        created_by=e.created_by,
        created_by_name=names.get(e.created_by, e.created_by),
        office_id=e.created_at_location,
        payload=e.payload,
        flags_added=list(e.flags_added),
        flags_removed=list(e.flags_removed),
        sync=sync or PENDING,
    )
