"""`edge-fleet status`: one row per box (version, health, locked, pending actions and the
oldest, last sync, disk, clock) as a table, or JSON for scripts."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

DAY = 86400


def row(name: str, observed: dict[str, Any], laptop_now: float) -> dict[str, Any]:
    """A status row from what `edge-release status` said."""
    health = observed.get("health") or {}
    metrics = observed.get("metrics") or {}
    failing = sorted(k for k, ok in health.get("checks", {}).items() if not ok)
    if not observed.get("current"):
        state = "not installed"
    elif health.get("ready"):
        state = "ready"
    elif health.get("status"):
        state = "not ready: " + (", ".join(failing) or str(health.get("status")))
    else:
        state = "down"
    last = max(metrics.get("last_push", 0.0), metrics.get("last_pull", 0.0))
    return {
        "box": name,
        "box_id": observed.get("box_id", ""),
        "reachable": True,
        "version": observed.get("current") or "",
        "health": state,
        "locked": health.get("locked", "n/a"),
        "pending": int(metrics.get("pending", 0)),
        "oldest_pending_seconds": int(metrics.get("oldest_pending_seconds", 0)),
        "last_sync": _iso(last) if last else "",
        "registry_reachable": {1: True, 0: False}.get(int(metrics.get("registry_reachable", -1))),
        "disk_free_bytes": int(observed.get("disk_free", 0)),
        "clock_synced": bool(observed.get("clock_synced")),
        "clock_offset_seconds": round(float(observed.get("now", laptop_now)) - laptop_now, 1),
        "paired": bool(observed.get("paired")),
        "error": "",
    }


def unreachable(name: str, why: str) -> dict[str, Any]:
    return {"box": name, "reachable": False, "health": "unreachable", "error": why}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h" if seconds < 2 * DAY else f"{seconds // DAY} days"


def _clock(r: dict[str, Any]) -> str:
    offset = r["clock_offset_seconds"]
    drift = "" if abs(offset) < 5 else f" ({offset:+.0f} s)"
    return ("synced" if r["clock_synced"] else "NOT synced") + drift


def table(rows: list[dict[str, Any]], console: Console) -> None:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for head in ("box", "version", "health", "locked", "pending", "last sync", "disk", "clock"):
        t.add_column(head)
    for r in rows:
        if not r["reachable"]:
            t.add_row(r["box"], "", "unreachable", "", "", "", "", "")
            continue
        pending = str(r["pending"])
        if r["pending"]:
            pending += f" (oldest {_age(r['oldest_pending_seconds'])})"
        disk = f"{r['disk_free_bytes'] / 1e9:.1f} GB free"
        t.add_row(
            r["box"], r["version"], r["health"], r["locked"], pending,
            r["last_sync"] or "never", disk, _clock(r),
        )  # fmt: skip
    console.print(t)
    for r in rows:
        if r["error"]:
            console.print(f"{r['box']}: {r['error']}")
