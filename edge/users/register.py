"""The local register of users, and the journal of every change made to it.

Every change is a user action, journaled like record actions: who, when, what changed —
never a password or verifier. All functions that write run inside the journal writer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from edge.clock import iso_ms
from edge.errors import FieldProblem, InvalidInput, NotFound
from edge.ids import uuid7
from edge.journal.chain import canonical_json
from edge.journal.db import sqlite3
from edge.texts import tr
from edge.workflow.config import Config
from edge.workflow.forms import has_control_characters
from edge.workflow.model import Actor

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")


class UserAction(StrEnum):
    CREATE = "CREATE"
    EDIT = "EDIT"
    DEACTIVATE = "DEACTIVATE"
    REACTIVATE = "REACTIVATE"
    RESET_PASSWORD = "RESET_PASSWORD"
    CHANGE_PASSWORD = "CHANGE_PASSWORD"
    SEND_USERNAME_REMINDER = "SEND_USERNAME_REMINDER"
    UNLOCK = "UNLOCK"


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: str
    office_id: str
    active: bool
    verifier: str | None
    failed_attempts: int
    locked_until: str | None
    last_login_at: str | None
    last_checked_at: str | None
    must_change_password: bool
    created_at: str
    # A lock after failed logins, as the boot and time since boot it began (clock steps).
    lock_boot: str = ""
    lock_mono: int = 0
    lock_seconds: int = 0


def user_of(row: sqlite3.Row) -> User:
    """A user from a row of the `users` table."""
    return User(
        row["id"],
        row["username"],
        row["display_name"],
        row["role"],
        row["office_id"],
        bool(row["active"]),
        row["verifier"],
        row["failed_attempts"],
        row["locked_until"],
        row["last_login_at"],
        row["last_checked_at"],
        bool(row["must_change_password"]),
        row["created_at"],
        row["lock_boot"],
        row["lock_mono"],
        row["lock_seconds"],
    )


def find_user(conn: sqlite3.Connection, username: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    return user_of(row) if row else None


def get_user(conn: sqlite3.Connection, user_id: str) -> User:
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise NotFound(tr("There is no user %(id)s on this box", id=user_id))
    return user_of(row)


def list_users(conn: sqlite3.Connection) -> list[User]:
    return [user_of(r) for r in conn.execute("SELECT * FROM users ORDER BY username")]


def actor_of(user: User, config: Config) -> Actor:
    """The user as the workflow sees them: their role's scopes."""
    return Actor(
        user.id,
        user.username,
        user.display_name,
        user.role,
        user.office_id,
        config.role_scopes.get(user.role, ()),
    )


def history(conn: sqlite3.Connection, user_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM user_actions WHERE user_id = ? ORDER BY seq", (user_id,))
    return [dict(r) for r in rows]


def journal(
    conn: sqlite3.Connection,
    user_id: str,
    type_: UserAction,
    by: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    """Append one user action (never with a password in the payload)."""
    conn.execute(
        "INSERT INTO user_actions (id, user_id, type, created_at, created_by, payload) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (uuid7(), user_id, type_.value, iso_ms(now), by, canonical_json(payload or {})),
    )


def _check_profile(config: Config, display_name: str | None, role: str | None) -> None:
    problems = []
    if role is not None and role not in config.roles:
        problems.append(
            FieldProblem("role", "unknown", f"Unknown role; use one of: {', '.join(config.roles)}")
        )
    if display_name is not None and not (1 <= len(display_name.strip()) <= 100):
        problems.append(
            FieldProblem(
                "display_name", "required", "A display name of 1 to 100 characters is required"
            )
        )
    elif display_name is not None and has_control_characters(display_name):
        problems.append(
            FieldProblem(
                "display_name", "characters", "The name contains characters that cannot be typed"
            )
        )
    if problems:
        raise InvalidInput(problems)


def add_user(
    conn: sqlite3.Connection,
    config: Config,
    *,
    username: str,
    display_name: str,
    role: str,
    office_id: str,
    by: str,
    now: datetime,
    verifier: str | None = None,
    must_change: bool = False,
    user_id: str | None = None,
) -> User:
    """Create a user; refuse unknown roles and taken or malformed usernames. `user_id` keeps
    the registry's id for a user learnt from it."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            [
                FieldProblem(
                    "username",
                    "pattern",
                    "Use 2 to 64 letters, digits, '.', '-' or '_', starting with a letter or digit",
                )
            ]
        )
    _check_profile(config, display_name, role)
    if find_user(conn, username):
        raise InvalidInput([FieldProblem("username", "taken", f"“{username}” is already taken")])
    stamp = iso_ms(now)
    user_id = user_id or uuid7()
    conn.execute(
        "INSERT INTO users (id, username, display_name, role, office_id, active, created_at, "
        "verifier, last_checked_at, must_change_password) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
        (
            user_id,
            username,
            display_name.strip(),
            role,
            office_id,
            stamp,
            verifier,
            stamp if verifier else None,
            int(must_change),
        ),
    )
    journal(
        conn,
        user_id,
        UserAction.CREATE,
        by,
        now,
        {
            "username": username,
            "display_name": display_name.strip(),
            "role": role,
            "office_id": office_id,
            "password_set": verifier is not None,
        },
    )
    return get_user(conn, user_id)


def edit_user(
    conn: sqlite3.Connection,
    config: Config,
    user_id: str,
    by: str,
    changes: dict[str, str],
    now: datetime,
) -> User:
    """Change display name, role or office; journal old and new values."""
    user = get_user(conn, user_id)
    _check_profile(config, changes.get("display_name"), changes.get("role"))
    diff = {
        k: [getattr(user, k), v.strip() if k == "display_name" else v]
        for k, v in changes.items()
        if getattr(user, k) != v
    }
    if diff:
        sets = ", ".join(f"{k} = ?" for k in diff)
        conn.execute(
            f"UPDATE users SET {sets} WHERE id = ?", [new for _, new in diff.values()] + [user_id]
        )
        journal(conn, user_id, UserAction.EDIT, by, now, {"changes": diff})
    return get_user(conn, user_id)


def end_sessions(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


def deactivated_because(conn: sqlite3.Connection, user_id: str) -> str:
    """The reason given when the user was last deactivated ("" for none)."""
    row = conn.execute(
        "SELECT payload FROM user_actions WHERE user_id = ? AND type = ? ORDER BY seq DESC LIMIT 1",
        (user_id, UserAction.DEACTIVATE.value),
    ).fetchone()
    return str(json.loads(row[0]).get("reason", "")) if row else ""


def set_active(
    conn: sqlite3.Connection,
    user_id: str,
    active: bool,
    by: str,
    now: datetime,
    reason: str = "",
) -> User:
    """Deactivate (ending every session at once) or reactivate a user, with why."""
    user = get_user(conn, user_id)
    if user.active != active:
        conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(active), user_id))
        if not active:
            end_sessions(conn, user_id)
        kind = UserAction.REACTIVATE if active else UserAction.DEACTIVATE
        journal(conn, user_id, kind, by, now, {"reason": reason} if reason else None)
    return get_user(conn, user_id)


def set_password(
    conn: sqlite3.Connection,
    user_id: str,
    verifier: str,
    by: str,
    now: datetime,
    *,
    one_time: bool,
    checked: bool = True,
) -> User:
    """Store a new verifier. `one_time`: an admin reset, to be changed at next login."""
    get_user(conn, user_id)
    conn.execute(
        "UPDATE users SET verifier = ?, must_change_password = ?, failed_attempts = 0, "
        "locked_until = NULL, last_checked_at = CASE WHEN ? THEN ? ELSE last_checked_at END "
        "WHERE id = ?",
        (verifier, int(one_time), int(checked), iso_ms(now), user_id),
    )
    if one_time:
        end_sessions(conn, user_id)
        journal(conn, user_id, UserAction.RESET_PASSWORD, by, now)
    else:
        journal(conn, user_id, UserAction.CHANGE_PASSWORD, by, now)
    return get_user(conn, user_id)


def unlock(conn: sqlite3.Connection, user_id: str, by: str, now: datetime) -> User:
    get_user(conn, user_id)
    conn.execute(
        "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = ?", (user_id,)
    )
    journal(conn, user_id, UserAction.UNLOCK, by, now)
    return get_user(conn, user_id)


def request_username_reminder(
    conn: sqlite3.Connection, user_id: str, by: str, now: datetime
) -> None:
    """Queue a username reminder; the registry delivers it by email or SMS once synced."""
    get_user(conn, user_id)
    journal(conn, user_id, UserAction.SEND_USERNAME_REMINDER, by, now)
