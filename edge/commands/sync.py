"""`edge enroll` and `edge sync`: join a registry, and pull and push by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli import home_of
from edge.errors import EdgeError
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.settings import load_settings
from edge.workflow.config import load_config
from upstream_sync.client import enroll as do_enroll
from upstream_sync.client import pull_once
from upstream_sync.push import drain


def enroll(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    with Journal(settings.journal_path, load_config(settings.country_config or None)) as journal:
        done = do_enroll(
            journal,
            settings.device_key_path,
            args.url,
            _token(args),
            settings.office_id,
            settings.office_name or settings.office_id,
        )
    print(f"Enrolled with {done.url} as box {done.box_id}")
    return 0


def _token(args: argparse.Namespace) -> str:
    """From --token-file (`-`: stdin, so it never shows in `ps`), else the argument."""
    if args.token_file:
        text = sys.stdin.read() if args.token_file == "-" else Path(args.token_file).read_text()
        token = text.strip()
    else:
        token = args.token or ""
    if not token:
        raise EdgeError("No enrollment token: give --token-file FILE (or - for stdin)")
    return token


def sync(args: argparse.Namespace) -> int:
    """Pull the registry's changes, then push the outbox until it is empty."""
    settings = load_settings(home_of(args))
    reader = Reader(settings.journal_path)
    with Journal(settings.journal_path, load_config(settings.country_config or None)) as journal:
        try:
            pulled = pull_once(journal, reader, settings.device_key_path)
            if pulled.error:
                print(f"Pull failed: {pulled.error}.")
            else:
                print(
                    f"Pulled: {_n(pulled.granted, 'record')} given to this box, "
                    f"{pulled.revoked} taken elsewhere ({_n(pulled.discarded, 'unsent action')} "
                    f"discarded), {_n(pulled.users, 'user')} updated."
                )
            report = drain(
                journal,
                reader,
                settings.device_key_path,
                settings.sync_batch_bytes,
                settings.sync_backoff_max_seconds,
            )
        finally:
            reader.close()
    if report.rejected or report.conflicts:
        print(f"{report.rejected} rejected and {report.conflicts} in conflict: see the outbox")
    if report.error:
        print(f"Push failed: {report.error}. Next try after {report.next_try}.")
        return 1
    print(
        f"Sent: {report.accepted} actions accepted by the registry; {report.held_back} held back."
    )
    return 1 if pulled.error else 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def worker(args: argparse.Namespace) -> int:
    from upstream_sync.worker import run

    run(load_settings(home_of(args)))
    return 0
