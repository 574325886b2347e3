"""Who is making a request: a login session (cookie) or an API token (bearer).

Cookie sessions are httpOnly and SameSite=Strict (Secure over TLS); every state-changing
request made with one must carry the session's CSRF token in `X-CSRF-Token`. A user who must
change their password may only do that (and log out) until they have.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from edge.clock import utcnow
from edge.errors import Forbidden, Unauthenticated
from edge.texts import tr
from edge.users.register import User, actor_of, get_user, user_by_token
from edge.users.sessions import Session, find_session, needs_touch, touch
from edge.workflow.model import Actor

COOKIE = "edge_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Route option: reachable while the user still has to change a one-time password.
ALLOW_PASSWORD_CHANGE_PENDING = "allow_password_change_pending"
LOGIN_REQUIRED = tr("Log in to use the box.")


@dataclass(frozen=True)
class Caller:
    """The authenticated user and how they authenticated."""

    user: User
    actor: Actor
    session: Session | None


def current_caller(request: Request[Any, Any, Any], state: State) -> Caller:
    """Resolve the caller or raise Unauthenticated / Forbidden."""
    conn = state.reader.conn()
    now = utcnow()
    session = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = user_by_token(conn, header[7:].strip())
        if found is None:
            raise Unauthenticated(tr("This API token is not valid (revoked or mistyped)."))
        user = found
    else:
        cookie = request.cookies.get(COOKIE)
        settings = state.settings
        session = (
            find_session(conn, cookie, now, timedelta(minutes=settings.session_idle_minutes))
            if cookie
            else None
        )
        if session is None:
            raise Unauthenticated(LOGIN_REQUIRED)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise Forbidden(
                    tr(
                        "This request lacks the page's security token (CSRF). Reload the page "
                        "and try again."
                    )
                )
        if needs_touch(session, now):
            state.journal.writer.submit(lambda c, h=session.id_hash: touch(c, h, now))
        user = get_user(conn, session.user_id)
    if not user.active:
        raise Unauthenticated(LOGIN_REQUIRED)
    if user.must_change_password and not request.route_handler.opt.get(
        ALLOW_PASSWORD_CHANGE_PENDING
    ):
        raise Forbidden(tr("Change your one-time password before doing anything else."))
    return Caller(user, actor_of(user, state.config), session)


def current_actor(caller: NamedDependency[Caller]) -> Actor:
    return caller.actor
