"""`edge verify`: check the journal; exit 1 with the first broken seq when anything is off.
`edge recount`: count again what the journal keeps beside it (edge/journal/tallies.py)."""

from __future__ import annotations

import argparse
import time

from edge.cli import journal_key, settings_of
from edge.errors import EdgeError
from edge.journal import tallies
from edge.journal.db import connect
from edge.journal.schema import LATEST, version
from edge.journal.verify import verify
from edge.runlock import hold_shared

RECOUNT = "`edge recount` counts them again from the journal, which is intact"


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    started = time.monotonic()
    report = verify(settings.journal_path, journal_key(args, settings))
    took = f"checked in {time.monotonic() - started:.1f} s"
    if report.ok and not report.miscounted:
        print(
            f"OK: {report.actions} actions, {report.records} records; the hash chain, the "
            f"replayed state, the kept counts and the database integrity all check out ({took})."
        )
        return 0
    if report.ok:
        print(f"PROBLEM: what the box keeps beside the journal is off ({took}); {RECOUNT}.")
        for problem in report.miscounted:
            print(f"  - {problem}")
        return 1
    where = f" (first broken seq: {report.first_bad_seq})" if report.first_bad_seq else ""
    print(f"PROBLEM: the journal does not verify{where} ({took}).")
    for problem in report.problems:
        print(f"  - {problem}")
    if report.first_bad_seq is not None:
        print(f"first broken seq: {report.first_bad_seq}")
    return 1


def recount(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    hold_shared(settings.home)  # beside a running box, not during a restore or a new key
    started = time.monotonic()
    conn = connect(settings.journal_path, key=journal_key(args, settings))
    try:
        at = version(conn)
        if at != LATEST:
            raise EdgeError(
                f"the journal is at schema {at}, this software at {LATEST}: "
                + (
                    "start the box once (it upgrades the journal), then run `edge recount`"
                    if at < LATEST
                    else "update the software first"
                )
            )
        off = tallies.miscounted(conn)
        tallies.recount(conn)
        left = tallies.miscounted(conn)
    finally:
        conn.close()
    took = f"{time.monotonic() - started:.1f} s"
    if left:  # only a journal the counting cannot read (e.g. a record's flags not a list)
        print(f"PROBLEM: still off after counting again ({took}): " + "; ".join(left))
        return 1
    fixed = f"what was off: {'; '.join(off)}" if off else "they already agreed with it"
    print(f"Counted again from the journal ({took}); {fixed}.")
    return 0
