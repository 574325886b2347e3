"""Guards attached to routes: who may reach a route at all, decided before its handler runs
(litestar-fullstack's `requires_*`). The services still check each record and user."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from edge.auth.caller import LOGIN_REQUIRED, office_of, resolve
from edge.clock import now_moment
from edge.errors import EdgeError, Forbidden, NotFound, Unauthenticated
from edge.texts import tr


def holds_scope(connection: ASGIConnection[Any, Any, Any, Any], name: str) -> bool:
    """Whether the logged-in caller's role holds a scope of this name (any options). Not
    logged in: Unauthenticated (the API answers 401, a page the login page)."""
    caller = resolve(connection, office_of(connection), now_moment())
    if caller is None:
        raise Unauthenticated(LOGIN_REQUIRED)
    return any(s.name == name for s in caller.actor.scopes)


def requires_scope(name: str, *, hidden: bool = False) -> Guard:
    """Only callers whose role holds the scope `name` reach the route; others are refused
    (403), or told there is nothing here (404) when `hidden` (pages a role must not see)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not holds_scope(connection, name):
            refusal: EdgeError = (
                NotFound(tr("There is no such page on this box."))
                if hidden
                else Forbidden(tr("Your role does not allow this"))
            )
            raise refusal

    return guard
