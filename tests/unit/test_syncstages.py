"""The sync worker's stages as the journal keeps them (edge.journal.syncstages), and the
round's wait for the push's backoff (upstream_sync.stages.round)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.clock import Moment, iso_ms
from edge.journal import syncstages
from edge.journal.boxvalues import set_box_value
from edge.journal.db import sqlite3
from edge.journal.schema import migrate
from edge.journal.syncstages import Stage, Status
from upstream_sync.stages.round import backoff_left

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
    assert backoff_left(conn, NOW) is None  # never failed
    syncstages.fail(conn, Stage.PUSH, "no connection", NOW, NOW + timedelta(seconds=40))
    assert backoff_left(conn, NOW) == timedelta(seconds=40)
    assert backoff_left(conn, NOW + timedelta(seconds=41)) is None  # over
    # Without the time since boot (a row of an older box): the clock stepped back an hour
    # after the failure; a stored time the clock puts in the future is not trusted.
    assert backoff_left(conn, NOW - timedelta(hours=1)) is None


def at(wall: datetime, boot: str, seconds: float) -> Moment:
    """A moment of a boot: its wall time and the time since that boot."""
    return Moment(wall, boot, int(seconds * 1000))


DAY = timedelta(days=1)


def test_within_a_boot_a_backoff_is_timed_by_the_time_since_boot_whatever_the_clock_does(
    conn: sqlite3.Connection,
) -> None:
    failed = at(NOW, "boot-1", 1000)
    syncstages.fail(conn, Stage.PUSH, "no connection", failed, NOW + timedelta(seconds=40))
    ten_s_later = 1010
    for wall in (NOW - DAY, NOW + timedelta(seconds=10), NOW + DAY):  # back, right, forward
        assert backoff_left(conn, at(wall, "boot-1", ten_s_later)) == timedelta(seconds=30)
    assert backoff_left(conn, at(NOW - DAY, "boot-1", 1041)) is None  # 41 s: over
    # Another boot: the time since boot restarted; the wall clock counts, never from the future.
    assert backoff_left(conn, at(NOW + timedelta(seconds=10), "boot-2", 5)) == timedelta(seconds=30)
    assert backoff_left(conn, at(NOW - DAY, "boot-2", 5)) is None


def test_a_stage_is_stuck_by_the_time_since_boot(conn: sqlite3.Connection) -> None:
    syncstages.start(conn, Stage.PULL, at(NOW, "boot-1", 1000))
    pull = syncstages.stage(conn, Stage.PULL)
    stale = timedelta(minutes=3)
    # The clock stepped a day back: four minutes without progress are still four minutes.
    assert pull.stuck(at(NOW - DAY, "boot-1", 1000 + 240), stale)
    # A day forward: one minute is one minute.
    assert not pull.stuck(at(NOW + DAY, "boot-1", 1000 + 60), stale)
    # A run of an earlier boot whose time the clock no longer vouches for ended with it.
    assert pull.stuck(at(NOW - DAY, "boot-2", 10), stale)


def test_a_push_that_does_nothing_while_actions_wait_and_the_registry_answers_is_stalled(
    conn: sqlite3.Connection,
) -> None:
    stalled = timedelta(minutes=5)
    conn.execute(
        "INSERT INTO actions (seq, id, record_id, event_type, type, created_at, clock, boot_id, "
        "created_by, created_at_location, payload, flags_added, flags_removed, prev_hash, hash) "
        "VALUES (1, 'a1', 'r1', 'birth', 'CREATE', ?, 'synced', 'boot-1', 'u', 'o', '{}', "
        "'[]', '[]', '', '')",
        (iso_ms(NOW),),
    )
    syncstages.finish(conn, Stage.PUSH, at(NOW, "boot-1", 1000))
    later = at(NOW - DAY, "boot-1", 1000 + 6 * 60)  # six minutes on, the clock a day back
    assert syncstages.not_pushing(conn, later, stalled) is None  # never heard of a registry
    set_box_value(conn, "registry_reachable", "0")
    assert syncstages.not_pushing(conn, later, stalled) is None  # the WAN is down
    set_box_value(conn, "registry_reachable", "1")
    assert syncstages.not_pushing(conn, later, stalled) == timedelta(minutes=6)
    assert syncstages.not_pushing(conn, at(NOW, "boot-1", 1000 + 4 * 60), stalled) is None
    # A push waiting out a backoff of ten minutes is not idle during those ten minutes.
    syncstages.fail(conn, Stage.PUSH, "refused", at(NOW, "boot-1", 1000), NOW + 2 * stalled)
    assert syncstages.not_pushing(conn, later, stalled) is None
    assert syncstages.not_pushing(conn, at(NOW, "boot-1", 1000 + 16 * 60), stalled) == (
        timedelta(minutes=6)
    )
    conn.execute(
        "INSERT INTO sync_state (action_id, seq, record_id, state, attempts, updated_at) "
        "VALUES ('a1', 1, 'r1', 'accepted', 1, ?)",
        (iso_ms(NOW),),
    )
    assert syncstages.not_pushing(conn, later, stalled) is None  # nothing waits
