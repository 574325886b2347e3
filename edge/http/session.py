"""Logging in and out, the current user, password change and API tokens."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from edge.auth import sessions
from edge.auth.caller import ALLOW_PASSWORD_CHANGE_PENDING as PENDING_OK
from edge.auth.caller import COOKIE, Caller, set_session_cookie
from edge.clock import now_moment, utcnow
from edge.errors import FieldProblem, InvalidInput, NotFound
from edge.http.schemas import (
    LoginIn,
    LoginOut,
    MeOut,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenOut,
)
from edge.state import BoxState, unlock_by_login
from edge.users.register import User


def me_out(user: User, scopes: tuple[Any, ...]) -> MeOut:
    return MeOut(
        user.id,
        user.username,
        user.display_name,
        user.role,
        user.office_id,
        user.must_change_password,
        [str(s) for s in scopes],
    )


class SessionController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", operation_id="login", status_code=200)
    async def login(
        self, data: JSONBody[LoginIn], request: Request[Any, Any, Any], state: BoxState
    ) -> Response[LoginOut]:
        """Log in with username and password; works while the registry is unreachable."""
        await unlock_by_login(state, data.username.strip(), data.password)
        done = await state.logins.login(data.username.strip(), data.password, now_moment())
        scopes = state.config.role_scopes.get(done.user.role, ())
        body = LoginOut(
            me_out(done.user, scopes), done.session.csrf_token, done.checked_with_registry
        )
        response = Response(body)
        set_session_cookie(response, done.session_id, request)
        return response

    @post("/logout", operation_id="logout", status_code=204, opt={PENDING_OK: True})
    async def logout(self, caller: NamedDependency[Caller], state: BoxState) -> Response[None]:
        """End this session on the box (the cookie stops working everywhere at once)."""
        if caller.session is not None:
            await state.journal.run_async(
                partial(sessions.end_session, id_hash=caller.session.id_hash)
            )
        response: Response[None] = Response(None, status_code=204)
        response.delete_cookie(COOKIE, path="/")
        return response

    @get("/me", operation_id="whoAmI", opt={PENDING_OK: True}, sync_to_thread=False)
    def me(self, caller: NamedDependency[Caller]) -> MeOut:
        """The logged-in user, their role's scopes, and whether they must change password."""
        return me_out(caller.user, caller.actor.scopes)

    @post("/password", operation_id="changePassword", status_code=204, opt={PENDING_OK: True})
    async def change_password(
        self, data: JSONBody[PasswordChange], caller: NamedDependency[Caller], state: BoxState
    ) -> None:
        """Change your own password (required after an admin reset)."""
        keep = caller.session.id_hash if caller.session else ""
        await state.users.change_own_password(
            caller.user, data.current_password, data.new_password, keep
        )

    @post("/tokens", operation_id="createApiToken", status_code=201)
    async def create_token(
        self, data: JSONBody[TokenCreate], caller: NamedDependency[Caller], state: BoxState
    ) -> TokenCreated:
        """A new API token for scripts, acting as you; shown once, store it safely."""
        name = data.name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput(
                [FieldProblem("name", "length", "Give the token a name of 1 to 100 characters")]
            )
        secret, token = await state.journal.run_async(
            lambda c: sessions.create_token(c, caller.user.id, name, utcnow())
        )
        return TokenCreated(token.id, token.name, secret)

    @get("/tokens", operation_id="listApiTokens", sync_to_thread=True)
    def list_tokens(self, caller: NamedDependency[Caller], state: BoxState) -> list[TokenOut]:
        """Your API tokens (never their secrets)."""
        return [
            TokenOut(t.id, t.name, t.created_at, t.last_used_at, t.revoked_at)
            for t in sessions.list_tokens(state.reader.conn(), caller.user.id)
        ]

    @delete("/tokens/{token_id:str}", operation_id="revokeApiToken", status_code=204)
    async def revoke_token(
        self, token_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> None:
        """Revoke one of your API tokens; it stops working at once."""
        done = await state.journal.run_async(
            lambda c: sessions.revoke_token(c, token_id, caller.user.id, utcnow())
        )
        if not done:
            raise NotFound("You have no such active API token")
