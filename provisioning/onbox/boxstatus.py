"""What the fleet tool observes on a box, in one answer: tools, releases, wheels, units,
settings, pairing, health and the figures of `edge-fleet status`."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

from . import releases
from .boxconf import country_sha, settings_view
from .health import base_url, get, readiness
from .layout import UNITS, Layout, sha256_file, sha256_text, systemctl

GAUGES = {
    "edge_actions_waiting": "pending",
    "edge_oldest_waiting_action_age_seconds": "oldest_pending_seconds",
    "edge_last_push_success_timestamp_seconds": "last_push",
    "edge_last_pull_success_timestamp_seconds": "last_pull",
    "edge_registry_reachable": "registry_reachable",
    "edge_disk_free_bytes": "disk_free",
}


def _sha(path: Any) -> str:
    return sha256_file(path) if path.is_file() else ""


def metrics(lay: Layout) -> dict[str, float]:
    status, body = get(base_url(lay) + "/metrics")
    out: dict[str, float] = {}
    if status != 200:
        return out
    for line in body.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            try:
                out[GAUGES[name]] = float(value)
            except ValueError:
                continue
    return out


def lock_state(checks: dict[str, Any]) -> str:
    """`locked`/`unlocked` once the box reports it (encryption at rest); `n/a` before."""
    if "unlocked" in checks:
        return "unlocked" if checks["unlocked"] else "locked"
    return "n/a"


def status(lay: Layout, health: bool = True) -> dict[str, Any]:
    settings = settings_view(lay)
    units = {
        u: sha256_text((lay.units / u).read_text()) if (lay.units / u).is_file() else ""
        for u in UNITS
    }
    try:
        paired = json.loads(lay.paired.read_text())
    except (OSError, ValueError):
        paired = None
    disk = shutil.disk_usage(lay.home if lay.home.is_dir() else lay.root)
    answer: dict[str, Any] = {
        "ok": True,
        "root": str(lay.root),
        "paths": {"incoming": str(lay.incoming), "backups": str(lay.backups)},
        "tools": {name: _sha(lay.sbin / name) for name in ("edge-release", "edge-pair")},
        "sshd_dropin": _sha(lay.sshd / "sshd_config.d/edge.conf"),
        "host_certificate": (lay.sshd / "ssh_host_ed25519_key-cert.pub").is_file(),
        "initialized": lay.settings_file.is_file(),
        "box_id": settings.get("box_id", ""),
        "settings": settings,
        "country_config": country_sha(lay),
        "current": lay.current_version(),
        "previous": lay.previous_version(),
        "releases": releases.installed(lay),
        "wheels": sorted(releases.stored(lay)),
        "units": units,
        "paired": paired,
        "now": time.time(),
        "clock_synced": (lay.root / "run/systemd/timesync/synchronized").exists(),
        "disk_free": disk.free,
        "disk_total": disk.total,
    }
    if health and answer["current"]:
        ready = readiness(lay)
        active = {u: systemctl("is-active", u).stdout.strip() or "unknown" for u in UNITS}
        answer["health"] = {**ready, "units": active, "locked": lock_state(ready["checks"])}
        answer["metrics"] = metrics(lay)
    answer["enabled"] = bool(answer["current"]) and all(
        systemctl("is-enabled", u).returncode == 0 for u in UNITS
    )
    return answer
