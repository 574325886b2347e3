"""Users of this box: lookups and creation. Passwords and sessions come with the users issue."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge.clock import iso_ms, utcnow
from edge.errors import FieldProblem, InvalidInput
from edge.ids import uuid7
from edge.workflow.config import Config
from edge.workflow.model import Actor


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: str
    office_id: str
    active: bool


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["username"], row["display_name"], row["role"], row["office_id"],
                bool(row["active"]))


def find_user(conn: sqlite3.Connection, username: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    return _user(row) if row else None


def list_users(conn: sqlite3.Connection) -> list[User]:
    return [_user(r) for r in conn.execute("SELECT * FROM users ORDER BY username")]


def actor_of(user: User, config: Config) -> Actor:
    """The user as the workflow sees them: their role's scopes."""
    return Actor(user.id, user.username, user.display_name, user.role, user.office_id,
                 config.role_scopes.get(user.role, ()))


def add_user(conn: sqlite3.Connection, config: Config, username: str, display_name: str,
             role: str, office_id: str) -> User:
    """Insert a user (run inside the journal writer); refuse unknown roles and taken names."""
    problems = []
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        problems.append(FieldProblem("username", "pattern",
                                     "Use letters, digits, '.', '-' and '_' only"))
    if role not in config.roles:
        problems.append(FieldProblem("role", "unknown",
                                     f"Unknown role; use one of: {', '.join(config.roles)}"))
    if not display_name.strip():
        problems.append(FieldProblem("display_name", "required", "A display name is required"))
    if find_user(conn, username):
        problems.append(FieldProblem("username", "taken", f"“{username}” is already taken"))
    if problems:
        raise InvalidInput(problems)
    user = User(uuid7(), username, display_name.strip(), role, office_id, True)
    conn.execute(
        "INSERT INTO users (id, username, display_name, role, office_id, active, created_at) "
        "VALUES (?, ?, ?, ?, ?, 1, ?)",
        (user.id, user.username, user.display_name, user.role, user.office_id,
         iso_ms(utcnow())))
    return user
