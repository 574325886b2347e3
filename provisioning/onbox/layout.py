"""Where things are on a box, and the few system actions the on-box tools take.

Standard library only: these tools run with the box's system python3, outside any release.
A box is the tree under `root`: `/` on a real box; tests run whole boxes inside a folder,
named by EDGE_ROOT or found from where the tool is installed (`<root>/usr/local/sbin/...`).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNITS = ("edge-web.service", "edge-worker.service")
KEEP_RELEASES = 3
KEEP_BACKUPS = 5


class Refused(Exception):
    """The tool will not do what was asked; the message says why and what to do."""


def find_root(program: str | None = None) -> Path:
    env = os.environ.get("EDGE_ROOT")
    if env:
        return Path(env)
    here = Path(program or sys.argv[0]).resolve()
    if here.parent.parts[-3:] == ("usr", "local", "sbin"):
        return here.parents[3]
    return Path("/")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def home(self) -> Path:
        return self.root / "var/lib/edge"

    @property
    def opt(self) -> Path:
        return self.root / "opt/edge"

    @property
    def releases(self) -> Path:
        return self.opt / "releases"

    @property
    def current(self) -> Path:
        return self.opt / "current"

    @property
    def previous(self) -> Path:
        return self.opt / "previous"

    @property
    def deps(self) -> Path:
        return self.opt / "deps"

    @property
    def wheels(self) -> Path:
        return self.opt / "wheels"

    @property
    def incoming(self) -> Path:
        return self.opt / "incoming"

    @property
    def backups(self) -> Path:
        return self.home / "backups"

    @property
    def units(self) -> Path:
        return self.root / "etc/systemd/system"

    @property
    def sbin(self) -> Path:
        return self.root / "usr/local/sbin"

    @property
    def state(self) -> Path:
        """Root's own pairing state: who paired the box, the officers' keys."""
        return self.root / "etc/edge"

    @property
    def authorized_keys(self) -> Path:
        return self.state / "ssh/authorized_keys"

    @property
    def paired(self) -> Path:
        return self.state / "paired.json"

    @property
    def window(self) -> Path:
        # Not under /run/edge: that is the box services' own (mode 0700, the unlocked data
        # key), and sshd asks `edge-pair keys` as nobody, who must read the window.
        return self.root / "run/edge-pair/pairing-window.json"

    @property
    def sshd(self) -> Path:
        return self.root / "etc/ssh"

    @property
    def settings_file(self) -> Path:
        return self.home / "edge.toml"

    def edge(self, release: Path | None = None) -> Path:
        return (release or self.current) / "bin/edge"

    def settings(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.settings_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return {}

    def current_version(self) -> str | None:
        return _link_name(self.current)

    def previous_version(self) -> str | None:
        return _link_name(self.previous)


def _link_name(link: Path) -> str | None:
    try:
        return Path(os.readlink(link)).name
    except OSError:
        return None


def box_user() -> str | None:
    """The user the box's services run as (`edge`), when we are root and it exists."""
    name = os.environ.get("EDGE_BOX_USER", "edge")
    if os.geteuid() != 0 or not name:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return name


def run(
    cmd: list[str], *, as_box: bool = False, stdin: str | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """A command, as the box user when asked (never leaving root-owned files in its home)."""
    user = box_user() if as_box else None
    env = {**os.environ, "HOME": str(Path(pwd.getpwnam(user).pw_dir))} if user else None
    return subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        user=user,
        group=user,
        extra_groups=[] if user else None,
        env=env,
    )


def systemctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The service manager: systemctl; EDGE_SYSTEMCTL names a stand-in (tests, no systemd)."""
    cmd = [os.environ.get("EDGE_SYSTEMCTL", "systemctl"), *args]
    try:
        return run(cmd, timeout=timeout)
    except FileNotFoundError:
        return subprocess.CompletedProcess(cmd, 127, "", "systemctl is not installed")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_atomic(path: Path, data: bytes, mode: int = 0o644, owner: str | None = None) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        if owner:
            info = pwd.getpwnam(owner)
            os.fchown(fd, info.pw_uid, info.pw_gid)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def point(link: Path, target: Path) -> None:
    """Switch a symlink atomically (a new link under a temporary name, then rename)."""
    tmp = link.with_name(f".{link.name}.new")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)
    sync_dir(link.parent)


def emit(result: dict[str, Any]) -> int:
    """Every sub-command answers one JSON object on stdout; exit 0 when `ok`."""
    print(json.dumps(result, sort_keys=True))
    return 0 if result.get("ok") else 1
