"""Logging in and out, keeping a session alive, changing one's password, choosing the
language."""

from __future__ import annotations

import asyncio
import math
from functools import partial
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from edge.auth import sessions
from edge.auth.caller import COOKIE, set_session_cookie
from edge.auth.login import TooManyLogins
from edge.clock import now_moment
from edge.errors import InvalidInput, LoginRefused
from edge.pairing import code_to_show
from edge.state import BoxState, unlock_by_login
from edge.web.context import (
    FLASH_COOKIE,
    LANG_COOKIE,
    OUT_COOKIE,
    Ctx,
    enter,
    page_caller,
    page_language,
    read_form,
    safe_next,
    session_left,
    show,
)
from edge.web.i18n import LANGUAGES, translations
from edge.web.messages import login_error


@get("/login", sync_to_thread=False)
def login_page(request: Request[Any, Any, Any], state: BoxState) -> Response[str]:
    ctx = Ctx(request, state, page_language(request, state))
    out = OUT_COOKIE in request.cookies
    return _login_form(
        ctx,
        200,
        # After a logout, never the last user's page (Back may bring its address here).
        next="/" if out else safe_next(request.query_params.get("next")),
        ended=request.query_params.get("ended") == "1",
        logged_out=out and request.query_params.get("out") == "1",
        # Until IT has paired the box: the code they compare with what their tool sees.
        pairing_code=code_to_show(),
    )


def _login_form(ctx: Ctx, status: int, **context: Any) -> Response[str]:
    values = {
        "error": None,
        "ended": False,
        "username": "",
        "locked": ctx.state.locked,
        **context,
    }
    settings = ctx.state.settings
    minutes = max(1, math.ceil(settings.session_idle_minutes))
    ended = translations(ctx.lang.code).ngettext(
        "Your login session ended: nothing was done for %(num)d minute, the shift's "
        "%(hours)d hours were over, or you logged out in another window. Log in again to go "
        "on. A form you were filling in is kept on this computer and comes back after you "
        "log in.",
        "Your login session ended: nothing was done for %(num)d minutes, the shift's "
        "%(hours)d hours were over, or you logged out in another window. Log in again to go "
        "on. A form you were filling in is kept on this computer and comes back after you "
        "log in.",
        minutes,
    ) % {"num": minutes, "hours": settings.session_max_hours}
    return show(ctx, "login.html", status, ended_text=ended, **values)


@post("/login")
async def login(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = Ctx(request, state, page_language(request, state))
    form = await read_form(request)
    username, password = form.get("username", "").strip(), form.get("password", "")
    next_ = "/" if OUT_COOKIE in request.cookies else safe_next(form.get("next"))
    try:
        await unlock_by_login(state, username, password)
        done = await state.logins.login(username, password, now_moment())
    except LoginRefused as exc:
        return _login_form(ctx, 401, next=next_, error=login_error(ctx, exc), username=username)
    except InvalidInput:
        error = ctx._("Enter your username and password.")
        return _login_form(ctx, 422, next=next_, error=error, username=username)
    except TooManyLogins:
        error = ctx._("Too many people are logging in at this moment. Try again in a few seconds.")
        return _login_form(ctx, 503, next=next_, error=error, username=username)
    response: Response[Any] = Redirect("/password" if done.user.must_change_password else next_)
    set_session_cookie(response, done.session_id, request)
    response.delete_cookie(OUT_COOKIE, path="/")
    return response


@post("/logout")
async def logout(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """End the session (if it has not ended already: then there is nothing to refuse) and
    leave nothing of this user in the browser."""
    if await asyncio.to_thread(page_caller, request, state, False) is not None:
        ctx = await enter(request, state, password_page=True)
        session = ctx.me.session
        if session is not None:
            await state.journal.run_async(partial(sessions.end_session, id_hash=session.id_hash))
    response: Response[Any] = Redirect("/login?out=1")
    # The next person at this PC starts clean: no session, no message meant for the last
    # one (the banners are per user; the page script clears this user's saved forms), and
    # none of the last one's pages to land on after logging in (the marker: OUT_COOKIE).
    for cookie in (COOKIE, FLASH_COOKIE):
        response.delete_cookie(cookie, path="/")
    response.set_cookie(OUT_COOKIE, "1", path="/", httponly=True, samesite="strict")
    return response


@post("/ui/keepalive")
async def keepalive(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    """The user is busy on a page (typing a form, or asked to stay logged in): counts as
    activity, like any page request. Answers how long the session now has (0 when it has
    ended: the page says so; the session's cookie stays for the login page to say why)."""
    if await asyncio.to_thread(page_caller, request, state, False) is None:
        return Response({"session_left": 0}, status_code=401, headers={"cache-control": "no-store"})
    ctx = await enter(request, state)
    return Response({"session_left": session_left(ctx)}, headers={"cache-control": "no-store"})


@get("/password")
async def password_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state, password_page=True)
    return show(ctx, "password.html", errors={}, done=False)


@post("/password")
async def change_password(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state, password_page=True)
    new, again = ctx.form.get("new_password", ""), ctx.form.get("new_password_again", "")
    errors: dict[str, str] = {}
    if new != again:
        errors["new_password_again"] = ctx._("The two new passwords are not the same.")
    else:
        try:
            session = ctx.me.session
            await state.users.change_own_password(
                ctx.me.user,
                ctx.form.get("current_password", ""),
                new,
                session.id_hash if session else "",
            )
        except LoginRefused:
            errors["current_password"] = ctx._("This is not your current password.")
        except InvalidInput as exc:
            errors = {p.field: p.message for p in exc.problems}
    if errors:
        return show(ctx, "password.html", 422, errors=errors, done=False)
    return Redirect("/")


@post("/language")
async def set_language(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await read_form(request)
    code = form.get("lang", "")
    response: Response[Any] = Redirect(safe_next(form.get("next")))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, path="/", samesite="strict", max_age=31_536_000)
    return response
