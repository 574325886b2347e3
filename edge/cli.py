"""The `edge` command: init, serve, verify, users, settings."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import ConfigError, EdgeError, SettingsError

if TYPE_CHECKING:
    from edge.settings import Settings

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    owner = _box_owner(args)
    try:
        if owner:
            _give_back(args, owner)
        result: int = args.func(args)
        return result
    except (SettingsError, ConfigError) as exc:
        print(f"edge: {exc.detail}", file=sys.stderr)
        return 2
    except EdgeError as exc:
        print(f"edge: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if owner:
            _give_back(args, owner)


def _box_owner(args: argparse.Namespace) -> tuple[int, int] | None:
    """Who owns the box's home (the user its services run as), when root runs a command on
    it (someone at the console with sudo); None otherwise."""
    if os.geteuid() != 0 or not getattr(args, "box_files", True):
        return None  # not root, or a command that reads the system's files (pairing)
    try:
        owner = home_of(args).stat()
    except OSError:
        return None  # no box there yet (`edge init` makes it as whoever runs it)
    return (owner.st_uid, owner.st_gid) if owner.st_uid != 0 else None


def _give_back(args: argparse.Namespace, owner: tuple[int, int]) -> None:
    """What root left in the box's home and its runtime folder (the unlocked key, the key
    slots, the journal's WAL files, a backup) goes to the box's user, or its services could
    not read it. Run before a command (a crash may have left some) and after it."""
    home = home_of(args)
    places = [home]
    try:
        from edge.keys.runtime import runtime_dir

        places.append(runtime_dir(settings_of(args)))
    except EdgeError:
        pass  # no settings to find the runtime folder by: the home alone
    for place in places:
        for path in (place, *place.rglob("*")) if place.is_dir() else ():
            if "lost+found" in path.parts:  # the data partition's own (an image's home)
                continue
            with contextlib.suppress(OSError):  # gone meanwhile: nothing to give
                if path.lstat().st_uid == 0:
                    os.lchown(path, *owner)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge", description="The office edge box.")
    p.add_argument("--home", help="the box's data directory (default: $EDGE_HOME or /var/lib/edge)")
    p.add_argument(
        "--unlock-user",
        metavar="NAME",
        help="a locked box: unlock it with this staff member's password (asked for)",
    )
    p.add_argument(
        "--unlock-password-file", metavar="PATH", help="read that password from this file"
    )
    p.add_argument(
        "--recovery-key",
        metavar="PRIVATE_FILE",
        help="a locked box (or a backup): open it with the country's recovery private key",
    )
    sub = p.add_subparsers(metavar="COMMAND")

    init = sub.add_parser(
        "init", help="create a new box: settings, database, device key, first admin"
    )
    init.add_argument("--office-id", default="office-1", help="id of the office this box serves")
    init.add_argument("--office-name", default="Office", help="the office's name")
    init.add_argument("--admin", default="admin", help="username of the first local admin")
    init.add_argument(
        "--admin-name", default="Local administrator", help="display name of the first local admin"
    )
    init.add_argument(
        "--demo", action="store_true", help="demo mode with demo users (never in an office)"
    )
    init.add_argument("--country-config", default="", help="path of the country configuration")
    init.add_argument(
        "--password-file",
        help="read the first admin's password from this file (otherwise it is asked for)",
    )
    init.add_argument(
        "--unattended",
        action="store_true",
        help="first boot of an image: no first admin, nothing asked (provisioning adds one)",
    )
    init.add_argument(
        "--recovery-public-key",
        metavar="FILE",
        help="the country's recovery public key: IT can open the box if all passwords are lost",
    )
    init.set_defaults(func=_lazy("edge.commands.init", "run"))

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", help="listen address (default: setting `host`)")
    serve.add_argument(
        "--port", type=int, help="TCP port, 0 for any free one (default: setting `port`)"
    )
    serve.add_argument("--port-file", help="write the port actually bound to this file")
    serve.set_defaults(func=_lazy("edge.commands.serve", "run"))

    verify = sub.add_parser("verify", help="check the journal: hash chain, replay, integrity")
    verify.set_defaults(func=_lazy("edge.commands.verify", "run"))
    recount = sub.add_parser(
        "recount",
        help="count again the outbox, sync counts, flag queues and search index from the journal",
    )
    recount.set_defaults(func=_lazy("edge.commands.verify", "recount"))

    users = sub.add_parser("users", help="manage the users of this box")
    usub = users.add_subparsers(metavar="ACTION")
    add = usub.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", required=True, help="role id from the country configuration")
    add.add_argument("--office-id", help="office (default: this box's office)")
    add.add_argument(
        "--password-file", help="a one-time password, read from this file (otherwise asked for)"
    )
    add.set_defaults(func=_lazy("edge.commands.users", "add"))
    ls = usub.add_parser("list", help="list users")
    ls.set_defaults(func=_lazy("edge.commands.users", "list_"))
    reset = usub.add_parser("reset-password", help="set a one-time password")
    reset.add_argument("username")
    reset.add_argument("--password-file", help="read it from this file (otherwise asked for)")
    reset.set_defaults(func=_lazy("edge.commands.users", "reset_password"))
    unlock = usub.add_parser("unlock", help="lift a lock left by failed logins")
    unlock.add_argument("username")
    unlock.set_defaults(func=_lazy("edge.commands.users", "unlock"))
    token = usub.add_parser("token", help="issue an API token acting as this user")
    token.add_argument("username")
    token.add_argument("--name", required=True, help="what the token is for")
    token.set_defaults(func=_lazy("edge.commands.users", "token"))

    enroll = sub.add_parser("enroll", help="enroll this box with the national registry")
    enroll.add_argument("url", help="the registry's address, e.g. https://registry.example")
    enroll.add_argument("token", nargs="?", help="the one-time enrollment token from the registry")
    enroll.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the token from this file instead (`-`: standard input)",
    )
    enroll.add_argument(
        "--registry-key",
        metavar="FINGERPRINT",
        help="the registry key's fingerprint (SHA256:…) its operator gave: any other is refused",
    )
    enroll.set_defaults(func=_lazy("edge.commands.sync", "enroll"))
    sync = sub.add_parser("sync", help="pull from the registry and push everything pending now")
    sync.set_defaults(func=_lazy("edge.commands.sync", "sync"))

    worker = sub.add_parser(
        "worker",
        help="run the sync worker (forwards actions to the registry whenever it can be reached)",
    )
    worker.set_defaults(func=_lazy("edge.commands.sync", "worker"))

    discover = sub.add_parser("discover", help="list the boxes on the office network (mDNS)")
    discover.add_argument("--json", action="store_true", help="the boxes as JSON")
    discover.add_argument("--seconds", type=float, default=3.0, help="how long to listen")
    discover.add_argument(
        "--interface", default="all", help="`all`, or IPv4 addresses of this computer to use"
    )
    discover.set_defaults(func=_lazy("edge.commands.ops", "discover"), box_files=False)
    doctor = sub.add_parser("doctor", help="check the box end to end and explain what is wrong")
    doctor.add_argument("--json", action="store_true", help="the findings as JSON")
    doctor.set_defaults(func=_lazy("edge.commands.ops", "doctor"))
    backup = sub.add_parser("backup", help="copy the journal while the box runs")
    backup.add_argument("dest", help="a file to create, or a folder to create it in")
    backup.set_defaults(func=_lazy("edge.commands.backup", "backup"))
    restore = sub.add_parser("restore", help="replace the journal with a backup (box stopped)")
    restore.add_argument("src", help="the backup file")
    restore.add_argument("--force", action="store_true", help="accept another box's backup")
    restore.set_defaults(func=_lazy("edge.commands.backup", "restore"))
    rekey = sub.add_parser(
        "rekey", help="give the journal a new data key; every key slot opens it (box stopped)"
    )
    rekey.set_defaults(func=_lazy("edge.commands.keys", "rekey"))
    recovery = sub.add_parser(
        "recovery-key", help="the country's recovery key (its public half) for this box"
    )
    rsub = recovery.add_subparsers(metavar="ACTION")
    rset = rsub.add_parser("set", help="let this recovery public key open the box")
    rset.add_argument("file", help="the public key file (from edge-registry recovery-key new)")
    rset.set_defaults(func=_lazy("edge.commands.keys", "set_recovery"))
    unlock_box = sub.add_parser("unlock", help="unlock a locked box (with --unlock-user NAME)")
    unlock_box.set_defaults(func=_lazy("edge.commands.keys", "unlock"))
    lock_box = sub.add_parser("lock", help="forget the key in memory, as a reboot does")
    lock_box.set_defaults(func=_lazy("edge.commands.keys", "lock"))
    schema = sub.add_parser("schema-version", help="print the journal's schema version")
    schema.set_defaults(func=_lazy("edge.commands.keys", "schema_version"))
    export = sub.add_parser("export", help="write the office's records to a CSV or JSON file")
    export.add_argument("dest", help="the file to write (readable by you only)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--event", help="only records of this event (e.g. birth)")
    export.set_defaults(func=_lazy("edge.commands.export", "run"))
    pairing = sub.add_parser("pairing", help="show the pairing code and whether IT has paired")
    pairing.add_argument("--json", action="store_true", help="as JSON")
    pairing.add_argument("--issue", action="store_true", help="text for the console, if unpaired")
    pairing.set_defaults(func=_lazy("edge.commands.pairing", "run"), box_files=False)
    settings = sub.add_parser("settings", help="show every setting with its value")
    settings.set_defaults(func=_lazy("edge.commands.settings", "run"))
    return p


def _lazy(module: str, name: str) -> Command:
    # Import command modules on use so `edge verify` does not load the web stack.
    def call(args: argparse.Namespace) -> int:
        import importlib

        _logging()
        func: Command = getattr(importlib.import_module(module), name)
        return func(args)

    return call


def _logging() -> None:
    from edge.logs import configure

    configure(os.environ.get("EDGE_LOG_LEVEL", "info"))


def home_of(args: argparse.Namespace) -> Path:
    from edge.settings import resolve_home

    return resolve_home(args.home)


def settings_of(args: argparse.Namespace) -> Settings:
    """The box's settings for a command; from here on every logger logs at the settings'
    `log_level` (the file's, or EDGE_LOG_LEVEL's, which overrides it)."""
    from edge.clock import host_keeps_time
    from edge.logs import set_level
    from edge.settings import load_settings

    settings = load_settings(home_of(args))
    set_level(settings.log_level)
    host_keeps_time(settings.clock == "host")
    return settings


def journal_key(args: argparse.Namespace, settings: Settings) -> bytes | None:
    """The data key of the box's journal for a command: the unlocked box's, else the setup
    slot's, else from `--unlock-user`'s password; None for a journal from before encryption
    at rest. A locked box otherwise stops the command, saying how to unlock it."""
    from edge.errors import BoxLocked
    from edge.keys import box
    from upstream_sync import unlocking

    if not box.encrypted(settings):
        return None
    unlocking.install()  # the registry's slot, when the box has one
    dk = box.unlock_unattended(settings)
    if dk is not None:
        return dk
    recovery = getattr(args, "recovery_key", None)
    if recovery:
        from edge.keys import recovery as rk
        from edge.keys import runtime

        ks = box.load_slots(settings)
        dk = box.open_recovery(settings, ks, rk.read_private(Path(recovery))) if ks else None
        if dk is None:
            raise BoxLocked("This recovery key does not open this box.")
        runtime.write_key(settings, dk)
        return dk
    user = getattr(args, "unlock_user", None)
    if user:
        dk = box.unlock_with_password(settings, user, ask_unlock_password(args))
        if dk is None:
            raise BoxLocked(
                f"This password does not unlock the box (or {user} has no key on this box)."
            )
        return dk
    raise BoxLocked(
        "The box is locked: its data is encrypted and no one has unlocked it since it started. "
        "Log in on the box's page, or give --unlock-user NAME (a staff member's password)."
    )


def ask_unlock_password(args: argparse.Namespace) -> str:
    """`--unlock-user`'s password: from --unlock-password-file, else asked on the terminal."""
    path = getattr(args, "unlock_password_file", None)
    if path:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    if not sys.stdin.isatty():
        raise EdgeError("No terminal to ask for a password on: give --unlock-password-file")
    return getpass.getpass(f"Password of {args.unlock_user} (unlocks the box): ")


def read_password(args: argparse.Namespace, prompt: str) -> str:
    """From --password-file, else asked twice on the terminal; never echoed or logged."""
    if getattr(args, "password_file", None):
        return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    if not sys.stdin.isatty():
        raise EdgeError("No terminal to ask for a password on: give --password-file")
    first = getpass.getpass(prompt)
    if first != getpass.getpass("Again, to be sure: "):
        raise EdgeError("The two passwords differ; nothing was changed")
    return first
