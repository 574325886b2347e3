"""Operations for IT staff: `edge discover`, `edge doctor` (backups: edge/commands/backup.py)."""

from __future__ import annotations

import argparse
import json
import shutil
import stat
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import httpx

from edge.cli import settings_of
from edge.clock import clock_synced, elapsed, iso_ms, now_moment, parse_iso, utcnow
from edge.journal import syncstages, tallies
from edge.journal.boxvalues import box_value, moment_value
from edge.journal.db import connect, sqlite3
from edge.journal.schema import LATEST, migrate, version
from edge.journal.verify import verify
from edge.keys import box as keybox
from edge.settings import Settings


@dataclass
class Finding:
    check: str
    ok: bool
    says: str  # what is the case, in plain words
    todo: str = ""  # what to do about it, when not ok
    details: dict[str, Any] | None = None  # the facts behind it, for scripts (--json)


def discover(args: argparse.Namespace) -> int:
    """The boxes answering on the office network: for IT staff, and `--json` for scripts."""
    import asyncio

    from edge.mdns import discover as browse

    found = asyncio.run(browse(args.seconds, args.interface))
    if args.json:
        print(json.dumps([asdict(f) for f in found], indent=2))
        return 0
    if not found:
        print("No box answered on this network.")
        return 0
    print(f"{'name':24} {'address':22} {'office':14} {'version':8} {'WAN':8} waiting")
    for f in found:
        where = f"{(f.addresses or ['?'])[0]}:{f.port}"
        print(f"{f.name:24} {where:22} {f.office:14} {f.version:8} {f.wan:8} {f.waiting}")
    return 0


def doctor(args: argparse.Namespace) -> int:
    """Check the box end to end and explain; exit 1 when something needs attention."""
    settings = settings_of(args)
    findings = diagnose(settings)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for f in findings:
            print(f"{'ok ' if f.ok else 'NO '} {f.check}: {f.says}")
            if f.todo:
                print(f"      → {f.todo}")
        bad = sum(1 for f in findings if not f.ok)
        print(
            f"\n{bad} thing{'s' if bad != 1 else ''} need{'' if bad != 1 else 's'} attention."
            if bad
            else "\nEverything checks out."
        )
    return 0 if all(f.ok for f in findings) else 1


def diagnose(settings: Settings) -> list[Finding]:
    findings = [_clock(settings), _disk(settings)]
    key, found = _encryption(settings)
    findings.append(found)
    if key is None and keybox.encrypted(settings):
        return [*findings, _files(settings)]  # locked: nothing more can be read
    findings += [_journal(settings, key), _schema(settings, key)]
    conn = connect(settings.journal_path, readonly=True, key=key)
    try:
        findings += [_worker(conn, settings), _registry(conn), _mdns(conn)]
    finally:
        conn.close()
    findings.append(_files(settings))
    return findings


def _clock(settings: Settings) -> Finding:
    if settings.clock == "host":
        return Finding("clock", True, "the clock is kept by the computer the box runs on")
    if clock_synced():
        return Finding("clock", True, "the clock is synchronised")
    return Finding(
        "clock",
        False,
        "the clock is not synchronised: actions are saved with the box's own time and marked "
        "so; the registry corrects them once the clock is set",
        "connect the box to the internet (NTP), or check systemd-timesyncd",
    )


def _disk(settings: Settings) -> Finding:
    free = shutil.disk_usage(settings.home).free
    mb = free // (1024 * 1024)
    if mb >= settings.disk_min_free_mb:
        return Finding("disk", True, f"{mb} MB free")
    return Finding(
        "disk",
        False,
        f"only {mb} MB free (the box wants {settings.disk_min_free_mb} MB); new actions will be "
        "refused when the disk is full",
        "free space on the box, or move old backups off it",
    )


def _encryption(settings: Settings) -> tuple[bytes | None, Finding]:
    """Whether the journal is encrypted and the box unlocked; a setup slot (the data key in
    the clear) or a new key still due are said plainly."""
    if not keybox.encrypted(settings):
        return None, Finding(
            "encryption",
            False,
            "the journal is not encrypted (a box from before encryption at rest)",
            "restart the box with this software: it encrypts the journal at start",
        )
    key = keybox.data_key(settings)
    ks = keybox.load_slots(settings)
    kinds = sorted({s["kind"] for s in ks.slots}) if ks else []
    if key is None:
        return None, Finding(
            "encryption",
            False,
            "locked: the journal is encrypted and no one has unlocked the box since it started",
            "a member of staff logs in on the box's page (or: edge --unlock-user NAME doctor)",
            {"state": "locked", "slots": kinds},
        )
    if ks is not None and (ks.find("setup") or ks.rekey_due):
        return key, Finding(
            "encryption",
            False,
            "the data key is still kept in the clear (setup slot)"
            if ks.find("setup")
            else "a user now has a key slot; the data key once kept in the clear is replaced "
            "at the next restart",
            "add the first admin (pairing)" if ks.find("setup") else "edge rekey (box stopped)",
            {"state": "unlocked", "slots": kinds},
        )
    return key, Finding(
        "encryption",
        True,
        f"unlocked; the journal is encrypted (key slots: {', '.join(kinds)})",
        "",
        {"state": "unlocked", "slots": kinds},
    )


def _schema(settings: Settings, key: bytes | None) -> Finding:
    """The database's tables, columns and indexes against what this software creates
    (sqlite-utils reads both schemas): drift means a failed migration or a foreign file."""
    import sqlite_utils

    conn = connect(settings.journal_path, readonly=True, key=key)
    fresh = sqlite3.connect(":memory:")
    try:
        if version(conn) != LATEST:
            return Finding(
                "schema",
                False,
                f"the database is at schema version {version(conn)}, this software at {LATEST}",
                "start `edge serve` once (it migrates), or restore a backup of this version",
            )
        migrate(fresh)
        have, want = _shape(sqlite_utils.Database(conn)), _shape(sqlite_utils.Database(fresh))
    finally:
        conn.close()
        fresh.close()
    missing = sorted(
        f"{t}: {', '.join(sorted(want[t] - have.get(t, set())))}"
        for t in want
        if want[t] - have.get(t, set())
    )
    if not missing:
        return Finding("schema", True, f"schema version {LATEST}, every table and index in place")
    return Finding(
        "schema",
        False,
        "the database lacks what this software needs: " + "; ".join(missing),
        "restore the last verified backup (`edge restore`), then tell IT staff",
    )


def _shape(db: Any) -> dict[str, set[str]]:
    """Each table's columns and indexes, by name."""
    return {
        t.name: {c.name for c in t.columns} | {f"index {i.name}" for i in t.indexes}
        for t in db.tables
    }


def _journal(settings: Settings, key: bytes | None) -> Finding:
    report = verify(settings.journal_path, key)
    if report.ok and report.miscounted:
        return Finding(
            "journal",
            False,
            "the journal is intact, but what is kept beside it is off: "
            + tallies.in_brief(report.miscounted),
            "run `edge recount` (up to half a minute on a large box; saves wait a few seconds "
            "at most meanwhile, none is lost)",
        )
    if report.ok:
        return Finding("journal", True, f"{report.actions} actions, chain and database intact")
    return Finding(
        "journal",
        False,
        f"the journal does not verify (first broken seq: {report.first_bad_seq}): "
        + "; ".join(report.problems[:3]),
        "stop the box and restore the last good backup (edge restore); keep this database",
    )


def _worker(conn: sqlite3.Connection, settings: Settings) -> Finding:
    """Whether the sync worker is alive, and where each of its stages stands: a stage
    running without progress is stuck, a push that does nothing while actions wait and the
    registry answers has stopped, one failed or waiting says its last error. Measured by the
    time since boot (clock steps)."""
    beat = moment_value(conn, "worker_heartbeat")
    now, stale = now_moment(), timedelta(minutes=settings.worker_stale_minutes)
    shown = iso_ms(beat.wall) if beat else None
    stages = syncstages.stages(conn)
    details = {"heartbeat": shown, "stages": [asdict(s) for s in stages]}
    said = "; ".join(s.sentence() for s in stages if s.status != syncstages.Status.IDLE)
    said = f" Sync: {said}." if said else ""
    restart = "systemctl restart edge-worker; see journalctl -u edge-worker"
    since = elapsed(beat, now) if beat else None
    if since is None or since > stale:
        return Finding(
            "worker",
            False,
            "the sync worker is not running"
            + (f" (last heartbeat {shown})" if beat else "")
            + said,
            restart,
            details,
        )
    stuck = next((s for s in stages if s.stuck(now, stale)), None)
    if stuck is not None:
        return Finding(
            "worker",
            False,
            f"the sync worker is alive but stuck in {stuck.name} since {stuck.since}.{said}",
            restart,
            details,
        )
    quiet = syncstages.not_pushing(conn, now, timedelta(minutes=settings.push_stalled_minutes))
    if quiet is not None:
        return Finding(
            "worker",
            False,
            f"the sync worker is alive (last heartbeat {shown}) but has not pushed for "
            f"{_minutes(quiet)} although {syncstages.waiting(conn)} actions wait and the "
            f"registry answered at the last exchange.{said}",
            restart,
            details,
        )
    failing = next((s for s in stages if s.failing), None)
    if failing is not None:
        return Finding(
            "worker",
            False,
            f"the sync worker is alive (last heartbeat {shown}), but its {failing.name} "
            f"failed.{said}",
            "nothing is lost: the worker tries again. If the registry answers (see below), "
            "read the last error; see journalctl -u edge-worker",
            details,
        )
    return Finding(
        "worker", True, f"the sync worker is alive (last heartbeat {shown}).{said}", "", details
    )


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:.0f} minutes" if minutes >= 2 else f"{span.total_seconds():.0f} seconds"


def _registry(conn: sqlite3.Connection) -> Finding:
    url = box_value(conn, "registry_url")
    if not url:
        return Finding(
            "registry",
            False,
            "the box is not enrolled with a registry",
            "edge enroll URL --token-file FILE (the token comes from the registry's operator)",
        )
    try:
        r = httpx.get(f"{url}/v1/hello", timeout=5)
        reachable = r.status_code == 200
    except httpx.HTTPError:
        reachable = False
    if reachable:
        return Finding("registry", True, f"enrolled with {url}, which answers")
    return Finding(
        "registry",
        False,
        f"enrolled with {url}, which cannot be reached now; work is kept and sent later",
        "check the office's internet connection",
    )


def _mdns(conn: sqlite3.Connection) -> Finding:
    seen = box_value(conn, "mdns_announced_at")
    if seen and parse_iso(seen) >= utcnow() - timedelta(minutes=10):
        return Finding("mdns", True, f"announced on the office network (last {seen})")
    return Finding(
        "mdns",
        False,
        "the box has not announced itself on the office network recently",
        "check that edge-web is running; see journalctl -u edge-web",
    )


def _files(settings: Settings) -> Finding:
    wrong = []
    for path, mode in ((settings.device_key_path, 0o600), (settings.journal_path, 0o600)):
        if not path.exists():
            wrong.append(f"{path.name} is missing")
        elif stat.S_IMODE(path.stat().st_mode) & ~mode:
            wrong.append(
                f"{path.name} is readable by others (mode {path.stat().st_mode & 0o777:o})"
            )
    if not wrong:
        return Finding("files", True, "the device key and the journal are private to the box")
    return Finding(
        "files",
        False,
        "; ".join(wrong),
        f"chmod 600 {settings.device_key_path} {settings.journal_path}",
    )
