"""`edge backup DEST`, `edge restore SRC`: encrypted copies of the journal.

A backup is encrypted with the box's data key (the same key: SQLCipher's backup copies pages),
and its key slots travel beside it (`<backup>.keyslots.json`): restoring needs one of them (the
box's own key while it is unlocked, a staff member's password with `--unlock-user`).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from edge.cli import journal_key, settings_of
from edge.clock import iso_ms, utcnow
from edge.errors import EdgeError
from edge.journal import syncstages, tallies
from edge.journal.boxvalues import box_value
from edge.journal.db import apply_key, connect, export_encrypted, opens, rekey, sqlite3
from edge.journal.schema import LATEST, migrate, version
from edge.journal.syncstages import Stage
from edge.journal.verify import verify
from edge.keys import slots
from edge.keys.seal import Unsealed
from edge.runlock import take_exclusive
from edge.settings import Settings

SLOTS_SUFFIX = ".keyslots.json"


def backup(args: argparse.Namespace) -> int:
    """A consistent copy of the journal, taken while the box serves (SQLite's backup API)."""
    settings = settings_of(args)
    key = journal_key(args, settings)
    dest = Path(args.dest)
    if dest.is_dir():
        stamp = iso_ms(utcnow()).replace(":", "").replace(".", "")
        dest = dest / f"edge-{settings.box_id}-{stamp}.db"
    if dest.exists():
        raise EdgeError(f"{dest} exists already; give another name")
    source = connect(settings.journal_path, readonly=True, key=key)
    old_umask = os.umask(0o077)  # a backup holds personal data too (encrypted)
    try:
        target = sqlite3.connect(str(dest))
        if key is not None:
            apply_key(target, key)
        source.backup(target, pages=256)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        target.close()
        if key is not None:
            shutil.copyfile(settings.home / slots.FILE, f"{dest}{SLOTS_SUFFIX}")
    finally:
        os.umask(old_umask)
        source.close()
    report = verify(dest, key)
    if not report.ok:
        dest.unlink()
        Path(f"{dest}{SLOTS_SUFFIX}").unlink(missing_ok=True)
        raise EdgeError(f"the copy does not verify ({report.problems[0]}); nothing was kept")
    print(f"Backed up {report.actions} actions to {dest} (and its key slots beside it)")
    if report.miscounted:  # the journal is intact: kept, and said
        print(
            "Note: the counts the box keeps beside the journal are off ("
            + tallies.in_brief(report.miscounted)
            + "); the journal itself is intact. `edge verify` on the box says what to do; "
            "restoring this copy counts them again."
        )
    return 0


def _backup_key(args: argparse.Namespace, settings: Settings, src: Path) -> bytes | None:
    """The key that opens the backup: none (a backup from before encryption), the box's own,
    else a slot of the backup's opened with `--unlock-user`'s password."""
    if opens(src, None):
        return None
    by_hand = getattr(args, "unlock_user", None) or getattr(args, "recovery_key", None)
    here = journal_key(args, settings) if not by_hand else None
    if here is not None and opens(src, here):
        return here
    ks = slots.load_file(Path(f"{src}{SLOTS_SUFFIX}"))
    if ks is not None and getattr(args, "recovery_key", None):
        from edge.keys.box import open_recovery
        from edge.keys.recovery import read_private

        opened = open_recovery(settings, ks, read_private(Path(args.recovery_key)))
        if opened is None:
            raise EdgeError(f"This recovery key does not open {src}")
        return opened
    if ks is None or not getattr(args, "unlock_user", None):
        raise EdgeError(
            f"{src} is encrypted with a key this box does not have: give --unlock-user NAME "
            f"(a staff member of that box), with its key slots in {src}{SLOTS_SUFFIX}"
        )
    from edge.cli import ask_unlock_password

    try:
        key = slots.open_user(ks, args.unlock_user, ask_unlock_password(args))
    except Unsealed:
        raise EdgeError(f"This password does not open {src}") from None
    return key


def restore(args: argparse.Namespace) -> int:
    """Replace the journal with a backup: only a backup of this box (unless --force), only
    one that verifies, only while the box is stopped. See docs/operations.md for what
    happens to actions made after the backup."""
    settings = settings_of(args)
    src = Path(args.src)
    if not src.is_file():
        raise EdgeError(f"{src} is not a file")
    travelling = slots.load_file(Path(f"{src}{SLOTS_SUFFIX}"))
    if travelling is not None and travelling.box_id != settings.box_id and not args.force:
        raise EdgeError(_not_ours(src, travelling.box_id, settings))
    key = _backup_key(args, settings, src)
    report = verify(src, key)
    if not report.ok:
        raise EdgeError(
            f"{src} does not verify (first broken seq: {report.first_bad_seq}); nothing changed"
        )
    conn = connect(src, readonly=True, key=key)
    try:
        owner = box_value(conn, "box_id")
        schema = version(conn)
    finally:
        conn.close()
    if owner != settings.box_id and not args.force:
        raise EdgeError(_not_ours(src, owner, settings))
    if schema > LATEST:
        raise EdgeError(f"{src} is from newer software (schema {schema}); update this box first")
    # The restored journal opens with this box's key, so its slots stay as they are; a box
    # that has held nobody's data yet (a replacement: setup slot only) takes the backup's
    # key and slots instead, so no key in the clear ever opens the restored data.
    adopt = key is not None and travelling is not None and _never_used(settings)
    if adopt:
        box_key = key
    else:
        box_key = journal_key(args, settings) if key is None or key != _current(settings) else key
    lock = take_exclusive(settings.home)  # held until this command ends
    staged = settings.journal_path.with_suffix(".restoring")
    staged.unlink(missing_ok=True)
    old_umask = os.umask(0o077)
    try:
        if key is None and box_key is not None:
            export_encrypted(src, staged, box_key)
        else:
            shutil.copyfile(src, staged)
            if key is not None and box_key is not None and key != box_key:
                rekey(staged, key, box_key)
    finally:
        os.umask(old_umask)
    os.chmod(staged, 0o600)
    with open(staged, "rb+") as f:
        os.fsync(f.fileno())
    for leftover in ("-wal", "-shm"):
        Path(f"{settings.journal_path}{leftover}").unlink(missing_ok=True)
    staged.replace(settings.journal_path)
    # Ask the registry for every record this box holds at the next pull: actions accepted
    # after the backup come back as the registry's copies.
    conn = connect(settings.journal_path, key=box_key)
    try:
        migrate(conn)  # a backup from older software: its sync stages table first
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO box (key, value) VALUES ('pull_cursor', '0')")
        conn.execute("INSERT OR REPLACE INTO box (key, value) VALUES ('resync_after', '')")
        # The box's chain goes on from the backup's last action: the next push says so.
        conn.execute(
            "INSERT OR REPLACE INTO box (key, value) "
            "SELECT 'chain_restart', COALESCE(MAX(seq), 0) FROM actions"
        )
        syncstages.request(conn, Stage.RESYNC, utcnow())
        conn.execute("COMMIT")
    finally:
        conn.close()
    if adopt and travelling is not None and key is not None:
        _adopt(settings, travelling, key)
    if report.miscounted or schema < tallies.SINCE:  # else the copy's agreed when verified
        _count_again(settings, box_key)
    os.close(lock)
    print(
        f"Restored {report.actions} actions from {src}. Start the box; its worker sends what "
        "was pending (the registry answers `duplicate` for what it already has) and fetches "
        "back what was done after the backup."
    )
    return 0


def _count_again(settings: Settings, key: bytes | None) -> None:
    """The counts kept beside the restored journal, checked once it is upgraded (verify does
    not count a backup from older software) and counted again when they are off."""
    conn = connect(settings.journal_path, key=key)
    try:
        off = tallies.miscounted(conn)
        if off:
            tallies.recount(conn)
            print(
                f"The backup's kept counts were off ({tallies.in_brief(off)}); they were "
                "counted again from the journal."
            )
    except sqlite3.Error as exc:
        print(
            f"PROBLEM: the restored journal's kept counts cannot be counted again ({exc}); the "
            "journal itself verified. Run `edge doctor`."
        )
    finally:
        conn.close()


def _not_ours(src: Path, owner: str | None, settings: Settings) -> str:
    return (
        f"{src} is a backup of box {owner or 'unknown'}, not of this box "
        f"({settings.box_id}); use --force to restore it anyway"
    )


def _never_used(settings: Settings) -> bool:
    ks = slots.load(settings.home)
    return ks is None or all(s["kind"] == slots.SETUP for s in ks.slots)


def _adopt(settings: Settings, travelling: slots.KeySlots, key: bytes) -> None:
    """The backup's slots become this box's, and its device key is wrapped by that key."""
    from edge.identity import commit_device_key, stage_device_key
    from edge.keys import box, runtime

    old = box.data_key(settings)
    if old is not None:
        stage_device_key(settings.device_key_path, old, key)
    travelling.path = settings.home / slots.FILE
    slots.save(travelling)
    commit_device_key(settings.device_key_path)
    runtime.write_key(settings, key)


def _current(settings: Settings) -> bytes | None:
    from edge.keys import box

    return box.data_key(settings) if box.encrypted(settings) else None
