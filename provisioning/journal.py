"""The laptop's step journal (SQLite, `<fleet>/journal.db`): every run, and every step on
every box with its inputs' hash, state, attempts and error. A run cut short (Ctrl-C, a
flat battery) is found at the next `apply`, which says where it stopped and resumes.

Steps are skipped because the box is observed to be right already, never because the
journal says they were done once: a step done under other inputs, or undone since, is
done again."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, ok INTEGER
);
CREATE TABLE IF NOT EXISTS steps (
    run_id INTEGER NOT NULL REFERENCES runs(id), box TEXT NOT NULL, step TEXT NOT NULL,
    inputs TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '', started_at REAL NOT NULL, finished_at REAL,
    PRIMARY KEY (run_id, box, step, inputs)
);
"""


def inputs_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Interrupted:
    run_id: int
    command: str
    started_at: float
    done: dict[str, list[str]]  # box -> steps finished
    unfinished: dict[str, str]  # box -> the step it was in


class Journal:
    """Safe to use from the workers' threads (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.run_id = 0

    def close(self) -> None:
        self.conn.close()

    def interrupted(self, command: str) -> Interrupted | None:
        """The last run of this command, if it never finished."""
        row = self.conn.execute(
            "SELECT id, started_at, finished_at FROM runs WHERE command = ? "
            "ORDER BY id DESC LIMIT 1",
            (command,),
        ).fetchone()
        if row is None or row[2] is not None:
            return None
        done: dict[str, list[str]] = {}
        unfinished: dict[str, str] = {}
        for box, step, state in self.conn.execute(
            "SELECT box, step, state FROM steps WHERE run_id = ? ORDER BY started_at", (row[0],)
        ):
            if state == "done":
                done.setdefault(box, []).append(step)
            elif state == "running":
                unfinished[box] = step
        return Interrupted(row[0], command, row[1], done, unfinished)

    def begin(self, command: str, now: float) -> int:
        with self.lock:
            cur = self.conn.execute(
                "INSERT INTO runs (command, started_at) VALUES (?, ?)", (command, now)
            )
            self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def finish(self, ok: bool, now: float) -> None:
        with self.lock:
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, ok = ? WHERE id = ?", (now, int(ok), self.run_id)
            )

    def step(
        self, box: str, step: str, inputs: str, state: str, now: float, error: str = ""
    ) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO steps (run_id, box, step, inputs, state, attempts, error, started_at)"
                " VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (run_id, box, step, inputs) DO UPDATE"
                " SET state = excluded.state, error = excluded.error,"
                " attempts = attempts + (excluded.state = 'running'),"
                " finished_at = CASE WHEN excluded.state = 'running' THEN NULL ELSE ? END",
                (self.run_id, box, step, inputs, state, error, now, now),
            )

    def last_result(self, box: str) -> tuple[str, str, float] | None:
        """(state, error, when) of the last step this laptop ran on a box."""
        row = self.conn.execute(
            "SELECT state, error, COALESCE(finished_at, started_at) FROM steps WHERE box = ? "
            "ORDER BY COALESCE(finished_at, started_at) DESC LIMIT 1",
            (box,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None
