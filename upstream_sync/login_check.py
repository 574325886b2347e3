"""The login check: asking the registry whether a password is right when someone logs in at
the box (edge.auth.login.RegistryPasswordCheck)."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.auth.login import Verdict
from edge.clock import utcnow
from edge.journal.reads import Reader
from upstream_sync import capabilities
from upstream_sync import protocol as p
from upstream_sync.enrollment import enrollment
from upstream_sync.transport import (
    EXCHANGE_ERRORS,
    INTERACTIVE_TIMEOUT,
    describe,
    signed_exchange,
)

log = logging.getLogger("upstream_sync.login_check")


class RegistryLogin:
    """Asks the registry whether a password is right.

    Unreachable, unenrolled, a registry without `login-check.v1`, any failure, or a user the
    registry does not know yet (created on this box and not synced): "unreachable", and the
    box falls back to its own verifier within the offline window."""

    def __init__(
        self, reader: Reader, device_key: Path, timeout: float = INTERACTIVE_TIMEOUT
    ) -> None:
        self.reader, self.device_key, self.timeout = reader, device_key, timeout

    def check(self, username: str, password: str) -> Verdict:
        who = enrollment(self.reader)
        if who is None or not capabilities.speaks(self.reader.conn(), p.LOGIN_CHECK):
            return Verdict.UNREACHABLE
        body = p.encode(p.LoginCheck(username, password))
        try:
            answer = signed_exchange(
                who, self.device_key, "/v1/login-check", body, utcnow(), self.timeout
            )
            verdict: p.LoginVerdict = p.decode(answer.body, p.LoginVerdict)
        except EXCHANGE_ERRORS as exc:
            log.info("login check with the registry not possible: %s", describe(exc))
            return Verdict.UNREACHABLE
        return {"confirmed": Verdict.CONFIRMED, "rejected": Verdict.REJECTED}.get(
            verdict.verdict, Verdict.UNREACHABLE
        )
