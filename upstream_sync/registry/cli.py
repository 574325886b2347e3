"""`edge-registry`: run the reference national registry."""

from __future__ import annotations

import argparse
import os
import secrets
import stat
import sys
from datetime import timedelta
from pathlib import Path

from edge.clock import utcnow
from edge.errors import EdgeError
from edge.identity import create_device_key, load_device_key, public_key_hex
from edge.keys.recovery import new_pair
from edge.logs import configure
from upstream_sync.protocol import fingerprint
from upstream_sync.registry import escrow
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.enrollment import digest, enrolled_boxes, issue_token
from upstream_sync.registry.errors import RegistryError
from upstream_sync.registry.settings import RegistrySettings, load_registry_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edge-registry",
        description="The reference national registry. Settings: <home>/registry.toml and "
        "EDGE_REGISTRY_<NAME> (docs/sync-protocol.md).",
    )
    parser.add_argument("--home", required=True, help="the registry's data directory")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the database, the registry key and an admin token")
    serve = sub.add_parser("serve", help="run the registry")
    serve.add_argument("--host", help="address to listen on (setting `host`)")
    serve.add_argument("--port", type=int, help="TCP port (setting `port`)")
    serve.add_argument("--port-file", help="write the port actually bound to this file")
    token = sub.add_parser("token", help="issue a one-time enrollment token for a box")
    token.add_argument("--office-id", required=True)
    token.add_argument("--hours", type=int, default=72)
    token.add_argument(
        "--replaces",
        metavar="BOX_ID",
        help="the new box replaces this box of the office and takes over its open records",
    )
    sub.add_parser(
        "fingerprint", help="print the fingerprint of the registry key (edge enroll --registry-key)"
    )
    boxes = sub.add_parser("boxes", help="list the enrolled boxes (to name one --replaces)")
    boxes.add_argument("--office-id", help="only the boxes of this office")
    box = sub.add_parser("box", help="one box's unlock secret: report it stolen, or lift that")
    box_sub = box.add_subparsers(dest="box_command", required=True)
    revoke = box_sub.add_parser(
        "revoke", help="report a box stolen: the registry no longer unlocks it after a reboot"
    )
    revoke.add_argument("box_id")
    revoke.add_argument("--reason", required=True, help="why, kept and told to the box")
    unrevoke = box_sub.add_parser("unrevoke", help="lift a revocation (the box was found)")
    unrevoke.add_argument("box_id")
    unrevoke.add_argument("--reason", default="", help="why, kept in the box's events")
    show = box_sub.add_parser("show", help="a box's unlock key, revocation and last requests")
    show.add_argument("box_id")
    recovery = sub.add_parser(
        "recovery-key",
        help="make the country's recovery key pair (keep the private key offline; give boxes "
        "the .pub file)",
    )
    recovery.add_argument("action", choices=["new"])
    recovery.add_argument("--out", required=True, help="the private key file to create")
    args = parser.parse_args(argv)
    home = Path(args.home).resolve()
    os.umask(0o077)  # the database, its journal files and the key: the registry's user only
    try:
        overrides = {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}
        settings = load_registry_settings(home, overrides)
        configure(settings.log_level)
        return _run(args, home, settings)
    except (RegistryError, EdgeError) as exc:
        print(f"edge-registry: {exc.detail}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, home: Path, settings: RegistrySettings) -> int:
    if args.command == "init":
        return _init(home, settings)
    if args.command == "recovery-key":
        public = new_pair(Path(args.out))
        print(f"Private key: {args.out} (keep it offline). Public key for boxes: {public}")
        return 0
    if not (home / "registry.key").exists():
        print(f"edge-registry: {home} holds no registry: run `init` first", file=sys.stderr)
        return 2
    _private(home)
    if args.command == "fingerprint":
        print(_fingerprint(home))
        return 0
    db = RegistryDB(home / "registry.db", settings.lock_wait_seconds)  # refuses one it cannot use
    if args.command == "boxes":
        try:
            found = enrolled_boxes(db, args.office_id)
            stolen = {b["box_id"] for b in found if escrow.revocation(db, b["box_id"])}
        finally:
            db.close()
        for box in found:
            mark = "  (reported stolen)" if box["box_id"] in stolen else ""
            print(
                f"{box['box_id']}  {box['office_id']:14} {box['enrolled_at']}  {box['name']}{mark}"
            )
        return 0
    if args.command == "box":
        try:
            return _box(db, args)
        finally:
            db.close()
    if args.command == "token":
        try:
            value, expires = issue_token(
                db, args.office_id, timedelta(hours=args.hours), utcnow(), args.replaces
            )
        finally:
            db.close()
        print(value)
        replacing = f", replacing box {args.replaces}" if args.replaces else ""
        print(
            f"(for office {args.office_id}{replacing}, valid until {expires}; on the box: "
            f"edge enroll URL --token-file FILE --registry-key {_fingerprint(home)})",
            file=sys.stderr,
        )
        return 0
    db.close()
    return _serve(home, settings, args.port_file)


def _box(db: RegistryDB, args: argparse.Namespace) -> int:
    """`edge-registry box revoke|unrevoke|show BOX_ID`."""
    box_id = args.box_id
    if args.box_command == "revoke":
        escrow.revoke(db, box_id, args.reason, utcnow())
        print(
            f"Box {box_id} is reported stolen: the registry refuses its unlock secret from now "
            "on. After its next reboot it stays locked until office staff log in at it."
        )
        return 0
    if args.box_command == "unrevoke":
        if not escrow.unrevoke(db, box_id, args.reason, utcnow()):
            print(f"edge-registry: box {box_id} was not reported stolen", file=sys.stderr)
            return 1
        print(f"Box {box_id} is no longer reported stolen: the registry unlocks it again.")
        return 0
    revoked = escrow.revocation(db, box_id)
    registered = escrow.registered_at(db, box_id)
    print(f"box {box_id}")
    print(f"unlock key registered: {registered or 'never'}")
    print(
        f"reported stolen: {revoked.revoked_at}: {revoked.reason}"
        if revoked
        else "reported stolen: no"
    )
    for e in escrow.events(db, box_id):
        print(f"  {e['at']}  {e['event']:10} {e['detail']}")
    return 0


def _init(home: Path, settings: RegistrySettings) -> int:
    if (home / "registry.key").exists():
        print(f"edge-registry: {home} already holds a registry", file=sys.stderr)
        return 2
    home.mkdir(parents=True, exist_ok=True)
    _private(home)
    create_device_key(home / "registry.key")
    db = RegistryDB(home / "registry.db", settings.lock_wait_seconds)
    admin = "adm_" + secrets.token_urlsafe(24)
    db.set_meta("admin_token_hash", digest(admin))
    db.close()
    print(admin)
    print(
        f"(the admin token above is shown once: keep it. The registry's key: "
        f"{_fingerprint(home)}; boxes pin it with `edge enroll --registry-key`)",
        file=sys.stderr,
    )
    return 0


def _fingerprint(home: Path) -> str:
    return fingerprint(public_key_hex(load_device_key(home / "registry.key")))


def _private(home: Path) -> None:
    """The registry's home and every file in it readable by its own user only (a home made
    before, or by hand, may have been left open to every user of the machine)."""
    for path in (home, *(f for f in home.iterdir() if f.is_file())):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            print(f"edge-registry: {path} was readable by others; now it is not", file=sys.stderr)


def _serve(home: Path, settings: RegistrySettings, port_file: str | None) -> int:
    from edge.serving import run_server
    from upstream_sync.registry.app import create_registry_app

    run_server(
        create_registry_app(home, settings),
        settings.host,
        settings.port,
        Path(port_file) if port_file else None,
        settings.log_level,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
