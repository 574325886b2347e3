"""An office for the fleet tests: the LAN, its boxes, a real registry on the laptop's side,
the officer's key and fleet folder, and `edge-fleet` run for real in the laptop's namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from provisioning import inventory
from tests.fleet import wheelhouse
from tests.fleet.boxes import TestBox, box_folder
from tests.fleet.net import NET, Lan, sh
from tests.helpers import REGISTRY, ROOT, forget_box_keys, registry_cli, stop_process

FLEET = [sys.executable, "-m", "provisioning.cli"]


class Office:
    def __init__(self, tmp: Path, count: int, tag: str | None = None) -> None:
        # The boxes' files as an image build and an SSH session make them (umask 022), whatever
        # a test before this one left this process with: sshd reads its key check and the
        # pairing window as nobody.
        self.umask = os.umask(0o022)
        self.tmp = tmp
        self.tag = tag or f"{os.getpid() % 100000}"
        self.lan = Lan(self.tag)
        self.boxes: list[TestBox] = []
        self.registry: subprocess.Popen[bytes] | None = None
        self.registry_url = ""
        self.folder = tmp / "fleet"
        self.key = tmp / "officer"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "amina@laptop", "-f", str(self.key))
        self.roots = roots = box_folder(self.tag)
        for i in range(1, count + 1):
            ns, address = self.lan.add_box(i)
            box = TestBox(i, ns, address, roots / f"box{i}", self.lan)
            box.root.mkdir(mode=0o755)
            box.first_boot(f"Clinic {i}")
            box.start_sshd()
            self.boxes.append(box)

    def close(self) -> None:
        for box in self.boxes:
            box.stop()
        if self.registry is not None:
            stop_process(self.registry)
        self.lan.close()
        forget_box_keys(self.roots)
        shutil.rmtree(self.roots, ignore_errors=True)
        os.umask(self.umask)

    # --- the registry, reachable from the boxes at the laptop's address --------------------

    def start_registry(self) -> str:
        home = self.tmp / "registry"
        home.mkdir()
        registry_cli(home, "init")
        port_file = home / "port"
        serve = [*REGISTRY, "--home", str(home), "serve", "--host", f"{NET}.1", "--port", "0"]
        self.registry = subprocess.Popen(
            self.lan.exec(self.lan.laptop, *serve, "--port-file", str(port_file)),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert time.monotonic() < deadline and self.registry.poll() is None
            time.sleep(0.05)
        self.registry_url = f"http://{NET}.1:{port_file.read_text().strip()}"
        probe = f"import urllib.request; urllib.request.urlopen('{self.registry_url}/v1/hello')"
        while subprocess.run(self.lan.exec(self.lan.laptop, sys.executable, "-c", probe),
                             capture_output=True).returncode:  # fmt: skip
            assert time.monotonic() < deadline
            time.sleep(0.1)
        self.registry_home = home
        return self.registry_url

    def token(self, office: str) -> str:
        return registry_cli(self.registry_home, "token", "--office-id", office).stdout.strip()

    # --- the officer's tool -----------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        return self.lan.exec(
            self.lan.laptop, *FLEET, "--fleet", str(self.folder), "--key", str(self.key), *args
        )

    def fleet(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, cwd=ROOT, timeout=timeout
        )

    def fleet_json(self, *args: str) -> tuple[int, Any]:
        done = self.fleet(*args, "--json")
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            raise AssertionError(f"not JSON: {done.stdout}\n{done.stderr}") from None

    def inventory(self) -> dict[str, Any]:
        return tomllib.loads((self.folder / "inventory.toml").read_text())

    def edit(self, **values: Any) -> None:
        """Change the inventory's [fleet] (and [settings] with settings=...) as an officer."""
        path = self.folder / "inventory.toml"
        fleet = inventory.load(path)
        for key, value in values.items():
            setattr(fleet, key, value)
        inventory.save(path, fleet)

    def add_release(self, version: str, broken: bool = False) -> None:
        app = wheelhouse.broken(version) if broken else wheelhouse.app(version)
        wheels = [str(w) for w in wheelhouse.dependencies()] + [str(app)]
        done = self.fleet("release", "add", *wheels, "--units", str(ROOT / "systemd"))
        assert done.returncode == 0, done.stderr

    def received(self) -> list[int]:
        return [self.lan.received(b.ns) for b in self.boxes]
