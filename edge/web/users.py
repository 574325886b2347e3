"""The local admin's pages: the office's users, creating one, one-time passwords, unlocking,
deactivating. The same service as the API's (edge/users/admin.py) does the work and checks
the admin's scopes."""

from __future__ import annotations

import secrets
import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from edge.auth.guards import requires_scope
from edge.errors import EdgeError, Forbidden, InvalidInput
from edge.state import BoxState
from edge.users.passwords import generate_password
from edge.users.register import User
from edge.web.context import Ctx, done, enter, not_found, show
from edge.web.messages import error_text, say
from edge.workflow.scopes import grants

# The users pages are not there for a role that does not manage users.
MANAGES_USERS = requires_scope("user.read", hidden=True)
ONCE_SECONDS = 300  # how long a made-up password waits on the box for its page


def _roles(ctx: Ctx) -> list[Any]:
    office = ctx.me.user.office_id
    return [
        r
        for r in ctx.state.config.roles.values()
        if grants(ctx.me.actor, "user.create", office_id=office, role=r.id)
    ]


def _list(ctx: Ctx, error: str | None = None, status: int = 200) -> Response[str]:
    try:
        people = ctx.state.users.visible(ctx.me.actor)
    except Forbidden:  # a role that does not manage users: the page is not there for it
        return not_found(ctx)
    roles = {r.id: r.label for r in ctx.state.config.roles.values()}
    return show(
        ctx,
        "users.html",
        status,
        people=people,
        roles=roles,
        me=ctx.me.user.id,
        error=error,
        when=ctx.when,
    )


@get("/users", guards=[MANAGES_USERS])
async def users_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    shown = _take_once(ctx, request.query_params.get("shown", ""))
    if shown is not None:
        person, password = shown
        return show(ctx, "user_password_once.html", person=person, password=password)
    return _list(ctx)


def _keep_once(ctx: Ctx, person: User, password: str) -> str:
    """Keep a made-up password on the box (in memory, a few minutes) for the page after the
    post to show once: a reload then shows the users, never another password."""
    kept = ctx.state.passwords_once
    now = time.monotonic()
    for token in [t for t, (*_, until) in kept.items() if until < now]:
        del kept[token]
    token = secrets.token_urlsafe(16)
    kept[token] = (ctx.me.user.id, person.id, password, now + ONCE_SECONDS)
    return token


def _take_once(ctx: Ctx, token: str) -> tuple[User, str] | None:
    kept = ctx.state.passwords_once.pop(token, None) if token else None
    if kept is None or kept[0] != ctx.me.user.id or kept[3] < time.monotonic():
        return None
    person = _person(ctx, kept[1])
    return (person, kept[2]) if person is not None else None


@get("/users/new", guards=[MANAGES_USERS])
async def new_user_page(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    if not _roles(ctx):
        return not_found(ctx)
    return show(ctx, "user_new.html", roles=_roles(ctx), values={}, errors={})


@post("/users/new", guards=[MANAGES_USERS])
async def create_user(request: Request[Any, Any, Any], state: BoxState) -> Response[Any]:
    ctx = await enter(request, state)
    f = ctx.form
    # No password typed: the box makes one up, shown once (a user made here has no other).
    generated = "" if f.get("password") else generate_password()
    try:
        person = await state.users.create(
            ctx.me.actor,
            f.get("username", ""),
            f.get("display_name", ""),
            f.get("role", ""),
            None,
            f.get("password") or generated,
        )
    except InvalidInput as exc:
        errors = {p.field: p.message for p in exc.problems}
        return show(ctx, "user_new.html", 422, roles=_roles(ctx), values=f, errors=errors)
    except EdgeError as exc:
        return show(
            ctx,
            "user_new.html",
            exc.status,
            roles=_roles(ctx),
            values=f,
            errors={"": error_text(ctx, exc)},
        )
    if generated:
        token = _keep_once(ctx, person, generated)
        return done(ctx, f"/users?shown={token}", "user-created", name=person.display_name)
    return done(ctx, "/users", "user-created", name=person.display_name)


def _person(ctx: Ctx, user_id: str) -> User | None:
    """A user this admin may see, or None."""
    try:
        return next((u for u in ctx.state.users.visible(ctx.me.actor) if u.id == user_id), None)
    except Forbidden:
        return None


async def _person_form(
    request: Request[Any, Any, Any], state: BoxState, user_id: str, template: str
) -> Response[Any]:
    """A form about one user this admin may see (else the not-found page)."""
    ctx = await enter(request, state)
    person = _person(ctx, user_id)
    if person is None:
        return not_found(ctx)
    return show(ctx, template, person=person, errors={})


@get("/users/{user_id:str}/reset", guards=[MANAGES_USERS])
async def reset_page(
    request: Request[Any, Any, Any], state: BoxState, user_id: FromPath[str]
) -> Response[Any]:
    """The reset form: a one-time password typed or generated."""
    return await _person_form(request, state, user_id, "user_reset.html")


@post("/users/{user_id:str}/reset", guards=[MANAGES_USERS])
async def reset_password(
    request: Request[Any, Any, Any], state: BoxState, user_id: FromPath[str]
) -> Response[Any]:
    """Give a user a one-time password (they choose their own at their next login)."""
    ctx = await enter(request, state)
    person = _person(ctx, user_id)
    if person is None:
        return not_found(ctx)
    generated = generate_password() if ctx.form.get("generate") else ""
    try:
        await state.users.reset_password(
            ctx.me.actor, user_id, generated or ctx.form.get("password", "")
        )
    except InvalidInput as exc:
        errors = {"password": "; ".join(p.message for p in exc.problems)}
        return show(ctx, "user_reset.html", 422, person=person, errors=errors)
    except EdgeError as exc:
        return _list(ctx, error=error_text(ctx, exc), status=exc.status)
    if generated:  # shown once by the next page, never stored in clear nor sent again
        token = _keep_once(ctx, person, generated)
        return done(ctx, f"/users?shown={token}", "user-reset", name=person.display_name)
    return done(ctx, "/users", "user-reset", name=person.display_name)


async def _change(ctx: Ctx, user_id: str, change: str) -> Response[Any]:
    person = _person(ctx, user_id)
    if person is None:
        return not_found(ctx)
    reason = ctx.form.get("reason", "")
    if change == "deactivated" and not reason.strip():  # the page asks why; it is kept
        errors = {"reason": ctx._("Say why this user is deactivated.")}
        return show(ctx, "user_deactivate.html", 422, person=person, errors=errors)
    try:
        if change == "unlocked":
            await ctx.state.users.unlock(ctx.me.actor, user_id)
        else:
            await ctx.state.users.set_active(ctx.me.actor, user_id, change == "reactivated", reason)
    except InvalidInput as exc:
        errors = {"reason": " ".join(say(ctx, p.message) for p in exc.problems)}
        return show(ctx, "user_deactivate.html", 422, person=person, errors=errors)
    except EdgeError as exc:
        return _list(ctx, error=error_text(ctx, exc), status=exc.status)
    return done(ctx, "/users", f"user-{change}", name=person.display_name)


@get("/users/{user_id:str}/deactivate", guards=[MANAGES_USERS])
async def deactivate_page(
    request: Request[Any, Any, Any], state: BoxState, user_id: FromPath[str]
) -> Response[Any]:
    """Are you sure, and why: deactivating ends the person's sessions at once."""
    return await _person_form(request, state, user_id, "user_deactivate.html")


@post("/users/{user_id:str}/unlock", guards=[MANAGES_USERS])
async def unlock(
    request: Request[Any, Any, Any], state: BoxState, user_id: FromPath[str]
) -> Response[Any]:
    """Lift the lock left by failed logins."""
    return await _change(await enter(request, state), user_id, "unlocked")


@post("/users/{user_id:str}/deactivate", guards=[MANAGES_USERS])
async def deactivate(
    request: Request[Any, Any, Any], state: BoxState, user_id: FromPath[str]
) -> Response[Any]:
    """Stop a user from logging in (their sessions end at once)."""
    return await _change(await enter(request, state), user_id, "deactivated")


@post("/users/{user_id:str}/reactivate", guards=[MANAGES_USERS])
async def reactivate(
    request: Request[Any, Any, Any], state: BoxState, user_id: FromPath[str]
) -> Response[Any]:
    """Let a deactivated user log in again."""
    return await _change(await enter(request, state), user_id, "reactivated")
