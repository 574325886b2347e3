"""Someone at the box's console runs `sudo edge unlock`: the command acts as the box's user
(the owner of its home), so the unlocked key, the key slots' lock and the journal's WAL files
it leaves behind stay readable by the box's services, which do not run as root."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from edge import cli
from edge.commands.init import DEMO_PASSWORD
from edge.settings import load_settings

BOX_USER = 65534  # nobody: any user but root


def _in_child(*commands: list[str]) -> int:
    """Run `edge` commands one after the other in a forked child (as root, like sudo); the
    child's exit status is the first failure's."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for argv in commands:
                code = code or cli.main(argv)
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as the console's sudo is (CI is root)")
def test_root_at_the_console_leaves_nothing_the_services_cannot_read(tmp_path: Path) -> None:
    # A box made as root, then given to its user, as the image's first boot leaves it (in a
    # folder that user can reach: the test's own tmp_path is root's alone).
    outer = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="edge-console-"))
    try:
        home, password = outer / "box", outer / "password"
        warm = tmp_path / "warm"  # a root-owned box: the child imports everything on it first
        assert _in_child(["--home", str(warm), "init", "--demo"]) == 0
        assert _in_child(["--home", str(home), "init", "--demo"]) == 0
        assert _in_child(["--home", str(home), "lock"]) == 0  # as a reboot does
        password.write_text(DEMO_PASSWORD)
        for path in (outer, *outer.rglob("*")):
            os.chown(path, BOX_USER, BOX_USER)
        unlock = ["--unlock-user", "admin", "--unlock-password-file", str(password), "unlock"]
        assert (
            _in_child(
                ["--home", str(warm), "verify"],
                ["--home", str(home), *unlock],
                ["--home", str(home), "verify"],
            )
            == 0
        )
        root_owned = [str(p) for p in home.rglob("*") if p.stat().st_uid != BOX_USER]
        assert root_owned == []
        box_id = load_settings(home).box_id
        key = Path("/dev/shm") / f"edge-{BOX_USER}-{box_id}" / "data.key"
        assert key.stat().st_uid == BOX_USER  # where the box's services look for it
        assert not (Path("/dev/shm") / f"edge-0-{box_id}" / "data.key").exists()
    finally:
        shutil.rmtree(outer, ignore_errors=True)
        for left in Path("/dev/shm").glob(f"edge-{BOX_USER}-*"):
            shutil.rmtree(left, ignore_errors=True)
