"""Who is making a request: a login session (cookie) or an API token (bearer).

One resolver for the API and the pages, so the two can never drift: both refresh the
session's last-seen time, both end an idle or expired session, both refuse a deactivated
user. What differs is only how each answers a refusal (a problem document or the login page)
and where the CSRF token travels (a header for the API, a form field for the pages).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Protocol, cast

from litestar import Response
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from edge.auth.sessions import Session, find_session, needs_touch, touch, user_by_token
from edge.clock import Moment, now_moment
from edge.errors import Forbidden, Unauthenticated
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.settings import Settings
from edge.texts import tr
from edge.users.register import User, actor_of, get_user
from edge.workflow.config import Config
from edge.workflow.model import Actor

COOKIE = "edge_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Route option: reachable while the user still has to change a one-time password.
ALLOW_PASSWORD_CHANGE_PENDING = "allow_password_change_pending"
LOGIN_REQUIRED = tr("Log in to use the box.")
_RESOLVED = "edge.caller"  # where a request keeps its resolved caller
CSRF_MISSING = tr(
    "This request lacks the page's security token (CSRF). Reload the page and try again."
)


class Office(Protocol):
    """What resolving a caller needs of the app (the app's state has it: edge/state.py)."""

    settings: Settings
    config: Config
    reader: Reader
    journal: Journal


def office_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Office:
    """The app's state, as resolving a caller sees it."""
    return cast(Office, connection.app.state)


@dataclass(frozen=True)
class Caller:
    """The authenticated user and how they authenticated."""

    user: User
    actor: Actor
    session: Session | None

    def csrf_ok(self, sent: str) -> bool:
        """Whether a state-changing request carries this session's CSRF token (a token
        caller needs none: a script holds no cookie a foreign page could ride on)."""
        if self.session is None:
            return True
        return hmac.compare_digest(sent.encode(), self.session.csrf_token.encode())


def set_session_cookie(
    response: Response[Any], session_id: str, request: ASGIConnection[Any, Any, Any, Any]
) -> None:
    """The login session's cookie: not readable by scripts, never sent by another site, only
    over TLS when the box is reached over TLS."""
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def idle_limit(state: Office) -> timedelta:
    return timedelta(minutes=state.settings.session_idle_minutes)


def resolve(
    request: ASGIConnection[Any, Any, Any, Any],
    state: Office,
    now: Moment,
    *,
    activity: bool = True,
) -> Caller | None:
    """The caller, or None when nobody is logged in (no cookie; a session unknown, idle,
    expired or of a deactivated user). Raises Unauthenticated for an API token that is not
    valid. `activity`: the request counts as the user being active (every request but the
    pages' background banner poll, which must not keep an idle session alive)."""
    conn = state.reader.conn()
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = user_by_token(conn, header[7:].strip())
        if user is None:
            raise Unauthenticated(tr("This API token is not valid (revoked or mistyped)."))
        return Caller(user, actor_of(user, state.config), None) if user.active else None
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    idle = idle_limit(state)
    session = find_session(conn, cookie, now, idle)
    if session is None:
        return None
    user = get_user(conn, session.user_id)
    if not user.active:
        return None
    if activity and needs_touch(session, now, idle):
        state.journal.writer.submit(partial(touch, id_hash=session.id_hash, now=now))
    return Caller(user, actor_of(user, state.config), session)


def current_caller(request: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The API's caller (a dependency, and the guards'): raises Unauthenticated / Forbidden.
    Resolved once per request."""
    known: Caller | None = request.state.get(_RESOLVED)
    if known is not None:
        return known
    caller = resolve(request, office_of(request), now_moment())
    if caller is None:
        raise Unauthenticated(LOGIN_REQUIRED)
    method = request.scope.get("method", "GET")
    if method not in SAFE_METHODS and not caller.csrf_ok(request.headers.get(CSRF_HEADER, "")):
        raise Forbidden(CSRF_MISSING)
    if caller.user.must_change_password and not request.route_handler.opt.get(
        ALLOW_PASSWORD_CHANGE_PENDING
    ):
        raise Forbidden(tr("Change your one-time password before doing anything else."))
    request.state[_RESOLVED] = caller
    return caller


def current_actor(caller: NamedDependency[Caller]) -> Actor:
    return caller.actor
