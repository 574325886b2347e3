"""`edge-pair`: how a new box lets exactly one IT officer in, with no password.

    edge-pair open [--minutes 60]     at boot, while unpaired: open the pairing window
    edge-pair keys USER TYPE KEY      sshd's AuthorizedKeysCommand (see sshd_edge.conf)
    edge-pair pair --key TYPE KEY     the only command such a key may run (JSON on stdin)
    edge-pair status                  paired or not, and the window

While the box is unpaired and its pairing window is open (the first hour after each boot),
sshd lets any key log in as root from a private (LAN) address, but only to run `edge-pair
pair`. That installs the very key that logged in, enrolls the box with the registry (token
on stdin, never on a command line or in a log), marks the box paired and closes the window
for good. The officer's tool checks the box's host key against the pairing code the box
shows *before* it authenticates or sends anything.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from .layout import Layout, emit, find_root, run, write_atomic

LAN = (
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10,127.0.0.0/8,"
    "fc00::/7,fe80::/10,::1"
)
KEY_TYPES = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ssh-rsa"}
B64 = re.compile(r"^[A-Za-z0-9+/]+=*$")


def boot() -> tuple[str, float]:
    """(boot id, seconds since boot): the window survives no reboot and no clock step."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)


def window_open(lay: Layout) -> bool:
    try:
        window = json.loads(lay.window.read_text())
    except (OSError, ValueError):
        return False
    boot_id, now = boot()
    return bool(window.get("boot_id") == boot_id and now < float(window.get("until", 0)))


def paired(lay: Layout) -> dict[str, Any] | None:
    try:
        marker: dict[str, Any] = json.loads(lay.paired.read_text())
        return marker
    except (OSError, ValueError):
        return None


def fingerprint(key_b64: str) -> str:
    digest = hashlib.sha256(base64.b64decode(key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def keys(lay: Layout, user: str, key_type: str, key_b64: str) -> int:
    """Print the one restricted line that lets this key pair the box, or nothing."""
    if user != "root" or paired(lay) or not window_open(lay):
        return 0
    if key_type not in KEY_TYPES or not B64.match(key_b64):
        return 0
    program = lay.sbin / "edge-pair"
    command = f"{program} pair --key {key_type} {key_b64}"
    print(f'restrict,from="{LAN}",command="{command}" {key_type} {key_b64}')
    return 0


def pair(lay: Layout, key_type: str, key_b64: str) -> dict[str, Any]:
    # A link that drops mid-way must not leave a half-paired box: finish regardless.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        request = json.loads(sys.stdin.read(65536) or "{}")
    except ValueError:
        return {"ok": False, "error": "the pairing request is not JSON"}
    me = fingerprint(key_b64)
    done = paired(lay)
    if done:
        if done.get("officer_key") == me:
            return {**done.get("result", {}), "ok": True, "again": True}
        return {"ok": False, "error": "this box is paired already, with another key", "code": 3}
    if not window_open(lay):
        return {
            "ok": False,
            "code": 4,
            "error": "the pairing window is closed: restart the box to open it for an hour",
        }
    settings = lay.settings()
    if not settings.get("box_id"):
        return {"ok": False, "error": "the box's first start has not finished: try again soon"}
    comment = re.sub(r"[^A-Za-z0-9@._+-]", "_", str(request.get("officer", "officer")))[:64]
    line = f"{key_type} {key_b64} edge-fleet:{comment}\n"
    old = lay.authorized_keys.read_text() if lay.authorized_keys.is_file() else ""
    if line.split()[1] not in old:
        lay.authorized_keys.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        write_atomic(lay.authorized_keys, (old + line).encode(), 0o644)
    result: dict[str, Any] = {
        "ok": True,
        "box_id": settings.get("box_id", ""),
        "office_id": settings.get("office_id", ""),
        "office_name": settings.get("office_name", ""),
        "version": lay.current_version(),
        "enrolled": False,
        "enroll_error": "",
    }
    registry = request.get("registry") or {}
    if registry.get("url") and registry.get("token"):
        result.update(enroll(lay, str(registry["url"]), str(registry["token"])))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    marker = {"paired_at": stamp, "officer": f"{me} {comment}", "officer_key": me}
    write_atomic(lay.paired, json.dumps({**marker, "result": result}).encode(), 0o644)
    lay.window.unlink(missing_ok=True)
    (lay.root / "etc/issue.d/edge-pairing.issue").unlink(missing_ok=True)
    return result


def enroll(lay: Layout, url: str, token: str) -> dict[str, Any]:
    """`edge enroll` as the box user, the token on stdin; nothing said ever holds it."""
    edge = lay.edge()
    if not edge.exists():
        return {"enrolled": False, "enroll_error": "no release is installed yet"}
    cmd = [str(edge), "--home", str(lay.home), "enroll", url, "--token-file", "-"]
    done = run(cmd, as_box=True, stdin=token + "\n", timeout=90)
    said = (done.stderr.strip() or done.stdout.strip()).replace(token, "[token]")
    if done.returncode == 0:
        return {"enrolled": True, "enroll_error": ""}
    return {"enrolled": False, "enroll_error": said.removeprefix("edge: ")[-400:]}


def open_window(lay: Layout, minutes: float) -> dict[str, Any]:
    if paired(lay):
        return {"ok": True, "open": False, "why": "paired"}
    boot_id, now = boot()
    body = json.dumps({"boot_id": boot_id, "until": now + minutes * 60}).encode()
    lay.window.parent.mkdir(parents=True, exist_ok=True)
    lay.window.parent.chmod(0o755)  # sshd's key check reads it as nobody, whatever the umask
    write_atomic(lay.window, body, 0o644)
    return {"ok": True, "open": True, "minutes": minutes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edge-pair", description=__doc__.splitlines()[0])
    p.add_argument("--root", help="the box's file system root (tests; default /)")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("open", help="open the pairing window (at boot, while unpaired)")
    o.add_argument("--minutes", type=float, default=60)
    k = sub.add_parser("keys", help="sshd's AuthorizedKeysCommand")
    k.add_argument("user")
    k.add_argument("type")
    k.add_argument("key")
    pr = sub.add_parser("pair", help="the forced command of a pairing login")
    pr.add_argument("--key", nargs=2, metavar=("TYPE", "KEY"), required=True)
    sub.add_parser("status", help="paired or not, and the window")
    args = p.parse_args(argv)
    lay = Layout(Path(args.root) if args.root else find_root())
    if args.command == "keys":
        try:
            return keys(lay, args.user, args.type, args.key)
        except Exception:  # sshd must get "no key" from any failure, never a crash loop
            return 0
    if args.command == "pair":
        return emit(pair(lay, args.key[0], args.key[1]))
    if args.command == "open":
        return emit(open_window(lay, args.minutes))
    done = paired(lay)
    marker = {k: v for k, v in (done or {}).items() if k != "result"}
    return emit({"ok": True, "paired": marker or None, "window_open": window_open(lay)})


if __name__ == "__main__":
    raise SystemExit(main())
