"""What would change on a box: the observed state (`edge-release status`) against what the
inventory and the release ask for. `plan` prints this; `apply` carries it out in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioning.errors import BoxRefused
from provisioning.onbox import bundle as onbox
from provisioning.release import Bundle

Value = str | int | bool | float


@dataclass
class Change:
    step: str  # tools | sshd | wheels | release | settings | switch
    says: str  # for people: what will happen
    bytes: int = 0  # to upload
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Desired:
    release: Bundle
    settings: dict[str, Value]
    country: str | None  # the country configuration's text; None: not managed
    country_sha: str = ""


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def plan(observed: dict[str, Any], want: Desired) -> list[Change]:
    """The changes that make this box what `want` says, in the order they must happen."""
    if not observed.get("initialized"):
        raise BoxRefused("the box has no edge.toml: its first boot (`edge init`) did not finish")
    changes: list[Change] = []
    pieces = onbox.files()
    tools = {
        rel: data
        for rel, (data, _mode) in pieces.items()
        if rel.startswith("usr/local/sbin/")
        and observed["tools"].get(rel.rsplit("/", 1)[1]) != onbox.sha256(data)
    }
    if tools:
        names = ", ".join(sorted(r.rsplit("/", 1)[1] for r in tools))
        changes.append(Change("tools", f"update {names}", sum(map(len, tools.values()))))
    dropin = pieces["etc/ssh/sshd_config.d/edge.conf"][0]
    if observed.get("sshd_dropin") != onbox.sha256(dropin):
        changes.append(Change("sshd", "update the sshd drop-in and reload sshd", len(dropin)))
    bundle = want.release
    have = set(observed.get("wheels", []))
    missing = {n: s for n, s in bundle.wheels.items() if s not in have}
    version = bundle.version
    if version not in observed.get("releases", []):
        if missing:
            size = sum(bundle.size(n) for n in missing)
            changes.append(
                Change("wheels", f"upload {len(missing)} wheels ({_mb(size)})", size, missing)
            )
        changes.append(Change("release", f"install release {version}"))
    settings = _settings(observed, want)
    switch = _switch(observed, bundle)
    # A new release may know new settings: settings go after the switch, except on a box
    # that runs nothing yet (its first start then has them).
    ordered = [settings, switch] if not observed.get("current") else [switch, settings]
    changes += [c for c in ordered if c]
    return changes


def _settings(observed: dict[str, Any], want: Desired) -> Change | None:
    now = observed.get("settings", {})
    wrong = {k: v for k, v in want.settings.items() if now.get(k) != v}
    says = [f"set {', '.join(sorted(wrong))}"] if wrong else []
    country = want.country is not None and observed.get("country_config") != want.country_sha
    if country:
        says.append("install the country configuration")
    if not says:
        return None
    data = {"settings": wrong, "country": want.country if country else None}
    return Change("settings", " and ".join(says), data=data)


def _switch(observed: dict[str, Any], bundle: Bundle) -> Change | None:
    current, version = observed.get("current"), bundle.version
    if current != version:
        what = f"switch from {current} to {version}" if current else f"start {version}"
        return Change("switch", f"{what} (journal backup, restart, health gate)")
    units = {n: onbox.sha256(t.encode()) for n, t in bundle.manifest.get("units", {}).items()}
    if any(observed["units"].get(n) != s for n, s in units.items()):
        return Change("switch", "update the systemd units (restart, health gate)")
    if not observed.get("enabled"):
        return Change("switch", "enable the units (health gate)")
    health = observed.get("health", {})
    if not health.get("ready"):
        why = health.get("reason") or "not ready"
        return Change("switch", f"check health again (now: {why[:60]})")
    return None
