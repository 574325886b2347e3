"""User management for the local system admin (seed 001's user management actions)."""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from edge.auth.caller import Caller
from edge.auth.guards import requires_scope
from edge.http.schemas import (
    PasswordReset,
    UserActionOut,
    UserCreate,
    UserDetail,
    UserOut,
    UserUpdate,
)
from edge.state import BoxState
from edge.users import register
from edge.users.register import User


def user_out(u: User) -> UserOut:
    return UserOut(
        u.id,
        u.username,
        u.display_name,
        u.role,
        u.office_id,
        u.active,
        u.verifier is not None,
        u.must_change_password,
        u.failed_attempts,
        u.locked_until,
        u.last_login_at,
        u.last_checked_at,
        u.created_at,
    )


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    guards = [requires_scope("user.read")]

    @get("/", operation_id="listUsers", sync_to_thread=True)
    def list_users(self, caller: NamedDependency[Caller], state: BoxState) -> list[UserOut]:
        """The users this admin may see."""
        return [user_out(u) for u in state.users.visible(caller.actor)]

    @post("/", operation_id="createUser", status_code=201)
    async def create_user(
        self, data: JSONBody[UserCreate], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Create a user; a password given here is one-time (changed at first login)."""
        user = await state.users.create(
            caller.actor,
            data.username,
            data.display_name,
            data.role,
            data.office_id,
            data.password,
        )
        return user_out(user)

    @get("/{user_id:str}", operation_id="getUser", sync_to_thread=True)
    def get_user(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserDetail:
        """A user with the history of every change made to their account."""
        user = state.users.target(caller.actor, user_id, "user.read")
        rows = register.history(state.reader.conn(), user.id)
        return UserDetail(
            user_out(user),
            [
                UserActionOut(
                    r["id"],
                    r["type"],
                    r["created_at"],
                    r["created_by"],
                    _payload(r["payload"]),
                    "pending",
                )
                for r in rows
            ],
        )

    @patch("/{user_id:str}", operation_id="editUser")
    async def edit_user(
        self,
        user_id: FromPath[str],
        data: JSONBody[UserUpdate],
        caller: NamedDependency[Caller],
        state: BoxState,
    ) -> UserOut:
        """Change a user's display name, role or office."""
        changes = {
            k: v
            for k, v in (
                ("display_name", data.display_name),
                ("role", data.role),
                ("office_id", data.office_id),
            )
            if v is not None
        }
        edited = await state.users.edit(caller.actor, user_id, changes)
        return user_out(edited)

    @post("/{user_id:str}/deactivate", operation_id="deactivateUser", status_code=200)
    async def deactivate(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Stop a user from logging in; their sessions and tokens stop working at once."""
        return user_out(await state.users.set_active(caller.actor, user_id, False))

    @post("/{user_id:str}/reactivate", operation_id="reactivateUser", status_code=200)
    async def reactivate(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Let a deactivated user log in again."""
        return user_out(await state.users.set_active(caller.actor, user_id, True))

    @post("/{user_id:str}/reset-password", operation_id="resetPassword", status_code=200)
    async def reset_password(
        self,
        user_id: FromPath[str],
        data: JSONBody[PasswordReset],
        caller: NamedDependency[Caller],
        state: BoxState,
    ) -> UserOut:
        """Set a one-time password; the user must change it at their next login."""
        return user_out(await state.users.reset_password(caller.actor, user_id, data.password))

    @post("/{user_id:str}/unlock", operation_id="unlockUser", status_code=200)
    async def unlock(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Lift a lock left by failed logins."""
        return user_out(await state.users.unlock(caller.actor, user_id))

    @post("/{user_id:str}/username-reminder", operation_id="sendUsernameReminder", status_code=202)
    async def username_reminder(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Queue a username reminder; the registry sends it once the box has synced."""
        user = await state.users.username_reminder(caller.actor, user_id)
        return user_out(user)


def _payload(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
