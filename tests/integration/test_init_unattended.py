"""`edge init --unattended`: what the OS image runs at a box's first boot, with nobody there."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from edge.settings import load_settings
from tests.helpers import edge_cli


def test_unattended_init_makes_a_box_with_no_user_and_asks_nothing(tmp_path: Path) -> None:
    home = tmp_path / "box"
    out = edge_cli(home, "init", "--unattended", stdin=subprocess.DEVNULL)
    assert "Device public key" in out.stdout
    assert stat.S_IMODE(os.stat(home / "device.key").st_mode) == 0o600
    assert load_settings(home).mode == "production"
    # Nobody can log in until provisioning adds the first admin: no user, so no password.
    assert "admin" not in edge_cli(home, "users", "list").stdout
    assert edge_cli(home, "verify").stdout.startswith("OK")


def test_unattended_init_refuses_a_demo_box(tmp_path: Path) -> None:
    result = edge_cli(tmp_path / "box", "init", "--unattended", "--demo", check=False)
    assert result.returncode == 2 and "never a demo box" in result.stderr
    assert not (tmp_path / "box").exists()
