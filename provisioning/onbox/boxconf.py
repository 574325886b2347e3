"""The box's settings (edge.toml) and its country configuration, as the fleet inventory says:
written atomically, checked by the running release, applied by a restart behind the health
gate, and put back as they were when the box does not come back healthy."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from .health import gate
from .layout import Layout, Refused, box_user, run, sha256_text, write_atomic
from .switch import restart

COUNTRY_FILE = "country-config.toml"
NOT_SETTABLE = {"box_id", "mode", "country_config", "home"}
HEADER = "# Settings of this box. Every key is documented in docs/configuration.md.\n\n"


def toml_text(values: dict[str, Any]) -> str:
    lines = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Refused(f"setting `{key}`: only text and whole numbers can be set")
        if isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return HEADER + "\n".join(lines) + "\n"


def country_sha(lay: Layout) -> str:
    path = lay.home / COUNTRY_FILE
    return sha256_text(path.read_text()) if path.is_file() else ""


def configure(
    lay: Layout, wanted: dict[str, Any], country: str | None, timeout: float
) -> dict[str, Any]:
    """Make edge.toml hold `wanted` (other keys kept) and, when given, the country config."""
    if not lay.settings_file.is_file():
        raise Refused("the box has no edge.toml yet: its first boot (`edge init`) has not run")
    for key in wanted:
        if key in NOT_SETTABLE:
            raise Refused(f"setting `{key}` is the box's own and cannot be set by the fleet")
    old_text = lay.settings_file.read_text()
    values = tomllib.loads(old_text)
    country_path = lay.home / COUNTRY_FILE
    old_country = country_path.read_text() if country_path.is_file() else None
    merged = {**values, **wanted}
    if country is not None:
        merged["country_config"] = str(country_path)
    changed = sorted(k for k in merged if values.get(k) != merged[k])
    if country is not None and country != old_country:
        changed.append("country configuration")
    if not changed:
        return {"ok": True, "changed": []}
    mode = lay.settings_file.stat().st_mode & 0o777
    owner = box_user()
    if country is not None:
        write_atomic(country_path, country.encode(), 0o640, owner)
    write_atomic(lay.settings_file, toml_text(merged).encode(), mode, owner)
    why = _check(lay)
    restarted = why is None and lay.current.exists()
    if restarted:
        restart(lay)
        why = gate(lay, timeout)
        if why:
            why = f"the box was not healthy with the new settings ({why})"
    if why is None:
        return {"ok": True, "changed": changed}
    write_atomic(lay.settings_file, old_text.encode(), mode, owner)
    if old_country is not None:
        write_atomic(country_path, old_country.encode(), 0o640, owner)
    elif country is not None:
        country_path.unlink(missing_ok=True)
    if restarted:
        restart(lay)
        gate(lay, timeout)
    return {"ok": False, "changed": [], "error": f"{why}; the old settings were put back"}


def _check(lay: Layout) -> str | None:
    """The running release reads the settings and the country configuration."""
    edge = lay.edge()
    if not edge.exists():
        return None
    done = run([str(edge), "--home", str(lay.home), "settings"], as_box=True)
    if done.returncode != 0:
        return done.stderr.strip().removeprefix("edge: ") or "the settings do not load"
    code = "import sys; from edge.workflow.config import load_config; load_config(sys.argv[1])"
    path = lay.home / COUNTRY_FILE
    if path.is_file():
        python = str(lay.current / "bin/python")
        checked = run([python, "-c", code, str(path)], as_box=True)
        if checked.returncode != 0:
            last = (checked.stderr.strip().splitlines() or ["?"])[-1]
            if re.match(r"^[\w.]+Error: ", last):  # the exception's name is not for people
                last = last.split(": ", 1)[1]
            return f"the country configuration is not valid: {last}"
    return None


def settings_view(lay: Layout) -> dict[str, Any]:
    return {k: v for k, v in lay.settings().items() if k != "country_config"}


def home_ready(lay: Layout) -> bool:
    return Path(lay.settings_file).is_file()
