"""Logging in on a locked box: the user's key slot is the password check (the users table is
in the encrypted journal). Wrong tries are counted here, in memory, like the register counts
them once the box is open; unknown usernames cost the same work (a decoy slot)."""

from __future__ import annotations

import threading
import time

from edge.auth.login import WRONG, _locked
from edge.errors import FieldProblem, InvalidInput, LoginRefused
from edge.keys import box as keybox
from edge.settings import Settings
from edge.users.passwords import MAX_LENGTH

MAX_NAMES = 4096


class Unlocker:
    """Opens the box's data key with a username and password, or refuses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._fails: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def try_password(self, username: str, password: str) -> bytes:
        """The data key (the box is then unlocked), or LoginRefused; blocking (Argon2id)."""
        if not username or not password or len(password) > MAX_LENGTH:
            field = "password" if username else "username"
            raise InvalidInput(
                [FieldProblem(field, "required", "Enter your username and password")]
            )
        s, name, now = self.settings, username.casefold(), time.monotonic()
        with self._lock:
            failed, until = self._fails.get(name, (0, 0.0))
        if until > now:
            raise _locked(until - now)
        key = keybox.unlock_with_password(s, username, password)
        if key is not None:
            with self._lock:
                self._fails.pop(name, None)
            return key
        with self._lock:
            failed += 1
            if failed >= s.lockout_after:
                seconds = s.lockout_seconds * 2 ** (failed - s.lockout_after)
                until = time.monotonic() + min(seconds, s.lockout_max_seconds)
            self._fails[name] = (failed, until)
            if len(self._fails) > MAX_NAMES:
                self._fails.pop(next(iter(self._fails)))
        if failed >= s.lockout_after:
            raise _locked(until - time.monotonic())
        raise LoginRefused(WRONG, "wrong")
