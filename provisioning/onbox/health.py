"""The health gate: both units active and the box's own `/readyz` answering 200, without a
break, for a settling time (a release that crash-loops is caught, not sampled while up)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from .layout import UNITS, Layout, systemctl


def base_url(lay: Layout) -> str:
    settings = lay.settings()
    host = str(settings.get("host", "0.0.0.0"))
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{host}:{int(settings.get('port', 8080))}"


def get(url: str, timeout: float = 3) -> tuple[int, str]:
    """(status, body) of a GET on the box itself; (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def readiness(lay: Layout) -> dict[str, Any]:
    status, body = get(base_url(lay) + "/readyz")
    try:
        answer = json.loads(body) if status else {}
    except ValueError:
        answer = {}
    checks = answer.get("checks", {}) if isinstance(answer, dict) else {}
    return {"ready": status == 200, "status": status, "checks": checks, "reason": body[:200]}


def problem(lay: Layout) -> str | None:
    """What keeps the box from being healthy now, in a few words; None when healthy."""
    for unit in UNITS:
        state = systemctl("is-active", unit).stdout.strip() or "unknown"
        if state != "active":
            return f"{unit} is {state}"
    ready = readiness(lay)
    if ready["ready"]:
        return None
    if not ready["status"]:
        return f"/readyz does not answer ({ready['reason']})"
    failing = sorted(k for k, ok in ready["checks"].items() if not ok)
    return f"/readyz answers {ready['status']}: not ready ({', '.join(failing) or 'no reason'})"


def gate(lay: Layout, timeout: float, settle: float = 3.0) -> str | None:
    """Wait up to `timeout` s for the box to be healthy for `settle` s; None, or why not."""
    deadline = time.monotonic() + timeout
    healthy_since: float | None = None
    last = "not checked"
    while True:
        now = time.monotonic()
        why = problem(lay)
        if why is None:
            healthy_since = healthy_since if healthy_since is not None else now
            if now - healthy_since >= settle:
                return None
        else:
            healthy_since, last = None, why
        if now >= deadline:
            return last if healthy_since is None else "healthy only briefly: " + last
        time.sleep(0.5)
