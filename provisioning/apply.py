"""`plan`, `apply`, `rollback`, `status` and `backup` over many boxes: one job per box, run by
the runner, watched by the progress view."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioning import backup, status
from provisioning.context import Context
from provisioning.errors import FleetError
from provisioning.inventory import Box
from provisioning.onbox.layout import sha256_file, sha256_text
from provisioning.plan import Change, Desired, plan
from provisioning.progress import Progress
from provisioning.release import Bundle, load
from provisioning.runner import Attempt, Cancelled, Outcome, run_all
from provisioning.steps import carry_out, observe
from provisioning.transport import RELEASE


class Guarded:
    """Passes progress on, and stops a box between steps once the run is cancelled."""

    def __init__(self, progress: Progress, cancel: threading.Event) -> None:
        self.progress, self.cancel = progress, cancel

    def step(self, box: str, index: int, total: int, says: str) -> None:
        if self.cancel.is_set():
            raise Cancelled("stopped before: " + says)
        self.progress.step(box, index, total, says)

    def transfer(self, box: str, done: int, total: int) -> None:
        self.progress.transfer(box, done, total)


class Wants:
    """What each box should be; releases are read (and hash-checked) once per version."""

    def __init__(self, ctx: Context, release: str = "") -> None:
        self.ctx, self.release = ctx, release
        self.bundles: dict[str, Bundle] = {}
        self.lock = threading.Lock()
        path = ctx.fleet.country_config
        self.country = Path(path).expanduser().read_text() if path else None

    def of(self, box: Box) -> Desired:
        version = self.release or self.ctx.fleet.release_of(box)
        if not version:
            raise FleetError("no release chosen: set `release` in the inventory's [fleet]")
        with self.lock:
            if version not in self.bundles:
                self.bundles[version] = load(self.ctx.releases, version)
        country_sha = sha256_text(self.country) if self.country is not None else ""
        settings = self.ctx.fleet.settings_of(box)
        return Desired(self.bundles[version], settings, self.country, country_sha)


def run_jobs(
    ctx: Context,
    boxes: list[Box],
    job: Callable[[Box, Attempt, Guarded], Outcome],
    parallel: int,
    retries: int,
    live: bool | None = None,
) -> list[Outcome]:
    cancel = threading.Event()
    with Progress([b.name for b in boxes], live=live) as progress:
        guarded = Guarded(progress, cancel)
        try:
            return run_all(
                boxes, lambda b, a: job(b, a, guarded), parallel, retries, progress, cancel
            )
        except KeyboardInterrupt:
            cancel.set()
            raise


def apply_job(ctx: Context, wants: Wants, dry_run: bool) -> Callable[..., Outcome]:
    journal = ctx.journal()
    sent: dict[str, int] = {}

    def job(box: Box, attempt: Attempt, report: Guarded) -> Outcome:
        want = wants.of(box)
        with ctx.connect(box) as session:
            try:
                observed = observe(session)
                changes = plan(observed, want)
                if dry_run or not changes:
                    return _planned(box, want, changes)
                timeout = ctx.fleet.health_timeout
                carry_out(session, changes, observed, want, timeout, journal, report, ctx.now)
                final = observe(session)
            finally:
                sent[box.name] = sent.get(box.name, 0) + session.sent
        if final.get("current") != want.release.version or not final["health"]["ready"]:
            why = final.get("health", {}).get("reason", "")
            raise FleetError(f"not healthy after the changes: {why[:200]}")
        return Outcome(
            box.name, True, f"{want.release.version}, healthy",
            [c.step for c in changes], sent.get(box.name, 0),
        )  # fmt: skip

    return job


def _planned(box: Box, want: Desired, changes: list[Change]) -> Outcome:
    if not changes:
        return Outcome(box.name, True, f"{want.release.version}, healthy: no change")
    listing = "; ".join(c.says for c in changes)
    return Outcome(box.name, True, f"would: {listing}", [c.step for c in changes])


def rollback_job(ctx: Context) -> Callable[..., Outcome]:
    def job(box: Box, attempt: Attempt, report: Guarded) -> Outcome:
        report.step(box.name, 1, 1, "back to the previous release (health gate)")
        with ctx.connect(box) as session:
            timeout = str(ctx.fleet.health_timeout)
            answer = session.call(RELEASE, "--timeout", timeout, "rollback", timeout=900)
        box.release = str(answer["version"])  # so the next apply does not undo it
        return Outcome(box.name, True, f"back on {answer['version']}, healthy", ["rollback"])

    return job


def status_job(ctx: Context, rows: dict[str, dict[str, Any]]) -> Callable[..., Outcome]:
    def job(box: Box, attempt: Attempt, report: Guarded) -> Outcome:
        report.step(box.name, 1, 1, "asking")
        with ctx.connect(box) as session:
            observed = observe(session)
        rows[box.name] = status.row(box.name, observed, ctx.now())
        return Outcome(box.name, True, rows[box.name]["health"])

    return job


def backup_job(ctx: Context, pulled: dict[str, Path]) -> Callable[..., Outcome]:
    def job(box: Box, attempt: Attempt, report: Guarded) -> Outcome:
        report.step(box.name, 1, 1, "online backup on the box, then download")
        with ctx.connect(box) as session:
            path, actions = backup.pull(session, ctx.backups / box.name)
        pulled[box.name] = path
        said = (
            f"{actions} actions, verified"
            if actions >= 0
            else "encrypted, verified by the box with its key; its key slots beside it"
        )
        return Outcome(box.name, True, f"{said}: {path} ({sha256_file(path)[:12]})")

    return job
