"""`edge enroll` and `edge sync`: join a registry, and push the outbox by hand."""

from __future__ import annotations

import argparse

from edge.cli import home_of
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.settings import load_settings
from edge.workflow.config import load_config
from upstream_sync.client import enroll as do_enroll
from upstream_sync.client import push_once


def enroll(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    with Journal(settings.journal_path, load_config(settings.country_config or None)) as journal:
        done = do_enroll(
            journal,
            settings.device_key_path,
            args.url,
            args.token,
            settings.office_id,
            settings.office_name or settings.office_id,
        )
    print(f"Enrolled with {done.url} as box {done.box_id}")
    return 0


def sync(args: argparse.Namespace) -> int:
    settings = load_settings(home_of(args))
    journal = Journal(settings.journal_path, load_config(settings.country_config or None))
    reader = Reader(settings.journal_path)
    total = 0
    try:
        while True:
            report = push_once(
                journal,
                reader,
                settings.device_key_path,
                settings.sync_batch_bytes,
                settings.sync_backoff_max_seconds,
            )
            total += report.accepted
            if report.error:
                print(f"Push failed: {report.error}. Next try after {report.next_try}.")
                return 1
            if report.rejected or report.conflicts:
                print(
                    f"{report.rejected} rejected and {report.conflicts} in conflict: see the outbox"
                )
            if report.sent == 0:
                break
    finally:
        journal.close()
        reader.close()
    print(f"Sent: {total} actions accepted by the registry; {report.held_back} held back.")
    return 0


def worker(args: argparse.Namespace) -> int:
    from upstream_sync.worker import run

    run(load_settings(home_of(args)))
    return 0
