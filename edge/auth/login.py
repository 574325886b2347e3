"""Logging in at the box, with or without the registry.

The registry never sends password hashes. A verifier is on the box when a local admin set
the password, or when the user logged in here while the registry could confirm it. While
the registry is unreachable such users log in against the verifier for `offline_login_days`
since their password was last checked. Unknown usernames and wrong passwords get the same
answer after the same work: one Argon2id check and one durable write.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from edge.auth.sessions import Session, create_session
from edge.clock import Moment, as_moment, elapsed, iso_ms, parse_iso
from edge.errors import EdgeError, FieldProblem, InvalidInput, LoginRefused
from edge.journal.db import sqlite3
from edge.keys import box as keybox
from edge.settings import Settings
from edge.users.passwords import MAX_LENGTH, Hasher
from edge.users.register import User, deactivated_because, find_user, get_user

T = TypeVar("T")
WRONG = "The username or password is not right."
DEACTIVATED = "This account has been deactivated. Ask your local admin."
LAST_TRY = (
    "The username or password is not right. One more wrong try locks this account for a while."
)


MAX_STRANGERS = 4096


def _locked(seconds_left: float) -> LoginRefused:
    minutes = max(1, int(seconds_left + 59) // 60)
    return LoginRefused(
        f"Too many wrong passwords: this account is locked for {minutes} more "
        f"minute{'s' if minutes != 1 else ''}. Your local admin can unlock it.",
        "locked",
        minutes=minutes,
    )


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


class RegistryPasswordCheck(Protocol):
    """Asks the national registry whether a password is right (the sync issue provides it)."""

    def check(self, username: str, password: str) -> Verdict: ...


class NoRegistry:
    """Used until the box is enrolled with a registry: every check is 'unreachable'."""

    def check(self, username: str, password: str) -> Verdict:
        return Verdict.UNREACHABLE


@dataclass(frozen=True)
class LoggedIn:
    user: User
    session_id: str
    session: Session
    checked_with_registry: bool


class Authenticator:
    """Runs a login: checks, lockout bookkeeping and the new session, all through `run`
    (the journal's single writer)."""

    def __init__(
        self,
        settings: Settings,
        hasher: Hasher,
        run: Callable[[Callable[[sqlite3.Connection], Any]], Any],
        read: Callable[[], sqlite3.Connection],
        registry: RegistryPasswordCheck | None = None,
    ) -> None:
        self.settings = settings
        self.hasher = hasher
        self.run = run
        self.read = read
        self.registry = registry or NoRegistry()
        # Wrong tries for usernames the box does not know, kept like a user's (in memory, the
        # oldest forgotten): the answers do not tell a known username from an unknown one.
        self._strangers: dict[str, tuple[int, float]] = {}
        self._strangers_lock = threading.Lock()

    def login(self, username: str, password: str, now: datetime | Moment) -> LoggedIn:
        """Log in or raise LoginRefused; blocking (Argon2id), call it off the event loop.
        `now` as a Moment makes a lock survive clock steps (a plain time: wall clock only)."""
        at = as_moment(now)
        if not username or not password or len(password) > MAX_LENGTH:
            raise InvalidInput(
                [
                    FieldProblem(
                        "password" if username else "username",
                        "required",
                        "Enter your username and password",
                    )
                ]
            )
        user = find_user(self.read(), username)
        if user is None or not user.active:
            # The same work as for a real user, the registry's round trip included. A
            # deactivated user who knows their password is told why (it reveals nothing to
            # someone who does not), instead of retrying towards nothing.
            self.registry.check(username, password)
            matches, _ = self.hasher.check(password, user.verifier if user else None)
            self.run(_count_unknown)
            if user is not None and matches:
                why = deactivated_because(self.read(), user.id)
                detail = f"{DEACTIVATED} Reason given: {why}" if why else DEACTIVATED
                raise LoginRefused(detail, "deactivated", said=why)
            raise self._stranger(username)
        lock_left = _lock_left(user, at)
        if lock_left > 0:
            self.hasher.check(password, None)
            self.run(_count_unknown)
            raise _locked(lock_left)
        verdict = self.registry.check(username, password)
        if verdict is Verdict.REJECTED:
            self.hasher.check(password, None)
            self._failed(user, at)
        matches, upgrade = self.hasher.check(password, user.verifier)
        if verdict is Verdict.CONFIRMED:
            verifier = None if matches and not upgrade else self.hasher.hash(password)
            return self._succeed(user, at, verifier, checked=True, checked_password=password)
        if not matches:
            self._failed(user, at)
        if user.verifier is None:  # only reachable when the decoy matched: never
            raise LoginRefused(WRONG, "wrong")
        window = timedelta(days=self.settings.offline_login_days)
        if not user.last_checked_at or user.last_checked_at <= iso_ms(at.wall - window):
            raise LoginRefused(
                "The national registry cannot be reached, and your password has not been "
                f"checked with it for more than {self.settings.offline_login_days} days. Log "
                "in once while the registry is reachable, or ask your local admin to reset "
                "your password.",
                "offline_expired",
            )
        return self._succeed(
            user,
            at,
            self.hasher.hash(password) if upgrade else None,
            checked=False,
            checked_password=password,
        )

    def _failed(self, user: User, now: Moment) -> None:
        s = self.settings

        def job(conn: sqlite3.Connection) -> tuple[int, int]:
            failed = get_user(conn, user.id).failed_attempts + 1
            locked, seconds = None, 0
            if failed >= s.lockout_after:
                seconds = min(
                    s.lockout_seconds * 2 ** (failed - s.lockout_after), s.lockout_max_seconds
                )
                locked = iso_ms(now.wall + timedelta(seconds=seconds))
            conn.execute(
                "UPDATE users SET failed_attempts = ?, locked_until = ?, lock_boot = ?, "
                "lock_mono = ?, lock_seconds = ? WHERE id = ?",
                (failed, locked, now.boot, now.since_boot_ms, seconds, user.id),
            )
            return failed, seconds

        raise self._wrong(*self.run(job))

    def _wrong(self, failed: int, locked_for: float) -> LoginRefused:
        """A wrong password's answer: the lock it engaged, a warning on the try before the one
        that locks, else just wrong."""
        s = self.settings
        if locked_for > 0:
            return _locked(locked_for)
        if failed == s.lockout_after - 1:  # warn before the try that locks
            return LoginRefused(LAST_TRY, "last_try", minutes=max(1, s.lockout_seconds // 60))
        return LoginRefused(WRONG, "wrong")

    def _stranger(self, username: str) -> LoginRefused:
        """The answer to a wrong try for a username the box does not know (or a deactivated
        user's wrong password): the warning and the lock a user would get, at the same tries."""
        s, key, now = self.settings, username.casefold(), time.monotonic()
        with self._strangers_lock:
            failed, until = self._strangers.pop(key, (0, 0.0))
            if until > now:
                self._strangers[key] = (failed, until)
                return _locked(until - now)
            failed += 1
            if failed >= s.lockout_after:
                seconds = s.lockout_seconds * 2 ** (failed - s.lockout_after)
                until = now + min(seconds, s.lockout_max_seconds)
            self._strangers[key] = (failed, until)
            if len(self._strangers) > MAX_STRANGERS:
                self._strangers.pop(next(iter(self._strangers)))
        return self._wrong(failed, until - now if failed >= s.lockout_after else 0)

    def _succeed(
        self,
        user: User,
        now: Moment,
        verifier: str | None,
        checked: bool,
        checked_password: str | None = None,
    ) -> LoggedIn:
        lifetime = timedelta(hours=self.settings.session_max_hours)

        def job(conn: sqlite3.Connection) -> tuple[str, Session]:
            conn.execute(
                "UPDATE users SET failed_attempts = 0, locked_until = NULL, last_login_at = ?, "
                "verifier = COALESCE(?, verifier), "
                "last_checked_at = CASE WHEN ? THEN ? ELSE last_checked_at END WHERE id = ?",
                (iso_ms(now.wall), verifier, int(checked), iso_ms(now.wall), user.id),
            )
            return create_session(conn, user.id, now, lifetime)

        session_id, session = self.run(job)
        if checked_password is not None and (
            verifier is not None or not keybox.has_user_slot(self.settings, user.username)
        ):
            # A new password (the registry confirmed it), or a user without a key slot yet
            # (e.g. one the registry sent): from now on it unlocks the box after a reboot.
            keybox.set_user_password(self.settings, user.username, checked_password)
        return LoggedIn(get_user(self.read(), user.id), session_id, session, checked)


def _count_unknown(conn: sqlite3.Connection) -> None:
    # The same durable write a wrong password costs, so both answers take as long; the
    # count is also worth watching (someone guessing usernames).
    conn.execute(
        "INSERT INTO box (key, value) VALUES ('failed_logins_unknown', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


def _lock_left(user: User, now: Moment) -> float:
    """Seconds a lock after failed logins still lasts. Counted with the time since boot in
    the boot it began, so a clock stepped back does not lengthen it (nor forward shorten it);
    after a reboot the wall clock counts, and a lock whose start the clock puts in the
    future lasts its full length again (never longer)."""
    if not user.locked_until:
        return 0.0
    until = parse_iso(user.locked_until)
    if not user.lock_seconds:  # locked before locks knew their boot: the wall clock
        return max(0.0, (until - now.wall).total_seconds())
    began = Moment(until - timedelta(seconds=user.lock_seconds), user.lock_boot, user.lock_mono)
    gone = elapsed(began, now)
    left = user.lock_seconds - (gone.total_seconds() if gone is not None else 0.0)
    return min(float(user.lock_seconds), max(0.0, left))


class TooManyLogins(EdgeError):
    status = 503
    title = "The box is busy"


class LoginLine:
    """Logins wait in a line of their own. A password check costs Argon2id's memory and time
    on purpose; two hundred logins at once (a script, a stuck device) must not take the
    threads the pages read with, so logins get `workers` threads and at most `waiting_max`
    may wait; the next is told to try again in a moment (503)."""

    def __init__(self, authenticator: Authenticator, workers: int = 2, waiting_max: int = 32):
        self.authenticator = authenticator
        self.waiting_max = waiting_max
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="login")
        self._waiting = 0

    async def login(self, username: str, password: str, now: datetime | Moment) -> LoggedIn:
        """As Authenticator.login, off the event loop, in the login line."""
        if self._waiting >= self.waiting_max:
            raise TooManyLogins(
                "Too many people are logging in at this moment. Try again in a few seconds."
            )
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            # In this request's context, as asyncio.to_thread would: its log lines keep the
            # request's id.
            context = contextvars.copy_context()
            return await loop.run_in_executor(
                self._pool, context.run, self.authenticator.login, username, password, now
            )
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
