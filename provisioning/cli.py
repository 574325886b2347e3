"""`edge-fleet`: the IT officer's tool for a fleet of office boxes, over SSH from a laptop.
See docs/provisioning.md for the officer's day, from a new box to forty."""

from __future__ import annotations

import argparse
import getpass
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from provisioning import apply, discovery, pairing, release, status
from provisioning.context import Context, default_folder
from provisioning.errors import FleetError
from provisioning.progress import summary
from provisioning.runner import Outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        ctx = Context(Path(args.fleet) if args.fleet else default_folder(), args.key or "")
        code: int = args.func(ctx, args)
        return code
    except FleetError as exc:
        print(f"edge-fleet: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edge-fleet: stopped; run the same command again to resume", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-fleet", description=__doc__.splitlines()[0])
    p.add_argument("--fleet", help="the fleet folder (default: $EDGE_FLEET or ~/edge-fleet)")
    p.add_argument("--key", help="your SSH private key (default: the inventory's `key`)")
    sub = p.add_subparsers(metavar="COMMAND")

    pr = sub.add_parser("pair", help="pair a new box, on the office network")
    pr.add_argument("address", help="the box's address on the office network")
    pr.add_argument("--port", type=int, default=22)
    pr.add_argument("--name", default="", help="its name in the inventory (default: office)")
    pr.add_argument("--code", default="", help="the pairing code the box shows (else asked)")
    pr.add_argument("--registry", default="", help="the registry to enroll with (its URL)")
    pr.add_argument("--token-file", help="the one-time enrollment token, from this file")
    pr.add_argument("--officer", default=getpass.getuser(), help="a label for your key")
    pr.set_defaults(func=_pair)

    fg = sub.add_parser("forget", help="drop a box (before pairing a re-imaged box again)")
    fg.add_argument("box")
    fg.set_defaults(func=_forget)

    dc = sub.add_parser("discover", help="find boxes by mDNS; update addresses by box id")
    dc.add_argument("--seconds", type=float, default=3.0)
    dc.add_argument("--interface", default="all", help="`all` or this laptop's IPv4 addresses")
    dc.add_argument("--json", action="store_true")
    dc.set_defaults(func=_discover)

    rel = sub.add_parser("release", help="releases on this laptop")
    rsub = rel.add_subparsers(metavar="ACTION")
    add = rsub.add_parser("add", help="a release from wheels (app, dependencies, pip)")
    add.add_argument("wheels", nargs="+", type=Path)
    add.add_argument("--units", type=Path, required=True, help="the systemd units folder")
    add.set_defaults(func=_release_add)
    build = rsub.add_parser("build", help="a release from a checkout (pip, needs PyPI)")
    build.add_argument("project", type=Path)
    build.add_argument("--platform", default="", help="e.g. manylinux2014_aarch64 (a Pi)")
    build.add_argument("--python", default="3.11", help="the boxes' Python version")
    build.set_defaults(func=_release_build)
    ls = rsub.add_parser("list", help="the releases on this laptop")
    ls.set_defaults(func=_release_list)

    for name, helps in (
        ("plan", "show what apply would change on each box"),
        ("apply", "make each box what the inventory says (release, settings, units, health)"),
        ("rollback", "put boxes back on their previous release"),
        ("status", "version, health, locked, pending, last sync, disk, clock"),
        ("backup", "pull verified journal backups to this laptop"),
    ):
        c = sub.add_parser(name, help=helps)
        c.add_argument("boxes", nargs="*", help="box names (default: all)")
        c.add_argument("--parallel", type=int, help="boxes at once (default: inventory, 8)")
        c.add_argument("--retries", type=int, help="tries per box over a bad link")
        c.add_argument("--json", action="store_true", help="results as JSON")
        c.add_argument("--discover", action="store_true", help="refresh addresses by mDNS")
        if name in ("plan", "apply"):
            c.add_argument("--release", default="", help="this release instead of the inventory's")
        c.set_defaults(func=_many, command=name)

    ca = sub.add_parser("ca", help="the office SSH CA (host certificates instead of pins)")
    ca.add_argument("action", choices=["init"])
    ca.set_defaults(func=_ca)
    return p


def _pair(ctx: Context, args: argparse.Namespace) -> int:
    token = Path(args.token_file).read_text().strip() if args.token_file else ""
    if args.registry and not token:
        raise FleetError("--registry needs --token-file (the one-time token, never typed)")
    req = pairing.Request(
        args.address, args.port, args.name, args.code, args.registry, token, args.officer
    )
    box, enroll_error = pairing.pair(req, ctx.fleet, ctx.hosts, ctx.key(), _ask, ctx.ca, ctx.now)
    ctx.save()
    print(f"Paired {box.name} (box {box.box_id}) at {box.address}; its host key is pinned.")
    if box.trust == "ca":
        print("It now shows a host certificate of the office CA.")
    if args.registry:
        print("Enrolled with the registry." if box.enrolled else f"NOT enrolled: {enroll_error}")
    return 0 if (box.enrolled or not args.registry) else 1


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise FleetError("no terminal to ask the pairing code on: give --code")
    return input(prompt)


def _forget(ctx: Context, args: argparse.Namespace) -> int:
    box = ctx.fleet.select([args.box])[0]
    ctx.hosts.forget(box.box_id)
    del ctx.fleet.boxes[box.name]
    ctx.save()
    print(f"Forgot {box.name}: pair the box again to manage it.")
    return 0


def _discover(ctx: Context, args: argparse.Namespace) -> int:
    matches = discovery.match(ctx.fleet, discovery.find(args.seconds, args.interface))
    ctx.save()
    if args.json:
        rows = [{**m.found.__dict__, "name": m.name, "moved_from": m.moved_from} for m in matches]
        print(json.dumps(rows, indent=1))
        return 0
    for m in matches:
        where = ", ".join(m.found.addresses)
        if not m.name:
            print(f"NEW   {m.found.name} at {where} (box {m.found.box}): not paired by this fleet")
        else:
            moved = f" (moved from {m.moved_from})" if m.moved_from else ""
            print(f"known {m.name} at {where}{moved}")
    return 0


def _release_add(ctx: Context, args: argparse.Namespace) -> int:
    made = release.make(args.wheels, args.units, ctx.releases)
    print(f"Release {made.version}: {len(made.wheels)} wheels in {made.folder}")
    return 0


def _release_build(ctx: Context, args: argparse.Namespace) -> int:
    made = release.build(args.project, ctx.releases, args.platform, args.python)
    print(f"Release {made.version}: {len(made.wheels)} wheels in {made.folder}")
    return 0


def _release_list(ctx: Context, args: argparse.Namespace) -> int:
    for folder in sorted(ctx.releases.glob("*/manifest.json")):
        mark = " (the inventory's)" if folder.parent.name == ctx.fleet.release else ""
        print(f"{folder.parent.name}{mark}")
    return 0


def _many(ctx: Context, args: argparse.Namespace) -> int:
    boxes = ctx.fleet.select(args.boxes)
    if not boxes:
        raise FleetError("the inventory has no boxes: pair one first (edge-fleet pair)")
    if args.discover:
        discovery.match(ctx.fleet, discovery.find(3.0))
    parallel = args.parallel or ctx.fleet.parallel
    retries = args.retries or (ctx.fleet.retries if args.command != "status" else 2)
    live = False if args.json else None
    extra: dict[str, Any] = {}
    if args.command in ("plan", "apply"):
        journal = ctx.journal()
        if args.command == "apply" and (cut := journal.interrupted("apply")):
            waiting = ", ".join(f"{b} ({s})" for b, s in cut.unfinished.items()) or "none"
            print(
                f"Resuming the run that was cut short; boxes mid-step: {waiting}", file=sys.stderr
            )
        journal.begin(args.command, ctx.now())
        wants = apply.Wants(ctx, args.release)
        job = apply.apply_job(ctx, wants, dry_run=args.command == "plan")
    elif args.command == "rollback":
        job = apply.rollback_job(ctx)
    elif args.command == "status":
        extra["rows"] = {}
        job = apply.status_job(ctx, extra["rows"])
    else:
        extra["pulled"] = {}
        job = apply.backup_job(ctx, extra["pulled"])
    outcomes = apply.run_jobs(ctx, boxes, job, parallel, retries, live)
    ok = all(o.ok for o in outcomes)
    if args.command in ("plan", "apply"):
        journal.finish(ok, ctx.now())
        journal.close()
    ctx.save()
    return _report(args, outcomes, extra, ok)


def _report(
    args: argparse.Namespace, outcomes: list[Outcome], extra: dict[str, Any], ok: bool
) -> int:
    if args.command == "status":
        rows = [extra["rows"].get(o.box) or status.unreachable(o.box, o.says) for o in outcomes]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            console = Console()
            status.table(rows, console if console.is_terminal else Console(width=160))
        return 0 if all(r["health"] == "ready" for r in rows) else 1  # for scripts and alerts
    if args.json:
        print(json.dumps({"ok": ok, "boxes": [o.__dict__ for o in outcomes]}, indent=1))
    else:
        for o in outcomes:
            mark = "ok    " if o.ok else "FAILED"
            print(f"{mark} {o.box}: {o.says}")
        print(summary(outcomes))
    return 0 if ok else 1


def _ca(ctx: Context, args: argparse.Namespace) -> int:
    path = ctx.folder / "office-ca"
    if path.exists():
        raise FleetError(f"{path} exists already")
    ctx.folder.mkdir(parents=True, exist_ok=True)
    # ssh-keygen asks for a passphrase on the terminal: the CA key is never kept in the clear.
    done = subprocess.run(["ssh-keygen", "-t", "ed25519", "-C", "office-ca", "-f", str(path)])
    if done.returncode != 0:
        return 1
    print(f"Office CA in {path}: boxes paired from now on get host certificates.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
