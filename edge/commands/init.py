"""`edge init`: create a box in its home directory."""

from __future__ import annotations

import argparse
import os
from functools import partial
from pathlib import Path

from edge.cli import home_of, read_password
from edge.clock import utcnow
from edge.commands.users import CLI, new_verifier
from edge.errors import SettingsError
from edge.identity import create_device_key
from edge.ids import uuid7
from edge.journal.boxvalues import set_box_value
from edge.journal.store import Journal
from edge.keys import box as keybox
from edge.keys.recovery import read_public
from edge.settings import SETTINGS_FILE, load_settings, write_settings
from edge.users.register import add_user
from edge.workflow.config import load_config

# Demo boxes only: every demo user has this password (`make demo` prints it).
DEMO_PASSWORD = "demo-password"
DEMO_USERS = [
    ("clerk", "Amina Haddad", "clinic-clerk"),
    ("agent", "Yusuf Nasser", "registration-agent"),
    ("registrar", "Layla Khoury", "local-registrar"),
    ("hospadmin", "Omar Saleh", "hospital-administrator"),
]


def run(args: argparse.Namespace) -> int:
    home = home_of(args)
    if (home / SETTINGS_FILE).exists():
        raise SettingsError(
            f"{home} already holds a box ({SETTINGS_FILE} exists); choose another --home"
        )
    config = load_config(args.country_config or None)
    if args.unattended and args.demo:
        raise SettingsError("--unattended makes a box for an office, never a demo box")
    if args.unattended:
        admin_password = None  # the fleet tool's pairing adds the first admin
    elif args.demo and not args.password_file:
        admin_password = DEMO_PASSWORD
    else:
        admin_password = read_password(args, f"Password for the first admin ({args.admin}): ")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o750)
    values: dict[str, object] = {
        "mode": "demo" if args.demo else "production",
        "box_id": uuid7(),
        "office_id": args.office_id,
        "office_name": args.office_name,
    }
    if args.country_config:
        values["country_config"] = str(Path(args.country_config).resolve())
    write_settings(home, values)
    settings = load_settings(home)
    # A new data key; the box starts unlocked. With nobody to give a password (first boot of
    # an image) it stays in a setup slot until the first user or the registry has a slot.
    key = keybox.create(settings, setup=admin_password is None and not args.demo)
    public = create_device_key(settings.device_key_path, key)
    users = []
    if admin_password is not None:
        admin_verifier = new_verifier(settings, args.admin, admin_password)
        users.append((args.admin, args.admin_name, "local-system-admin", admin_verifier))
    if args.demo:
        demo = new_verifier(settings, "demo", DEMO_PASSWORD)
        users += [(u, n, r, demo) for u, n, r in DEMO_USERS]
    old_umask = os.umask(0o077)  # the journal holds personal data: this user only
    try:
        journal = Journal(settings.journal_path, config, key=key)
    finally:
        os.umask(old_umask)
    now = utcnow()
    with journal:
        # The database says whose it is, so a backup cannot be restored on another box unseen.
        journal.run(partial(set_box_value, key="box_id", value=settings.box_id))
        for username, name, role, verifier in users:
            journal.run(
                partial(
                    add_user,
                    config=config,
                    username=username,
                    display_name=name,
                    role=role,
                    office_id=settings.office_id,
                    by=CLI,
                    now=now,
                    verifier=verifier,
                )
            )
    if getattr(args, "recovery_public_key", None):
        keybox.set_recovery_public(settings, read_public(Path(args.recovery_public_key)))
    # Each user's password unlocks the box after a reboot (one key slot each).
    for username, _, _, _ in users:
        keybox.set_user_password(
            settings, username, DEMO_PASSWORD if username != args.admin else admin_password or ""
        )
    print(f"Created box {settings.box_id} for {settings.office_name} in {home}")
    print(f"Device public key: {public}")
    return 0
