"""`edge export DEST`: the office's records as CSV or JSON, for the local admin's reports
(one row per record: its status and flags, and each field of the declaration as a column).

sqlite-utils reads the rows: it streams a query as dictionaries, which is what an export
wants; the journal's own reads are tuned for pages and stay as they are.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from edge.cli import journal_key, settings_of
from edge.errors import EdgeError
from edge.journal.db import connect
from edge.workflow.config import load_config

COLUMNS = ["tracking_id", "event_type", "status", "flags", "office_id", "created_at", "updated_at"]


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    config = load_config(settings.country_config)
    dest = Path(args.dest)
    if dest.resolve().is_relative_to(settings.home.resolve()):
        raise EdgeError(
            f"{dest} is inside the box's home ({settings.home}), where nothing is kept in the "
            "clear: an export holds names as people read them. Write it off the box (a USB "
            "stick you keep) and delete it when done."
        )
    fields = [f.id for event in config.events.values() for f in event.fields]
    fields = list(dict.fromkeys(fields))
    conn = connect(settings.journal_path, readonly=True, key=journal_key(args, settings))
    try:
        rows = _records(sqlite_utils.Database(conn), args.event)
        # Personal data: readable by this user only, whatever the umask.
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8", newline="") as out:
            count = _write(out, rows, fields, args.format)
    finally:
        conn.close()
    print(f"Exported {count} record{'s' if count != 1 else ''} to {dest}")
    return 0


def _records(db: sqlite_utils.Database, event: str | None) -> Iterator[dict[str, Any]]:
    where, params = ("WHERE event_type = ?", [event]) if event else ("", [])
    sql = f"SELECT {', '.join(COLUMNS)}, declaration FROM records {where} ORDER BY created_at"
    yield from db.query(sql, params)


def _write(out: Any, rows: Iterator[dict[str, Any]], fields: list[str], kind: str) -> int:
    count = 0
    if kind == "json":
        out.write("[")
    writer = csv.DictWriter(out, [*COLUMNS, *fields], extrasaction="ignore")
    if kind == "csv":
        writer.writeheader()
    for row in rows:
        declaration = json.loads(row.pop("declaration") or "{}")
        row["flags"] = " ".join(json.loads(row["flags"] or "[]"))
        if kind == "json":
            out.write(("," if count else "") + "\n" + json.dumps({**row, **declaration}))
        else:
            writer.writerow({**row, **{k: declaration.get(k, "") for k in fields}})
        count += 1
    if kind == "json":
        out.write("\n]\n")
    return count
