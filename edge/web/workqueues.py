"""Workqueues and search: the lists staff work from, on this box and in the registry, and
bringing a registry record here."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from edge.clock import parse_iso
from edge.errors import EdgeError
from edge.ids import is_uuid
from edge.journal.notes import last_said
from edge.journal.reads import Count, RecordRow
from edge.journal.registration import registered_final_at
from edge.state import BoxState
from edge.upstream import RegistryHit
from edge.web.context import Ctx, done, enter, not_found, page_read, show, show_off_loop
from edge.web.messages import error_text
from edge.web.records import record_view
from edge.web.render import shown
from edge.workflow.config import Workqueue
from edge.workflow.engine import ActionRequest
from edge.workflow.model import ActionType, CoreFlag, Status
from edge.workflow.rules import visible_queues
from edge.workflow.scopes import grants


@get("/")
async def home(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    queues = visible_queues(ctx.me.actor, state.config.workqueues)
    if not queues:  # a role without records: the local admin lands on the users
        manages = any(s.name == "user.read" for s in ctx.me.actor.scopes)
        return Redirect("/users" if manages else "/search")

    def first_with_work() -> str:
        for q in queues:
            if state.reader.workqueue_count(q.query, ctx.me.actor).n:
                return q.id
        return next((q.id for q in queues if q.home), queues[0].id)

    return Redirect(f"/queues/{await asyncio.to_thread(first_with_work)}")


@get("/queues/{queue_id:str}")
async def queue_page(
    request: Request[Any, Any, Any], state: BoxState, queue_id: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    queue = state.config.workqueues.get(queue_id)
    if queue is None or queue not in visible_queues(ctx.me.actor, state.config.workqueues):
        return not_found(ctx)
    # Keyset pages: "Next" carries where this page ended; the number is only for people.
    page = int_param(request.query_params.get("page"), 1)
    after = request.query_params.get("after") or None
    size = state.settings.page_size
    listing, following, total = await page_read(ctx, _queue_rows, ctx, queue, after)
    return await show_off_loop(
        ctx,
        "queue.html",
        queue=queue,
        records=listing,
        page=page,
        pages=None if total.more else max(1, -(-total.n // size)),
        total=f"{total.n}+" if total.more else str(total.n),
        next_page=following,
    )


@get("/search")
async def search_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    text = (request.query_params.get("q") or "").strip()[:100]
    listing = await page_read(ctx, _found, ctx, text) if text else []
    registry: list[dict[str, Any]] | None = []
    summary = state.reader.sync_summary()
    if text and summary["enrolled"] and summary["registry_reachable"] is not False:
        hits = await asyncio.to_thread(state.upstream.search, text, ctx.me.user.id)
        registry = None if hits is None else _registry_hits(ctx, hits)
    elif text and summary["enrolled"]:
        registry = None
    return await show_off_loop(ctx, "search.html", q=text, records=listing, registry=registry)


def _registry_hits(ctx: Ctx, hits: list[RegistryHit]) -> list[dict[str, Any]]:
    """The registry's records, each marked on this box or in the registry only, and
    whether this user may bring it here (their role may assign such a record)."""
    here = ctx.state.reader.conn()
    out = []
    for h in hits:
        local = here.execute("SELECT 1 FROM records WHERE id = ?", (h.record_id,)).fetchone()
        event = ctx.state.config.events.get(h.event_type)
        out.append(
            {
                "id": h.record_id,
                "tracking_id": h.tracking_id,
                "title": h.title or ctx._("(no name yet)"),
                "event": event.label if event else h.event_type,
                "status": h.status,
                "office": h.held_by_office or h.office_id,
                "on_box": local is not None,
                "may_bring": grants(
                    ctx.me.actor, "record.assign", office_id=h.office_id, event=h.event_type
                ),
            }
        )
    return out


@post("/records/bring")
async def bring_record(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """Assign to me on a record found in the registry: lease it to this box, download it,
    assign it to the user."""
    ctx = await enter(request, state)
    record_id = ctx.form.get("record_id", "")
    if not is_uuid(record_id):
        return not_found(ctx)
    problem = await asyncio.to_thread(
        state.upstream.bring, record_id, f"{ctx.me.user.display_name} ({ctx.me.user.username})"
    )
    if problem is not None:
        return show(
            ctx,
            "message.html",
            409,
            title=ctx._("The record could not be brought here"),
            message=problem,
        )
    try:
        await state.journal.append_async(ActionRequest(ActionType.ASSIGN, record_id), ctx.me.actor)
    except EdgeError as exc:
        return await record_view(ctx, record_id, error=error_text(ctx, exc), status=exc.status)
    return done(ctx, f"/records/{record_id}", ActionType.ASSIGN)


def _queue_rows(
    ctx: Ctx, queue: Workqueue, after: str | None
) -> tuple[list[dict[str, Any]], str | None, Count]:
    """One page of a workqueue as the list shows it, the cursor of the next, and the count."""
    actor = ctx.me.actor
    rows, following = ctx.state.reader.workqueue(
        queue.query, actor, ctx.state.settings.page_size, after
    )
    return _listing(ctx, rows), following, ctx.state.reader.workqueue_count(queue.query, actor)


def _found(ctx: Ctx, text: str) -> list[dict[str, Any]]:
    """The records on this box the search finds, as the list shows them."""
    return _listing(ctx, ctx.state.reader.search(text, ctx.me.actor))


def _listing(ctx: Ctx, rows: list[RecordRow]) -> list[dict[str, Any]]:
    """A page of records as the lists show them: who declared it, the event's date, how long
    it has waited, and whether a registration is final yet (reads: off the event loop)."""
    ids = {r.state.assigned_to for r in rows if r.state.assigned_to}
    names = ctx.state.reader.user_names(ids | {r.state.created_by for r in rows})
    events = ctx.state.config.events
    today = ctx.today
    # Why a record was sent back, beside it: the clerk sees what to fix without opening it.
    rejected = [r.state.id for r in rows if CoreFlag.REJECTED in r.state.flags]
    reasons = last_said(ctx.state.reader.conn(), rejected, ActionType.REJECT.value, "reason")
    out = []
    for r in rows:
        ctx.state.saves_first.pause()
        event = events.get(r.state.event_type)
        date_field = event.event_date_field if event else ""
        waited = (today - parse_iso(r.state.updated_at).date()).days
        registered = r.state.status is Status.REGISTERED
        out.append(
            {
                "id": r.state.id,
                "tracking_id": r.tracking_id,
                "title": r.title or ctx._("(no name yet)"),
                "event": event.label if event else r.state.event_type,
                "event_date": _event_date(ctx, r, date_field),
                "declared_by": names.get(r.state.created_by, ""),
                "waiting": max(0, waited),
                "status": r.state.status.value,
                "not_final": registered and not registered_final_at(ctx.state.reader, r.state.id),
                "flags": [ctx.state.config.flag_label(f) for f in sorted(r.state.flags)],
                "assignee": names.get(r.state.assigned_to or "", "") if r.state.assigned_to else "",
                "updated": ctx.when(r.state.updated_at),
                "rejected_because": reasons.get(r.state.id, ""),
            }
        )
    return out


def _event_date(ctx: Ctx, r: RecordRow, date_field: str) -> str:
    """The event's date as the record page says it (1 Nov 2026, in the reader's language)."""
    value = r.state.declaration.get(date_field)
    spec = ctx.state.config.fields.get(r.state.event_type, {}).get(date_field)
    if value in (None, ""):
        return ""
    return str(value) if spec is None else shown(spec, value, ctx._, ctx.lang.code)


def int_param(value: str | None, default: int) -> int:
    try:
        return max(1, min(int(value or default), 1_000_000))
    except ValueError:
        return default
