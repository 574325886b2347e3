"""`edge-registry`: run the reference national registry."""

from __future__ import annotations

import argparse
import secrets
import sys
from datetime import timedelta
from pathlib import Path

from edge.errors import EdgeError
from edge.identity import create_device_key
from edge.logs import configure
from upstream_sync.registry.store import RegistryStore, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edge-registry", description="The reference national registry."
    )
    parser.add_argument("--home", required=True, help="the registry's data directory")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the database, the registry key and an admin token")
    serve = sub.add_parser("serve", help="run the registry")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--port-file", help="write the port actually bound to this file")
    token = sub.add_parser("token", help="issue a one-time enrollment token for a box")
    token.add_argument("--office-id", required=True)
    token.add_argument("--hours", type=int, default=72)
    args = parser.parse_args(argv)
    configure("info")
    home = Path(args.home).resolve()
    try:
        return _run(args, home)
    except EdgeError as exc:
        print(f"edge-registry: {exc.detail}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, home: Path) -> int:
    if args.command == "init":
        return _init(home)
    if args.command == "token":
        store = RegistryStore(home / "registry.db")
        value, expires = store.issue_token(args.office_id, timedelta(hours=args.hours))
        store.close()
        print(value)
        print(f"(for office {args.office_id}, valid until {expires})", file=sys.stderr)
        return 0
    RegistryStore(home / "registry.db").close()  # refuse a database it cannot use, plainly
    return _serve(home, args.host, args.port, args.port_file)


def _init(home: Path) -> int:
    if (home / "registry.key").exists():
        print(f"edge-registry: {home} already holds a registry", file=sys.stderr)
        return 2
    home.mkdir(parents=True, exist_ok=True)
    create_device_key(home / "registry.key")
    store = RegistryStore(home / "registry.db")
    admin = "adm_" + secrets.token_urlsafe(24)
    store.set_meta("admin_token_hash", digest(admin))
    store.close()
    print(admin)
    print("(the admin token above is shown once: keep it)", file=sys.stderr)
    return 0


def _serve(home: Path, host: str, port: int, port_file: str | None) -> int:
    from edge.serving import run_server
    from upstream_sync.registry.app import create_registry_app

    run_server(
        create_registry_app(home), host, port, Path(port_file) if port_file else None, "info"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
