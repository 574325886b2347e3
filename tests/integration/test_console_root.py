"""Someone at the box's console runs `sudo edge unlock`: what the command leaves in the box's
home and its runtime folder (the unlocked key, the key slots' lock, the journal's WAL files)
goes to the box's user, the owner of its home, so the box's services, which do not run as
root, can read it; and files root left there before are given back too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edge.commands.init import DEMO_PASSWORD
from edge.settings import load_settings
from tests.helpers import edge_cli

BOX_USER = 65534  # nobody: any user but root


def _root_owned(place: Path) -> list[str]:
    return [str(p) for p in (place, *place.rglob("*")) if p.lstat().st_uid == 0]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as the console's sudo is (CI is root)")
def test_what_root_leaves_on_a_box_goes_to_the_box_user(tmp_path: Path) -> None:
    home, password = tmp_path / "box", tmp_path / "password"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "lock")  # as a reboot does
    box_id = load_settings(home).box_id
    for path in (home, *home.rglob("*")):  # the box as its first boot leaves it: the user's
        os.lchown(path, BOX_USER, BOX_USER)
    left_before = home / "backups"
    left_before.mkdir()  # root's, from an earlier command that was killed
    (home / "lost+found").mkdir(mode=0o700)  # the data partition's own, on an image
    password.write_text(DEMO_PASSWORD)
    password.chmod(0o600)  # root's alone: still readable by the command
    try:
        edge_cli(home, "--unlock-user", "admin", "--unlock-password-file", str(password), "unlock")
        edge_cli(home, "verify")
        assert _root_owned(home) == [str(home / "lost+found")]
        run = Path("/dev/shm") / f"edge-{BOX_USER}-{box_id}"  # where its services look
        assert (run / "data.key").stat().st_uid == BOX_USER
        assert _root_owned(run) == []
        assert not (Path("/dev/shm") / f"edge-0-{box_id}" / "data.key").exists()
    finally:
        for uid in (BOX_USER, 0):
            shutil.rmtree(Path("/dev/shm") / f"edge-{uid}-{box_id}", ignore_errors=True)
