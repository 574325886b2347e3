"""Carrying out a plan on one box, step by step, each recorded in the journal. Every step is
idempotent on the box (a release is complete or made again, uploads resume from what the
box holds, a switch gates on health and rolls back), so a retry after a cut link, or a
re-run after an interrupted one, picks up where things stand."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any, Protocol

from provisioning.journal import Journal, inputs_hash
from provisioning.onbox import bundle as onbox
from provisioning.plan import Change, Desired
from provisioning.transport import RELEASE, Session

SYSTEMCTL = '"${EDGE_SYSTEMCTL:-systemctl}"'


class Report(Protocol):
    """Where a box's progress goes (the live view, or plain lines)."""

    def step(self, box: str, index: int, total: int, says: str) -> None: ...

    def transfer(self, box: str, done: int, total: int) -> None: ...


def observe(session: Session, health: bool = True) -> dict[str, Any]:
    """What is on the box; after a cut link, once the change left running there is done."""
    args = ["status"] if health else ["status", "--no-health"]
    answer: dict[str, Any] = session.call(RELEASE, *args, timeout=90)
    if answer.get("busy"):
        session.call(RELEASE, "wait", timeout=1800)
        answer = session.call(RELEASE, *args, timeout=90)
    return answer


def carry_out(
    session: Session,
    changes: list[Change],
    observed: dict[str, Any],
    want: Desired,
    health_timeout: int,
    journal: Journal,
    report: Report,
    now: Callable[[], float] = time.time,
) -> None:
    box = session.box.name
    for index, change in enumerate(changes, 1):
        report.step(box, index, len(changes), change.says)
        key = inputs_hash([change.step, change.data, want.release.version])
        journal.step(box, change.step, key, "running", now())
        try:
            _do(session, change, observed, want, health_timeout, report)
        except Exception as exc:
            journal.step(box, change.step, key, "failed", now(), str(exc)[:500])
            raise
        journal.step(box, change.step, key, "done", now())


def _do(
    session: Session,
    change: Change,
    observed: dict[str, Any],
    want: Desired,
    health_timeout: int,
    report: Report,
) -> None:
    root = observed["root"].rstrip("/")
    bundle = want.release
    if change.step in ("tools", "sshd"):
        prefix = "usr/local/sbin/" if change.step == "tools" else "etc/ssh/"
        for rel, (data, mode) in onbox.files().items():
            name = rel.rsplit("/", 1)[1]
            tools = change.step == "tools"
            seen = observed["tools"].get(name) if tools else observed["sshd_dropin"]
            if rel.startswith(prefix) and seen != onbox.sha256(data):
                session.put_bytes(data, f"{root}/{rel}", mode)
        if change.step == "sshd":
            session.run(f"{SYSTEMCTL} reload ssh", timeout=60)
    elif change.step == "wheels":
        incoming = observed["paths"]["incoming"]
        session.run(f"mkdir -p {shlex.quote(incoming)}", timeout=30)
        total = sum(bundle.size(n) for n in change.data)
        done = 0

        def moved(n: int) -> None:
            nonlocal done
            done += n
            report.transfer(session.box.name, done, total)

        for name, sha in sorted(change.data.items()):
            session.upload(bundle.path(name), f"{incoming}/{sha}.part", moved)
        session.call(RELEASE, "store", data=change.data, timeout=300)
    elif change.step == "release":
        session.call(RELEASE, "install", "--manifest", "-", data=bundle.manifest, timeout=1800)
    elif change.step == "settings":
        args = ["--timeout", str(health_timeout), "configure"]
        session.call(RELEASE, *args, data=change.data, timeout=3 * health_timeout + 120)
    elif change.step == "switch":
        args = ["--timeout", str(health_timeout), "switch", bundle.version]
        session.call(RELEASE, *args, timeout=3 * health_timeout + 300)
