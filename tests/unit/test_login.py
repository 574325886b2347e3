"""Logging in at the box: verifiers, registry confirmation, offline window, lockout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.auth.login import Authenticator, LoginRefused, Verdict
from edge.auth.sessions import find_session
from edge.errors import InvalidInput
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.settings import Settings
from edge.users.passwords import Hasher, Params, password_problems
from edge.users.register import add_user, find_user, set_active, set_password
from edge.workflow.config import Config

FAST = Params(memory_kib=8192, iterations=1)  # quick for tests; docs/security.md has the real ones
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PW = "correct horse battery"


class FakeRegistry:
    def __init__(self, verdict: Verdict = Verdict.UNREACHABLE, password: str = PW) -> None:
        self.verdict, self.password, self.calls = verdict, password, 0

    def check(self, username: str, password: str) -> Verdict:
        self.calls += 1
        if self.verdict is Verdict.UNREACHABLE:
            return Verdict.UNREACHABLE
        return Verdict.CONFIRMED if password == self.password else Verdict.REJECTED


class Box:
    def __init__(self, tmp: Path, cfg: Config) -> None:
        self.settings = Settings(
            home=tmp,
            box_id="b",
            office_id="o",
            lockout_after=3,
            lockout_seconds=60,
            lockout_max_seconds=600,
        )
        self.journal = Journal(tmp / "journal.db", cfg)
        self.reader = Reader(tmp / "journal.db")
        self.hasher = Hasher(FAST)
        self.registry = FakeRegistry()
        self.auth = Authenticator(
            self.settings, self.hasher, self.journal.run, self.reader.conn, self.registry
        )
        self.cfg = cfg

    def add(self, username: str = "amina", password: str | None = PW) -> str:
        verifier = self.hasher.hash(password) if password else None
        return self.journal.run(
            lambda c: add_user(
                c,
                self.cfg,
                username=username,
                display_name="Amina",
                role="clinic-clerk",
                office_id="o",
                by="test",
                now=NOW,
                verifier=verifier,
            )
        ).id

    def user(self, username: str = "amina"):  # type: ignore[no-untyped-def]
        return find_user(self.reader.conn(), username)


@pytest.fixture
def box(tmp_path: Path, cfg: Config) -> Iterator[Box]:
    b = Box(tmp_path, cfg)
    yield b
    b.journal.close()


def refused(box: Box, username: str, password: str, when: datetime = NOW) -> LoginRefused:
    with pytest.raises(LoginRefused) as err:
        box.auth.login(username, password, when)
    return err.value


def test_login_creates_a_session_and_resets_failures(box: Box) -> None:
    box.add()
    refused(box, "amina", "wrong password!")
    assert box.user().failed_attempts == 1
    done = box.auth.login("amina", PW, NOW)
    assert box.user().failed_attempts == 0 and box.user().last_login_at
    assert find_session(box.reader.conn(), done.session_id, NOW, timedelta(minutes=30))
    again = box.auth.login("amina", PW, NOW)
    assert again.session_id != done.session_id  # a fresh session id at every login


def test_unknown_user_and_wrong_password_get_the_same_answer(box: Box) -> None:
    box.add()
    a, b = refused(box, "nobody", PW), refused(box, "amina", "not the password")
    assert (a.detail, a.reason, a.status) == (b.detail, b.reason, b.status)
    deactivated = box.add("yusuf")
    box.journal.run(lambda c: set_active(c, deactivated, False, "test", NOW))
    c = refused(box, "yusuf", "not the password")
    assert (c.detail, c.reason) == (a.detail, a.reason)
    # Only with the right password is a deactivated user told so (not "wrong password"),
    # with the reason their admin gave.
    told = refused(box, "yusuf", PW)
    assert told.reason == "deactivated" and told.said == ""
    box.journal.run(lambda c: set_active(c, deactivated, True, "test", NOW))
    box.journal.run(lambda c: set_active(c, deactivated, False, "test", NOW, "Moved office"))
    told = refused(box, "yusuf", PW)
    assert told.said == "Moved office" and told.detail.endswith("Reason given: Moved office")


def test_lockout_doubles_and_admin_unlock(box: Box) -> None:
    from edge.users.register import unlock

    uid = box.add()
    for _ in range(3):
        refused(box, "amina", "wrong password!")
    locked = box.user().locked_until
    assert locked == "2026-11-22T08:01:00.000Z"  # 60 s after the 3rd failure
    assert refused(box, "amina", PW).reason == "locked"  # even the right password
    later = NOW + timedelta(seconds=61)
    refused(box, "amina", "wrong password!", later)
    assert box.user().locked_until == "2026-11-22T08:03:01.000Z"  # doubled: 120 s
    box.journal.run(lambda c: unlock(c, uid, "admin", NOW))
    assert box.auth.login("amina", PW, later).user.failed_attempts == 0


def test_lock_time_is_capped(box: Box) -> None:
    box.add()
    when = NOW
    for _ in range(12):
        with pytest.raises(LoginRefused):
            box.auth.login("amina", "wrong password!", when)
        when += timedelta(hours=2)
    locked = datetime.fromisoformat(box.user().locked_until.replace("Z", "+00:00"))
    assert locked - (when - timedelta(hours=2)) == timedelta(seconds=600)


def test_offline_window_counts_from_the_last_check(box: Box) -> None:
    box.add()  # an admin set the password now: it counts as checked
    assert box.auth.login("amina", PW, NOW + timedelta(days=29)).checked_with_registry is False
    expired = refused(box, "amina", PW, NOW + timedelta(days=31))
    assert expired.reason == "offline_expired" and "30 days" in expired.detail
    # Back online: the registry confirms the password and the window starts again.
    box.registry.verdict = Verdict.CONFIRMED
    done = box.auth.login("amina", PW, NOW + timedelta(days=31))
    assert done.checked_with_registry
    box.registry.verdict = Verdict.UNREACHABLE
    assert box.auth.login("amina", PW, NOW + timedelta(days=60)).user.username == "amina"


def test_registry_confirmation_stores_a_verifier_for_offline_use(box: Box) -> None:
    box.add(password=None)  # came from the registry: no verifier on the box yet
    assert refused(box, "amina", PW).reason == "wrong"  # offline and never checked here
    box.registry.verdict = Verdict.CONFIRMED
    box.auth.login("amina", PW, NOW)
    assert box.user().verifier is not None
    box.registry.verdict = Verdict.UNREACHABLE
    assert box.auth.login("amina", PW, NOW + timedelta(hours=1)).user.username == "amina"


def test_registry_rejection_counts_as_a_failure(box: Box) -> None:
    box.add()
    box.registry.verdict = Verdict.REJECTED
    box.registry.password = "changed at the registry"
    assert refused(box, "amina", PW).reason == "wrong"
    assert box.user().failed_attempts == 1


def test_verifier_is_upgraded_when_parameters_change(box: Box) -> None:
    box.add()
    old = box.user().verifier
    assert old and "m=8192,t=1" in old
    box.auth.hasher = Hasher(Params(memory_kib=9216, iterations=2))
    box.auth.login("amina", PW, NOW)
    new = box.user().verifier
    assert new and "m=9216,t=2" in new
    assert box.auth.hasher.check(PW, new) == (True, False)


def test_admin_reset_is_one_time_and_ends_sessions(box: Box) -> None:
    uid = box.add()
    done = box.auth.login("amina", PW, NOW)
    box.journal.run(
        lambda c: set_password(
            c, uid, box.hasher.hash("temporary pass 1"), "admin", NOW, one_time=True
        )
    )
    assert find_session(box.reader.conn(), done.session_id, NOW, timedelta(minutes=30)) is None
    assert box.auth.login("amina", "temporary pass 1", NOW).user.must_change_password


def test_empty_and_overlong_input_is_invalid_not_a_failure(box: Box) -> None:
    box.add()
    with pytest.raises(InvalidInput):
        box.auth.login("amina", "", NOW)
    with pytest.raises(InvalidInput):
        box.auth.login("amina", "x" * 300, NOW)
    assert box.user().failed_attempts == 0


def test_password_rules_name_the_field() -> None:
    assert [p.rule for p in password_problems("short", "amina", 10)] == ["min_length"]
    assert [p.rule for p in password_problems("Amina12345", "amina12345", 10)] == ["not_username"]
    assert password_problems("correct horse", "amina", 10) == []


def test_settings_defaults_for_users() -> None:
    s = replace(Settings(), box_id="b", office_id="o")
    assert (s.offline_login_days, s.lockout_after, s.session_idle_minutes) == (30, 5, 30)


def test_sessions_end_when_idle_or_too_old(box: Box) -> None:
    from edge.auth.sessions import needs_touch, purge_expired, touch

    box.add()
    done = box.auth.login("amina", PW, NOW)
    idle, conn = timedelta(minutes=30), box.reader.conn()
    assert find_session(conn, done.session_id, NOW + timedelta(minutes=29), idle)
    assert find_session(conn, done.session_id, NOW + timedelta(minutes=31), idle) is None
    # Activity keeps it alive, but never past the absolute lifetime (12 h by default).
    when = NOW
    while when + timedelta(minutes=20) < NOW + timedelta(hours=12):
        when += timedelta(minutes=20)
        s = find_session(conn, done.session_id, when, idle)
        assert s is not None and needs_touch(s, when, idle)
        box.journal.run(lambda c, h=s.id_hash, w=when: touch(c, h, w))
    assert find_session(conn, done.session_id, NOW + timedelta(hours=12, minutes=1), idle) is None
    assert box.journal.run(lambda c: purge_expired(c, NOW + timedelta(hours=13), idle)) == 1


def test_user_journal_is_append_only_and_holds_no_password(box: Box) -> None:
    from edge.journal.db import connect, sqlite3

    uid = box.add()
    box.journal.run(
        lambda c: set_password(
            c, uid, box.hasher.hash("another password"), "admin", NOW, one_time=True
        )
    )
    conn = connect(box.journal.path)
    rows = conn.execute("SELECT type, payload FROM user_actions").fetchall()
    assert [r[0] for r in rows] == ["CREATE", "RESET_PASSWORD"]
    assert all("argon2" not in r[1] and "another password" not in r[1] for r in rows)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE user_actions SET created_by = 'someone'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM user_actions")


def test_sessions_and_locks_survive_the_clock_being_stepped(box: Box) -> None:
    from edge.auth.sessions import needs_touch
    from edge.clock import Moment

    box.add()
    start = Moment(NOW, "boot-1", 1_000)

    def later(seconds: float, wall_shift: timedelta, boot: str = "boot-1") -> Moment:
        return Moment(NOW + wall_shift, boot, 1_000 + int(seconds * 1000))

    done = box.auth.login("amina", PW, start)
    idle, conn, back = timedelta(minutes=30), box.reader.conn(), timedelta(days=-1)
    # The clock stepped back a day: 31 minutes of the boot are still 31 minutes idle.
    assert find_session(conn, done.session_id, later(31 * 60, back), idle) is None
    # Stepped forward a day (NTP after a boot without a clock): 10 minutes are 10 minutes.
    alive = find_session(conn, done.session_id, later(600, timedelta(days=1)), idle)
    assert alive is not None and needs_touch(alive, later(600, timedelta(days=1)), idle)
    # After a reboot the wall clock counts, but not a last use it puts in the future.
    assert find_session(conn, done.session_id, later(0, back, boot="boot-2"), idle) is None
    assert find_session(conn, done.session_id, later(0, timedelta(minutes=5), "boot-2"), idle)
    # A 60 s lock stays a 60 s lock when the clock goes back a day: not 1,441 minutes.
    for _ in range(3):
        with pytest.raises(LoginRefused):
            box.auth.login("amina", "wrong password!", start)
    locked = refused(box, "amina", PW, later(30, back))
    assert locked.reason == "locked" and locked.minutes == 1
    assert box.auth.login("amina", PW, later(61, back)).user.username == "amina"
    for _ in range(3):
        with pytest.raises(LoginRefused):
            box.auth.login("amina", "wrong password!", start)
    # Across a reboot with the clock behind: the full lock again, never more.
    assert refused(box, "amina", PW, later(0, back, boot="boot-2")).minutes == 1
