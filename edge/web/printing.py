"""The certified copy issued by a Print action."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from edge.state import BoxState
from edge.web.context import enter, not_found, show
from edge.web.records import readable_record
from edge.workflow.model import ActionType
from edge.workflow.rules import can_print


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
    accepted = any(e.type is ActionType.REGISTER and s.state == "accepted" for e, s in timeline)
    names = state.reader.user_names({issued.created_by})
    return show(
        ctx,
        "print.html",
        record=row,
        event=state.config.events.get(row.state.event_type),
        final=accepted,
        issued_at=ctx.when(issued.created_at),
        issued_by=names.get(issued.created_by, issued.created_by),
        collector=(issued.payload.get("form") or {}).get("collector", ""),
    )
