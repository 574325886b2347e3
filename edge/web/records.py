"""A record's page (summary, the engine's action menu, history), new declarations, and
taking an action from a page."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from edge.errors import EdgeError, InvalidInput, KeyReused, NotFound
from edge.ids import is_uuid, uuid7
from edge.journal.reads import RecordRow, SyncInfo
from edge.journal.registration import registered_final_at, registration_number
from edge.state import BoxState
from edge.web import attachments
from edge.web.attachments import FormDocuments
from edge.web.context import (
    Ctx,
    done,
    enter,
    form_key,
    not_found,
    page_read,
    show,
    show_off_loop,
)
from edge.web.decisions import Change, corrections_in_history, twins
from edge.web.forms import (
    declaration_gaps,
    declaration_values,
    dialog_page,
    form_name,
    form_page,
    review_page,
    typed_value,
)
from edge.web.messages import error_text, field_errors, menu_reason, say
from edge.workflow.documents import refs_of
from edge.workflow.engine import TAKES_DECLARATION, ActionRequest
from edge.workflow.fold import Entry
from edge.workflow.forms import missing_required
from edge.workflow.model import FORM_LABELS, ActionType, CoreFlag, Status, action_label
from edge.workflow.rules import action_menu, availability, can_read

NO_FORM = ActionType.ASSIGN, ActionType.UNASSIGN


@get("/records/{record_id:str}")
async def record_page(
    request: Request[Any, Any, Any], state: BoxState, record_id: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    return await record_view(ctx, record_id)


async def record_view(
    ctx: Ctx, record_id: str, error: str | None = None, status: int = 200
) -> Response[Any]:
    row = readable_record(ctx, record_id)
    if row is None:
        return not_found(ctx)
    reader = ctx.state.reader
    timeline = await page_read(ctx, reader.timeline, record_id)
    lease = reader.lease(record_id)
    names = defaultdict(
        lambda: "?",
        reader.user_names({e.created_by for e, _ in timeline} | {row.state.assigned_to or ""}),
    )
    menu = action_menu(
        row.state,
        ctx.me.actor,
        ctx.state.config,
        today=ctx.today,
        names=lambda u: names.get(u, "?"),
    )
    menu = [dataclasses.replace(i, reason=menu_reason(ctx, i.reason)) for i in menu]
    changes = corrections_in_history(ctx, row, timeline)
    if lease is not None and lease.state == "revoked":
        taken = ctx._("The registry gave this record to another office (%(by)s).") % {
            "by": lease.changed_by
        }
        menu = [dataclasses.replace(item, enabled=False, reason=taken) for item in menu]
    register_pending = any(
        e.type is ActionType.REGISTER and s.state != "accepted" for e, s in timeline
    )
    number = None
    if row.state.status is Status.REGISTERED and not register_pending:
        number = await asyncio.to_thread(registration_number, ctx.state.reader, record_id)
    return await show_off_loop(
        ctx,
        "record.html",
        status,
        record=row,
        event=ctx.state.config.events.get(row.state.event_type),
        specs=ctx.state.config.fields.get(row.state.event_type, {}),
        assignee=names.get(row.state.assigned_to or ""),
        flags=[ctx.state.config.flag_label(f) for f in sorted(row.state.flags)],
        menu=menu,
        no_form=NO_FORM,
        timeline=[_step(ctx, e, s, names, changes) for e, s in reversed(timeline)],
        clock_unset=_clock_unset(timeline),
        is_draft=row.state.status is Status.DRAFT,
        lease=lease,
        register_pending=register_pending,
        registration_number=number,
        # A possible duplicate, beside this record, until someone decided.
        twins=twins(ctx, row, timeline) if CoreFlag.POTENTIAL_DUPLICATE in row.state.flags else [],
        documents=attachments.record_rows(ctx, row.state.event_type, timeline),
        error=error,
    )


def _clock_unset(timeline: list[tuple[Entry, SyncInfo]]) -> str:
    """Whether the times in the history are the box's own, its clock not yet set: "all",
    "some" (those lines are marked) or "" (none). Said once, above the history."""
    unset = sum(e.clock == "unsynced" for e, _ in timeline)
    return "" if not unset else "all" if unset == len(timeline) else "some"


def _step(
    ctx: Ctx, e: Entry, sync: SyncInfo, names: dict[str, str], changes: dict[str, list[Change]]
) -> dict[str, Any]:
    asked = e.type is ActionType.REQUEST_CORRECTION  # "Correct" is the button, not the event
    return {
        "label": "Correction requested"
        if asked
        else action_label(e.type, e.payload, e.custom_type),
        "changes": changes.get(e.id, []),
        "by": names.get(e.created_by, e.created_by),
        "office": ctx.office(e.created_at_location),
        "at": ctx.when(e.created_at),
        "unverified_time": e.clock == "unsynced",
        "sync": sync.state,
        "reason": sync.reason,
        "registry_at": ctx.when(sync.registry_time),
        "discarded_by": sync.discarded_by,
        # What the person typed with the action (a reason, a comment, who collected a copy),
        # labelled as the form labelled it.
        "said": [
            (
                _said_label(ctx, e, key),
                ctx._("the informant") if value == "informant" else str(value),
            )
            for key, value in (e.payload.get("form") or {}).items()
            if value not in (None, "")
        ]
        + [
            (ctx._("Documents"), ctx._(", ").join(d.name for d in docs))
            for docs in [refs_of(e.payload)]
            if docs
        ],
    }


def _said_label(ctx: Ctx, e: Entry, key: str) -> str:
    if e.type is ActionType.CUSTOM and e.custom_type in ctx.state.config.custom:
        spec = next(
            (f for f in ctx.state.config.custom[e.custom_type].dialog_form if f.id == key), None
        )
        if spec is not None:
            return ctx._(spec.label)
    return ctx._(FORM_LABELS.get(key, key.capitalize()))


def readable_record(ctx: Ctx, record_id: str) -> RecordRow | None:
    if not is_uuid(record_id):
        return None
    row: RecordRow | None = ctx.state.reader.record(record_id)
    if row is None or not can_read(row.state, ctx.me.actor):
        return None
    return row


@get("/records/new")
async def new_record_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    event = state.config.events.get(request.query_params.get("event") or "")
    if event is None:
        return show(ctx, "choose_event.html")
    return form_page(ctx, event.id, None, {}, {})


@post("/records/new")
async def create_record(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """Start a record and, by the button used, keep it as a draft, notify or declare it."""
    ctx = await enter(request, state)
    event = state.config.events.get(ctx.form.get("event", ""))
    if event is None:
        return not_found(ctx)
    values = declaration_values(ctx.form, state.config.fields[event.id], keep_empty=False)
    then = ctx.form.get("then", "")
    docs = await attachments.take(ctx, event.id, None)
    if docs.errors:  # a file refused: the form again, saying which and why, and all else
        declaring = then in ("REVIEW", ActionType.DECLARE)
        gaps = declaration_gaps(ctx, event.id, values, docs, complete=declaring)
        return form_page(ctx, event.id, None, values, gaps, 422, documents=docs)
    if then == "REVIEW":  # nothing saved yet: the summary, with what is missing marked
        return review_page(ctx, event.id, values, docs)
    if then == "CHANGE":  # back to the form, what the review marked marked here too
        gaps = declaration_gaps(ctx, event.id, values, docs)
        return form_page(ctx, event.id, None, values, gaps, documents=docs)
    confirmed = ctx.form.get("d.confirmation", "")
    if then == ActionType.DECLARE and not confirmed:
        return review_page(ctx, event.id, values, docs, unconfirmed=True)
    record_id = uuid7()
    reqs = [
        ActionRequest(
            ActionType.CREATE,
            record_id,
            event_type=event.id,
            declaration=values,
            documents=tuple(docs.refs),
        )
    ]
    if then == ActionType.NOTIFY:
        reqs.append(ActionRequest(ActionType.NOTIFY, record_id))
    elif then == ActionType.DECLARE:
        confirmation = {"confirmation": confirmed}
        reqs.append(ActionRequest(ActionType.DECLARE, record_id, form=confirmation))
    try:
        # One transaction: a refused Declare leaves no draft behind. The form's key makes a
        # second press (after an answer that never arrived) find the first record.
        first = (await state.journal.append_all_async(reqs, ctx.me.actor, form_key(ctx)))[0]
    except KeyReused:
        return already_sent(ctx)
    except InvalidInput as exc:
        # Every problem in one round: a wrong date and the missing fields together.
        if then == ActionType.DECLARE:
            missing = missing_required(values, state.config.fields[event.id], "declaration")
            named = {p.field for p in exc.problems}
            exc = InvalidInput([*exc.problems, *(p for p in missing if p.field not in named)])
        errors = field_errors(ctx, exc, event.id)
        return form_page(ctx, event.id, None, values, errors, 422, documents=docs)
    except EdgeError as exc:
        errors = {"": error_text(ctx, exc)}
        return form_page(ctx, event.id, None, values, errors, exc.status, documents=docs)
    form = form_name(event.id, None, None)
    return done(ctx, f"/records/{first.entry.record_id}", reqs[-1].type, form)


@get("/records/{record_id:str}/do/{action:str}")
async def action_page(
    request: Request[Any, Any, Any],
    state: BoxState,
    record_id: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    ctx = await enter(request, state)
    row = readable_record(ctx, record_id)
    kind = _action(action)
    if row is None or kind is None:
        return not_found(ctx)
    custom = request.query_params.get("custom")
    # Only an action this user may take on this record now gets its page.
    a = availability(row.state, ctx.me.actor, state.config, kind, custom, today=ctx.today)
    if not (a.permitted and a.applicable):
        return not_found(ctx)
    if not a.enabled:
        return await record_view(ctx, record_id, error=say(ctx, a.reason or ""))
    if kind in TAKES_DECLARATION:
        values = dict(row.state.declaration)
        if kind is ActionType.REQUEST_CORRECTION:
            values = {**values, **(row.state.pending_correction or {})}
        return form_page(ctx, row.state.event_type, row, values, {}, action=kind)
    return dialog_page(ctx, row, kind, custom, {}, {})


@post("/records/{record_id:str}/do/{action:str}")
async def perform(
    request: Request[Any, Any, Any],
    state: BoxState,
    record_id: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    ctx = await enter(request, state)
    kind = _action(action)
    row = readable_record(ctx, record_id)
    if kind is None or row is None:
        return not_found(ctx)
    form = form_name(row.state.event_type, row, kind)
    return await _perform(ctx, record_id, kind, ctx.form.get("custom") or None, form)


async def _perform(
    ctx: Ctx, record_id: str, kind: ActionType, custom: str | None, form_id: str = ""
) -> Response[Any]:
    """Run one action from a page; on refusal, show the same page again with the reasons.
    `form_id`: the declaration form it came from, forgotten by the browser once saved."""
    row = readable_record(ctx, record_id)
    if row is None:
        return not_found(ctx)
    config = ctx.state.config
    declaration = None
    if kind in TAKES_DECLARATION and any(k.startswith("f.") for k in ctx.form):
        declaration = declaration_values(
            ctx.form, config.fields[row.state.event_type], keep_empty=True
        )
        if kind is ActionType.REQUEST_CORRECTION:
            # Only what changes (a field left empty that was empty is no change).
            before = row.state.declaration
            declaration = {
                k: v for k, v in declaration.items() if before.get(k) != v and (v or before.get(k))
            }
    specs = config.custom[custom].dialog_form if custom in config.custom else []
    form = {
        k[2:]: typed_value(v, next((s for s in specs if s.id == k[2:]), None))
        for k, v in ctx.form.items()
        if k.startswith("d.")
    }
    if kind is ActionType.PRINT:
        # A copy printed before the registry accepted the registration is a draft to check:
        # the box says so (never the browser), and nobody collects it or pays for it.
        final = await asyncio.to_thread(registered_final_at, ctx.state.reader, record_id)
        if final is None:
            form = {"draft": "yes"}
        else:
            form.pop("draft", None)
    then = ctx.form.get("then") or None
    docs = FormDocuments()
    if kind in TAKES_DECLARATION:
        docs = await attachments.take(ctx, row.state.event_type, record_id)
        if docs.errors:
            values = {**row.state.declaration, **(declaration or {})}
            wrong = declaration_gaps(ctx, row.state.event_type, values, docs, complete=False)
            return form_page(
                ctx, row.state.event_type, row, values, wrong, 422, action=kind, documents=docs
            )
    req = ActionRequest(
        kind,
        record_id,
        custom_type=custom,
        declaration=declaration,
        form=form or None,
        then=ActionType(then)
        if kind is ActionType.EDIT and then in ("DECLARE", "REGISTER")
        else None,
        documents=tuple(docs.refs),
    )
    try:
        appended = await ctx.state.journal.append_async(req, ctx.me.actor, key=form_key(ctx))
    except KeyReused:
        return already_sent(ctx)
    except InvalidInput as exc:
        errors = field_errors(ctx, exc, row.state.event_type)
        if kind in TAKES_DECLARATION and (declaration is not None or docs.refs):
            values = {**row.state.declaration, **(declaration or {})}
            return form_page(
                ctx, row.state.event_type, row, values, errors, 422, action=kind, documents=docs
            )
        return dialog_page(ctx, row, kind, custom, form, errors, 422)
    except NotFound:
        return not_found(ctx)
    except EdgeError as exc:
        return await record_view(ctx, record_id, error=error_text(ctx, exc), status=exc.status)
    if kind is ActionType.PRINT:
        return done(ctx, f"/records/{record_id}/print?copy={appended.entry.id}", kind, form_id)
    if kind is ActionType.DELETE:  # gone: back to her work, the draft's form forgotten too
        update = form_name(row.state.event_type, row, ActionType.UPDATE)
        return done(ctx, "/", "draft-deleted", f"{form_id} {update}".strip())
    name = config.custom[custom].name if custom in config.custom else ""
    return done(ctx, f"/records/{record_id}", kind, form_id, action=name)


def _action(value: str) -> ActionType | None:
    try:
        kind = ActionType(value)
    except ValueError:
        return None
    return None if kind is ActionType.CREATE else kind


def already_sent(ctx: Ctx) -> Response[Any]:
    """This very form was sent and carried out before (its answer was lost on the way): the
    record it acted on, saying so, instead of doing it again with other values."""
    key = form_key(ctx) or ""
    record_id = ctx.state.reader.keyed_record(ctx.me.user.id, key)
    if record_id is None:
        return not_found(ctx)
    return done(ctx, f"/records/{record_id}", "already-sent")
