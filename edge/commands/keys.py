"""`edge rekey`, `edge unlock`, `edge lock`: the data key by hand (docs/operations.md)."""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from pathlib import Path

from edge.cli import journal_key, settings_of
from edge.errors import EdgeError
from edge.journal.db import rekey as rekey_journal
from edge.keys import box, runtime
from edge.runlock import take_exclusive
from edge.settings import Settings

log = logging.getLogger("edge.keys")


def rekey(args: argparse.Namespace) -> int:
    """A new data key; every slot still opens the box (the box must be stopped). After a slot
    is removed (a user deactivated, a stolen backup's slots), this is what revokes it."""
    settings = settings_of(args)
    journal_key(args, settings)  # unlocked (or unlocks with --unlock-user)
    lock = take_exclusive(settings.home)
    try:
        box.rekey(settings, partial(rekey_journal, settings.journal_path))
    finally:
        os.close(lock)
    print("The journal, the device key and every key slot now use a new data key.")
    return 0


def set_recovery(args: argparse.Namespace) -> int:
    """`edge recovery-key set FILE`: the box (unlocked) gets a recovery slot for this key."""
    from edge.keys.recovery import read_public

    settings = settings_of(args)
    journal_key(args, settings)
    box.set_recovery_public(settings, read_public(Path(args.file)))
    print("The recovery key opens this box from now on (only it: any earlier one is removed).")
    return 0


def schema_version(args: argparse.Namespace) -> int:
    """For the release switch: the journal's schema version (it needs the key to read)."""
    from edge.journal.db import connect
    from edge.journal.schema import version

    settings = settings_of(args)
    conn = connect(settings.journal_path, readonly=True, key=journal_key(args, settings))
    try:
        print(version(conn))
    finally:
        conn.close()
    return 0


def unlock(args: argparse.Namespace) -> int:
    """Unlock the box from the command line (a staff password with --unlock-user)."""
    settings = settings_of(args)
    if journal_key(args, settings) is None:
        raise EdgeError("This box's journal is not encrypted: there is nothing to unlock")
    print("The box is unlocked.")
    return 0


def lock(args: argparse.Namespace) -> int:
    """Forget the key in memory, as a reboot does (stop the box first)."""
    settings = settings_of(args)
    held = take_exclusive(settings.home)
    os.close(held)
    runtime.forget(settings)
    print("The box is locked: a staff login (or the registry) unlocks it.")
    return 0


def rekey_if_due(settings: Settings) -> None:
    """At the start of `edge serve` / `edge worker`: the setup slot went (the box now holds
    someone's data), so the key it kept in the clear is replaced, if no other process of the
    box runs yet (else at the next start; `edge doctor` says so)."""
    ks = box.load_slots(settings)
    if ks is None or not ks.rekey_due or box.data_key(settings) is None:
        return
    try:
        held = take_exclusive(settings.home)
    except EdgeError:
        log.info("a new data key is due; left to the next start (the box is running)")
        return
    try:
        box.rekey(settings, partial(rekey_journal, settings.journal_path))
    finally:
        os.close(held)


MIGRATING = ".migrating"


def migrate_if_plain(settings: Settings) -> None:
    """At the start of `edge serve` / `edge worker` after an upgrade: a plain journal from
    before encryption at rest is encrypted in place (nothing lost: `sqlcipher_export`, fsync,
    atomic swap), its key kept in a setup slot until the first login gives a user slot (then a
    new key replaces it). Only while no other process of the box runs; a power cut at any
    point leaves either the plain journal or the encrypted one with its key."""
    from edge.identity import encrypt_device_key
    from edge.journal.db import export_encrypted, opens
    from edge.keys import seal, slots

    journal, home = settings.journal_path, settings.home
    pending = home / (slots.FILE + MIGRATING)
    if pending.exists():  # cut short: finish if the swap happened, else start again
        ks = slots.load_file(pending)
        key = slots.setup_key(ks) if ks else None
        if key is not None and journal.exists() and opens(journal, key):
            pending.replace(home / slots.FILE)
        else:
            pending.unlink()
    if box.encrypted(settings):
        key = box.data_key(settings)
        if key is not None:
            encrypt_device_key(settings.device_key_path, key)
        return
    if not journal.exists() or not opens(journal, None):
        return
    try:
        held = take_exclusive(home)
    except EdgeError:
        log.info("the journal is not encrypted yet: left to the next start (the box is running)")
        return
    try:
        from edge.journal.db import sqlite3

        plain = sqlite3.connect(str(journal))
        try:
            plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            plain.close()
        key = seal.new_key()
        staged = journal.with_suffix(".encrypting")
        staged.unlink(missing_ok=True)
        old_umask = os.umask(0o077)
        try:
            export_encrypted(journal, staged, key)
        finally:
            os.umask(old_umask)
        ks = slots.new_slots(home, settings.box_id)
        slots.set_setup(ks, key)
        ks.path = pending
        slots.save(ks)
        for leftover in ("-wal", "-shm"):
            Path(f"{journal}{leftover}").unlink(missing_ok=True)
        staged.replace(journal)
        pending.replace(home / slots.FILE)
        runtime.write_key(settings, key)
        encrypt_device_key(settings.device_key_path, key)
        log.warning(
            "the journal is now encrypted; its key stays in a setup slot until a member of "
            "staff logs in (then a new key replaces it)"
        )
    finally:
        os.close(held)
