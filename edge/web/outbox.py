"""The outbox, the banner's live state, and help."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from edge.clock import parse_iso, utcnow
from edge.journal import syncstages
from edge.journal.reads import HELD_BACK
from edge.state import BoxState
from edge.web import attachments
from edge.web.context import (
    Ctx,
    banner,
    done,
    enter,
    page_caller,
    page_language,
    page_read,
    safe_next,
    show,
    show_off_loop,
)
from edge.web.messages import in_words, say, sentence, stage_line
from edge.web.render import render
from edge.web.workqueues import int_param
from edge.workflow.model import action_label


@get("/outbox")
async def outbox_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    page = int_param(request.query_params.get("page"), 1)
    after = (
        int_param(request.query_params.get("after"), 0) if request.query_params.get("after") else 0
    )
    rows, following, names = await page_read(ctx, _outbox_rows, ctx, after)
    items = [
        {
            **r,
            "label": action_label(r["type"], r["payload"]),
            "by": names.get(r["created_by"], ""),
            "at": ctx.when(r["created_at"]),
            "next_try": in_words(ctx, r["next_try_at"]),
            # What happened, a sentence of its own: the worker's error or why it waits.
            "error": sentence(say(ctx, r["last_error"])) if r["last_error"] else "",
            "held_back": say(ctx, HELD_BACK) if r["reason"] == HELD_BACK else "",
            "discarded_at": ctx.when(r["discarded_at"]),
            # A draft's actions go to the registry too, as a copy kept there: said so.
            "draft": r["status"] == "draft",
        }
        for r in rows
    ]
    documents = await page_read(ctx, attachments.outbox_rows, ctx)
    summary = state.reader.sync_summary()
    return await show_off_loop(
        ctx,
        "outbox.html",
        items=items,
        page=page,
        pages=None,
        next_page=following,
        total=sum(summary["counts"].values()),
        summary=summary,
        last_success=ctx.when(summary["last_success_at"]),
        next_try=in_words(ctx, summary["next_try_at"]),
        # A next try already due is under way (or waiting on a stalled link): said so.
        trying=bool(summary["next_try_at"]) and parse_iso(summary["next_try_at"]) <= utcnow(),
        # Catching up after a restore is said only when a restore asked for it.
        stages=[
            stage_line(ctx, s)
            for s in summary.get("stages", [])
            if s.name != syncstages.Stage.RESYNC or s.status != syncstages.Status.IDLE
        ],
        documents=documents,
    )


def _outbox_rows(ctx: Ctx, after: int) -> tuple[list[dict[str, Any]], Any, dict[str, str]]:
    """A page of the outbox and the names of who did each action."""
    rows, following = ctx.state.reader.outbox(ctx.me.actor, ctx.state.settings.page_size, after)
    return rows, following, ctx.state.reader.user_names({r["created_by"] for r in rows})


@post("/outbox/send-now")
async def send_now(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """Try to send now, without waiting out the pause after failed tries (the WAN is back,
    the clerk knows it before the box does)."""
    ctx = await enter(request, state)
    await state.journal.run_async(
        partial(syncstages.request, name=syncstages.Stage.PUSH, now=utcnow())
    )
    state.push_soon()
    return done(ctx, "/outbox", "send-now")


@get("/ui/status")
async def status(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """The banner's state, for the page script that updates it without a reload."""
    ctx = Ctx(request, state, page_language(request, state))
    # The banner's poll is not the user doing something: it never keeps a session alive.
    ctx.caller = await asyncio.to_thread(page_caller, request, state, False)
    if ctx.caller is None:
        return Response({"banner": None}, status_code=401)
    found = await asyncio.to_thread(banner, ctx)
    html = render(
        ctx.lang,
        "banner.html",
        {"banner": found, "csrf": ctx.caller.session.csrf_token if ctx.caller.session else ""},
    )
    return Response({"banner": found["kind"] if found else None, "html": html})


@post("/ui/dismiss-sent")
async def dismiss_sent(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """The green banner: seen. It shows again only after this user next sees the blue one."""
    ctx = await enter(request, state)
    state.offline_seen.discard(ctx.me.user.id)
    return Redirect(safe_next(ctx.form.get("next")))


@get("/help")
async def help_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """General guidance, readable before logging in too (from the login page, on a locked
    box): nothing on it is about one person. A logged-in user gets the usual header."""
    ctx = Ctx(request, state, page_language(request, state))
    if not state.locked:  # a locked box has nobody logged in (and no data to ask)
        ctx.caller = await asyncio.to_thread(page_caller, request, state, True)
    if ctx.caller is not None and ctx.caller.user.must_change_password:
        ctx.caller = None  # not in until the password is chosen: the page as for anyone
    return show(
        ctx,
        "help.html",
        offline_days=state.settings.offline_login_days,
        backoff_minutes=max(1, state.settings.sync_backoff_max_seconds // 60),
    )
