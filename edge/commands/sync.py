"""`edge enroll` and `edge sync`: join a registry, and pull and push by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli import journal_key, settings_of
from edge.commands.keys import migrate_if_plain, rekey_if_due
from edge.errors import EdgeError
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.keys import box as keybox
from edge.settings import Settings
from edge.workflow.config import load_config
from upstream_sync import unlocking
from upstream_sync.enrollment import enroll as do_enroll
from upstream_sync.protocol import fingerprint
from upstream_sync.stages.round import run_round
from upstream_sync.synclock import SyncLock
from upstream_sync.transport import EXCHANGE_ERRORS, Enrollment, describe
from upstream_sync.worker import LOCK_WAIT


def enroll(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    token = _token(args)
    config, key = load_config(settings.country_config), journal_key(args, settings)
    with Journal(settings.journal_path, config, key=key) as journal:
        done = do_enroll(
            journal,
            settings.device_key_path,
            args.url,
            token,
            settings.office_id,
            settings.office_name or settings.office_id,
            registry_key=args.registry_key,
        )
    print(f"Enrolled with {done.url} as box {done.box_id}")
    if key is not None:
        _registry_slot(settings, done, key)
        if done.recovery_key:
            keybox.set_recovery_public(settings, done.recovery_key)
            print("The country's recovery key, given by the registry, opens this box too.")
    if args.registry_key is None:
        print(
            f"The registry's key, {fingerprint(done.registry_key)}, was taken on trust: compare "
            "it with the one the registry's operator gives (next time: --registry-key)."
        )
    return 0


def _registry_slot(settings: Settings, who: Enrollment, key: bytes) -> None:
    """The registry key slot, made at once: from now on the box unlocks after a power cut
    as soon as its registry answers (unless reported stolen)."""
    reader = Reader(settings.journal_path, key)
    try:
        offered = unlocking.escrow_offered(reader)
    finally:
        reader.close()
    if not offered:
        print("The registry keeps no unlock secrets: after a power cut, staff unlock the box.")
        return
    try:
        unlocking.create_slot(settings, who)
    except EXCHANGE_ERRORS as exc:
        print(
            f"The registry key slot was not made ({describe(exc)}); the worker tries again.",
            file=sys.stderr,
        )
        return
    print("After a power cut the registry unlocks this box, unless it is reported stolen.")


def _token(args: argparse.Namespace) -> str:
    """The one-time token: from --token-file (`-`: standard input), else the argument. A
    file or a pipe keeps it out of the process list and the shell's history."""
    if (args.token is None) == (args.token_file is None):
        raise EdgeError("Give the enrollment token either as TOKEN or with --token-file")
    if args.token_file is None:
        return str(args.token)
    try:
        text = sys.stdin.read() if args.token_file == "-" else Path(args.token_file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeError(f"Cannot read the token from {args.token_file}: {exc}") from None
    token = text.strip()
    if not token or any(c.isspace() for c in token):
        raise EdgeError(f"{args.token_file} does not hold one enrollment token")
    return token


def sync(args: argparse.Namespace) -> int:
    """Pull the registry's changes, then push the outbox until it is empty."""
    settings = settings_of(args)
    key = journal_key(args, settings)
    reader = Reader(settings.journal_path, key)
    lock = SyncLock(settings.home)
    with (
        Journal(settings.journal_path, load_config(settings.country_config), key=key) as journal,
        lock.held(LOCK_WAIT) as mine,
    ):
        if not mine:
            raise EdgeError("The sync worker has been pulling or pushing for a while; try again")
        try:
            # By hand: push now, whatever backoff the worker is waiting out.
            done = run_round(
                journal,
                reader,
                settings.device_key_path,
                settings.sync_batch_bytes,
                settings.sync_backoff_max_seconds,
                wait_out_backoff=False,
                document_bytes=None,  # by hand: every document ready to go
            )
        finally:
            reader.close()
    pulled, report = done.pulled, done.pushed
    if pulled is not None and pulled.error:
        print(f"Pull failed: {pulled.error}.")
    elif pulled is not None:
        print(
            f"Pulled: {_n(pulled.granted, 'record')} given to this box, "
            f"{pulled.revoked} taken elsewhere ({_n(pulled.discarded, 'unsent action')} "
            f"discarded), {_n(pulled.users, 'user')} updated."
        )
    if report is None:
        print(f"Push waits {done.wait} more (the backoff after failed tries).")
        return 1
    if report.rejected or report.conflicts:
        print(f"{report.rejected} rejected and {report.conflicts} in conflict: see the outbox")
    if report.error:
        print(f"Push failed: {report.error}. Next try after {report.next_try}.")
        return 1
    print(
        f"Sent: {report.accepted} actions accepted by the registry; {report.held_back} held back."
    )
    docs = done.documents
    if docs is not None and (docs.sent_bytes or docs.error or docs.skipped):
        said = f"Documents: {_n(docs.completed, 'document')} complete at the registry"
        print(f"{said}; failed: {docs.error}." if docs.error else said + ".")
        if docs.skipped:
            print(f"Documents wait: {docs.skipped}.")
    return 1 if pulled is not None and pulled.error else 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def worker(args: argparse.Namespace) -> int:
    from upstream_sync.worker import run

    settings = settings_of(args)
    migrate_if_plain(settings)
    rekey_if_due(settings)
    run(settings)
    return 0
