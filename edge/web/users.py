"""The local admin's pages: the office's users, creating one, one-time passwords, unlocking,
deactivating. The same functions as the API's (edge/http/users.py) do the work and check
the admin's scopes."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect

from edge.errors import EdgeError, InvalidInput
from edge.http import users as api
from edge.web.pages import Ctx, enter, error_text, not_found, show
from edge.workflow.scopes import grants


def _roles(ctx: Ctx) -> list[Any]:
    office = ctx.me.user.office_id
    return [
        r
        for r in ctx.state.config.roles.values()
        if grants(ctx.me.actor, "user.create", office_id=office, role=r.id)
    ]


def _list(ctx: Ctx, message: str | None = None, error: str | None = None) -> Response[str]:
    try:
        people = api.visible_users(ctx.state, ctx.me)
    except EdgeError:
        return not_found(ctx)
    roles = {r.id: r.label for r in ctx.state.config.roles.values()}
    return show(
        ctx,
        "users.html",
        people=people,
        roles=roles,
        me=ctx.me.user.id,
        message=message,
        error=error,
        when=ctx.when,
    )


@get("/users")
async def users_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    return _list(ctx)


@get("/users/new")
async def new_user_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    if not _roles(ctx):
        return not_found(ctx)
    return show(ctx, "user_new.html", roles=_roles(ctx), values={}, errors={})


@post("/users/new")
async def create_user(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    f = ctx.form
    try:
        await api.create(
            state,
            ctx.me,
            f.get("username", ""),
            f.get("display_name", ""),
            f.get("role", ""),
            None,
            f.get("password") or None,
        )
    except InvalidInput as exc:
        errors = {p.field: p.message for p in exc.problems}
        return show(ctx, "user_new.html", 422, roles=_roles(ctx), values=f, errors=errors)
    except EdgeError as exc:
        return show(
            ctx,
            "user_new.html",
            403,
            roles=_roles(ctx),
            values=f,
            errors={"": error_text(ctx, exc)},
        )
    return Redirect("/users")


@get("/users/{user_id:str}/reset")
async def reset_page(
    request: Request[Any, Any, Any], state: State, user_id: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    try:
        person = next((u for u in api.visible_users(state, ctx.me) if u.id == user_id), None)
    except EdgeError:
        person = None
    if person is None:
        return not_found(ctx)
    return show(ctx, "user_reset.html", person=person, errors={})


@post("/users/{user_id:str}/{change:str}")
async def change_user(
    request: Request[Any, Any, Any], state: State, user_id: FromPath[str], change: FromPath[str]
) -> Response[Any]:
    """Reset a password, unlock, deactivate or reactivate; back to the list with the outcome."""
    ctx = await enter(request, state)
    _ = ctx._
    try:
        if change == "reset":
            person = await api.reset_password(state, ctx.me, user_id, ctx.form.get("password", ""))
            done = _("%(name)s has a one-time password: they choose their own at their next login.")
        elif change == "unlock":
            person = await api.unlock(state, ctx.me, user_id)
            done = _("%(name)s can log in again.")
        elif change in ("deactivate", "reactivate"):
            person = await api.set_active(state, ctx.me, user_id, change == "reactivate")
            done = (
                _("%(name)s can no longer log in.")
                if change == "deactivate"
                else _("%(name)s can log in again.")
            )
        else:
            return not_found(ctx)
    except InvalidInput as exc:
        if change == "reset":
            person = next(u for u in api.visible_users(state, ctx.me) if u.id == user_id)
            errors = {"password": "; ".join(p.message for p in exc.problems)}
            return show(ctx, "user_reset.html", 422, person=person, errors=errors)
        return _list(ctx, error=error_text(ctx, exc))
    except EdgeError as exc:
        return _list(ctx, error=error_text(ctx, exc))
    return _list(ctx, message=done % {"name": person.display_name})
