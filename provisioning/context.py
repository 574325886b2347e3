"""The fleet folder: the inventory, the fleet's own known-hosts, the step journal, releases,
backups, and the office CA when there is one. One folder per fleet; the officer's SSH key
stays where it is (`[fleet] key`)."""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from provisioning import inventory
from provisioning.errors import FleetError
from provisioning.inventory import Box, Fleet
from provisioning.journal import Journal
from provisioning.transport import Session, connect, load_key
from provisioning.trust import KnownHosts


def default_folder() -> Path:
    return Path(os.environ.get("EDGE_FLEET") or Path.home() / "edge-fleet")


@dataclass
class Context:
    folder: Path
    key_path: str = ""  # --key; else the inventory's
    now: Callable[[], float] = time.time
    fleet: Fleet = field(init=False)
    _key: paramiko.PKey | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.fleet = inventory.load(self.inventory_path)

    @property
    def inventory_path(self) -> Path:
        return self.folder / "inventory.toml"

    @property
    def hosts(self) -> KnownHosts:
        return KnownHosts(self.folder / "known_hosts")

    @property
    def releases(self) -> Path:
        return self.folder / "releases"

    @property
    def backups(self) -> Path:
        return self.folder / "backups"

    @property
    def ca(self) -> Path | None:
        path = self.folder / "office-ca"
        return path if path.is_file() else None

    def journal(self) -> Journal:
        return Journal(self.folder / "journal.db")

    def save(self) -> None:
        inventory.save(self.inventory_path, self.fleet)

    def key(self) -> paramiko.PKey:
        """The officer's key, its passphrase asked once if it has one."""
        if self._key is None:
            path = self.key_path or self.fleet.key
            try:
                self._key = load_key(path)
            except paramiko.PasswordRequiredException:
                if not sys.stdin.isatty():
                    raise FleetError(f"{path} needs its passphrase: run on a terminal") from None
                self._key = load_key(path, getpass.getpass(f"Passphrase of {path}: "))
            except (paramiko.SSHException, ValueError) as exc:
                raise FleetError(f"{path} is not a usable SSH private key ({exc})") from None
        return self._key

    def connect(self, box: Box) -> Session:
        """A session with a box of this fleet (its host key checked first)."""
        return connect(box, self.hosts, self.key(), self.now, self.fleet.connect_timeout)
