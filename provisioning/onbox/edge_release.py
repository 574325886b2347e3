"""`edge-release`: the box's side of releases, run by `edge-fleet` over SSH (and by the image
build). Every sub-command answers one JSON object on stdout and exits 0 when it is `ok`.

    edge-release status                      what is on the box, and its health
    edge-release store < {name: sha256}      move uploaded wheels into the store (hash-checked)
    edge-release install --manifest FILE|-   make a release venv (idempotent)
    edge-release install --wheelhouse DIR [--units DIR]
    edge-release switch VERSION              backup, switch, restart, health gate, auto-rollback
    edge-release switch VERSION --offline    units and `current` only (an image being built)
    edge-release rollback                    back to the previous release
    edge-release configure < {settings, country}   settings and country config, gated
    edge-release backup                      an online, verified journal backup on the box
    edge-release health                      the health gate alone
    edge-release gc                          drop releases, layers and wheels nothing uses
    edge-release wait                        until no other change runs (after a cut link)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from . import boxconf, boxstatus, releases, switch
from .health import gate
from .layout import Layout, Refused, emit, find_root, sha256_file


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-release", description=__doc__.splitlines()[0])
    p.add_argument("--root", help="the box's file system root (tests; default /)")
    p.add_argument("--timeout", type=float, default=120, help="health gate, seconds")
    sub = p.add_subparsers(dest="command", required=True)
    st = sub.add_parser("status", help="what is on the box, and its health")
    st.add_argument("--no-health", action="store_true", help="skip /readyz and /metrics")
    sub.add_parser("store", help="move uploaded wheels into the store (JSON on stdin)")
    inst = sub.add_parser("install", help="make a release venv")
    inst.add_argument("--manifest", help="a release manifest (JSON), `-` for stdin")
    inst.add_argument("--wheelhouse", help="a folder of wheels (and maybe manifest.json)")
    inst.add_argument("--units", help="a folder with the release's systemd units")
    sw = sub.add_parser("switch", help="run this release (backup, gate, rollback)")
    sw.add_argument("version")
    sw.add_argument("--offline", action="store_true", help="image builds: start nothing")
    sub.add_parser("rollback", help="back to the previous release")
    sub.add_parser("configure", help="settings and country configuration (JSON on stdin)")
    sub.add_parser("backup", help="an online, verified backup of the journal")
    sub.add_parser("health", help="the health gate alone")
    sub.add_parser("gc", help="drop what no kept release uses")
    sub.add_parser("wait", help="wait until no other change runs on the box")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    lay = Layout(Path(args.root) if args.root else find_root())
    # A link that drops must not stop a switch half-way: finish, and let the next
    # invocation (a retry) wait its turn on the lock, then find the work done.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        busy = not _lock(lay, wait=args.command not in ("status", "health"))
        answer = _run(args, lay)
        if args.command == "status":
            answer["busy"] = busy  # another change runs: its outcome is not known yet
        return emit(answer)
    except BrokenPipeError:
        return 1
    except Refused as exc:
        return emit({"ok": False, "error": str(exc)})
    except (OSError, ValueError) as exc:
        return emit({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def _lock(lay: Layout, wait: bool) -> bool:
    """One changing command at a time on a box (held until this process exits); without
    `wait`, only whether another one runs now."""
    lay.opt.mkdir(parents=True, exist_ok=True)
    fd = os.open(lay.opt / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    if not wait:
        os.close(fd)
    return True


def _stdin_json() -> Any:
    try:
        return json.loads(sys.stdin.read() or "null")
    except ValueError as exc:
        raise Refused(f"the input is not JSON: {exc}") from None


def _run(args: argparse.Namespace, lay: Layout) -> dict[str, Any]:
    if args.command == "status":
        return boxstatus.status(lay, health=not args.no_health)
    if args.command == "store":
        wanted = _stdin_json()
        if not isinstance(wanted, dict):
            raise Refused("store wants {wheel name: sha256} on stdin")
        return releases.store(lay, {str(k): str(v) for k, v in wanted.items()})
    if args.command == "install":
        if args.wheelhouse:
            units = Path(args.units) if args.units else None
            manifest = releases.add_wheelhouse(lay, Path(args.wheelhouse), units)
        elif args.manifest:
            text = sys.stdin.read() if args.manifest == "-" else Path(args.manifest).read_text()
            manifest = json.loads(text)
        else:
            raise Refused("give --manifest or --wheelhouse")
        return releases.install(lay, manifest)
    if args.command == "switch":
        return switch.switch(lay, args.version, args.timeout, args.offline)
    if args.command == "rollback":
        return switch.rollback(lay, args.timeout)
    if args.command == "configure":
        wanted = _stdin_json() or {}
        settings = wanted.get("settings") or {}
        country = wanted.get("country")
        return boxconf.configure(lay, settings, country, args.timeout)
    if args.command == "backup":
        made = switch.backup(lay, "fleet")
        if made is None:
            raise Refused("this box has no journal yet")
        answer = {"ok": True, "path": str(made), "sha256": sha256_file(made)}
        slots = made.with_name(made.name + ".keyslots.json")  # an encrypted backup's key slots
        if slots.is_file():
            answer |= {"keyslots": str(slots), "keyslots_sha256": sha256_file(slots)}
        return answer
    if args.command == "wait":
        return {"ok": True}
    if args.command == "health":
        why = gate(lay, args.timeout)
        return {"ok": why is None, "error": why or ""}
    return releases.gc(lay)


if __name__ == "__main__":
    raise SystemExit(main())
