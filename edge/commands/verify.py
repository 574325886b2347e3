"""`edge verify`: check the journal; exit 1 with the first broken seq when anything is off."""

from __future__ import annotations

import argparse
import time

from edge.cli import journal_key, settings_of
from edge.journal.verify import verify


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    started = time.monotonic()
    report = verify(settings.journal_path, journal_key(args, settings))
    took = f"checked in {time.monotonic() - started:.1f} s"
    if report.ok:
        print(
            f"OK: {report.actions} actions, {report.records} records; the hash chain, the "
            f"replayed state and the database integrity all check out ({took})."
        )
        return 0
    where = f" (first broken seq: {report.first_bad_seq})" if report.first_bad_seq else ""
    print(f"PROBLEM: the journal does not verify{where} ({took}).")
    for problem in report.problems:
        print(f"  - {problem}")
    if report.first_bad_seq is not None:
        print(f"first broken seq: {report.first_bad_seq}")
    return 1
