"""`edge users ...`: the IT officer's view of the user register."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from edge.auth import sessions
from edge.cli import journal_key, read_password, settings_of
from edge.clock import utcnow
from edge.errors import InvalidInput, NotFound
from edge.journal.db import connect
from edge.journal.store import Journal
from edge.keys import box
from edge.settings import Settings
from edge.users import register
from edge.users.passwords import Hasher, Params, password_problems
from edge.workflow.config import load_config

CLI = "cli"  # `created_by` of changes made on the command line


def hasher_for(settings: Settings) -> Hasher:
    return Hasher(Params(settings.argon2_memory_kib, settings.argon2_iterations))


def new_verifier(settings: Settings, username: str, password: str) -> str:
    problems = password_problems(password, username, settings.password_min_length)
    if problems:
        raise InvalidInput(problems)
    return hasher_for(settings).hash(password)


def _write(args: argparse.Namespace, job: Callable[[Any, Settings], Any]) -> Any:
    settings = settings_of(args)
    config, key = load_config(settings.country_config), journal_key(args, settings)
    with Journal(settings.journal_path, config, key=key) as journal:
        return journal.run(lambda conn: job(conn, settings))


def _find(conn: Any, username: str) -> register.User:
    user = register.find_user(conn, username)
    if user is None:
        raise NotFound(f"There is no user “{username}” on this box")
    return user


def add(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    config = load_config(settings.country_config)
    key = journal_key(args, settings)
    password = read_password(args, f"One-time password for {args.username}: ")
    verifier = new_verifier(settings, args.username, password)
    with Journal(settings.journal_path, config, key=key) as journal:
        user = journal.run(
            lambda c: register.add_user(
                c,
                config,
                username=args.username,
                display_name=args.name,
                role=args.role,
                office_id=args.office_id or settings.office_id,
                by=CLI,
                now=utcnow(),
                verifier=verifier,
                must_change=True,
            )
        )
    box.set_user_password(settings, user.username, password)  # their password unlocks the box
    print(f"Added {user.username} ({user.role}); they choose their own password at first login")
    return 0


def list_(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    conn = connect(settings.journal_path, readonly=True, key=journal_key(args, settings))
    try:
        for u in register.list_users(conn):
            notes = ["active" if u.active else "deactivated"]
            if u.locked_until and u.locked_until > utcnow().isoformat():
                notes.append(f"locked until {u.locked_until}")
            if u.must_change_password:
                notes.append("must change password")
            if u.verifier is None:
                notes.append("no password on this box")
            print(
                f"{u.username:<20} {u.display_name:<28} {u.role:<24} {u.office_id:<14} "
                f"{', '.join(notes)}"
            )
    finally:
        conn.close()
    return 0


def reset_password(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    password = read_password(args, f"One-time password for {args.username}: ")
    verifier = new_verifier(settings, args.username, password)
    _write(
        args,
        lambda c, s: register.set_password(
            c, _find(c, args.username).id, verifier, CLI, utcnow(), one_time=True
        ),
    )
    box.set_user_password(settings, args.username, password)
    print(f"{args.username} has a one-time password and must change it at the next login")
    return 0


def unlock(args: argparse.Namespace) -> int:
    _write(args, lambda c, s: register.unlock(c, _find(c, args.username).id, CLI, utcnow()))
    print(f"{args.username} is unlocked")
    return 0


def token(args: argparse.Namespace) -> int:
    secret, _ = _write(
        args, lambda c, s: sessions.create_token(c, _find(c, args.username).id, args.name, utcnow())
    )
    print(secret)
    return 0
