"""User management for the local system admin (seed 001's user management actions)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from edge.auth.caller import Caller
from edge.auth.passwords import password_problems
from edge.clock import utcnow
from edge.errors import ActionNotAvailable, Forbidden, InvalidInput, NotFound
from edge.http.schemas import (
    PasswordReset,
    UserActionOut,
    UserCreate,
    UserDetail,
    UserOut,
    UserUpdate,
)
from edge.ids import is_uuid
from edge.state import BoxState
from edge.texts import tr
from edge.users import register
from edge.users.register import User, get_user
from edge.workflow.scopes import grants


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


def _require(caller: NamedDependency[Caller], scope: str, office_id: str, role: str) -> None:
    if not grants(caller.actor, scope, office_id=office_id, role=role):
        raise Forbidden(
            tr(
                "Your role does not allow this for a %(role)s of office %(office)s",
                role=role,
                office=office_id,
            )
        )


def _target(state: BoxState, caller: Caller, user_id: str, scope: str) -> User:
    if not is_uuid(user_id):
        raise NotFound(tr("There is no user %(id)s on this box", id=user_id))
    user = get_user(state.reader.conn(), user_id)
    _require(caller, scope, user.office_id, user.role)
    return user


async def _hash(state: BoxState, username: str, password: str) -> str:
    problems = password_problems(password, username, state.settings.password_min_length)
    if problems:
        raise InvalidInput(problems)
    verifier: str = await asyncio.to_thread(state.authenticator.hasher.hash, password)
    return verifier


# What the API and the web pages both do (each checks the caller's scopes).


async def create(
    state: BoxState,
    caller: Caller,
    username: str,
    display_name: str,
    role: str,
    office_id: str | None,
    password: str | None,
) -> User:
    office = office_id or caller.user.office_id
    _require(caller, "user.create", office, role)
    verifier = await _hash(state, username, password) if password else None
    user: User = await state.journal.run_async(
        lambda c: register.add_user(
            c,
            state.config,
            username=username.strip(),
            display_name=display_name,
            role=role,
            office_id=office,
            by=caller.user.id,
            now=utcnow(),
            verifier=verifier,
            must_change=verifier is not None,
        )
    )
    return user


async def set_active(state: BoxState, caller: Caller, user_id: str, active: bool) -> User:
    user = _target(state, caller, user_id, "user.reactivate" if active else "user.deactivate")
    if not active and user.id == caller.user.id:
        raise ActionNotAvailable(tr("You cannot deactivate your own account"))
    done: User = await state.journal.run_async(
        lambda c: register.set_active(c, user.id, active, caller.user.id, utcnow())
    )
    return done


async def reset_password(state: BoxState, caller: Caller, user_id: str, password: str) -> User:
    user = _target(state, caller, user_id, "user.reset-password")
    verifier = await _hash(state, user.username, password)
    done: User = await state.journal.run_async(
        lambda c: register.set_password(
            c, user.id, verifier, caller.user.id, utcnow(), one_time=True
        )
    )
    return done


async def unlock(state: BoxState, caller: Caller, user_id: str) -> User:
    user = _target(state, caller, user_id, "user.edit")
    done: User = await state.journal.run_async(
        lambda c: register.unlock(c, user.id, caller.user.id, utcnow())
    )
    return done


def visible_users(state: BoxState, caller: Caller) -> list[User]:
    if not any(s.name == "user.read" for s in caller.actor.scopes):
        raise Forbidden(tr("Your role does not manage users"))
    return [
        u
        for u in register.list_users(state.reader.conn())
        if grants(caller.actor, "user.read", office_id=u.office_id, role=u.role)
    ]


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @get("/", operation_id="listUsers", sync_to_thread=True)
    def list_users(self, caller: NamedDependency[Caller], state: BoxState) -> list[UserOut]:
        """The users this admin may see."""
        return [user_out(u) for u in visible_users(state, caller)]

    @post("/", operation_id="createUser", status_code=201)
    async def create_user(
        self, data: JSONBody[UserCreate], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Create a user; a password given here is one-time (changed at first login)."""
        user = await create(
            state,
            caller,
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
        user = _target(state, caller, user_id, "user.read")
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
        user = _target(state, caller, user_id, "user.edit")
        changes = {
            k: v
            for k, v in (
                ("display_name", data.display_name),
                ("role", data.role),
                ("office_id", data.office_id),
            )
            if v is not None
        }
        if "role" in changes or "office_id" in changes:
            _require(
                caller,
                "user.edit",
                changes.get("office_id", user.office_id),
                changes.get("role", user.role),
            )
        edited = await state.journal.run_async(
            lambda c: register.edit_user(
                c, state.config, user.id, caller.user.id, changes, utcnow()
            )
        )
        return user_out(edited)

    @post("/{user_id:str}/deactivate", operation_id="deactivateUser", status_code=200)
    async def deactivate(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Stop a user from logging in; their sessions and tokens stop working at once."""
        return user_out(await set_active(state, caller, user_id, False))

    @post("/{user_id:str}/reactivate", operation_id="reactivateUser", status_code=200)
    async def reactivate(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Let a deactivated user log in again."""
        return user_out(await set_active(state, caller, user_id, True))

    @post("/{user_id:str}/reset-password", operation_id="resetPassword", status_code=200)
    async def reset_password(
        self,
        user_id: FromPath[str],
        data: JSONBody[PasswordReset],
        caller: NamedDependency[Caller],
        state: BoxState,
    ) -> UserOut:
        """Set a one-time password; the user must change it at their next login."""
        return user_out(await reset_password(state, caller, user_id, data.password))

    @post("/{user_id:str}/unlock", operation_id="unlockUser", status_code=200)
    async def unlock(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Lift a lock left by failed logins."""
        return user_out(await unlock(state, caller, user_id))

    @post("/{user_id:str}/username-reminder", operation_id="sendUsernameReminder", status_code=202)
    async def username_reminder(
        self, user_id: FromPath[str], caller: NamedDependency[Caller], state: BoxState
    ) -> UserOut:
        """Queue a username reminder; the registry sends it once the box has synced."""
        user = _target(state, caller, user_id, "user.send-username-reminder")
        await state.journal.run_async(
            lambda c: register.request_username_reminder(c, user.id, caller.user.id, utcnow())
        )
        return user_out(user)


def _payload(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
