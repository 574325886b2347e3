"""Many boxes at once: a bounded pool (one SSH connection per worker thread, never shared),
each box retried with jittered exponential backoff when its link fails, none stopping the
others. Ctrl-C lets the steps in flight finish and starts nothing new."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from provisioning.errors import FleetError
from provisioning.inventory import Box

BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0


class Cancelled(FleetError):
    """The officer stopped the run; this box was left where it stood, safe to resume."""


@dataclass
class Outcome:
    box: str
    ok: bool
    says: str  # what the box is now, or why it failed
    changed: list[str] = field(default_factory=list)
    sent: int = 0  # bytes uploaded
    seconds: float = 0.0
    attempts: int = 1


@dataclass
class Attempt:
    """What a job gets for one try on one box."""

    number: int
    of: int
    cancel: threading.Event


Job = Callable[[Box, Attempt], Outcome]


class Watcher:
    """Told what happens to each box (the live view implements this)."""

    def retrying(self, box: str, attempt: int, of: int, why: str, wait: float) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


def backoff(attempt: int, rng: random.Random) -> float:
    wait: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return wait * (0.5 + rng.random())


def run_all(
    boxes: list[Box],
    job: Job,
    parallel: int,
    retries: int,
    watcher: Watcher,
    cancel: threading.Event | None = None,
) -> list[Outcome]:
    cancel = cancel or threading.Event()
    rng = random.Random()

    def one(box: Box) -> Outcome:
        start = time.monotonic()
        for number in range(1, retries + 1):
            if cancel.is_set():
                outcome = Outcome(box.name, False, "not done: the run was stopped")
                break
            try:
                outcome = job(box, Attempt(number, retries, cancel))
                outcome.attempts = number
                break
            except FleetError as exc:
                if exc.retry and number < retries and not cancel.is_set():
                    wait = backoff(number, rng)
                    watcher.retrying(box.name, number + 1, retries, exc.detail, wait)
                    cancel.wait(wait)
                    continue
                outcome = Outcome(box.name, False, exc.detail, attempts=number)
                break
            except Exception as exc:  # one box's surprise must not stop the others
                outcome = Outcome(box.name, False, f"unexpected error: {exc!r}", attempts=number)
                break
        outcome.seconds = time.monotonic() - start
        watcher.finished(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="box") as pool:
        return list(pool.map(one, boxes))
