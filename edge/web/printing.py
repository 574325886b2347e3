"""The certified copy issued by a Print action. A copy is what it was when issued: a draft
(the registry had not accepted the registration yet) stays a draft, and it is shown to the
one who issued it, right after issuing it; every further copy is a Print of its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from edge.clock import parse_iso, utcnow
from edge.journal.registration import registered_final_at, registration_number
from edge.state import BoxState
from edge.web.context import enter, not_found, show
from edge.web.records import readable_record
from edge.workflow.model import ActionType
from edge.workflow.rules import can_print

# How long after issuing a copy its page can be printed (a printer jam, a second try).
PRINTABLE_FOR = timedelta(minutes=30)


@get("/records/{record_id:str}/print")
async def print_page(
    request: Request[Any, Any, Any], state: BoxState, record_id: FromPath[str]
) -> Response[Any]:
    """The certified copy issued by one PRINT action (`?copy=<action id>`). Only people who
    may print see it; without a PRINT action, the way to one is the Print dialog."""
    ctx = await enter(request, state)
    row = readable_record(ctx, record_id)
    if row is None or not can_print(row.state, ctx.me.actor):
        return not_found(ctx)
    timeline = await asyncio.to_thread(state.reader.timeline, record_id)
    copy = request.query_params.get("copy", "")
    issued = next((e for e, _ in timeline if e.id == copy and e.type is ActionType.PRINT), None)
    if issued is None:
        return Redirect(f"/records/{record_id}/do/{ActionType.PRINT.value}")
    names = state.reader.user_names({issued.created_by})
    by = names.get(issued.created_by, issued.created_by)
    if issued.created_by != ctx.me.user.id or utcnow() - parse_iso(issued.created_at) > (
        PRINTABLE_FOR
    ):
        return show(
            ctx,
            "message.html",
            410,
            title=ctx._("This copy can no longer be printed"),
            message=ctx._(
                "This copy was issued on %(when)s by %(who)s. Every copy is recorded: to print "
                "another one, use Print on the record."
            )
            % {"when": ctx.when(issued.created_at), "who": by},
        )
    final_at = await asyncio.to_thread(registered_final_at, state.reader, record_id)
    number = await asyncio.to_thread(registration_number, state.reader, record_id)
    registered = next((e for e, _ in reversed(timeline) if e.type is ActionType.REGISTER), None)
    said = issued.payload.get("form") or {}
    return show(
        ctx,
        "print.html",
        record=row,
        event=state.config.events.get(row.state.event_type),
        # A copy asked for as a draft stays one, whatever the registry said since.
        final=final_at is not None and final_at <= issued.created_at and not said.get("draft"),
        registration_number=number,
        issued_at=ctx.when(issued.created_at),
        issued_by=by,
        collector=said.get("collector", ""),
        fee=said.get("fee", ""),
        receipt=said.get("receipt", ""),
        registration=registered
        and {
            "at": ctx.when(registered.created_at),
            "by": state.reader.user_names({registered.created_by}).get(registered.created_by, "?"),
            "office": ctx.office(registered.created_at_location),
        },
    )
