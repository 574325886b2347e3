"""Writes docs/configuration.md from the settings' own help texts (a test checks it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.settings import documented_settings  # noqa: E402

HEAD = """# Box settings

A box reads its settings once, at startup, from `<home>/edge.toml` (written by `edge init`);
any setting can be overridden by an environment variable `EDGE_<NAME>` (upper case), which
is how systemd units and tests change them without editing the file. Every setting has a
safe default: a box works right after `edge init`.

The home directory comes from `--home`, else `EDGE_HOME`, else `/var/lib/edge`.

An invalid setting stops the box at startup with a message naming the setting and the rule,
for example ``setting `port`: must be between 0 and 65535``. `edge settings` prints every
setting with its current value.

| Setting | Environment | Default | Meaning |
|---|---|---|---|
"""
TAIL = """
`EDGE_LOG_LEVEL` is also read before the settings file, so that problems loading the
settings themselves are logged at the level you asked for.

The country configuration (events, forms, flags, custom actions, workqueues, roles) is a
separate file, described in [country-config.md](country-config.md).
"""


def render() -> str:
    rows = []
    for name, default, help_text in documented_settings():
        shown = "(empty)" if default == "" else f"`{default}`"
        rows.append(f"| `{name}` | `EDGE_{name.upper()}` | {shown} | {help_text} |")
    return HEAD + "\n".join(rows) + "\n" + TAIL


if __name__ == "__main__":
    (ROOT / "docs" / "configuration.md").write_text(render(), encoding="utf-8")
