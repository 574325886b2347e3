"""The sync worker's stages as the journal keeps them (edge.journal.syncstages), and the
round's wait for the push's backoff (upstream_sync.stages.round)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from edge.clock import iso_ms
from edge.journal import syncstages
from edge.journal.schema import migrate
from edge.journal.syncstages import Stage, Status
from upstream_sync.stages.round import backoff_until

NOW = datetime(2026, 11, 22, 10, 2, tzinfo=UTC)


@pytest.fixture
def conn() -> sqlite3.Connection:
    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate(c)
    return c


def test_old_box_keys_are_read_then_migrated_into_stages_and_positions_stay() -> None:
    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate(c, 6)  # the version before the stages
    old = {
        "sync_next_try": "2026-11-22T10:07:00.000Z",
        "sync_last_error": "the registry cannot be reached (no connection)",
        "sync_last_success": "2026-11-22T09:00:00.000Z",
        "sync_last_pull": "2026-11-22T09:30:00.000Z",
        "sync_last_pull_error": "",
        "resync": "1",
        "resync_after": "rec-5",
        "pull_cursor": "42",
        "sync_low_water": "7",
        "clock_step_sent:boot-1": "1",
    }
    c.executemany("INSERT INTO box VALUES (?, ?)", old.items())
    expected = [
        ("resync", "waiting", None, None, 0),
        ("pull", "done", None, "2026-11-22T09:30:00.000Z", 0),
        ("push", "waiting", "2026-11-22T10:07:00.000Z", "2026-11-22T09:00:00.000Z", 1),
        ("documents", "idle", None, None, 0),  # a stage that came after those keys
    ]

    def seen() -> list[tuple[str, str, str | None, str | None, int]]:
        return [
            (s.name, s.status, s.next_try, s.last_done, s.attempts) for s in syncstages.stages(c)
        ]

    assert seen() == expected  # before migration 5: from the old keys
    push = syncstages.stage(c, Stage.PUSH)
    assert push.last_error == old["sync_last_error"] and push.failing
    migrate(c)
    assert seen() == expected
    assert syncstages.stage(c, Stage.PUSH).last_error == old["sync_last_error"]
    left = dict(c.execute("SELECT key, value FROM box").fetchall())
    assert left == {
        k: old[k]
        for k in ("resync_after", "pull_cursor", "sync_low_water", "clock_step_sent:boot-1")
    }


def test_a_stage_moves_through_its_statuses(conn: sqlite3.Connection) -> None:
    assert [s.status for s in syncstages.stages(conn)] == ["idle"] * len(Stage)
    syncstages.start(conn, Stage.PUSH, NOW)
    running = syncstages.stage(conn, Stage.PUSH)
    assert (running.status, running.since, running.attempts) == ("running", iso_ms(NOW), 0)
    later = NOW + timedelta(seconds=5)
    syncstages.progress(conn, Stage.PUSH, later)
    assert syncstages.stage(conn, Stage.PUSH).updated_at == iso_ms(later)
    retry = NOW + timedelta(minutes=5)
    for n in (1, 2):
        syncstages.fail(conn, Stage.PUSH, "no connection", later, retry)
        waiting = syncstages.stage(conn, Stage.PUSH)
        assert (waiting.status, waiting.attempts, waiting.next_try) == ("waiting", n, iso_ms(retry))
        assert waiting.failing and waiting.last_error == "no connection"
    assert waiting.sentence() == (
        f"push waiting until {iso_ms(retry)}, after 2 failed tries; last error: no connection"
    )
    syncstages.start(conn, Stage.PUSH, later)  # a retry keeps what went wrong until it works
    assert syncstages.stage(conn, Stage.PUSH).last_error == "no connection"
    syncstages.finish(conn, Stage.PUSH, retry)
    done = syncstages.stage(conn, Stage.PUSH)
    assert (done.status, done.attempts, done.last_error, done.next_try) == ("done", 0, None, None)
    assert done.last_done == iso_ms(retry) and not done.failing
    syncstages.fail(conn, Stage.PULL, "refused", NOW)  # no next try: failed, next round
    pull = syncstages.stage(conn, Stage.PULL)
    assert (pull.status, pull.attempts, pull.next_try) == ("failed", 1, None)
    syncstages.request(conn, Stage.RESYNC, NOW)  # edge restore
    resync = syncstages.stage(conn, Stage.RESYNC)
    assert resync.status == Status.WAITING and resync.active and not resync.failing
    assert resync.sentence() == "resync waiting for the next round"


def test_a_running_stage_without_progress_is_stuck(conn: sqlite3.Connection) -> None:
    syncstages.start(conn, Stage.PULL, NOW)
    stale = timedelta(minutes=3)
    pull = syncstages.stage(conn, Stage.PULL)
    assert not pull.stuck(NOW + timedelta(minutes=2), stale)
    assert pull.stuck(NOW + timedelta(minutes=4), stale)
    syncstages.progress(conn, Stage.PULL, NOW + timedelta(minutes=3))
    assert not syncstages.stage(conn, Stage.PULL).stuck(NOW + timedelta(minutes=4), stale)
    syncstages.finish(conn, Stage.PULL, NOW + timedelta(minutes=3))
    assert not syncstages.stage(conn, Stage.PULL).stuck(NOW + timedelta(hours=4), stale)


def test_the_backoff_is_waited_out_unless_the_clock_stepped_back(
    conn: sqlite3.Connection,
) -> None:
    assert backoff_until(conn, NOW, 600) is None  # never failed
    syncstages.fail(conn, Stage.PUSH, "no connection", NOW, NOW + timedelta(seconds=40))
    assert backoff_until(conn, NOW, 600) == NOW + timedelta(seconds=40)
    assert backoff_until(conn, NOW + timedelta(seconds=41), 600) is None  # over
    # The clock stepped back an hour after the failure: a wait longer than any backoff.
    assert backoff_until(conn, NOW - timedelta(hours=1), 600) is None
