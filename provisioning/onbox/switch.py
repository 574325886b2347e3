"""Switching releases: an online, verified backup of the journal first, then the units, the
`current` link, a restart and the health gate; back to the previous release by itself when
the new one is not healthy in time (restoring the backup if the journal was migrated)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from . import releases
from .health import gate, problem
from .layout import KEEP_BACKUPS, UNITS, Layout, Refused, point, run, systemctl, write_atomic

SCHEMA = (
    "import sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True);"
    "print(c.execute('PRAGMA user_version').fetchone()[0])"
)


def backup(lay: Layout, why: str) -> Path | None:
    """`edge backup` of the running release, as the box user: SQLite's online backup, then
    `edge verify` of the copy. None when the box has no journal yet."""
    if not (lay.home / "journal.db").is_file() or not lay.edge().exists():
        return None
    run(["install", "-d", str(lay.backups)], as_box=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = lay.backups / f"{why}-{stamp}.db"
    done = run([str(lay.edge()), "--home", str(lay.home), "backup", str(dest)], as_box=True)
    if done.returncode != 0:
        raise Refused(f"the journal backup failed, nothing was changed: {done.stderr.strip()}")
    olds = sorted(lay.backups.glob(f"{why}-*.db"))
    for old in olds[:-KEEP_BACKUPS]:
        old.unlink()
        Path(f"{old}.keyslots.json").unlink(missing_ok=True)  # its key slots, beside it
    return dest


def schema(lay: Layout) -> str:
    """The journal's schema version: asked of the release (an encrypted journal opens only with
    the box's key, which `edge schema-version` finds), else read directly (a release from
    before encryption at rest, whose journal is plain)."""
    done = run([str(lay.edge()), "--home", str(lay.home), "schema-version"], as_box=True)
    if done.returncode == 0 and done.stdout.strip().isdigit():
        return done.stdout.strip()
    done = run(["python3", "-c", SCHEMA, str(lay.home / "journal.db")], as_box=True)
    return done.stdout.strip()


def install_units(lay: Layout, manifest: dict[str, Any]) -> bool:
    """The release's unit files in /etc/systemd/system, enabled; True when any changed."""
    changed = False
    for name, text in sorted(manifest.get("units", {}).items()):
        path = lay.units / name
        if not path.is_file() or path.read_text() != text:
            write_atomic(path, text.encode())
            changed = True
    if changed:
        systemctl("daemon-reload")
    if manifest.get("units"):
        systemctl("enable", *sorted(manifest["units"]))
    return changed


def restart(lay: Layout) -> None:
    done = systemctl("restart", *UNITS, timeout=180)
    if done.returncode != 0:
        # Not fatal here: the gate names the unit that did not start.
        print(f"restart: {done.stderr.strip()}", file=sys.stderr, flush=True)


def switch(lay: Layout, version: str, timeout: float, offline: bool = False) -> dict[str, Any]:
    """Run `version`, or come back to the release that ran before; says which and why.
    `offline` (an image being built): units and the `current` link only, nothing started."""
    target = releases.manifest_of(lay, version)
    old = lay.current_version()
    if offline:
        install_units(lay, target)
        point(lay.current, lay.releases / version)
        return {"ok": True, "version": version, "changed": old != version}
    if old == version:
        units = install_units(lay, target)
        if units or problem(lay):  # new units, or a box to bring back to health
            restart(lay)
        why = gate(lay, timeout)
        return {"ok": why is None, "version": version, "changed": units, "error": why or ""}
    old_previous = lay.previous_version()
    saved = backup(lay, f"before-{version}") if old else None
    before = schema(lay) if saved else ""
    install_units(lay, target)
    if old:
        point(lay.previous, lay.releases / old)
    point(lay.current, lay.releases / version)
    restart(lay)
    why = gate(lay, timeout)
    if why is None:
        releases.gc(lay)
        return {"ok": True, "version": version, "changed": True, "backup": str(saved or "")}
    if not old:
        return {"ok": False, "version": version, "changed": True, "error": why}
    back = back_to(lay, old, saved, before, timeout)
    if old_previous:  # the failed release is no rollback target
        point(lay.previous, lay.releases / old_previous)
    else:
        lay.previous.unlink(missing_ok=True)
    return {
        "ok": False,
        "version": old,
        "changed": True,
        "rolled_back": True,
        "error": f"release {version} was not healthy in time ({why}); {back}",
    }


def back_to(lay: Layout, old: str, saved: Path | None, before: str, timeout: float) -> str:
    """Switch back to `old`; restore the backup only if the journal was migrated since."""
    install_units(lay, releases.manifest_of(lay, old))
    point(lay.current, lay.releases / old)
    restored = ""
    if saved and schema(lay) != before:
        systemctl("stop", *UNITS)
        args = [str(lay.edge()), "--home", str(lay.home), "restore", str(saved)]
        done = run(args, as_box=True)
        if done.returncode != 0:
            return f"rolled back to {old}, but restoring {saved} failed: {done.stderr.strip()}"
        restored = f", with the journal restored from {saved.name} (it had been migrated)"
    restart(lay)
    why = gate(lay, timeout)
    if why:
        return f"rolled back to {old}{restored}, which is not healthy either: {why}"
    return f"rolled back to {old}{restored}, which is healthy"


def rollback(lay: Layout, timeout: float) -> dict[str, Any]:
    """Back to the previous release on purpose (the officer asked for it)."""
    previous = lay.previous_version()
    if not previous:
        raise Refused("there is no previous release on this box to go back to")
    return switch(lay, previous, timeout)
