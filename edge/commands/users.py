"""`edge users ...`: the IT officer's view of the user register."""

from __future__ import annotations

import argparse
from functools import partial

from edge.cli import home_of
from edge.journal.db import connect
from edge.journal.store import Journal
from edge.settings import load_settings
from edge.users.register import add_user, list_users
from edge.workflow.config import load_config


def add(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    config = load_config(settings.country_config or None)
    journal = Journal(settings.journal_path, config)
    try:
        user = journal.run(partial(add_user, config=config, username=args.username,
                                   display_name=args.name, role=args.role,
                                   office_id=args.office_id or settings.office_id))
    finally:
        journal.close()
    print(f"Added {user.username} ({user.role})")
    return 0


def list_(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    conn = connect(settings.journal_path, readonly=True)
    try:
        for u in list_users(conn):
            state = "active" if u.active else "deactivated"
            print(f"{u.username:<20} {u.display_name:<28} {u.role:<24} {u.office_id} {state}")
    finally:
        conn.close()
    return 0
