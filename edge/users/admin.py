"""What a local admin does to the office's users, and what every user does to their own
password: the one service the API and the pages both call. Each method checks the acting
user's scopes itself, so no caller can forget to."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.clock import utcnow
from edge.errors import (
    ActionNotAvailable,
    FieldProblem,
    Forbidden,
    InvalidInput,
    LoginRefused,
    NotFound,
)
from edge.ids import is_uuid
from edge.journal.db import sqlite3
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.keys import box as keybox
from edge.settings import Settings
from edge.texts import tr
from edge.users import register
from edge.users.passwords import Hasher, password_problems
from edge.users.register import User
from edge.workflow.config import Config
from edge.workflow.forms import has_control_characters
from edge.workflow.model import Actor
from edge.workflow.scopes import grants

WRONG_CURRENT = "The password is not right."


@dataclass
class UserAdmin:
    """The office's users, managed within the acting user's scopes."""

    journal: Journal
    reader: Reader
    config: Config
    settings: Settings
    hasher: Hasher

    def visible(self, actor: Actor) -> list[User]:
        """The users this admin may see."""
        if not any(s.name == "user.read" for s in actor.scopes):
            raise Forbidden(tr("Your role does not manage users"))
        return [
            u
            for u in register.list_users(self.reader.conn())
            if grants(actor, "user.read", office_id=u.office_id, role=u.role)
        ]

    def target(self, actor: Actor, user_id: str, scope: str) -> User:
        """The user `user_id`, if the admin's `scope` covers them; else NotFound/Forbidden."""
        if not is_uuid(user_id):
            raise NotFound(tr("There is no user %(id)s on this box", id=user_id))
        user = register.get_user(self.reader.conn(), user_id)
        _require(actor, scope, user.office_id, user.role)
        return user

    async def create(
        self,
        actor: Actor,
        username: str,
        display_name: str,
        role: str,
        office_id: str | None,
        password: str | None,
    ) -> User:
        """A new user; a password given here is one-time (changed at first login)."""
        office = office_id or actor.office_id
        _require(actor, "user.create", office, role)
        verifier = await self._verifier(username, password) if password else None
        now = utcnow()
        user = await self._write(
            lambda c: register.add_user(
                c,
                self.config,
                username=username.strip(),
                display_name=display_name,
                role=role,
                office_id=office,
                by=actor.id,
                now=now,
                verifier=verifier,
                must_change=verifier is not None,
            )
        )
        if password:
            await self._slot(user.username, password)
        return user

    async def edit(self, actor: Actor, user_id: str, changes: dict[str, str]) -> User:
        """Change a user's display name, role or office. Nobody changes their own role or
        office (an admin would grant themself a registrar's powers), and the office always
        keeps someone who can manage its users."""
        user = self.target(actor, user_id, "user.edit")
        role, office = changes.get("role", user.role), changes.get("office_id", user.office_id)
        if (role, office) != (user.role, user.office_id):
            if user.id == actor.id:
                raise ActionNotAvailable(
                    tr("You cannot change your own role or office: ask another admin to.")
                )
            _require(actor, "user.edit", office, role)
        now = utcnow()

        def job(conn: sqlite3.Connection) -> User:
            if not self.manages(role) or office != user.office_id:
                self._keep_a_manager(conn, user)
            return register.edit_user(conn, self.config, user.id, actor.id, changes, now)

        return await self._write(job)

    def manages(self, role: str) -> bool:
        """Whether a role can manage users (create and edit them)."""
        names = {s.name for s in self.config.role_scopes.get(role, ())}
        return {"user.create", "user.edit"} <= names

    def _keep_a_manager(self, conn: sqlite3.Connection, user: User) -> None:
        """Refuse a change that would leave the user's office with nobody able to manage its
        users (checked in the writer, so two admins cannot each remove the other)."""
        if not (user.active and self.manages(user.role)):
            return
        others = [
            u
            for u in register.list_users(conn)
            if u.id != user.id
            and u.active
            and u.office_id == user.office_id
            and self.manages(u.role)
        ]
        if not others:
            raise ActionNotAvailable(
                tr(
                    "%(name)s is the last user who can manage this office's users: give that "
                    "role to someone else first.",
                    name=user.display_name,
                )
            )

    async def set_active(self, actor: Actor, user_id: str, active: bool, reason: str = "") -> User:
        """Deactivate (their sessions end at once) or reactivate a user, with why."""
        reason = reason.strip()
        if len(reason) > 500 or has_control_characters(reason, multiline=True):
            raise InvalidInput(
                [FieldProblem("reason", "max_length", tr("Keep the reason to 500 characters."))]
            )
        user = self.target(actor, user_id, "user.reactivate" if active else "user.deactivate")
        if not active and user.id == actor.id:
            raise ActionNotAvailable(tr("You cannot deactivate your own account"))
        now = utcnow()

        def job(conn: sqlite3.Connection) -> User:
            if not active:
                self._keep_a_manager(conn, user)
            return register.set_active(conn, user.id, active, actor.id, now, reason)

        changed = await self._write(job)
        if not active:  # their password unlocks the box no more
            await asyncio.to_thread(keybox.remove_user, self.settings, user.username)
        return changed

    async def reset_password(self, actor: Actor, user_id: str, password: str) -> User:
        """A one-time password: the user must choose their own at their next login."""
        user = self.target(actor, user_id, "user.reset-password")
        if user.id == actor.id:
            raise ActionNotAvailable(
                tr("To change your own password, use Change password: it asks for the current one.")
            )
        verifier = await self._verifier(user.username, password)
        now = utcnow()
        changed = await self._write(
            lambda c: register.set_password(c, user.id, verifier, actor.id, now, one_time=True)
        )
        await self._slot(user.username, password)
        return changed

    async def unlock(self, actor: Actor, user_id: str) -> User:
        """Lift a lock left by failed logins."""
        user = self.target(actor, user_id, "user.edit")
        now = utcnow()
        return await self._write(lambda c: register.unlock(c, user.id, actor.id, now))

    async def username_reminder(self, actor: Actor, user_id: str) -> User:
        """Queue a username reminder; the registry sends it once the box has synced."""
        user = self.target(actor, user_id, "user.send-username-reminder")
        now = utcnow()
        await self._write(lambda c: register.request_username_reminder(c, user.id, actor.id, now))
        return user

    async def change_own_password(
        self, user: User, current: str, new: str, keep_session: str = ""
    ) -> None:
        """Check the current password and the new one's rules, store it, end the user's other
        sessions (`keep_session`, the one changing it, carries on)."""
        ok, _ = await asyncio.to_thread(self.hasher.check, current, user.verifier)
        if not ok:
            raise LoginRefused(WRONG_CURRENT, "wrong")
        problems = password_problems(
            new, user.username, self.settings.password_min_length, "new_password"
        )
        if new == current:
            problems.append(
                FieldProblem(
                    "new_password", "unchanged", "Choose a password different from the current one"
                )
            )
        if problems:
            raise InvalidInput(problems)
        verifier = await asyncio.to_thread(self.hasher.hash, new)
        now = utcnow()

        def job(conn: sqlite3.Connection) -> None:
            register.set_password(
                conn, user.id, verifier, user.id, now, one_time=False, checked=False
            )
            conn.execute(
                "DELETE FROM sessions WHERE user_id = ? AND id_hash != ?", (user.id, keep_session)
            )

        await self.journal.run_async(job)
        await self._slot(user.username, new)

    async def _slot(self, username: str, password: str) -> None:
        """The user's key slot follows their password (it unlocks the box after a reboot)."""
        await asyncio.to_thread(keybox.set_user_password, self.settings, username, password)

    async def _verifier(self, username: str, password: str) -> str:
        problems = password_problems(password, username, self.settings.password_min_length)
        if problems:
            raise InvalidInput(problems)
        verifier: str = await asyncio.to_thread(self.hasher.hash, password)
        return verifier

    async def _write(self, job: Callable[[sqlite3.Connection], Any]) -> User:
        user: User = await self.journal.run_async(job)
        return user


def _require(actor: Actor, scope: str, office_id: str, role: str) -> None:
    if not grants(actor, scope, office_id=office_id, role=role):
        raise Forbidden(
            tr(
                "Your role does not allow this for a %(role)s of office %(office)s",
                role=role,
                office=office_id,
            )
        )
