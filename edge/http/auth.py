"""Who is making a request.

Until sessions land (users issue), a request names its user with the `X-Edge-User` header,
and only when the box runs in demo mode; in production mode that header is ignored and every
API call answers 401.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from edge.errors import Unauthenticated
from edge.users.register import actor_of, find_user
from edge.workflow.model import Actor

DEV_HEADER = "x-edge-user"


def current_actor(request: Request[Any, Any, Any], state: State) -> Actor:
    """Resolve the acting user or raise Unauthenticated."""
    settings = state.settings
    username = request.headers.get(DEV_HEADER)
    if not settings.demo or not username:
        raise Unauthenticated("Log in to use the box.")
    user = find_user(state.reader.conn(), username)
    if user is None or not user.active:
        raise Unauthenticated("Log in to use the box.")
    return actor_of(user, state.config)
