"""The worker's periodic housekeeping, run directly on a real box home."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from edge.clock import boot_id, iso_ms, utcnow
from edge.journal.boxvalues import moment_value
from edge.keys.runtime import read_key
from edge.settings import load_settings
from tests.helpers import edge_cli, journal_conn
from upstream_sync.worker import Worker, huey_for


def test_every_minute_beats_and_clears_expired_sessions(tmp_path: Path) -> None:
    edge_cli(tmp_path, "init", "--demo")
    conn = journal_conn(tmp_path)
    user = conn.execute("SELECT id FROM users WHERE username = 'clerk'").fetchone()[0]
    old, fresh = iso_ms(utcnow() - timedelta(hours=2)), iso_ms(utcnow())
    for id_hash, seen in (("old", old), ("live", fresh)):
        conn.execute(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, "
            "expires_at) VALUES (?, ?, 'c', ?, ?, ?)",
            (id_hash, user, seen, seen, iso_ms(utcnow() + timedelta(hours=1))),
        )
    conn.commit()
    settings = load_settings(tmp_path)
    worker = Worker(settings, huey_for(settings), read_key(settings))  # the box is unlocked
    worker.every_minute()  # not enrolled: no push, but the housekeeping runs
    worker.close()
    left = [r[0] for r in conn.execute("SELECT id_hash FROM sessions")]
    beat = moment_value(conn, "worker_heartbeat")
    conn.close()
    assert left == ["live"]
    assert beat is not None and iso_ms(beat.wall) >= fresh and beat.boot == boot_id()
