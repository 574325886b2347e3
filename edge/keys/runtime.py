"""The unlocked data key, shared by the processes of one box through a file in RAM.

`<runtime dir>/data.key` (mode 0600): the setting `runtime_dir`, else `/run/edge` when it exists
and is writable (systemd's `RuntimeDirectory=edge` of both units, kept across restarts of either),
else `/dev/shm/edge-<uid of the home's owner>-<box id>`. Never under the box's home: a reboot
empties it, and the box is locked again until a slot opens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge.keys.slots import write_private
from edge.settings import Settings

SYSTEMD_DIR = Path("/run/edge")
FILE = "data.key"


def runtime_dir(settings: Settings) -> Path:
    if settings.runtime_dir:
        return Path(settings.runtime_dir)
    if SYSTEMD_DIR.is_dir() and os.access(SYSTEMD_DIR, os.W_OK):
        return SYSTEMD_DIR
    # Named by the home's owner, the box's services' user: a command root runs on the box
    # (edge/cli.py gives it the file back) unlocks it for them, not for root alone.
    try:
        uid = settings.home.stat().st_uid
    except OSError:
        uid = os.getuid()
    return Path("/dev/shm") / f"edge-{uid}-{settings.box_id}"


def key_path(settings: Settings) -> Path:
    return runtime_dir(settings) / FILE


def read_key(settings: Settings) -> bytes | None:
    """The data key while the box is unlocked, else None (also for another box's file)."""
    try:
        data = json.loads(key_path(settings).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    if data.get("box_id") != settings.box_id:
        return None
    return bytes.fromhex(data["key"])


def key_for_home(home: Path) -> bytes | None:
    """The unlocked key of the box at `home` (for code that has only a path)."""
    from edge.settings import load_settings

    try:
        return read_key(load_settings(home))
    except Exception:  # not a box, or broken settings: nothing to unwrap with
        return None


def write_key(settings: Settings, dk: bytes) -> None:
    """The box is unlocked for all its processes (until a reboot or `forget`)."""
    folder = runtime_dir(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = json.dumps({"box_id": settings.box_id, "key": dk.hex()}).encode()
    write_private(folder / FILE, body)


def forget(settings: Settings) -> None:
    """Lock the box again (as a reboot would)."""
    key_path(settings).unlink(missing_ok=True)
